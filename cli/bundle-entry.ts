// Entry point of the single-file plugin (hack/bundle-cli.ts): the CLI with everything it
// loads bundled in, run by node without a checkout or node_modules.
import { run } from "./main";

run();
