import { PeprModule } from "pepr";
import cfg from "./package.json";
import { Allocator } from "./capabilities/allocator";
import { Validation } from "./capabilities/validation";

new PeprModule(cfg, [Allocator, Validation]);
