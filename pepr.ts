import { PeprModule } from "pepr";
import cfg from "./package.json";
import { Allocator } from "./capabilities/allocator";
import { startNodeAgent } from "./capabilities/nodeagent";
import { Validation } from "./capabilities/validation";

// One bundle, two roles: the node agent DaemonSet sets PURELB_MODE=agent.
if (process.env.PURELB_MODE === "agent") {
  startNodeAgent();
} else {
  new PeprModule(cfg, [Allocator, Validation]);
}
