import { Capability } from "pepr";
import { allocator } from "../lib/allocator/main";

export const Allocator = new Capability({
  name: "allocator",
  description: "Gives every LoadBalancer Service its addresses from a ServiceGroup",
});

// A watch that stops delivering without an error (API throttling, a proxy that lost its
// upstream) would leave Services unserved. The apiserver sends a bookmark at least once a
// minute to watches that ask for them, so one silent for 150 s is stuck: this periodic
// check replaces it and retries pending work.
Allocator.OnSchedule({
  name: "allocator-resync",
  every: 30,
  unit: "seconds",
  run: async () => (await allocator)?.resync(150_000),
});
