import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { NetlinkChannel, RawSocket } from "../../lib/netlink/channel";
import {
  HEADER_LEN,
  NLMSG,
  NLM_F_MULTI,
  NetlinkMessage,
  errnoName,
  frame,
  splitMessages,
} from "../../lib/netlink/framing";

const F_ACK = 0x4;
const F_DUMP = 0x300;
const EEXIST = 17;

/** Answers like the kernel: in order, an error for a failed change even unasked, an ACK when
 * asked, and a dump as MULTI parts then DONE. `outcome` picks a change's errno by its body. */
class FakeKernel extends EventEmitter implements RawSocket {
  writes: NetlinkMessage[][] = [];
  silent = false;
  closed = false;
  constructor(
    private readonly outcome: (body: Buffer) => number = () => 0,
    private readonly dumpParts = 3,
  ) {
    super();
  }
  send(msg: Uint8Array, _o?: undefined, cb?: (e?: Error) => void): void {
    const msgs = splitMessages(Buffer.from(msg));
    this.writes.push(msgs);
    cb?.();
    if (this.silent) return;
    setImmediate(() => {
      for (const m of msgs) {
        if ((m.flags & F_DUMP) === F_DUMP) {
          for (let i = 0; i < this.dumpParts; i++)
            this.answer(16, NLM_F_MULTI, m.seq, Buffer.from([i]));
          this.answer(NLMSG.DONE, NLM_F_MULTI, m.seq, int32(0));
          continue;
        }
        const errno = this.outcome(m.data);
        if (errno !== 0 || m.flags & F_ACK) this.answer(NLMSG.ERROR, 0, m.seq, int32(-errno));
      }
    });
  }
  private answer(type: number, flags: number, seq: number, body: Buffer): void {
    this.emit("message", frame(type, flags, seq, body));
  }
  close(): void {
    this.closed = true;
  }
  ref(): void {}
  unref(): void {}
}

const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return b;
};

const channel = (
  sock: RawSocket,
  opts: Partial<ConstructorParameters<typeof NetlinkChannel>[1]> = {},
) => {
  const broken: Error[] = [];
  const ch = new NetlinkChannel(sock, {
    maxInFlight: 64,
    batch: 16,
    timeoutMs: 5_000,
    onBroken: e => broken.push(e),
    ...opts,
  });
  return { ch, broken };
};

describe("netlink framing", () => {
  it("frames a request and splits datagrams back into messages, dropping a cut-off tail", () => {
    const a = frame(20, 0x405, 7, Buffer.from([1, 2, 3]));
    expect(a.length).toBe(HEADER_LEN + 4);
    expect(a.readUInt32LE(0)).toBe(HEADER_LEN + 3);
    const b = frame(2, 0, 8, int32(-EEXIST));
    const msgs = splitMessages(Buffer.concat([a, b, b.subarray(0, 10)]));
    expect(msgs.map(m => [m.type, m.flags, m.seq, m.data.length])).toEqual([
      [20, 0x405, 7, 3],
      [2, 0, 8, 4],
    ]);
  });

  it("names errnos as the kernel tools do", () => {
    expect(errnoName(EEXIST)).toBe("EEXIST");
    expect(errnoName(99999)).toMatch(/99999/);
  });
});

describe("netlink channel", () => {
  it("writes the changes of one tick together, asking only the last for an ACK", async () => {
    const k = new FakeKernel();
    const { ch } = channel(k);
    await Promise.all(Array.from({ length: 5 }, (_, i) => ch.request(20, Buffer.from([i]), 0)));
    expect(k.writes).toHaveLength(1);
    expect(k.writes[0].map(m => (m.flags & F_ACK) !== 0)).toEqual([
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it("rejects exactly the changes the kernel refused, with the errno's name", async () => {
    const k = new FakeKernel(body => (body[0] % 3 === 1 ? EEXIST : 0));
    const { ch } = channel(k);
    const results = await Promise.allSettled(
      Array.from({ length: 7 }, (_, i) => ch.request(20, Buffer.from([i]), 0)),
    );
    expect(results.map(r => r.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain("EEXIST");
  });

  it("keeps to the batch size and the in-flight cap, sending more as answers come", async () => {
    const k = new FakeKernel();
    const { ch } = channel(k, { batch: 4, maxInFlight: 6 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => ch.request(20, Buffer.from([i]), 0)));
    expect(k.writes.map(w => w.length)).toEqual([4, 2, 4]);
    expect(k.writes.flat().map(m => m.data[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("sends a dump alone and collects its parts until DONE", async () => {
    const k = new FakeKernel();
    const { ch } = channel(k);
    const change = ch.request(20, Buffer.from([1]), 0);
    const dump = ch.request(22, Buffer.alloc(8), F_DUMP);
    const after = ch.request(20, Buffer.from([2]), 0);
    expect(await change).toEqual([]);
    expect((await dump).map(m => m.data[0])).toEqual([0, 1, 2]);
    expect(await after).toEqual([]);
    expect(k.writes.map(w => w.length)).toEqual([1, 1, 1]);
    expect(k.writes[1][0].flags & F_ACK).toBe(0);
  });

  it("gives up on a socket whose answers are lost, rejecting all and reporting it", async () => {
    const k = new FakeKernel();
    k.silent = true;
    const { ch, broken } = channel(k, { timeoutMs: 30 });
    const r = await Promise.allSettled([ch.request(20, Buffer.from([1]), 0)]);
    expect(String((r[0] as PromiseRejectedResult).reason)).toMatch(/Timeout/);
    expect(broken).toHaveLength(1);
    expect(k.closed).toBe(true);
    await expect(ch.request(20, Buffer.from([2]), 0)).rejects.toThrow(/closed/);
  });

  it("rejects everything pending when the socket reports an error (receive overrun)", async () => {
    const k = new FakeKernel();
    k.silent = true;
    const { ch, broken } = channel(k);
    const pending = [ch.request(20, Buffer.from([1]), 0), ch.request(22, Buffer.alloc(8), F_DUMP)];
    await new Promise(r => setImmediate(r));
    k.emit("error", new Error("ENOBUFS"));
    for (const p of pending) await expect(p).rejects.toThrow(/ENOBUFS/);
    expect(broken.map(String)).toEqual(["Error: ENOBUFS"]);
  });
});
