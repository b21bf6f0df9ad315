import { Log } from "../lib/log";
import { RunningAgent, runAgent } from "../lib/agent/run";
import { DEFAULT_NAMESPACE } from "../lib/k8s/annotations";
import { KubeClient } from "../lib/k8s/client";
import { metricsPort, serveMetrics } from "../lib/metrics/registry";

/**
 * Agent mode (PURELB_MODE=agent): the same bundle, run by the privileged, host-network
 * DaemonSet on every node. It announces addresses instead of serving Pepr's admission and
 * watch endpoints. On SIGTERM/SIGINT it withdraws this node's addresses and deletes its Lease,
 * so another node takes over at once.
 */
export function startNodeAgent(): void {
  const node = process.env.NODE_NAME;
  if (!node) {
    Log.error("NODE_NAME is not set; give the agent its node's name (fieldRef spec.nodeName)");
    process.exit(1);
  }
  const namespace = process.env.PURELB_NAMESPACE ?? DEFAULT_NAMESPACE;
  const metrics = serveMetrics(metricsPort());
  let running: RunningAgent | undefined;
  let stopping = false;
  let resync: NodeJS.Timeout | undefined;

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    Log.info({ signal, node }, "node agent stopping: withdrawing addresses and the node Lease");
    clearInterval(resync);
    setTimeout(() => process.exit(1), 10_000).unref();
    try {
      await running?.stop();
    } catch (err) {
      Log.error({ err: String(err) }, "clean shutdown failed");
    }
    metrics.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  runAgent({
    client: KubeClient.fromEnvironment(),
    leaseClient: KubeClient.fromEnvironment(),
    node,
    namespace,
  }).then(
    r => {
      running = r;
      if (stopping) {
        stopping = false;
        void shutdown("SIGTERM");
        return;
      }
      // A watch that stops delivering without an error would leave the node stale; the
      // server ends every watch within 240 s, so one silent for 300 s is stuck.
      resync = setInterval(() => r.resync(300_000), 30_000);
    },
    err => {
      Log.error({ err: String(err), node }, "node agent could not start");
      process.exit(1);
    },
  );
}
