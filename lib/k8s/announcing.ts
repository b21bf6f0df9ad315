/**
 * The purelb.io/announcing-IPv4 and -IPv6 annotations: which node announces each of a
 * Service's local addresses, in the Go PureLB's wire form: space-separated
 * `node,interface,address` slots, one per address.
 *
 * The address is the slot's key, and a node only ever writes its own slots (and drops slots
 * of addresses the Service no longer has). So two nodes that win different addresses of one
 * Service (multiPool, nodes on two subnets) each add their slot once and then agree on the
 * value; with one value per family they overwrote each other on every new version, forever.
 * The value is canonical (sorted by address) so an unchanged set of slots is an unchanged
 * string and costs no write.
 */
import { Address, parseAddress, formatAddress } from "../ip/address";

const order = (x: Address, y: Address): number =>
  x.family - y.family || (x.value < y.value ? -1 : x.value > y.value ? 1 : 0);

export interface AnnouncingSlot {
  node: string;
  interface: string;
  /** Canonical text. */
  address: string;
}

/**
 * Reads a value leniently: a malformed slot is dropped, not an error, because a user's typo
 * must not stall announcing. Node names and addresses hold no comma but interface names may,
 * so a slot splits at its first and its last comma. The older one-value form `node,interface`
 * has no address and is dropped too: the next write replaces it.
 */
export function parseAnnouncing(value: string | undefined): AnnouncingSlot[] {
  const out: AnnouncingSlot[] = [];
  for (const field of (value ?? "").split(/\s+/)) {
    const first = field.indexOf(",");
    const last = field.lastIndexOf(",");
    if (first <= 0 || first === last) continue;
    const a = parseAddress(field.slice(last + 1));
    const iface = field.slice(first + 1, last);
    if (!a || !iface) continue;
    out.push({ node: field.slice(0, first), interface: iface, address: formatAddress(a) });
  }
  return out;
}

/** The canonical value: sorted by address, one slot per address (the first after sorting). */
export function encodeAnnouncing(slots: AnnouncingSlot[]): string {
  const sorted = [...slots].sort(
    (x, y) =>
      order(parseAddress(x.address)!, parseAddress(y.address)!) ||
      x.node.localeCompare(y.node) ||
      x.interface.localeCompare(y.interface),
  );
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const s of sorted) {
    if (seen.has(s.address)) continue;
    seen.add(s.address);
    parts.push(`${s.node},${s.interface},${s.address}`);
  }
  return parts.join(" ");
}

/**
 * The value once this node has put in its slots (`mine`: the addresses of this family it
 * announces for the Service) and swept slots of addresses not in `keep` (the Service's
 * ingress addresses). Other nodes' slots of live addresses stay as they are: each belongs to
 * whichever node won that address.
 */
export function reconcileAnnouncing(
  current: string | undefined,
  mine: AnnouncingSlot[],
  keep: Iterable<string>,
): string {
  const live = new Set<string>();
  for (const k of keep) {
    const a = parseAddress(k);
    if (a) live.add(formatAddress(a));
  }
  const taken = new Set(mine.map(m => m.address));
  const others = parseAnnouncing(current).filter(s => live.has(s.address) && !taken.has(s.address));
  return encodeAnnouncing([...others, ...mine]);
}

/**
 * Who announces `address` according to the annotation value. The older one-value form
 * (`node,interface`, written by agents before the slots) names the announcer of the family's
 * only local address; it is still read, so `kubectl purelb` reads agents mid-upgrade.
 */
export function announcerOf(
  value: string | undefined,
  address: string,
): { node: string; interface?: string } | undefined {
  const a = parseAddress(address);
  const slot = a && parseAnnouncing(value).find(s => s.address === formatAddress(a));
  if (slot) return { node: slot.node, interface: slot.interface };
  const v = (value ?? "").trim();
  if (!v || /\s/.test(v) || v.split(",").length > 2) return undefined;
  const [node, iface] = v.split(",").map(x => x.trim());
  return node ? { node, ...(iface ? { interface: iface } : {}) } : undefined;
}
