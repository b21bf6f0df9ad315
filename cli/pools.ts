import { familyName, parseAddress } from "../lib/ip/address";
import { formatCidr } from "../lib/ip/cidr";
import { formatRange, rangeContains, rangeSize } from "../lib/ip/range";
import { parseGroup } from "../lib/ipam/group";
import { formatProblems } from "../lib/ipam/problem";
import { Annotation } from "../lib/k8s/annotations";
import { ServiceModel } from "../lib/k8s/service";
import { ServiceGroup } from "../lib/k8s/servicegroup";

export interface RangeUsage {
  family: "IPv4" | "IPv6";
  pool: string;
  subnet: string;
  /** Prefix length the addresses get on an interface. */
  aggregation: number;
  /** Exact: a /64 has 18446744073709551616 addresses. */
  size: bigint;
  inUse: bigint;
  free: bigint;
  /** namespace/name of the Services holding addresses of the range. */
  services: string[];
}

export interface GroupUsage {
  name: string;
  namespace: string;
  type: "local" | "remote" | "external" | "netbox" | "invalid";
  /** Why the group is unusable, when type is "invalid". */
  problem?: string;
  netbox?: { url?: string; tenant?: string };
  ranges: RangeUsage[];
  /** Addresses allocated from the group (Netbox and external groups: all of them; others: those in no range). */
  elsewhere: { inUse: bigint; services: string[] };
}

/**
 * How full every range of every group is. An address is in use when a Service allocated from
 * the group (purelb.io/allocated-from) holds it in its status; a shared address counts once.
 */
export function poolUsage(groups: ServiceGroup[], services: ServiceModel[]): GroupUsage[] {
  const byGroup = new Map<string, ServiceModel[]>();
  for (const s of services) {
    const from = s.annotations[Annotation.allocatedFrom];
    if (from && s.ingress.length) byGroup.set(from, [...(byGroup.get(from) ?? []), s]);
  }
  const out: GroupUsage[] = [];
  for (const sg of [...groups].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const namespace = sg.metadata.namespace ?? "";
    const name = sg.metadata.name;
    const users = byGroup.get(name) ?? [];
    const { group, problems } = parseGroup(namespace, name, sg.spec);
    const base = { name, namespace, ranges: [] as RangeUsage[] };
    if (!group) {
      out.push({
        ...base,
        type: "invalid",
        problem: formatProblems(problems),
        elsewhere: tally(users, () => true),
      });
      continue;
    }
    const claimed = new Set<string>();
    const ranges = group.ranges.map(r => {
      const addrs = new Set<string>();
      const holders = new Set<string>();
      for (const s of users) {
        for (const text of s.ingress) {
          const a = parseAddress(text);
          if (a && rangeContains(r.range, a)) {
            addrs.add(text);
            holders.add(`${s.namespace}/${s.name}`);
            claimed.add(text);
          }
        }
      }
      const size = rangeSize(r.range);
      const inUse = BigInt(addrs.size);
      return {
        family: familyName(r.family),
        pool: formatRange(r.range),
        subnet: formatCidr(r.subnet),
        aggregation: r.prefix,
        size,
        inUse,
        free: size - inUse,
        services: [...holders].sort(),
      };
    });
    out.push({
      ...base,
      type: group.type,
      ranges,
      ...(group.netbox ? { netbox: { url: group.netbox.url, tenant: group.netbox.tenant } } : {}),
      elsewhere: tally(users, a => !claimed.has(a)),
    });
  }
  return out;
}

function tally(
  users: ServiceModel[],
  counts: (address: string) => boolean,
): { inUse: bigint; services: string[] } {
  const addrs = new Set<string>();
  const holders = new Set<string>();
  for (const s of users) {
    for (const a of s.ingress) {
      if (!counts(a)) continue;
      addrs.add(a);
      holders.add(`${s.namespace}/${s.name}`);
    }
  }
  return { inUse: BigInt(addrs.size), services: [...holders].sort() };
}

/** Totals of a group per family, for the summary lines and diagnoses. */
export function familyTotals(g: GroupUsage): Map<"IPv4" | "IPv6", { size: bigint; inUse: bigint }> {
  const out = new Map<"IPv4" | "IPv6", { size: bigint; inUse: bigint }>();
  for (const r of g.ranges) {
    const t = out.get(r.family) ?? { size: 0n, inUse: 0n };
    out.set(r.family, { size: t.size + r.size, inUse: t.inUse + r.inUse });
  }
  return out;
}
