import { parseAddress } from "../ip/address";
import { PoolType } from "../ipam/group";
import { ALLOCATED_BY, Annotation } from "../k8s/annotations";
import { servesClass } from "../k8s/lb-class";
import { ServiceModel } from "../k8s/service";

/** PureLB serves LoadBalancer Services of its classes, and those with none unless the chart says otherwise. */
export const isManaged = (svc: ServiceModel): boolean =>
  svc.type === "LoadBalancer" && servesClass(svc.loadBalancerClass);

/** A Service that PureLB allocated before (this run or an earlier one). */
export const wasAllocatedByUs = (svc: ServiceModel): boolean =>
  svc.annotations[Annotation.allocatedBy] === ALLOCATED_BY;

/** IPv4 first, then IPv6, the order kube-proxy and users expect in status. */
export function sortAddresses(addresses: readonly string[]): string[] {
  const fam = (t: string) => parseAddress(t)?.family ?? 4;
  return [...addresses].sort((a, b) => fam(a) - fam(b));
}

export const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** ETP Local cannot work where one node announces for all (local pools) or on shared addresses. */
export const mustResetTrafficPolicy = (
  svc: ServiceModel,
  poolType: PoolType,
  shared: boolean,
): boolean => svc.externalTrafficPolicy === "Local" && (poolType === "local" || shared);

/**
 * The annotations that record an allocation, only those that differ from what the Service
 * says already (so steady state writes nothing); null removes one.
 */
export function annotationChanges(
  svc: ServiceModel,
  group: string,
  poolType: PoolType,
  skipIPv6DAD = false,
): Record<string, string | null> {
  const want: Record<string, string | null> = {
    [Annotation.allocatedBy]: ALLOCATED_BY,
    [Annotation.allocatedFrom]: group,
    [Annotation.poolType]: poolType,
    [Annotation.serviceGroup]: svc.annotations[Annotation.serviceGroup] ?? group,
    [Annotation.skipIPv6DAD]: skipIPv6DAD ? "true" : null,
  };
  if (svc.annotations[Annotation.reEvaluate] !== undefined) want[Annotation.reEvaluate] = null;
  return Object.fromEntries(
    Object.entries(want).filter(([k, v]) => (svc.annotations[k] ?? null) !== v),
  );
}

/** The patch that removes what PureLB wrote, for a Service it no longer serves. */
export function releasePatch(svc: ServiceModel): object | undefined {
  const ours = [
    Annotation.allocatedBy,
    Annotation.allocatedFrom,
    Annotation.poolType,
    Annotation.announcingIPv4,
    Annotation.announcingIPv6,
    Annotation.skipIPv6DAD,
  ];
  const present = ours.filter(k => svc.annotations[k] !== undefined);
  if (!present.length) return undefined;
  return { metadata: { annotations: Object.fromEntries(present.map(k => [k, null])) } };
}

/** Adoption order on restart: the older Service keeps an address two Services claim. */
export const byAge = (a: ServiceModel, b: ServiceModel): number =>
  a.creationTimestamp < b.creationTimestamp
    ? -1
    : a.creationTimestamp > b.creationTimestamp
      ? 1
      : a.uid < b.uid
        ? -1
        : 1;
