import { Member, candidates, isLive } from "../lib/election/election";
import { formatCidr } from "../lib/ip/cidr";
import { formatRange } from "../lib/ip/range";
import { Annotation } from "../lib/k8s/annotations";
import { BGPConfiguration } from "../lib/k8s/bgp";
import { LBNodeAgent, lbNodeAgentDefaults } from "../lib/k8s/lbnodeagent";
import { ServiceModel, toServiceModel } from "../lib/k8s/service";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { validateBGPConfiguration } from "../lib/validate/bgp";
import { validateLBNodeAgent } from "../lib/validate/lbnodeagent";
import { isCatchAll } from "../lib/validate/selector";
import { Verdict } from "../lib/validate/result";
import { GroupModel } from "../lib/ipam/group";
import { isPureLBService, scopeOf, validateService } from "../lib/validate/service";
import { strandedServices, validateServiceGroup } from "../lib/validate/servicegroup";
import { RawService } from "./cluster";

export type Level = "PASS" | "WARN" | "FAIL";

export interface Finding {
  level: Level;
  kind: string;
  /** namespace/name, or name for cluster-scoped and summary rows. */
  name: string;
  message: string;
}

export interface ValidateInput {
  /** PureLB's namespace: where the allocator and the agents read their configuration. */
  namespace: string;
  groups: ServiceGroup[];
  agents: LBNodeAgent[];
  /** undefined when the bgp.purelb.io CRDs are not installed. */
  bgp: BGPConfiguration[] | undefined;
  services: RawService[];
  members: Member[];
  now: number;
}

export interface ValidateReport {
  namespace: string;
  findings: Finding[];
  summary: Record<Level, number>;
}

const key = (o: { metadata: { namespace?: string; name: string } }) =>
  `${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** Findings of a validator: one FAIL per problem, one WARN per warning, else one PASS. */
function fromVerdict(kind: string, name: string, v: Verdict, pass = "valid"): Finding[] {
  const out: Finding[] = [
    ...v.problems.map(p => ({
      level: "FAIL" as const,
      kind,
      name,
      message: `${p.path}: ${p.message}`,
    })),
    ...v.warnings.map(w => ({ level: "WARN" as const, kind, name, message: w })),
  ];
  return out.length ? out : [{ level: "PASS", kind, name, message: pass }];
}

/**
 * Runs the admission webhook's validators over every PureLB object in the cluster, and the
 * checks only the whole picture allows: ranges no live node can announce, no LBNodeAgent,
 * remote groups nobody advertises, Services asking for groups that do not exist.
 */
export function validateCluster(input: ValidateInput): ValidateReport {
  const { namespace, now } = input;
  const findings: Finding[] = [];
  const live = input.members.filter(m => isLive(m, now));
  const ourBgp = (input.bgp ?? []).filter(b => b.metadata.namespace === namespace);

  // ServiceGroups: the webhook's checks, overlaps within a namespace included.
  const byNs = new Map<string, ServiceGroup[]>();
  for (const g of input.groups)
    byNs.set(g.metadata.namespace ?? "", [...(byNs.get(g.metadata.namespace ?? "") ?? []), g]);
  const models = input.services.map(toServiceModel);
  const validGroups = new Set<string>();
  const ourModels: GroupModel[] = [];
  const strandedRows: Finding[] = [];
  for (const sg of [...input.groups].sort((a, b) => key(a).localeCompare(key(b)))) {
    const name = key(sg);
    const v = validateServiceGroup(sg, byNs.get(sg.metadata.namespace ?? "") ?? []);
    const rows = fromVerdict("ServiceGroup", name, v);
    if (sg.metadata.namespace !== namespace) {
      rows.push({
        level: "WARN",
        kind: "ServiceGroup",
        name,
        message: `not in ${namespace}, so PureLB does not use it (the allocator and the agents read ServiceGroups from ${namespace})`,
      });
    } else if (v.group) {
      validGroups.add(sg.metadata.name);
      ourModels.push(v.group);
      const g = v.group;
      if (g.type === "local") {
        for (const r of g.ranges) {
          if (!candidates({ family: r.family, value: r.range.start }, live, now).length) {
            rows.push({
              level: "WARN",
              kind: "ServiceGroup",
              name,
              message: `${r.path} ${formatRange(r.range)}: no live node has an interface on ${formatCidr(r.subnet)}, so its addresses cannot be announced${g.multiPool ? " (multiPool skips it)" : ""}; run the agent on a node in that subnet or fix the subnet`,
            });
          }
        }
      } else if (g.type === "remote" || g.netbox?.poolType === "remote") {
        if (input.bgp !== undefined && ourBgp.length === 0) {
          rows.push({
            level: "WARN",
            kind: "ServiceGroup",
            name,
            message: `remote addresses go on kube-lb0 but no BGPConfiguration in ${namespace} advertises them; create one (and enable the agent's BGP sidecar) unless other routing software does`,
          });
        } else if (input.bgp === undefined) {
          rows.push({
            level: "WARN",
            kind: "ServiceGroup",
            name,
            message: "remote addresses need BGP, but the bgp.purelb.io CRDs are not installed",
          });
        }
        if (!live.length)
          rows.push({
            level: "WARN",
            kind: "ServiceGroup",
            name,
            message: "no live node: nobody adds its addresses to kube-lb0",
          });
      }
      for (const s of strandedServices(g, models)) {
        strandedRows.push({
          level: "WARN",
          kind: "Service",
          name: s.service,
          message: `holds ${s.addresses.join(", ")} outside the pools of ServiceGroup ${sg.metadata.name}; it keeps them and keeps working`,
        });
      }
    }
    findings.push(
      ...(rows.some(r => r.level !== "PASS") ? rows.filter(r => r.level !== "PASS") : rows),
    );
  }
  findings.push(...strandedRows);

  // LBNodeAgents: the webhook's checks, and which one the agents use.
  const agents = [...input.agents].sort((a, b) => key(a).localeCompare(key(b)));
  for (const a of agents)
    findings.push(...fromVerdict("LBNodeAgent", key(a), validateLBNodeAgent(a)));
  const ours = agents.filter(a => a.metadata.namespace === namespace);
  if (ours.length === 0) {
    findings.push({
      level: "WARN",
      kind: "LBNodeAgent",
      name: namespace,
      message: `no LBNodeAgent in ${namespace}: the agents use the defaults (localInterface ${lbNodeAgentDefaults.localInterface}, extInterface ${lbNodeAgentDefaults.extInterface}, address lifetime ${lbNodeAgentDefaults.addressLifetime.valid}); create one to make that explicit`,
    });
  } else if (ours.filter(a => isCatchAll(a.spec?.nodeSelector)).length > 1) {
    const catchAll = ours.filter(a => isCatchAll(a.spec?.nodeSelector));
    findings.push({
      level: "WARN",
      kind: "LBNodeAgent",
      name: namespace,
      message: `${catchAll.length} LBNodeAgents in ${namespace} apply to every node (no nodeSelector); nodes no other selects use the first by name, ${catchAll[0].metadata.name}, and ignore ${catchAll
        .slice(1)
        .map(a => a.metadata.name)
        .join(", ")}: delete them or give them a nodeSelector`,
    });
  }

  // BGPConfigurations.
  for (const b of [...(input.bgp ?? [])].sort((x, y) => key(x).localeCompare(key(y)))) {
    findings.push(...fromVerdict("BGPConfiguration", key(b), validateBGPConfiguration(b)));
    if (b.metadata.namespace !== namespace)
      findings.push({
        level: "WARN",
        kind: "BGPConfiguration",
        name: key(b),
        message: `not in ${namespace}, so the agents do not use it`,
      });
  }

  // Node Leases: without them no local address has an announcer.
  if (!live.length) {
    findings.push({
      level: "WARN",
      kind: "Lease",
      name: namespace,
      message: `no live node Lease in ${namespace}: no node agent is running (see kubectl purelb status)`,
    });
  }

  // Services: the webhook's annotation checks, and the group each one asks for.
  let passed = 0;
  for (const raw of [...input.services].sort((a, b) => key(a).localeCompare(key(b)))) {
    const svc: ServiceModel = toServiceModel(raw);
    if (!isPureLBService(svc)) continue;
    const name = `${svc.namespace}/${svc.name}`;
    const rows = fromVerdict("Service", name, validateService(raw)).filter(r => r.level !== "PASS");
    // A Service that holds addresses is bound to the group it got them from; scoping decides
    // only new allocations (it never revokes an address).
    const held = svc.ingress.length ? svc.annotations[Annotation.allocatedFrom] : undefined;
    const scope = held ? { name: held } : scopeOf(svc, ourModels);
    if (scope.refusal)
      rows.push({
        level: "FAIL",
        kind: "Service",
        name,
        message: `gets no address: ${scope.refusal}`,
      });
    if (scope.warning) rows.push({ level: "WARN", kind: "Service", name, message: scope.warning });
    const wanted = scope.name;
    if (wanted && !validGroups.has(wanted)) {
      const exists = (byNs.get(namespace) ?? []).some(g => g.metadata.name === wanted);
      rows.push({
        level: "FAIL",
        kind: "Service",
        name,
        message: exists
          ? `its ServiceGroup ${wanted} is invalid (see above), so it gets no new addresses`
          : `asks for ServiceGroup ${wanted}, which does not exist in ${namespace}; create it or fix purelb.io/service-group`,
      });
    }
    if (rows.length) findings.push(...rows);
    else passed++;
  }
  if (passed)
    findings.push({
      level: "PASS",
      kind: "Service",
      name: `${passed} Service${passed === 1 ? "" : "s"}`,
      message: "annotations valid, ServiceGroup exists",
    });

  const summary: Record<Level, number> = { PASS: 0, WARN: 0, FAIL: 0 };
  for (const f of findings) summary[f.level]++;
  return { namespace, findings, summary };
}
