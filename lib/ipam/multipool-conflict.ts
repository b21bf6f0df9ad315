/**
 * Requests that multiPool cannot honour, refused rather than half-served (as the Go PureLB
 * refuses them): multiPool gives a Service one address from every eligible range, balancePools
 * one address from the least used range, so asking for multiPool on a balancePools group asks
 * for both; and a sharing key shares one address per family, which a Service holding several
 * cannot do.
 */
import { GroupModel } from "./group";
import { ServiceRequest } from "../k8s/service-annotations";
import { Annotation } from "../k8s/annotations";

export function multiPoolConflict(
  request: Pick<ServiceRequest, "multiPool" | "sharingKey">,
  group: Pick<GroupModel, "name" | "multiPool" | "balancePools">,
): string | undefined {
  if (request.multiPool === true && group.balancePools)
    return `${Annotation.multiPool} cannot be used with ServiceGroup ${group.name}: it has balancePools (one address from the least used pool); remove the annotation, or balancePools from the group`;
  if ((request.multiPool ?? group.multiPool) && request.sharingKey !== undefined)
    return `${Annotation.allowSharedIP} cannot be used with multiPool (ServiceGroup ${group.name}${request.multiPool ? ", asked by " + Annotation.multiPool : ""}): a multiPool Service holds an address per pool, and only single addresses are shared; remove one of them`;
  return undefined;
}
