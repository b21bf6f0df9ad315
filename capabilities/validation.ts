import { Capability, K8s, Log, PeprMutateRequest, PeprValidateRequest, a } from "pepr";
import { GroupModel, parseGroup } from "../lib/ipam/group";
import { formatProblems } from "../lib/ipam/problem";
import { DEFAULT_NAMESPACE } from "../lib/k8s/annotations";
import { BGPConfiguration } from "../lib/k8s/bgp";
import { bgpConfigurationGvk, lbNodeAgentGvk, serviceGroupGvk } from "../lib/k8s/crds";
import { LBNodeAgent } from "../lib/k8s/lbnodeagent";
import { toServiceModel } from "../lib/k8s/service";
import { ServiceGroup, ServiceGroupSpec } from "../lib/k8s/servicegroup";
import { validateBGPConfiguration } from "../lib/validate/bgp";
import { validateLBNodeAgent } from "../lib/validate/lbnodeagent";
import { Verdict } from "../lib/validate/result";
import {
  ADMISSION_WARNING_ANNOTATION,
  etpResetReason,
  isPureLBService,
  scopeOf,
  scopeWarnings,
  sharedLocal,
  validateService,
} from "../lib/validate/service";
import {
  strandedServices,
  strandedWarning,
  validateServiceGroup,
} from "../lib/validate/servicegroup";

export const Validation = new Capability({
  name: "validation",
  description: "Rejects bad PureLB configuration at kubectl apply, with what to fix",
});

const { When } = Validation;

type Request = PeprValidateRequest<a.GenericKind>;
type Response = ReturnType<Request["Approve"]>;

/**
 * Pepr answers a callback that throws with an empty message, so every check runs inside
 * this: an unexpected failure still reaches the client in words, and is denied, as
 * failurePolicy Fail would be.
 */
export const guarded =
  (what: string, check: (req: Request) => Promise<Response> | Response) =>
  async (req: Request): Promise<Response> => {
    try {
      return await check(req);
    } catch (err) {
      const why = describeError(err);
      Log.error(
        { err: why, name: req.Request.name, namespace: req.Request.namespace },
        `${what} admission check failed`,
      );
      return req.Deny(
        `PureLB could not check this ${what}: ${why}; retry, and if it keeps failing read the logs of the pepr-purelb Pods in pepr-system`,
      );
    }
  };

const verdict = (req: Request, v: Verdict, more: string[] = []): Response => {
  const warnings = [...v.warnings, ...more];
  return v.problems.length
    ? req.Deny(formatProblems(v.problems), 422, warnings)
    : req.Approve(warnings.length ? warnings : undefined);
};

When(a.GenericKind, serviceGroupGvk)
  .IsCreatedOrUpdated()
  .Validate(
    guarded("ServiceGroup", async req => {
      const sg = req.Raw as unknown as ServiceGroup;
      const namespace = sg.metadata.namespace ?? req.Request.namespace ?? "";
      const others = await K8s(a.GenericKind, { kindOverride: serviceGroupGvk })
        .InNamespace(namespace)
        .Get();
      const v = validateServiceGroup(
        { ...sg, metadata: { ...sg.metadata, namespace } },
        others.items as ServiceGroup[],
      );
      const old = req.OldResource as ServiceGroup | undefined;
      if (
        v.problems.length ||
        !v.group ||
        !old ||
        JSON.stringify(old.spec) === JSON.stringify(sg.spec)
      ) {
        return verdict(req, v);
      }
      const services = await K8s(a.Service).Get();
      const warning = strandedWarning(
        strandedServices(v.group, services.items.map(toServiceModel)),
      );
      return verdict(req, v, warning ? [warning] : []);
    }),
  );

When(a.GenericKind, lbNodeAgentGvk)
  .IsCreatedOrUpdated()
  .Validate(
    guarded("LBNodeAgent", req =>
      verdict(req, validateLBNodeAgent(req.Raw as unknown as LBNodeAgent)),
    ),
  );

When(a.GenericKind, bgpConfigurationGvk)
  .IsCreatedOrUpdated()
  .Validate(
    guarded("BGPConfiguration", req =>
      verdict(req, validateBGPConfiguration(req.Raw as unknown as BGPConfiguration)),
    ),
  );

When(a.Service)
  .IsCreatedOrUpdated()
  .Validate(
    guarded("Service", async req => {
      const v = validateService(req.Raw);
      const svc = toServiceModel(req.Raw);
      // Scoping decides new allocations only: a Service holding addresses keeps them.
      if (v.problems.length || !isPureLBService(svc) || svc.ingress.length)
        return verdict(req as unknown as Request, v);
      const scope = scopeOf(svc, await ourGroups());
      return verdict(req as unknown as Request, v, scopeWarnings(scope));
    }),
  );

// Local addresses are announced by one node and shared addresses serve several Services,
// so both need externalTrafficPolicy Cluster (seeds: "PureLB resets it to Cluster").
When(a.Service)
  .IsCreatedOrUpdated()
  .Mutate(async req => {
    let note: string | undefined;
    try {
      note = await externalTrafficPolicyNote(req);
    } catch (err) {
      Log.error(
        { err: describeError(err), name: req.Raw.metadata?.name },
        "externalTrafficPolicy check failed",
      );
      note = `PureLB could not check spec.externalTrafficPolicy Local against the Service's ServiceGroup (${describeError(err)}); if the group has local addresses, set externalTrafficPolicy: Cluster yourself`;
    }
    if (note) req.SetAnnotation(ADMISSION_WARNING_ANNOTATION, note);
    else req.RemoveAnnotation(ADMISSION_WARNING_ANNOTATION);
  });

async function externalTrafficPolicyNote(
  req: PeprMutateRequest<a.Service>,
): Promise<string | undefined> {
  const svc = toServiceModel(req.Raw);
  if (!isPureLBService(svc) || svc.externalTrafficPolicy !== "Local") return undefined;
  let reason = sharedLocal(svc);
  if (!reason) {
    const name = scopeOf(svc, await ourGroups()).name;
    if (!name) return undefined;
    reason = etpResetReason(svc, `${DEFAULT_NAMESPACE}/${name}`, await groupSpec(name));
  }
  if (reason) req.Raw.spec!.externalTrafficPolicy = "Cluster";
  return reason;
}

/** The valid ServiceGroups of PureLB's namespace, as the allocator parses them. */
async function ourGroups(): Promise<GroupModel[]> {
  const list = await K8s(a.GenericKind, { kindOverride: serviceGroupGvk })
    .InNamespace(DEFAULT_NAMESPACE)
    .Get();
  return (list.items as ServiceGroup[]).flatMap(sg => {
    const { group } = parseGroup(DEFAULT_NAMESPACE, sg.metadata.name, sg.spec);
    return group ? [group] : [];
  });
}

/** The spec of a ServiceGroup in PureLB's namespace, or undefined when there is none. */
async function groupSpec(name: string): Promise<ServiceGroupSpec | undefined> {
  try {
    const sg = await K8s(a.GenericKind, { kindOverride: serviceGroupGvk })
      .InNamespace(DEFAULT_NAMESPACE)
      .Get(name);
    return (sg as ServiceGroup).spec;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  }
}

/** Words for what kubernetes-fluent-client throws (a response object, not an Error). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  const r = err as { status?: number; statusText?: string; data?: { message?: string } | string };
  if (r && typeof r === "object" && r.status !== undefined) {
    const detail = typeof r.data === "string" ? r.data : r.data?.message;
    return `the Kubernetes API answered ${r.status} ${r.statusText ?? ""}${detail ? `: ${detail}` : ""}`.trim();
  }
  return String(err);
}
