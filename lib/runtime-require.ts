import { createRequire } from "node:module";

/**
 * Loads a package from node_modules at run time instead of bundling it. The Pepr build bundles
 * every import into one file, which does not work for packages with prebuilt native binaries
 * (netlink, koffi: the binary is looked up next to the package) and is wasteful for gRPC
 * (~400 KB of a module bundle that Helm must fit into a 1 MiB release, used only by agents
 * with BGP). The agent image keeps these packages on NODE_PATH (Dockerfile.agent).
 */
export const runtimeRequire = createRequire(
  typeof __filename === "string" ? __filename : import.meta.url,
);
