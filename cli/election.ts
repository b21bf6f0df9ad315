import { Member, electWinner, isLive } from "../lib/election/election";
import { parseAddress } from "../lib/ip/address";
import { Cidr, cidrContains, formatCidr } from "../lib/ip/cidr";
import { parseGroup } from "../lib/ipam/group";
import { Annotation } from "../lib/k8s/annotations";
import { announcerOf } from "../lib/k8s/announcing";
import { ServiceModel } from "../lib/k8s/service";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { NodeLease } from "./cluster";

/** A local address in use, with the Services holding it and the node the election picks. */
export interface ElectedAddress {
  address: string;
  services: string[];
  winner?: string;
  /** What the announcing agent wrote on the Service (purelb.io/announcing-IPv4/-IPv6). */
  announcedBy?: string;
}

export interface ElectionReport {
  namespace: string;
  nodes: { node: string; live: boolean; subnets: string[]; expiresIn: number; wins: number }[];
  /** Subnets of local pools, and the live nodes on each (the candidates of its addresses). */
  subnets: { subnet: string; groups: string[]; liveNodes: string[] }[];
  /** --node: what that node wins. */
  node?: { node: string; live: boolean; subnets: string[]; addresses: ElectedAddress[] };
  /** --simulate-drain: where the node's addresses would go. */
  drain?: {
    node: string;
    moves: { address: string; services: string[]; to?: string }[];
    /** Remote addresses stay announced by the other nodes; this many lose a path. */
    remote: number;
  };
  /** --check */
  problems?: string[];
}

export interface ElectionInput {
  namespace: string;
  leases: NodeLease[];
  groups: ServiceGroup[];
  services: ServiceModel[];
  now: number;
  node?: string;
  drain?: string;
  check: boolean;
}

/** Local addresses of the Services PureLB allocated, canonical, with their holders. */
function localAddresses(services: ServiceModel[], members: Member[], now: number) {
  const out = new Map<string, ElectedAddress>();
  for (const s of services) {
    if (s.annotations[Annotation.poolType] !== "local") continue;
    for (const text of s.ingress) {
      const a = parseAddress(text);
      if (!a) continue;
      const e = out.get(text) ?? { address: text, services: [] };
      e.services.push(`${s.namespace}/${s.name}`);
      const ann =
        s.annotations[a.family === 4 ? Annotation.announcingIPv4 : Annotation.announcingIPv6];
      const by = announcerOf(ann, text);
      if (by) e.announcedBy = by.node;
      out.set(text, e);
    }
  }
  for (const e of out.values()) {
    const w = electWinner(e.address, members, now);
    if (w) e.winner = w;
    e.services.sort();
  }
  return [...out.values()].sort((a, b) => a.address.localeCompare(b.address));
}

/**
 * The election as every agent computes it from the node Leases: who is live, which node wins
 * each local address, which pool subnets have how many candidates, and, asked for, what a
 * drain of one node would move and what looks wrong.
 */
export function electionReport(input: ElectionInput): ElectionReport {
  const { now } = input;
  const members = input.leases.map(l => l.member);
  const live = members.filter(m => isLive(m, now));
  const addresses = localAddresses(input.services, members, now);
  const wins = (node: string) => addresses.filter(a => a.winner === node).length;
  const report: ElectionReport = {
    namespace: input.namespace,
    nodes: input.leases.map(l => ({
      node: l.member.node,
      live: isLive(l.member, now),
      subnets: l.member.subnets.map(formatCidr),
      expiresIn: Math.round((l.member.expires - now) / 1000),
      wins: wins(l.member.node),
    })),
    subnets: [],
  };
  const subnets = new Map<string, { cidr: Cidr; groups: Set<string> }>();
  for (const sg of input.groups) {
    const g = parseGroup(input.namespace, sg.metadata.name, sg.spec).group;
    if (!g || g.type !== "local") continue;
    for (const r of g.ranges) {
      const key = formatCidr(r.subnet);
      const e = subnets.get(key) ?? { cidr: r.subnet, groups: new Set<string>() };
      e.groups.add(g.name);
      subnets.set(key, e);
    }
  }
  report.subnets = [...subnets]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([subnet, e]) => ({
      subnet,
      groups: [...e.groups].sort(),
      liveNodes: live
        .filter(m =>
          m.subnets.some(
            s =>
              s.family === e.cidr.family &&
              (cidrContains(s, { family: e.cidr.family, value: e.cidr.network }) ||
                cidrContains(e.cidr, { family: s.family, value: s.network })),
          ),
        )
        .map(m => m.node)
        .sort(),
    }));

  if (input.node !== undefined) {
    const lease = input.leases.find(l => l.member.node === input.node);
    report.node = {
      node: input.node,
      live: !!lease && isLive(lease.member, now),
      subnets: lease?.member.subnets.map(formatCidr) ?? [],
      addresses: addresses.filter(a => a.winner === input.node || a.announcedBy === input.node),
    };
  }
  if (input.drain !== undefined) {
    const rest = members.filter(m => m.node !== input.drain);
    report.drain = {
      node: input.drain,
      moves: addresses
        .filter(a => a.winner === input.drain)
        .map(a => {
          const to = electWinner(a.address, rest, now);
          return { address: a.address, services: a.services, ...(to ? { to } : {}) };
        }),
      remote: input.services
        .filter(s => s.annotations[Annotation.poolType] === "remote")
        .reduce((n, s) => n + s.ingress.length, 0),
    };
  }
  if (input.check) {
    const problems: string[] = [];
    for (const n of report.nodes)
      if (!n.live) problems.push(`node ${n.node}: Lease expired ${-n.expiresIn}s ago`);
    if (!live.length) problems.push("no node has a live Lease: no local address is announced");
    for (const s of report.subnets) {
      if (!s.liveNodes.length)
        problems.push(
          `subnet ${s.subnet} (${s.groups.join(", ")}): no live node, its addresses are not announced`,
        );
      else if (s.liveNodes.length === 1)
        problems.push(
          `subnet ${s.subnet} (${s.groups.join(", ")}): only ${s.liveNodes[0]} is live on it, no failover`,
        );
    }
    for (const a of addresses) {
      if (!a.winner) continue;
      if (a.announcedBy && a.announcedBy !== a.winner)
        problems.push(
          `${a.address} (${a.services.join(", ")}): announced by ${a.announcedBy}, but the election picks ${a.winner}`,
        );
    }
    report.problems = problems;
  }
  return report;
}
