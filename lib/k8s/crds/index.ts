import { bgpConfigurationCrd, bgpNodeStatusCrd } from "./bgp";
import { lbNodeAgentCrd } from "./lbnodeagent";
import { Crd } from "./schema";
import { serviceGroupCrd } from "./servicegroup";

export {
  bgpConfigurationCrd,
  bgpConfigurationGvk,
  bgpNodeStatusCrd,
  bgpNodeStatusGvk,
} from "./bgp";
export { lbNodeAgentCrd, lbNodeAgentGvk } from "./lbnodeagent";
export { serviceGroupCrd, serviceGroupGvk } from "./servicegroup";
export type { Crd, Gvk, Schema } from "./schema";

export const crds: Crd[] = [serviceGroupCrd, lbNodeAgentCrd, bgpConfigurationCrd, bgpNodeStatusCrd];
