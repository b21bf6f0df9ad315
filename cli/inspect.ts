import { Member, candidates, electWinner, isLive } from "../lib/election/election";
import { familyName, parseAddress } from "../lib/ip/address";
import { formatCidr } from "../lib/ip/cidr";
import { formatRange, rangeContains } from "../lib/ip/range";
import { GroupModel, parseGroup } from "../lib/ipam/group";
import { formatProblems } from "../lib/ipam/problem";
import { Annotation } from "../lib/k8s/annotations";
import { announcerOf } from "../lib/k8s/announcing";
import { DEFAULT_ANNOUNCER, DEFAULT_ANNOUNCER_ENV, LB_CLASSES } from "../lib/k8s/lb-class";
import { parseServiceAnnotations } from "../lib/k8s/service-annotations";
import { ServiceModel, toServiceModel } from "../lib/k8s/service";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { groupNameOf, isPureLBService } from "../lib/validate/service";
import { CoreEvent, RawService, eventTime } from "./cluster";
import { familyTotals, poolUsage } from "./pools";

export interface AddressReport {
  address: string;
  family: "IPv4" | "IPv6";
  /** The range of the Service's group that holds it. */
  pool?: string;
  subnet?: string;
  kind: "local" | "remote" | "unknown";
  /** From purelb.io/announcing-IPv4/-IPv6: what the winning agent wrote. */
  announcing?: { node: string; interface?: string };
  /** Local addresses: live nodes on the subnet, and the one the election picks. */
  candidates?: string[];
  winner?: string;
  /** Remote addresses: the nodes that add it to kube-lb0. */
  nodes?: string[];
}

export interface InspectReport {
  service: string;
  type: string;
  loadBalancerClass?: string;
  ipFamilyPolicy?: string;
  ipFamilies: string[];
  externalTrafficPolicy?: string;
  /** name: the group in effect (allocated-from, else the one asked for, else "default"). */
  group: {
    name?: string;
    requested?: string;
    allocatedFrom?: string;
    poolType?: string;
    exists: boolean;
  };
  addresses: AddressReport[];
  sharing?: { key: string; with: { service: string; addresses: string[]; ports: string[] }[] };
  events: {
    time: string;
    type: string;
    reason: string;
    message: string;
    count: number;
    source: string;
  }[];
  /** One line per finding, most important first; "OK: ..." when nothing is wrong. */
  diagnosis: string[];
}

export interface InspectInput {
  namespace: string;
  service: RawService;
  /** ServiceGroups of PureLB's namespace. */
  groups: ServiceGroup[];
  members: Member[];
  /** Every Service, for co-tenants and pool usage. */
  services: ServiceModel[];
  events: CoreEvent[];
  /** Nodes with a ready endpoint (externalTrafficPolicy Local on remote addresses). */
  readyNodes?: string[];
  now: number;
}

const ports = (s: ServiceModel) => s.ports.map(p => `${p.port}/${p.protocol}`);

/** Everything about one Service that explains where its addresses come from and who announces them. */
export function inspectService(input: InspectInput): InspectReport {
  const { now, namespace } = input;
  const svc = toServiceModel(input.service);
  const a = svc.annotations;
  const requested = a[Annotation.serviceGroup];
  const groupName = a[Annotation.allocatedFrom] ?? groupNameOf(svc);
  const sg = input.groups.find(g => g.metadata.name === groupName);
  const parsed = sg ? parseGroup(namespace, sg.metadata.name, sg.spec) : undefined;
  const group = parsed?.group;
  const live = input.members.filter(m => isLive(m, now));
  const poolType =
    a[Annotation.poolType] ??
    (group
      ? group.type === "netbox"
        ? (group.netbox?.poolType ?? "local")
        : group.type
      : undefined);

  const addresses: AddressReport[] = svc.ingress.map(text => {
    const addr = parseAddress(text);
    const family = addr ? familyName(addr.family) : text.includes(":") ? "IPv6" : "IPv4";
    const range = addr && group ? group.ranges.find(r => rangeContains(r.range, addr)) : undefined;
    const kind: AddressReport["kind"] =
      poolType === "local" || poolType === "remote" ? poolType : "unknown";
    const report: AddressReport = {
      address: text,
      family,
      ...(range ? { pool: formatRange(range.range), subnet: formatCidr(range.subnet) } : {}),
      kind,
    };
    const ann = announcerOf(
      a[family === "IPv4" ? Annotation.announcingIPv4 : Annotation.announcingIPv6],
      text,
    );
    if (ann) report.announcing = ann;
    if (addr && kind === "local") {
      report.candidates = candidates(addr, live, now)
        .map(m => m.node)
        .sort();
      const winner = electWinner(text, live, now);
      if (winner) report.winner = winner;
    } else if (kind === "remote") {
      const all = live.map(m => m.node).sort();
      report.nodes =
        svc.externalTrafficPolicy === "Local" && input.readyNodes
          ? all.filter(n => input.readyNodes!.includes(n))
          : all;
    }
    return report;
  });

  const key = a[Annotation.allowSharedIP];
  const sharing = key
    ? {
        key,
        with: input.services
          .filter(
            o =>
              o.annotations[Annotation.allowSharedIP] === key &&
              !(o.namespace === svc.namespace && o.name === svc.name),
          )
          .sort((x, y) => `${x.namespace}/${x.name}`.localeCompare(`${y.namespace}/${y.name}`))
          .map(o => ({
            service: `${o.namespace}/${o.name}`,
            addresses: o.ingress,
            ports: ports(o),
          })),
      }
    : undefined;

  const events = input.events.slice(-10).map(e => ({
    time: eventTime(e),
    type: e.type ?? "",
    reason: e.reason ?? "",
    message: e.message ?? "",
    count: e.count ?? 1,
    source: e.source?.component ?? e.reportingComponent ?? "",
  }));

  return {
    service: `${svc.namespace}/${svc.name}`,
    type: svc.type,
    ...(svc.loadBalancerClass ? { loadBalancerClass: svc.loadBalancerClass } : {}),
    ...(svc.ipFamilyPolicy ? { ipFamilyPolicy: svc.ipFamilyPolicy } : {}),
    ipFamilies: svc.ipFamilies,
    ...(svc.externalTrafficPolicy ? { externalTrafficPolicy: svc.externalTrafficPolicy } : {}),
    group: {
      ...(groupName ? { name: groupName } : {}),
      ...(requested ? { requested } : {}),
      ...(a[Annotation.allocatedFrom] ? { allocatedFrom: a[Annotation.allocatedFrom] } : {}),
      ...(poolType ? { poolType } : {}),
      exists: !!sg,
    },
    addresses,
    ...(sharing ? { sharing } : {}),
    events,
    diagnosis: diagnose(
      input,
      svc,
      sg,
      group,
      parsed?.problems.length ? formatProblems(parsed.problems) : undefined,
      addresses,
      events,
    ),
  };
}

function diagnose(
  input: InspectInput,
  svc: ServiceModel,
  sg: ServiceGroup | undefined,
  group: GroupModel | undefined,
  groupProblems: string | undefined,
  addresses: AddressReport[],
  events: InspectReport["events"],
): string[] {
  const { namespace } = input;
  const out: string[] = [];
  if (svc.type !== "LoadBalancer")
    return [`not a LoadBalancer Service (type ${svc.type}): PureLB does not touch it`];
  if (!isPureLBService(svc))
    return [
      svc.loadBalancerClass === undefined
        ? `no spec.loadBalancerClass, and this PureLB serves only ${LB_CLASSES.join(" and ")} (${DEFAULT_ANNOUNCER_ENV} is not ${DEFAULT_ANNOUNCER})`
        : `spec.loadBalancerClass is ${svc.loadBalancerClass}: another load balancer serves it; PureLB serves no class, ${LB_CLASSES.join(" or ")}`,
    ];

  const annotationProblems = parseServiceAnnotations(svc.annotations).problems;
  for (const p of annotationProblems) out.push(`invalid annotation: ${p.path}: ${p.message}`);
  const wanted = svc.annotations[Annotation.allocatedFrom] ?? groupNameOf(svc);
  if (wanted && !sg) {
    out.push(
      `no group: ServiceGroup ${wanted} does not exist in ${namespace}; create it, or set ${Annotation.serviceGroup} to one that exists`,
    );
  } else if (sg && !group) {
    out.push(`ServiceGroup ${wanted} is invalid, so it hands out nothing: ${groupProblems}`);
  }

  const lastFailure = [...events].reverse().find(e => e.reason === "AllocationFailed");
  if (!svc.ingress.length) {
    if (group) {
      const usage = poolUsage([sg!], input.services)[0];
      for (const [family, t] of familyTotals(usage)) {
        if (t.size > 0n && t.inUse >= t.size)
          out.push(
            `pool exhausted: ServiceGroup ${group.name} has no free ${family} address (${t.inUse}/${t.size} in use); add a range or free an address`,
          );
      }
    }
    if (lastFailure) out.push(`pending: the allocator says: ${lastFailure.message}`);
    else if (!out.length)
      out.push(
        `pending: no address yet and no AllocationFailed Event; is the allocator running? (kubectl purelb status)`,
      );
    return out;
  }

  for (const r of addresses) {
    if (group && group.type !== "netbox" && !r.pool) {
      out.push(
        `address outside pool: ${r.address} is in no range of ServiceGroup ${group.name} (the group changed after allocation; the Service keeps it)`,
      );
    }
    if (r.kind === "local") {
      if (!r.candidates?.length) {
        out.push(
          `no live node on the subnet of ${r.address}${r.subnet ? ` (${r.subnet})` : ""}: no agent's Lease lists that subnet, so nobody announces it; run the agent on a node with an interface there (kubectl purelb status)`,
        );
      } else if (!r.announcing) {
        out.push(
          `${r.address}: the election picks ${r.winner}, which has not announced it yet; see its agent's logs`,
        );
      } else if (r.announcing.node !== r.winner) {
        out.push(
          `${r.address}: annotated as announced by ${r.announcing.node}, but the election now picks ${r.winner}; the annotation changes once ${r.winner}'s agent takes over`,
        );
      }
    } else if (r.kind === "remote" && !r.nodes?.length) {
      out.push(
        svc.externalTrafficPolicy === "Local"
          ? `${r.address}: externalTrafficPolicy Local and no live node has a ready endpoint, so no node adds it`
          : `${r.address}: no live node, so no node adds it to kube-lb0`,
      );
    }
  }
  if (lastFailure && events[events.length - 1] === lastFailure)
    out.push(`last Event is AllocationFailed: ${lastFailure.message}`);
  if (!out.length) {
    const where = addresses.map(r =>
      r.kind === "local"
        ? `${r.address} announced by ${r.announcing!.node}${r.announcing!.interface ? ` on ${r.announcing!.interface}` : ""}`
        : r.kind === "remote"
          ? `${r.address} on kube-lb0 of ${r.nodes!.length} node${r.nodes!.length === 1 ? "" : "s"}`
          : r.address,
    );
    out.push(`OK: ${where.join("; ")}`);
  }
  return out;
}
