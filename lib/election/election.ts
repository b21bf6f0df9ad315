import { createHash } from "node:crypto";
import { Address, parseAddress } from "../ip/address";
import { Cidr, cidrContains } from "../ip/cidr";

/** A node taking part in elections, as its Lease describes it. */
export interface Member {
  node: string;
  subnets: Cidr[];
  /** Epoch ms after which the node counts as gone unless its Lease is renewed. */
  expires: number;
  /** The node's addresses for heartbeats (lib/heartbeat); none: it sends none. */
  addresses?: string[];
  /** The nodes it heard at its last Lease renewal (membership.ts tells silence from a cut). */
  hears?: string[];
}

/** sha256(node + "#" + address), hex: the node with the lowest value announces the address. */
export function electionHash(node: string, address: string): string {
  return createHash("sha256").update(`${node}#${address}`).digest("hex");
}

export const isLive = (m: Member, now: number): boolean => m.expires > now;

/** Live members with an interface on a subnet that holds the address. */
export function candidates(address: Address, members: Iterable<Member>, now: number): Member[] {
  const out: Member[] = [];
  for (const m of members)
    if (isLive(m, now) && m.subnets.some(s => cidrContains(s, address))) out.push(m);
  return out;
}

/**
 * The node that announces a local address: among live members on its subnet, the lowest
 * sha256(node#address), ties (never seen in practice) broken by node name. Every agent
 * computes this from the same Leases, so all agree without talking to each other; a new or
 * departing node moves only the addresses it wins or held. IPv4 and IPv6 addresses are
 * separate elections because they are separate addresses. `address` is canonical text.
 */
export function electWinner(
  address: string,
  members: Iterable<Member>,
  now: number,
  hash = electionHash,
): string | undefined {
  const a = parseAddress(address);
  if (!a) return undefined;
  let best: { node: string; h: string } | undefined;
  for (const m of candidates(a, members, now)) {
    const h = hash(m.node, address);
    if (!best || h < best.h || (h === best.h && m.node < best.node)) best = { node: m.node, h };
  }
  return best?.node;
}

/** Memoised electionHash: the pairs repeat on every reconcile. Cleared when it grows large. */
export function cachedHash(limit = 200_000): (node: string, address: string) => string {
  const cache = new Map<string, string>();
  return (node, address) => {
    const key = `${node}#${address}`;
    let h = cache.get(key);
    if (h === undefined) {
      if (cache.size >= limit) cache.clear();
      h = electionHash(node, address);
      cache.set(key, h);
    }
    return h;
  };
}

/** The earliest expiry after `now`: when the outcome of some election may change by itself. */
export function nextExpiry(members: Iterable<Member>, now: number): number | undefined {
  let next: number | undefined;
  for (const m of members)
    if (m.expires > now && (next === undefined || m.expires < next)) next = m.expires;
  return next;
}
