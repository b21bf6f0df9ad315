// Tells what the membership view (lib/election/membership.ts) decided, when it changes: a log
// line, a metric and an Event on this node for each transition, so that an operator sees
// which signal (Lease or heartbeat) moved or kept the addresses.
import { Counter, Gauge } from "prom-client";
import { Log } from "../log";
import { registry } from "../metrics/registry";
import type { Membership, NodeState } from "../election/membership";

export const peerHeard = new Gauge({
  name: "purelb_peer_heard",
  help: "1 while this node hears the heartbeats of the peer node, else 0",
  labelNames: ["peer"],
  registers: [registry],
});

export const apiReachable = new Gauge({
  name: "purelb_api_reachable",
  help: "1 while this node's own Lease is live as the API server shows it (renewals succeed), else 0",
  registers: [registry],
});

export const nodeServing = new Gauge({
  name: "purelb_node_serving",
  help: "1 while this node takes part in elections of local addresses, else 0",
  registers: [registry],
});

export const membershipNodes = new Gauge({
  name: "purelb_membership_nodes",
  help: "Nodes by the signals they are judged on: both, heartbeat-only (Lease stale, kept on heartbeats), lease-only, unheard (Lease live, out on heartbeats), gone",
  labelNames: ["signal"],
  registers: [registry],
});

export const membershipTransitions = new Counter({
  name: "purelb_membership_transitions_total",
  help: "Membership transitions: peer_lost, peer_found, peer_lease_lapsed (kept on heartbeats), api_lost, api_found, serving_lost, serving_found",
  labelNames: ["event"],
  registers: [registry],
});

const SIGNALS = ["both", "heartbeat-only", "lease-only", "unheard", "gone"] as const;

export type NodeEvent = (type: "Normal" | "Warning", reason: string, message: string) => void;

export class MembershipReport {
  private prev?: Map<string, NodeState>;
  private prevServing?: boolean;
  private prevApi?: boolean;
  private apiLostAt?: number;

  constructor(
    private readonly self: string,
    private readonly event: NodeEvent = () => {},
  ) {}

  observe(m: Membership, now: number): void {
    const counts = Object.fromEntries(SIGNALS.map(s => [s, 0])) as Record<string, number>;
    for (const n of m.nodes) counts[n.signal]++;
    for (const s of SIGNALS) membershipNodes.set({ signal: s }, counts[s]);
    const own = m.nodes.find(n => n.node === this.self);
    const next = new Map(m.nodes.map(n => [n.node, n]));
    for (const n of m.nodes) {
      if (n.node === this.self) continue;
      if (n.heard !== undefined) peerHeard.set({ peer: n.node }, n.heard ? 1 : 0);
      const before = this.prev?.get(n.node);
      if (before) this.peer(before, n);
    }
    for (const node of this.prev?.keys() ?? [])
      if (!next.has(node) && node !== this.self) peerHeard.remove({ peer: node });
    if (own) {
      this.api(own.leaseLive, m, now);
      this.serving(m);
    }
    this.prev = next;
  }

  private peer(before: NodeState, n: NodeState): void {
    const who = { node: this.self, peer: n.node };
    if (before.live && !n.live) {
      membershipTransitions.inc({ event: "peer_lost" });
      const message =
        n.signal === "unheard"
          ? `node ${this.self} no longer hears ${n.node} although its Lease is renewed (cut off from the node network, or heartbeats blocked?): ${n.node}'s local addresses move to other nodes`
          : `node ${this.self} lost ${n.node}: no heartbeats and its Lease lapsed; its local addresses move to other nodes`;
      Log.warn(who, message);
      this.event("Warning", "PeerLost", message);
    } else if (!before.live && n.live) {
      membershipTransitions.inc({ event: "peer_found" });
      const message = `node ${this.self} hears ${n.node} again; it takes part in elections`;
      Log.info(who, message);
      this.event("Normal", "PeerFound", message);
    } else if (n.live && before.signal === "both" && n.signal === "heartbeat-only") {
      membershipTransitions.inc({ event: "peer_lease_lapsed" });
      const message = `the Lease of ${n.node} lapsed but node ${this.self} hears it: ${n.node} keeps its local addresses (it cannot reach the API server?)`;
      Log.warn(who, message);
      this.event("Warning", "PeerLeaseLapsed", message);
    }
  }

  private api(live: boolean, m: Membership, now: number): void {
    if (this.prevApi === live) return;
    const first = this.prevApi === undefined;
    this.prevApi = live;
    apiReachable.set(live ? 1 : 0);
    if (first && live) return;
    const who = { node: this.self };
    if (!live) {
      this.apiLostAt = now;
      membershipTransitions.inc({ event: "api_lost" });
      const message = m.serving
        ? `this node's Lease has lapsed (renewals fail: is the API server reachable?); it hears ${m.reachable - 1} other node(s), so it keeps its local addresses`
        : `this node's Lease has lapsed (renewals fail: is the API server reachable?); its local addresses go to other nodes until it is renewed`;
      Log.warn(who, message);
      this.event("Warning", "APILost", message);
    } else {
      membershipTransitions.inc({ event: "api_found" });
      const secs =
        this.apiLostAt === undefined ? undefined : Math.round((now - this.apiLostAt) / 1000);
      const message = `this node's Lease is renewed${secs === undefined ? "" : ` after ${secs} s`}; it takes part in elections by its Lease again`;
      Log.info(who, message);
      this.event("Normal", "APIFound", message);
    }
  }

  private serving(m: Membership): void {
    if (this.prevServing === m.serving) return;
    const first = this.prevServing === undefined;
    this.prevServing = m.serving;
    nodeServing.set(m.serving ? 1 : 0);
    if (first && m.serving) return;
    const who = { node: this.self, reachable: m.reachable, possible: m.possible };
    if (!m.serving) {
      membershipTransitions.inc({ event: "serving_lost" });
      const message = m.apiLive
        ? `node ${this.self} hears ${m.reachable - 1} of the ${m.possible - 1} other nodes that the API shows alive (cut off from the node network?): it withdraws its local addresses`
        : `node ${this.self} neither reaches the API server nor hears a majority of the nodes: it withdraws its local addresses`;
      Log.warn(who, message);
      this.event("Warning", "NotServing", message);
    } else {
      membershipTransitions.inc({ event: "serving_found" });
      const message = `node ${this.self} takes part in elections again`;
      Log.info(who, message);
      this.event("Normal", "Serving", message);
    }
  }
}
