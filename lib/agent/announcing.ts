/**
 * When this node announces its local addresses (gratuitous ARP, unsolicited NA). Pure: the
 * shell in agent.ts passes what it knows and sends what comes back.
 *
 * Clients and switches follow an address only when told: a node that becomes the announcer
 * of an address must announce it even when its kernel already held it (a restarted agent
 * keeps what the kernel kept; a node whose link was down kept its IPv4 addresses), or clients
 * stay with the MAC of the node that stood in until their neighbour entry expires. So the
 * rule is not "announce what was added" but "announce what this node has not announced since
 * it (re)gained it": the set of announced addresses starts empty (agent start), and an address
 * leaves it when this node stops wanting it (lost election, Service gone), when its interface
 * goes down or loses carrier, and when the kernel loses it.
 *
 * IPv6 with duplicate address detection: an announcement sent while the copy is tentative
 * pulls clients to a copy that may fail DAD and vanish. Such an address is announced only
 * once the kernel reports it no longer tentative, and never while it is marked dadfailed.
 */
import { DesiredAddress, HeldAddress } from "./desired";

export interface AnnounceInput {
  /** This node's local addresses that are in place (added or kept) after this reconcile. */
  placed: Iterable<DesiredAddress>;
  /** PureLB's addresses in the kernel as read at the start of the reconcile, by address. */
  held: ReadonlyMap<string, HeldAddress>;
  /** Addresses this reconcile added that the kernel did not hold before (a new copy). */
  fresh: ReadonlySet<string>;
  /** Whether frames can leave this interface now (up, with carrier). */
  linkUp: (ifname: string) => boolean;
  /** Addresses announced since this node last gained them. */
  announced: ReadonlySet<string>;
}

export interface AnnouncePlan {
  /** Announce these now. */
  now: DesiredAddress[];
  /** IPv6 copies still in DAD: announced once the kernel says DAD is over. */
  tentative: DesiredAddress[];
  /** The announced set once `now` is sent. */
  announced: Set<string>;
}

export function planAnnouncements(input: AnnounceInput): AnnouncePlan {
  const now: DesiredAddress[] = [];
  const tentative: DesiredAddress[] = [];
  const announced = new Set<string>();
  for (const d of input.placed) {
    if (d.kind !== "local" || !input.linkUp(d.ifname)) continue;
    const dad = d.family === 6 && !d.nodad;
    if (input.fresh.has(d.address)) {
      // A new copy: IPv4 and nodad IPv6 are usable at once; with DAD the kernel decides.
      if (dad) tentative.push(d);
      else now.push(d);
      continue;
    }
    const h = input.held.get(d.address);
    if (!h || h.dadfailed) continue;
    if (h.tentative) tentative.push(d);
    else if (input.announced.has(d.address)) announced.add(d.address);
    else now.push(d);
  }
  for (const d of now) announced.add(d.address);
  return { now, tentative, announced };
}
