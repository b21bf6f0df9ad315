// The heartbeat datagram: what a receiver accepts and what it drops, byte by byte.
import { describe, expect, it } from "vitest";
import {
  FLAG_API_LIVE,
  MAX_MESSAGE,
  MAX_SKEW_MS,
  RateLimit,
  ReplayGuard,
  decode,
  encode,
} from "../../lib/heartbeat/wire";

const KEY = Buffer.from("k".repeat(64));
const NOW = 1_760_000_000_000;
const beat = (seq: number, clock = NOW, node = "n1") => ({
  node,
  flags: FLAG_API_LIVE,
  clock,
  seq,
});

describe("heartbeat wire format", () => {
  it("round-trips a message with the documented layout", () => {
    const msg = encode(beat(7), KEY);
    expect(msg.length).toBe(19 + 2 + 32);
    expect(msg.subarray(0, 4).toString()).toBe("PLBH");
    expect(msg[4]).toBe(1);
    expect(msg[5]).toBe(FLAG_API_LIVE);
    expect(Number(msg.readBigUInt64BE(6))).toBe(NOW);
    expect(msg.readUInt32BE(14)).toBe(7);
    expect(msg[18]).toBe(2);
    expect(decode(msg, KEY)).toEqual({ ok: true, heartbeat: beat(7) });
  });

  it("fits the longest node name in well under the size limit", () => {
    const msg = encode(beat(1, NOW, "a".repeat(253)), KEY);
    expect(msg.length).toBe(304);
    expect(msg.length).toBeLessThan(MAX_MESSAGE);
    expect(() => encode(beat(1, NOW, "a".repeat(254)), KEY)).toThrow();
  });

  it("drops a message signed with another key, or changed in any byte", () => {
    const msg = encode(beat(1), KEY);
    expect(decode(msg, Buffer.from("x".repeat(64)))).toEqual({ ok: false, reason: "mac" });
    for (const i of [5, 6, 13, 17, 19, msg.length - 1]) {
      const bad = Buffer.from(msg);
      bad[i] ^= 1;
      expect(decode(bad, KEY).ok, `byte ${i}`).toBe(false);
    }
  });

  it("drops what is too small, too large, or not ours", () => {
    expect(decode(Buffer.alloc(10), KEY)).toEqual({ ok: false, reason: "size" });
    expect(decode(Buffer.alloc(MAX_MESSAGE + 1), KEY)).toEqual({ ok: false, reason: "size" });
    const msg = encode(beat(1), KEY);
    const other = Buffer.from(msg);
    other.write("XXXX", 0);
    expect(decode(other, KEY)).toEqual({ ok: false, reason: "format" });
    expect(decode(Buffer.concat([msg, Buffer.alloc(1)]), KEY)).toEqual({
      ok: false,
      reason: "format",
    });
  });
});

describe("replay protection", () => {
  it("accepts each node's messages once and in order, and rejects replays", () => {
    const g = new ReplayGuard();
    expect(g.accept(beat(1), NOW)).toBe("ok");
    expect(g.accept(beat(2), NOW)).toBe("ok");
    expect(g.accept(beat(2), NOW)).toBe("replay");
    expect(g.accept(beat(1), NOW + 10)).toBe("replay");
    expect(g.accept(beat(1, NOW + 5), NOW + 5)).toBe("ok");
    // Another node's sequence is its own.
    expect(g.accept(beat(1, NOW, "n2"), NOW)).toBe("ok");
  });

  it("rejects a message whose clock is too far from ours, even after it forgot the node", () => {
    const g = new ReplayGuard();
    expect(g.accept(beat(1), NOW)).toBe("ok");
    const later = NOW + MAX_SKEW_MS + 1;
    g.prune(later);
    expect(g.accept(beat(2), later)).toBe("skew");
    expect(g.accept(beat(3, NOW + 2 * MAX_SKEW_MS), NOW)).toBe("skew");
  });

  it("a sender restarted (sequence back at 1) is accepted: its clock moved on", () => {
    const g = new ReplayGuard();
    expect(g.accept(beat(500, NOW), NOW)).toBe("ok");
    expect(g.accept(beat(1, NOW + 2_000), NOW + 2_000)).toBe("ok");
  });
});

describe("rate limit per source", () => {
  it("lets a burst through, then the steady rate, and one source does not starve another", () => {
    const r = new RateLimit(4, 10);
    let passed = 0;
    for (let i = 0; i < 100; i++) if (r.take("192.0.2.66", NOW)) passed++;
    expect(passed).toBe(10);
    expect(r.take("192.0.2.66", NOW + 250)).toBe(true);
    expect(r.take("192.0.2.66", NOW + 250)).toBe(false);
    expect(r.take("192.0.2.11", NOW)).toBe(true);
  });
});
