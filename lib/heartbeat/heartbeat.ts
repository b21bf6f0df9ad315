/**
 * Agents tell each other they are alive straight over the node network, so that an election
 * need not trust the API server alone (lib/election/membership.ts). Each agent sends a small
 * authenticated datagram (wire.ts) to every other node's addresses, IPv4 and IPv6, every
 * interval, and records when it last heard each node.
 *
 * Why our own protocol: memberlist (what MetalLB uses) is Go, and no kept-up Node package does
 * this: SWIM ports on npm are unmaintained, libp2p's gossipsub is a pub/sub stack far larger
 * than the agent, and none authenticates with a shared cluster key. What we need is small:
 * the peer list comes from the node Leases, so there is no gossip of membership, only
 * "I am alive" from each node to each node (n² datagrams per interval; 100 nodes at 1 s is
 * 10,000 datagrams/s cluster-wide, 200 per node, ~60 KB/s).
 */
import { createSocket, type Socket } from "node:dgram";
import { Log } from "../log";
import {
  FLAG_API_LIVE,
  FLAG_LEAVING,
  RateLimit,
  ReplayGuard,
  decode,
  encode,
  type DropReason,
} from "./wire";
import { heartbeatsDropped, heartbeatsReceived, heartbeatsSent } from "./metrics";
import type { PeerView } from "../election/membership";

export interface HeartbeatOptions {
  node: string;
  key: Buffer;
  port: number;
  /** A node not heard for this long is out (the Lease duration). */
  timeoutMs: number;
  /** Called when a node is heard again after silence, or says it leaves. */
  onChange: () => void;
  /** Whether this node's own Lease is live: flag bit 0 of every heartbeat, for diagnosis (captures). */
  apiLive?: () => boolean;
  now?: () => number;
  /** Addresses to listen on; default every address. */
  bind4?: string;
  bind6?: string;
}

/** Heartbeats every timeout / 5: a node is out after missing five in a row. */
export const heartbeatInterval = (timeoutMs: number): number =>
  Math.min(1000, Math.max(100, Math.floor(timeoutMs / 5)));

export class Heartbeats {
  private readonly peers = new Map<string, string[]>();
  private readonly heard = new Map<string, number>();
  private readonly guard = new ReplayGuard();
  private rate: RateLimit;
  private readonly sockets: { v4?: Socket; v6?: Socket } = {};
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private timeoutMs: number;
  private readonly now: () => number;
  since = 0;

  constructor(private readonly opts: HeartbeatOptions) {
    this.now = opts.now ?? Date.now;
    this.timeoutMs = opts.timeoutMs;
    this.rate = rateFor(opts.timeoutMs);
  }

  /** Binds the sockets (either family may be missing); false if neither binds. */
  async listen(): Promise<boolean> {
    const [v4, v6] = await Promise.all([
      this.bind("udp4", this.opts.bind4 ?? "0.0.0.0"),
      this.bind("udp6", this.opts.bind6 ?? "::"),
    ]);
    this.sockets.v4 = v4;
    this.sockets.v6 = v6;
    return !!(v4 || v6);
  }

  /** Starts sending; the start-up grace of membership.ts counts from now. */
  start(): void {
    this.since = this.now();
    this.schedule();
    Log.info(
      {
        port: this.opts.port,
        ipv4: !!this.sockets.v4,
        ipv6: !!this.sockets.v6,
        intervalMs: this.intervalMs,
        peers: this.peers.size,
      },
      "heartbeats to the other nodes started",
    );
  }

  private get intervalMs(): number {
    return heartbeatInterval(this.timeoutMs);
  }

  private bind(type: "udp4" | "udp6", address: string): Promise<Socket | undefined> {
    return new Promise(resolve => {
      const s = createSocket({ type, ipv6Only: type === "udp6", reuseAddr: false });
      s.on("message", (msg, rinfo) => this.receive(msg, rinfo.address));
      s.once("error", err => {
        Log.warn(
          { family: type, address, port: this.opts.port, err: String(err) },
          "cannot listen for heartbeats",
        );
        s.close();
        resolve(undefined);
      });
      s.bind(this.opts.port, address, () => {
        s.removeAllListeners("error");
        s.on("error", err => Log.debug({ err: String(err) }, "heartbeat socket error"));
        resolve(s);
      });
    });
  }

  setTimeout(timeoutMs: number): void {
    if (timeoutMs === this.timeoutMs) return;
    this.timeoutMs = timeoutMs;
    this.rate = rateFor(timeoutMs);
    if (this.timer) this.schedule();
  }

  /** The node's heartbeat addresses, from its Lease; an empty list forgets the node. */
  setPeer(node: string, addresses: string[]): void {
    if (node === this.opts.node) return;
    if (!addresses.length) {
      this.peers.delete(node);
      this.heard.delete(node);
      return;
    }
    this.peers.set(node, addresses);
  }

  view(): PeerView {
    return { heard: this.heard, timeoutMs: this.timeoutMs, since: this.since };
  }

  /** The nodes heard within the timeout, sorted: what the Lease says this node hears. */
  hearing(): string[] {
    const now = this.now();
    return [...this.heard]
      .filter(([, t]) => now - t < this.timeoutMs)
      .map(([n]) => n)
      .sort();
  }

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sendAll(0), this.intervalMs);
    this.timer.unref();
    this.sendAll(0);
  }

  private sendAll(extraFlags: number): void {
    const flags = (this.opts.apiLive?.() ? FLAG_API_LIVE : 0) | extraFlags;
    for (const addresses of this.peers.values()) {
      for (const address of addresses) {
        const sock = address.includes(":") ? this.sockets.v6 : this.sockets.v4;
        if (!sock) continue;
        this.seq = (this.seq + 1) >>> 0;
        const msg = encode(
          { node: this.opts.node, flags, clock: this.now(), seq: this.seq },
          this.opts.key,
        );
        sock.send(msg, this.opts.port, address, err => {
          if (err) Log.debug({ address, err: String(err) }, "heartbeat not sent");
          else heartbeatsSent.inc();
        });
      }
    }
  }

  private drop(reason: DropReason | "rate" | "skew" | "replay" | "unknown"): void {
    heartbeatsDropped.inc({ reason });
  }

  private receive(msg: Buffer, source: string): void {
    const now = this.now();
    if (!this.rate.take(source, now)) return this.drop("rate");
    const r = decode(msg, this.opts.key);
    if (!r.ok) return this.drop(r.reason);
    const h = r.heartbeat;
    if (h.node === this.opts.node) return;
    if (!this.peers.has(h.node)) return this.drop("unknown");
    const verdict = this.guard.accept(h, now);
    if (verdict !== "ok") return this.drop(verdict);
    heartbeatsReceived.inc();
    const last = this.heard.get(h.node);
    if (h.flags & FLAG_LEAVING) {
      // Out at once; 0 is "heard long ago", so the start-up grace does not bring it back.
      this.heard.set(h.node, 0);
      Log.info({ peer: h.node }, "peer says it is leaving");
      this.opts.onChange();
      return;
    }
    this.heard.set(h.node, now);
    if (last === undefined || now - last >= this.timeoutMs) this.opts.onChange();
  }

  /** Tells the peers this node leaves, then closes the sockets. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.since) this.sendAll(FLAG_LEAVING);
    // Sends are queued on the sockets: let them go out before closing.
    await new Promise(r => setTimeout(r, 20));
    for (const s of [this.sockets.v4, this.sockets.v6]) s?.close();
    this.sockets.v4 = this.sockets.v6 = undefined;
  }
}

/** Room for a peer's two families at the fastest interval, twice over. */
function rateFor(timeoutMs: number): RateLimit {
  const perSecond = (2 * 2 * 1000) / heartbeatInterval(timeoutMs);
  return new RateLimit(perSecond, Math.max(10, perSecond));
}
