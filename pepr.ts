import { PeprModule } from "pepr";
import cfg from "./package.json";
import { Validation } from "./capabilities/validation";

new PeprModule(cfg, [Validation]);
