import { Annotation, DEFAULT_GROUP } from "../k8s/annotations";
import { servesClass } from "../k8s/lb-class";
import { parseServiceAnnotations } from "../k8s/service-annotations";
import { ServiceModel, toServiceModel } from "../k8s/service";
import { GroupModel } from "../ipam/group";
import { resolveGroup } from "../ipam/scope";
import { ServiceGroupSpec } from "../k8s/servicegroup";
import { Verdict } from "./result";

/**
 * Set by the mutating webhook to what it wants the client told (it changed
 * externalTrafficPolicy, or could not check it). Pepr's Mutate cannot return warnings, so
 * the validating webhook, which sees the mutated object, turns this into the warning. The
 * next write that needs no warning removes it, so it always describes the latest write.
 */
export const ADMISSION_WARNING_ANNOTATION = "purelb.io/admission-warning";

/** LoadBalancer Services of PureLB's classes (or none, by default): the only ones PureLB acts on. */
export const isPureLBService = (svc: Pick<ServiceModel, "type" | "loadBalancerClass">): boolean =>
  svc.type === "LoadBalancer" && servesClass(svc.loadBalancerClass);

/** Annotation syntax of a PureLB Service; other Services pass untouched. */
export function validateService(raw: unknown): Verdict {
  const svc = toServiceModel(raw);
  if (!isPureLBService(svc)) return { problems: [], warnings: [] };
  const { problems } = parseServiceAnnotations(svc.annotations);
  const note = svc.annotations[ADMISSION_WARNING_ANNOTATION];
  return { problems, warnings: note ? [note] : [] };
}

/** The ServiceGroup a Service draws from, or undefined when its annotation does not parse. */
export function groupNameOf(svc: Pick<ServiceModel, "annotations">): string | undefined {
  const { request, problems } = parseServiceAnnotations(svc.annotations);
  if (problems.some(p => p.path.includes(Annotation.serviceGroup))) return undefined;
  return request.group ?? DEFAULT_GROUP;
}

export interface ServiceScope {
  /** The group the Service allocates from; undefined when refused or its annotation is bad. */
  name?: string;
  /** Why the allocator will give it no address (namespace scoping). */
  refusal?: string;
  /** An ambiguous namespace binding that sent it to the default group. */
  warning?: string;
}

/**
 * The ServiceGroup a Service gets under namespace scoping (lib/ipam/scope.ts), from the valid
 * groups of PureLB's namespace: what admission and `kubectl purelb validate` explain.
 */
export function scopeOf(
  svc: Pick<ServiceModel, "annotations" | "namespace">,
  groups: GroupModel[],
): ServiceScope {
  const { request, problems } = parseServiceAnnotations(svc.annotations);
  if (problems.some(p => p.path.includes(Annotation.serviceGroup))) return {};
  const r = resolveGroup(svc.namespace, request.group, groups);
  return r.ok ? { name: r.name, warning: r.warning } : { refusal: r.message };
}

/** Words for admission: what the allocator will do with this Service's namespace binding. */
export function scopeWarnings(scope: ServiceScope): string[] {
  if (scope.refusal)
    return [
      `PureLB will not give this Service an address: ${scope.refusal}. (This is namespace scoping of ServiceGroups; the Service is stored as it is.)`,
    ];
  return scope.warning ? [scope.warning] : [];
}

/** Whether a Service asks for externalTrafficPolicy Local and shares its address, so needs no group lookup. */
export function sharedLocal(
  svc: Pick<ServiceModel, "annotations" | "externalTrafficPolicy">,
): string | undefined {
  if (svc.externalTrafficPolicy !== "Local") return undefined;
  const key = svc.annotations[Annotation.allowSharedIP];
  if (key === undefined) return undefined;
  return `spec.externalTrafficPolicy: Local was changed to Cluster because the Service shares its address (${Annotation.allowSharedIP}: "${key}"), and a shared address must reach every sharing Service from whichever nodes announce it. To keep the client source address, give the Service its own address from a remote ServiceGroup.`;
}

/**
 * Why a Service's externalTrafficPolicy Local must become Cluster, or undefined when Local is
 * fine. `group` is the spec of its ServiceGroup (`groupRef` names it), undefined when unknown:
 * then the allocator reports the missing group and nothing is changed here.
 */
export function etpResetReason(
  svc: Pick<ServiceModel, "annotations" | "externalTrafficPolicy">,
  groupRef: string,
  group: ServiceGroupSpec | undefined,
): string | undefined {
  const shared = sharedLocal(svc);
  if (shared || svc.externalTrafficPolicy !== "Local" || !group) return shared;
  const local =
    group.local !== undefined ||
    (group.netbox !== undefined && group.netbox.poolType === "local") ||
    group.external?.announce === "local";
  if (!local) return undefined;
  return `spec.externalTrafficPolicy: Local was changed to Cluster because ServiceGroup ${groupRef} has local addresses, which one node announces: with Local, traffic reaching that node is dropped when none of the Service's endpoints runs there. To keep the client source address, use a remote ServiceGroup (${Annotation.serviceGroup}).`;
}
