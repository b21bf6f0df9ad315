import { isLive } from "../lib/election/election";
import { formatCidr } from "../lib/ip/cidr";
import { BGPNodeStatus } from "../lib/k8s/bgp";
import { NodeLease, Workload } from "./cluster";

export interface ComponentStatus {
  component: "admission" | "allocator" | "lbnodeagent";
  kind: "Deployment" | "DaemonSet";
  /** namespace/name, or the namespace when it is missing. */
  name: string;
  desired: number;
  ready: number;
  state: "Ready" | "Degraded" | "Down" | "Missing";
}

export interface LeaseStatus {
  node: string;
  subnets: string[];
  renewed?: string;
  live: boolean;
  /** Seconds until it expires (negative: expired that long ago). */
  expiresIn: number;
}

export interface BgpPeerStatus {
  node: string;
  routerID?: string;
  asn?: number;
  peer?: string;
  state?: string;
  uptime?: string;
  prefixesSent?: number;
  prefixesReceived?: number;
  advertised: number;
  /** Seconds since the agent last wrote the status. */
  heartbeatAge?: number;
  stale: boolean;
}

export interface StatusReport {
  namespace: string;
  components: ComponentStatus[];
  leases: LeaseStatus[];
  /** undefined when the bgp.purelb.io CRDs are not installed. */
  bgp?: BgpPeerStatus[];
  problems: string[];
}

export interface StatusInput {
  namespace: string;
  peprNamespace: string;
  admission: Workload[];
  watcher: Workload[];
  agents: Workload[];
  leases: NodeLease[];
  bgp?: BGPNodeStatus[];
  now: number;
}

/** The agents write BGPNodeStatus at least this often; older means the agent is not running. */
export const BGP_STALE_SECONDS = 120;

function component(
  component: ComponentStatus["component"],
  kind: ComponentStatus["kind"],
  found: Workload[],
  where: string,
): ComponentStatus {
  const w = found[0];
  if (!w) return { component, kind, name: where, desired: 0, ready: 0, state: "Missing" };
  const desired =
    kind === "Deployment" ? (w.spec?.replicas ?? 1) : (w.status?.desiredNumberScheduled ?? 0);
  const ready =
    kind === "Deployment" ? (w.status?.readyReplicas ?? 0) : (w.status?.numberReady ?? 0);
  const state = ready === 0 ? "Down" : ready < desired ? "Degraded" : "Ready";
  return {
    component,
    kind,
    name: `${w.metadata.namespace}/${w.metadata.name}`,
    desired,
    ready,
    state,
  };
}

/** Components up, node Leases live, BGP sessions established. */
export function clusterStatus(input: StatusInput): StatusReport {
  const { now } = input;
  const components = [
    component("admission", "Deployment", input.admission, input.peprNamespace),
    component("allocator", "Deployment", input.watcher, input.peprNamespace),
    component("lbnodeagent", "DaemonSet", input.agents, input.namespace),
  ];
  const problems: string[] = [];
  for (const c of components) {
    if (c.state === "Missing")
      problems.push(
        `${c.component}: no ${c.kind} in ${c.name}; is PureLB installed (helm install purelb dist/purelb-chart)?`,
      );
    else if (c.state !== "Ready")
      problems.push(
        `${c.component}: ${c.ready}/${c.desired} ready in ${c.name}; see kubectl -n ${c.name.split("/")[0]} describe ${c.kind.toLowerCase()} ${c.name.split("/")[1]}`,
      );
  }

  const leases = input.leases.map(l => ({
    node: l.member.node,
    subnets: l.member.subnets.map(formatCidr),
    renewed: l.renewTime,
    live: isLive(l.member, now),
    expiresIn: Math.round((l.member.expires - now) / 1000),
  }));
  if (!leases.some(l => l.live))
    problems.push(`no live node Lease in ${input.namespace}: no node agent is announcing anything`);
  for (const l of leases.filter(x => !x.live))
    problems.push(
      `node ${l.node}: Lease expired ${-l.expiresIn}s ago; its agent is not running (its addresses moved to other nodes)`,
    );

  let bgp: BgpPeerStatus[] | undefined;
  if (input.bgp) {
    const sessions = bgpSessions(input.bgp, now);
    bgp = sessions.rows;
    problems.push(...sessions.problems);
  }
  return { namespace: input.namespace, components, leases, ...(bgp ? { bgp } : {}), problems };
}

/** One row per node and BGP neighbor from the BGPNodeStatus objects, and what is wrong. */
export function bgpSessions(
  statuses: BGPNodeStatus[],
  now: number,
): { rows: BgpPeerStatus[]; problems: string[] } {
  const rows: BgpPeerStatus[] = [];
  const problems: string[] = [];
  for (const s of [...statuses].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const st = s.status ?? {};
    const beat = Date.parse(st.heartbeat ?? st.lastUpdate ?? "");
    const heartbeatAge = Number.isFinite(beat) ? Math.round((now - beat) / 1000) : undefined;
    const stale = heartbeatAge === undefined || heartbeatAge > BGP_STALE_SECONDS;
    const base = {
      node: s.metadata.name,
      routerID: st.routerID,
      asn: st.asn,
      advertised: st.advertised?.length ?? 0,
      heartbeatAge,
      stale,
    };
    const peers = st.neighbors ?? [];
    if (!peers.length) rows.push(base);
    for (const n of peers) {
      rows.push({
        ...base,
        peer: n.address,
        state: n.state,
        uptime: n.uptime,
        prefixesSent: n.prefixesSent,
        prefixesReceived: n.prefixesReceived,
      });
      if (n.state !== "Established")
        problems.push(
          `node ${s.metadata.name}: BGP session with ${n.address} is ${n.state}${n.lastError ? ` (${n.lastError})` : ""}`,
        );
    }
    if (stale)
      problems.push(
        `node ${s.metadata.name}: BGP status ${heartbeatAge === undefined ? "has no heartbeat" : `last written ${heartbeatAge}s ago`}; is its agent running with the BGP sidecar?`,
      );
  }
  return { rows, problems };
}
