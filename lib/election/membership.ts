/**
 * Which nodes take part in elections, from two signals: the node Leases (through the API
 * server) and the agents' heartbeats to each other (straight over the node network, see
 * lib/heartbeat). Neither alone is enough:
 *   - Leases alone make the data plane depend on the control plane: when the API server
 *     stalls, every Lease looks stale to every node and every local address is withdrawn.
 *   - Heartbeats alone cannot tell "that node is dead" from "I am cut off from the LAN".
 * The rules, for this node's view (pure: the agent calls it on every reconcile):
 *   - another node that heartbeats is a member while it is heard (its Lease does not matter:
 *     a stale Lease with live heartbeats is an API problem, not a dead node); one not heard
 *     for a timeout is out even if its Lease is renewed (it is cut off from the LAN);
 *   - right after this node's heartbeats start, a node not heard yet counts by its Lease, so
 *     a restarting agent does not withdraw before the first heartbeats arrive;
 *   - a node without heartbeats (an older agent, or heartbeats off here) counts by its Lease;
 *   - this node takes part while it reaches a majority of the nodes that may be alive (those
 *     heard or with a live Lease), a tie going to the side with the lowest node name. A node
 *     cut off from the LAN hears nobody while the API shows the others alive: it withdraws.
 *     When the API is down for everyone, every Lease is stale, so "may be alive" is "heard":
 *     nothing moves. A single node is a majority of itself.
 */
import { Member } from "./election";

export interface PeerView {
  /** Epoch ms of the last authenticated heartbeat from each node. */
  heard: ReadonlyMap<string, number>;
  /** A node not heard for this long is out. */
  timeoutMs: number;
  /** When this node's heartbeats started: the grace period for nodes not heard yet. */
  since: number;
}

export interface MembershipInput {
  self: string;
  /** From the node Leases; a member with `addresses` sends heartbeats. */
  members: Iterable<Member>;
  now: number;
  /** Undefined when this node runs without heartbeats: Leases alone decide, as before. */
  peers?: PeerView;
}

/** Why a node is in or out, one value per combination of the two signals. */
export type NodeSignal =
  | "both" // Lease live and heard
  | "heartbeat-only" // heard, Lease stale: kept on heartbeats alone
  | "lease-only" // Lease live, no heartbeat to go by (none sent, or not heard yet after start)
  | "unheard" // Lease live but not heard: out on heartbeats alone
  | "gone"; // neither

export interface NodeState {
  node: string;
  leaseLive: boolean;
  /** undefined when the node's heartbeats are not expected (none sent, or off here). */
  heard?: boolean;
  signal: NodeSignal;
  live: boolean;
}

export interface Membership {
  /** The members that take part, for electWinner (never expire within this view). */
  members: Member[];
  /** Every node, this one included, as this node judges it. */
  nodes: NodeState[];
  /** Whether this node takes part (false: it withdraws its local addresses). */
  serving: boolean;
  /** Whether this node's own Lease is live, as the API shows it: false = API lost. */
  apiLive: boolean;
  /** Nodes this node reaches (itself included) and nodes that may be alive, for the quorum. */
  reachable: number;
  possible: number;
  /** The earliest time after `now` at which this view may change by the clock alone. */
  nextChange?: number;
}

const speaks = (m: Member): boolean => !!m.addresses?.length;

export function membership(input: MembershipInput): Membership {
  const { self, now } = input;
  const byNode = new Map<string, Member>();
  // Two Leases for one node (never expected): the later expiry counts.
  for (const m of input.members) {
    const had = byNode.get(m.node);
    if (!had || m.expires > had.expires) byNode.set(m.node, m);
  }
  const own = byNode.get(self);
  const apiLive = !!own && own.expires > now;
  let next: number | undefined;
  const soon = (t: number): void => {
    if (t > now && (next === undefined || t < next)) next = t;
  };
  for (const m of byNode.values()) soon(m.expires);
  const peers = input.peers && !heartbeatsSilent(input, byNode, apiLive) ? input.peers : undefined;
  const grace = !!peers && now < peers.since + peers.timeoutMs;
  if (peers && grace) soon(peers.since + peers.timeoutMs);

  const nodes: NodeState[] = [];
  const reach = new Set<string>([self]);
  const possible = new Set<string>([self]);
  for (const m of byNode.values()) {
    if (m.node === self) continue;
    const leaseLive = m.expires > now;
    if (!peers || !speaks(m)) {
      nodes.push({
        node: m.node,
        leaseLive,
        signal: leaseLive ? "lease-only" : "gone",
        live: leaseLive,
      });
      continue;
    }
    const last = peers.heard.get(m.node);
    const heard = last !== undefined && now - last < peers.timeoutMs;
    if (last !== undefined) soon(last + peers.timeoutMs);
    const waiting = grace && last === undefined && leaseLive;
    const live = heard || waiting;
    const signal: NodeSignal = heard
      ? leaseLive
        ? "both"
        : "heartbeat-only"
      : waiting
        ? "lease-only"
        : leaseLive
          ? "unheard"
          : "gone";
    nodes.push({ node: m.node, leaseLive, heard: waiting ? undefined : heard, signal, live });
    if (live) reach.add(m.node);
    if (live || leaseLive) possible.add(m.node);
  }

  let serving = apiLive;
  if (peers) {
    const lowest = [...possible].sort()[0];
    serving =
      reach.size * 2 > possible.size || (reach.size * 2 === possible.size && reach.has(lowest));
  }
  serving &&= !!own;
  if (own) {
    const signal: NodeSignal = !peers
      ? apiLive
        ? "lease-only"
        : "gone"
      : serving
        ? apiLive
          ? "both"
          : "heartbeat-only"
        : apiLive
          ? "unheard"
          : "gone";
    nodes.unshift({
      node: self,
      leaseLive: apiLive,
      heard: peers ? reach.size > 1 : undefined,
      signal,
      live: serving,
    });
  }

  const members: Member[] = [];
  for (const s of nodes) {
    const m = byNode.get(s.node);
    if (s.live && m) members.push({ ...m, expires: Infinity });
  }
  return {
    members,
    nodes,
    serving,
    apiLive,
    reachable: peers ? reach.size : members.length,
    possible: peers ? possible.size : members.length,
    nextChange: next,
  };
}

/**
 * Whether heartbeats tell nothing at all: this node hears no other node, the API works, and
 * no other node with a live Lease hears anybody but this node either (their Leases say whom
 * they hear). That is a blocked port or mismatched keys everywhere, not this node cut off
 * from the LAN; judging by heartbeats would make every node withdraw. Leases alone decide.
 */
function heartbeatsSilent(
  input: MembershipInput,
  byNode: ReadonlyMap<string, Member>,
  apiLive: boolean,
): boolean {
  const { self, now, peers } = input;
  if (!peers || !apiLive || now < peers.since + peers.timeoutMs) return false;
  let others = 0;
  for (const m of byNode.values()) {
    if (m.node === self || !speaks(m)) continue;
    const last = peers.heard.get(m.node);
    if (last !== undefined && now - last < peers.timeoutMs) return false;
    if (m.expires <= now) continue;
    others++;
    if (m.hears?.some(n => n !== self)) return false;
  }
  return others > 0;
}
