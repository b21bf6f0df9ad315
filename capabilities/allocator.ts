import { Capability } from "pepr";
import { allocator } from "../lib/allocator/main";

export const Allocator = new Capability({
  name: "allocator",
  description: "Gives every LoadBalancer Service its addresses from a ServiceGroup",
});

// A watch that stops delivering without an error (seen with API throttling) would leave
// Services unserved. The server ends every watch within 240 s, so one silent for 300 s is
// stuck: this periodic check replaces it and retries pending work.
Allocator.OnSchedule({
  name: "allocator-resync",
  every: 30,
  unit: "seconds",
  run: async () => (await allocator)?.resync(300_000),
});
