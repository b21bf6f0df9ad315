import { Family, formatAddress, parseAddress } from "../ip/address";
import { hostMask } from "../ip/cidr";
import { INFINITY_LIFE, KernelAddress, KernelLink, PURELB_ADDR_PROTO } from "../netlink/messages";
import { AnyMessage, ApiPath, familyOf, typeUrl } from "./gobgp";
import { LargeCommunity, NodeAddress, PeerSpec, RouteAttrs } from "./config";

// The pure core of what is advertised: the addresses on kube-lb0 -> BGP paths.

export interface Prefix {
  family: Family;
  network: string;
  len: number;
  /** "network/len", the identity of a route. */
  key: string;
}

/** Global-scope kernel scope value (RT_SCOPE_UNIVERSE). */
const SCOPE_GLOBAL = 0;

export function prefixOf(address: string, len: number): Prefix | undefined {
  const a = parseAddress(address);
  if (!a) return undefined;
  const network = formatAddress({ family: a.family, value: a.value & ~hostMask(a.family, len) });
  return { family: a.family, network, len, key: `${network}/${len}` };
}

/**
 * The routes for the addresses on the external interface: each address's network at the
 * prefix length it has there (aggregation), once however many addresses share it. Link-local
 * and failed (DAD) addresses are no Service's.
 */
export function interfacePrefixes(
  addrs: readonly KernelAddress[],
  ifindex: number | undefined,
): Prefix[] {
  if (ifindex === undefined) return [];
  const out = new Map<string, Prefix>();
  for (const a of addrs) {
    if (a.ifindex !== ifindex || a.scope !== SCOPE_GLOBAL || a.dadfailed) continue;
    const p = prefixOf(a.address, a.prefix);
    if (p) out.set(p.key, p);
  }
  return [...out.values()].sort((x, y) => x.family - y.family || x.key.localeCompare(y.key));
}

/**
 * This node's own addresses as the kernel has them (outside the external interface and
 * loopback, not PureLB's): the fallback for the router ID and next hops when the Node
 * object does not say. Permanent addresses come first, so a DHCP lease or an announced
 * local address is the last choice.
 */
export function kernelNodeAddresses(
  addrs: readonly KernelAddress[],
  links: readonly KernelLink[],
  extName: string,
): { ipv4?: NodeAddress; ipv6?: NodeAddress; own: string[] } {
  const byIndex = new Map(links.map(l => [l.index, l]));
  const own = addrs.map(a => a.address);
  const usable = addrs
    .filter(a => {
      const l = byIndex.get(a.ifindex);
      return (
        l &&
        !l.loopback &&
        l.name !== extName &&
        a.scope === SCOPE_GLOBAL &&
        !a.tentative &&
        !a.dadfailed &&
        a.proto !== PURELB_ADDR_PROTO
      );
    })
    .sort(
      (x, y) =>
        Number(y.validLft === INFINITY_LIFE) - Number(x.validLft === INFINITY_LIFE) ||
        x.ifindex - y.ifindex,
    );
  const pick = (f: Family): NodeAddress | undefined => {
    const a = usable.find(u => u.family === f);
    return a && { address: a.address, source: `interface ${byIndex.get(a.ifindex)!.name}` };
  };
  return { ipv4: pick(4), ipv6: pick(6), own };
}

export interface NextHops {
  /** "0.0.0.0" / "::" let gobgpd use each session's own local address. */
  v4: string;
  v6: string;
  problems: string[];
}

/**
 * Next hops for the paths. A session of the same family as the route gets the session's
 * local address (gobgpd fills in an unspecified next hop). A route of the other family over
 * a session (IPv6 routes to an IPv4 peer) needs a next hop of its own family: the node's
 * address of that family. Paths are shared by all peers, so one such peer decides.
 */
export function chooseNextHops(
  peers: readonly PeerSpec[],
  node: { ipv4?: NodeAddress; ipv6?: NodeAddress },
): NextHops {
  const problems: string[] = [];
  const pick = (family: Family): string => {
    const unspecified = family === 4 ? "0.0.0.0" : "::";
    const cross = peers.filter(p => p.families.includes(family) && p.family !== family);
    if (!cross.length) return unspecified;
    const own = family === 4 ? node.ipv4 : node.ipv6;
    if (own) return own.address;
    problems.push(
      `IPv${family} routes go to ${cross.map(p => p.address).join(", ")} over IPv${family === 4 ? 6 : 4} but this node has no IPv${family} address for their next hop; ` +
        `peer over IPv${family} or give the node an IPv${family} address`,
    );
    return unspecified;
  };
  return { v4: pick(4), v6: pick(6), problems };
}

export interface PathSpec extends Prefix {
  nextHop: string;
  route: RouteAttrs;
  /** Identity of everything advertised with the route: a change means AddPath again. */
  fingerprint: string;
}

export function fingerprint(nextHop: string, route: RouteAttrs): string {
  const large = route.largeCommunities.map(
    c => `${c.global_admin}:${c.local_data1}:${c.local_data2}`,
  );
  return `nh=${nextHop};c=${[...route.communities].sort((a, b) => a - b).join(",")};lc=${large.sort().join(",")};lp=${route.localPref ?? ""}`;
}

export function desiredPaths(
  prefixes: readonly Prefix[],
  hops: NextHops,
  route: RouteAttrs,
): Map<string, PathSpec> {
  const out = new Map<string, PathSpec>();
  for (const p of prefixes) {
    const nextHop = p.family === 4 ? hops.v4 : hops.v6;
    out.set(p.key, { ...p, nextHop, route, fingerprint: fingerprint(nextHop, route) });
  }
  return out;
}

const any = (message: string, fields: Record<string, unknown>): AnyMessage => ({
  "@type": typeUrl(message),
  ...fields,
});

/**
 * The gobgp API form of a path. IPv4 unicast carries NEXT_HOP; IPv6 carries its next hop and
 * NLRI in MP_REACH_NLRI (RFC 4760), which is how gobgpd expects AddPath to describe it.
 */
export function toApiPath(p: PathSpec): ApiPath {
  const nlri = any("IPAddressPrefix", { prefix: p.network, prefix_len: p.len });
  const pattrs: AnyMessage[] = [any("OriginAttribute", { origin: 0 })];
  if (p.family === 4) pattrs.push(any("NextHopAttribute", { next_hop: p.nextHop }));
  else
    pattrs.push(
      any("MpReachNLRIAttribute", { family: familyOf(6), next_hops: [p.nextHop], nlris: [nlri] }),
    );
  if (p.route.communities.length)
    pattrs.push(any("CommunitiesAttribute", { communities: p.route.communities }));
  if (p.route.largeCommunities.length)
    pattrs.push(any("LargeCommunitiesAttribute", { communities: p.route.largeCommunities }));
  if (p.route.localPref !== undefined)
    pattrs.push(any("LocalPrefAttribute", { local_pref: p.route.localPref }));
  return { family: familyOf(p.family), nlri, pattrs };
}

/** Reads back a path gobgpd holds: its route key and the fingerprint of what it carries. */
export function fromApiPath(path: ApiPath): { key: string; fingerprint: string } | undefined {
  const n = path.nlri;
  if (!n || !n["@type"]?.endsWith(".IPAddressPrefix")) return undefined;
  const p = prefixOf(String(n.prefix ?? ""), Number(n.prefix_len ?? -1));
  if (!p) return undefined;
  let nextHop = "";
  const route: RouteAttrs = { communities: [], largeCommunities: [] };
  for (const a of path.pattrs ?? []) {
    const t = a["@type"]?.slice(a["@type"].lastIndexOf(".") + 1);
    if (t === "NextHopAttribute") nextHop = String(a.next_hop ?? "");
    else if (t === "MpReachNLRIAttribute")
      nextHop = String((a.next_hops as string[] | undefined)?.[0] ?? "");
    else if (t === "CommunitiesAttribute")
      route.communities = (a.communities as number[] | undefined) ?? [];
    else if (t === "LargeCommunitiesAttribute")
      route.largeCommunities = (a.communities as LargeCommunity[] | undefined) ?? [];
    else if (t === "LocalPrefAttribute") route.localPref = Number(a.local_pref);
  }
  const canon = parseAddress(nextHop);
  return { key: p.key, fingerprint: fingerprint(canon ? formatAddress(canon) : nextHop, route) };
}
