import { Capability, Log } from "pepr";
import { RunningAllocator, runAllocator } from "../lib/allocator/run";
import { KubeClient } from "../lib/k8s/client";
import { serveMetrics } from "../lib/metrics/registry";

export const Allocator = new Capability({
  name: "allocator",
  description: "Gives every LoadBalancer Service its addresses from a ServiceGroup",
});

// Only the watcher (or `pepr dev`) allocates; admission pods load this file too.
const isWatcher = process.env.PEPR_WATCH_MODE === "true" || process.env.PEPR_MODE === "dev";
let running: RunningAllocator | undefined;

if (isWatcher) {
  serveMetrics(Number(process.env.PURELB_METRICS_PORT ?? 9090));
  runAllocator(KubeClient.fromEnvironment()).then(
    r => (running = r),
    err => {
      Log.error({ err: String(err) }, "allocator could not start");
      process.exit(1);
    },
  );
}

// A watch that stops delivering without an error (seen with API throttling) would leave
// Services unserved. The server ends every watch within 240 s, so one silent for 300 s is
// stuck: this periodic check replaces it and retries pending work.
Allocator.OnSchedule({
  name: "allocator-resync",
  every: 30,
  unit: "seconds",
  run: () => running?.resync(300_000),
});
