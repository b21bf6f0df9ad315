/**
 * Whether one of a Service's addresses is announced locally (elected, on a node's subnet) or
 * remotely (on every node's dummy interface), decided from the ServiceGroups, not from the
 * Service's purelb.io/pool-type annotation: a user may edit that annotation, and a Service
 * that says "local" for an address of a remote pool must not pull the address onto a LAN
 * interface (nor the other way round put a LAN address on kube-lb0).
 */
import { Address } from "../ip/address";
import { rangeContains } from "../ip/range";
import { GroupModel, announceOf } from "../ipam/group";
import { Annotation } from "../k8s/annotations";
import { ServiceModel } from "../k8s/service";
import type { AddressKind } from "./desired";

/**
 * The group whose pool holds the address: the group the allocator recorded first, else any
 * known group. A group without ranges (Netbox, external IPAM) holds the addresses the
 * allocator recorded it for. Undefined when no known group accounts for the address, and
 * then the agent does not announce it.
 */
export function groupOfAddress(
  svc: ServiceModel,
  a: Address,
  groups: ReadonlyMap<string, GroupModel>,
): GroupModel | undefined {
  const holds = (g: GroupModel) =>
    g.ranges.some(r => r.family === a.family && rangeContains(r.range, a));
  const recorded = groups.get(svc.annotations[Annotation.allocatedFrom] ?? "");
  if (recorded && (holds(recorded) || !recorded.ranges.length)) return recorded;
  for (const g of groups.values()) if (holds(g)) return g;
  return undefined;
}

/**
 * How the address is announced, or undefined when PureLB does not announce it: only Services
 * the allocator recorded a group on (purelb.io/allocated-from) are PureLB's to announce.
 * When no known group accounts for the address (its ServiceGroup was deleted, or is not in
 * the agent's view yet) the allocator's record, purelb.io/pool-type, decides: withdrawing a
 * serving address because its group is briefly missing would be an outage.
 */
export function addressKind(
  svc: ServiceModel,
  a: Address,
  groups: ReadonlyMap<string, GroupModel>,
): { kind: AddressKind; group?: GroupModel } | undefined {
  if (svc.type !== "LoadBalancer" || !svc.annotations[Annotation.allocatedFrom]) return undefined;
  const group = groupOfAddress(svc, a, groups);
  if (group) return { kind: announceOf(group), group };
  const recorded = svc.annotations[Annotation.poolType];
  return recorded === "local" || recorded === "remote" ? { kind: recorded } : undefined;
}
