/**
 * The heartbeat message: one UDP datagram, authenticated with HMAC-SHA256 under a key every
 * agent of the cluster shares (a Secret the chart creates). Byte layout, integers big-endian:
 *
 *   offset  size  field
 *   0       4     magic "PLBH"
 *   4       1     version, 1
 *   5       1     flags: bit 0 = the sender's own Lease is live as it sees it (its API works),
 *                 bit 1 = the sender is leaving (graceful stop: drop it now, do not wait)
 *   6       8     the sender's wall clock, ms since the epoch
 *   14      4     sequence number, +1 per message of this process
 *   18      1     n = length of the node name (1-253)
 *   19      n     node name, UTF-8
 *   19+n    32    HMAC-SHA256(key, bytes 0 .. 19+n)
 *
 * At most 51 + 253 = 304 bytes; a receiver drops anything larger than MAX_MESSAGE unread.
 * Replay: a receiver accepts a node's message only if its clock is within MAX_SKEW_MS of the
 * receiver's and (clock, sequence) is above the last it accepted from that node. An old
 * message replayed is either too old or not newer. Node Leases already assume clocks agree
 * to well under a second (renewTime is compared with the reader's clock).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const MAGIC = Buffer.from("PLBH", "latin1");
export const VERSION = 1;
const HEADER = 19;
const MAC = 32;
export const MAX_MESSAGE = 512;
export const MAX_SKEW_MS = 30_000;
/** Shorter keys are refused: the chart makes 64 characters. */
export const MIN_KEY_BYTES = 16;

export const FLAG_API_LIVE = 1;
export const FLAG_LEAVING = 2;

export interface Heartbeat {
  node: string;
  flags: number;
  clock: number;
  seq: number;
}

export function encode(h: Heartbeat, key: Buffer): Buffer {
  const name = Buffer.from(h.node, "utf8");
  if (name.length < 1 || name.length > 253) throw new Error(`node name of ${name.length} bytes`);
  const out = Buffer.alloc(HEADER + name.length + MAC);
  MAGIC.copy(out, 0);
  out.writeUInt8(VERSION, 4);
  out.writeUInt8(h.flags & 0xff, 5);
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(h.clock))), 6);
  out.writeUInt32BE(h.seq >>> 0, 14);
  out.writeUInt8(name.length, 18);
  name.copy(out, HEADER);
  mac(key, out.subarray(0, HEADER + name.length)).copy(out, HEADER + name.length);
  return out;
}

export type DecodeResult = { ok: true; heartbeat: Heartbeat } | { ok: false; reason: DropReason };
export type DropReason = "size" | "format" | "mac";

/** Checks size, layout and the MAC; replay and skew are the receiver's (ReplayGuard). */
export function decode(msg: Buffer, key: Buffer): DecodeResult {
  if (msg.length > MAX_MESSAGE || msg.length < HEADER + 1 + MAC)
    return { ok: false, reason: "size" };
  if (!msg.subarray(0, 4).equals(MAGIC) || msg.readUInt8(4) !== VERSION)
    return { ok: false, reason: "format" };
  const n = msg.readUInt8(18);
  if (n < 1 || msg.length !== HEADER + n + MAC) return { ok: false, reason: "format" };
  const want = mac(key, msg.subarray(0, HEADER + n));
  if (!timingSafeEqual(want, msg.subarray(HEADER + n))) return { ok: false, reason: "mac" };
  return {
    ok: true,
    heartbeat: {
      node: msg.subarray(HEADER, HEADER + n).toString("utf8"),
      flags: msg.readUInt8(5),
      clock: Number(msg.readBigUInt64BE(6)),
      seq: msg.readUInt32BE(14),
    },
  };
}

const mac = (key: Buffer, data: Buffer): Buffer => createHmac("sha256", key).update(data).digest();

/**
 * Per node, the newest (clock, sequence) accepted. A node not heard for longer than the skew
 * window is forgotten: any message of it recorded before then is outside the window anyway.
 */
export class ReplayGuard {
  private readonly last = new Map<string, { clock: number; seq: number }>();

  constructor(private readonly skewMs = MAX_SKEW_MS) {}

  accept(h: Heartbeat, now: number): "ok" | "skew" | "replay" {
    if (Math.abs(h.clock - now) > this.skewMs) return "skew";
    const prev = this.last.get(h.node);
    if (prev && (h.clock < prev.clock || (h.clock === prev.clock && h.seq <= prev.seq)))
      return "replay";
    this.last.set(h.node, { clock: h.clock, seq: h.seq });
    if (this.last.size > 10_000) this.prune(now);
    return "ok";
  }

  prune(now: number): void {
    for (const [node, v] of this.last) if (now - v.clock > this.skewMs) this.last.delete(node);
  }
}

/**
 * Bounds what one source address can make this node do (verify MACs) to `perSecond` messages,
 * in bursts of up to `burst`. Checked before the MAC, so a flood costs a map lookup each.
 */
export class RateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxSources = 4096,
  ) {}

  take(source: string, now: number): boolean {
    let b = this.buckets.get(source);
    if (!b) {
      // A flood from many forged sources: start afresh rather than grow without bound.
      if (this.buckets.size >= this.maxSources) this.buckets.clear();
      b = { tokens: this.burst, at: now };
      this.buckets.set(source, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perSecond) / 1000);
    b.at = now;
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}
