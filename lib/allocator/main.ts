import { KubeClient } from "../k8s/client";
import { Log } from "../log";
import { metricsPort, serveMetrics } from "../metrics/registry";
import { RunningAllocator, runAllocator } from "./run";

// Only Pepr's watcher (or `pepr dev`) allocates; admission pods load the module too.
const isWatcher = process.env.PEPR_WATCH_MODE === "true" || process.env.PEPR_MODE === "dev";

/**
 * The allocator of this process, started as soon as the bundle loads. pepr.ts imports this
 * before Pepr itself, so listing Services overlaps the second that loading Pepr takes:
 * after a restart the allocator is serving again that much sooner.
 */
export const allocator: Promise<RunningAllocator> | undefined = isWatcher ? start() : undefined;

async function start(): Promise<RunningAllocator> {
  serveMetrics(metricsPort());
  try {
    return await runAllocator(KubeClient.fromEnvironment());
  } catch (err) {
    Log.error({ err: String(err) }, "allocator could not start");
    process.exit(1);
  }
}
