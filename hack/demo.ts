// `npm start [-- --once] [-- --failover]`. As root without KUBECONFIG: PureLB on the test
// cluster, serving a request through its address (hack/demo/cluster-demo.ts). With KUBECONFIG,
// or without root, the module in-process against an apiserver (hack/demo/local.ts).
// --once: exit after printing, leaving nothing behind; --failover: also stop the announcer's agent.
import { DemoError, runClusterDemo } from "./demo/cluster-demo";
import { runLocal } from "./demo/local";

const args = process.argv.slice(2);
const opts = { once: args.includes("--once"), failover: args.includes("--failover") };
const unknown = args.filter(a => a !== "--once" && a !== "--failover");

async function main(): Promise<void> {
  if (unknown.length)
    throw new DemoError(`unknown option ${unknown[0]}; use --once, --failover`, 2);
  if (process.env.KUBECONFIG) return runLocal(opts);
  if (process.getuid?.() !== 0) {
    console.log(
      "Not root: skipping the cluster demo (nodes, the agents announcing the address, a request through it" +
        `${opts.failover ? ", failover" : ""}); showing the allocator against a bare apiserver. sudo npm start shows it all.`,
    );
    return runLocal(opts);
  }
  return runClusterDemo(opts);
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof DemoError ? err.code : 1);
});
