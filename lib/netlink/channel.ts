import {
  NLMSG,
  NLM_F_MULTI,
  NetlinkMessage,
  errnoName,
  errnoOf,
  frame,
  splitMessages,
} from "./framing";

/** The part of the `netlink` package's RawNetlinkSocket a channel uses. */
export interface RawSocket {
  send(msg: Uint8Array, options?: undefined, callback?: (error?: Error) => void): void;
  on(event: "message", listener: (msg: Buffer) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface ChannelOptions {
  /** Requests sent and not yet answered, at most. */
  maxInFlight: number;
  /** Changes written with one sendmsg, at most. */
  batch: number;
  timeoutMs: number;
  /** The socket is no longer usable (send error, overrun, a lost answer); every pending
   * request has been rejected with `error`. */
  onBroken(error: Error): void;
}

const F_REQUEST = 0x1;
const F_ACK = 0x4;
const F_DUMP = 0x300;

interface Pending {
  type: number;
  flags: number;
  body: Buffer;
  dump: boolean;
  resolve(parts: NetlinkMessage[]): void;
  reject(error: Error): void;
  parts: NetlinkMessage[];
  sentAt: number;
}

/**
 * Requests and answers on one rtnetlink socket, matched by sequence number.
 *
 * Changes made in the same tick go out together in one write, and only the last of each
 * write asks for an ACK: the kernel works through a write in order and answers a failed
 * change with an error even unasked, so once the last change is answered, every earlier one
 * without an error has succeeded. A thousand address changes thus cost a few syscalls and
 * callbacks rather than three thousand. Dumps go alone and end with DONE.
 */
export class NetlinkChannel {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly outbox: number[] = [];
  /** The seq that closes a write of several changes → every seq of that write. */
  private readonly writes = new Map<number, number[]>();
  private inFlight = 0;
  private flushQueued = false;
  private timer?: NodeJS.Timeout;
  private broken = false;

  constructor(
    private readonly sock: RawSocket,
    private readonly opts: ChannelOptions,
  ) {
    sock.unref();
    sock.on("message", msg => this.receive(msg));
    sock.on("error", err => this.fail(err));
  }

  /** Sends a request; resolves with the answer's parts (none for a change). */
  request(type: number, body: Buffer, flags: number): Promise<NetlinkMessage[]> {
    if (this.broken) return Promise.reject(new Error("netlink socket closed"));
    this.seq = (this.seq % 0xffffffff) + 1;
    const seq = this.seq;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.sock.ref();
      const dump = (flags & F_DUMP) === F_DUMP;
      this.pending.set(seq, { type, flags, body, dump, resolve, reject, parts: [], sentAt: 0 });
      this.outbox.push(seq);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  /** Rejects everything pending and closes the socket. */
  close(error = new Error("netlink socket closed")): void {
    if (this.broken) return;
    this.broken = true;
    clearInterval(this.timer);
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.writes.clear();
    this.outbox.length = 0;
    for (const p of pending) p.reject(error);
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }

  private flush(): void {
    this.flushQueued = false;
    const now = performance.now();
    while (this.outbox.length > 0 && this.inFlight < this.opts.maxInFlight && !this.broken) {
      const seqs = this.nextWrite();
      const frames = seqs.map((seq, i) => {
        const p = this.pending.get(seq)!;
        p.sentAt = now;
        const ack = !p.dump && i === seqs.length - 1 ? F_ACK : 0;
        return frame(p.type, p.flags | F_REQUEST | ack, seq, p.body);
      });
      if (seqs.length > 1) this.writes.set(seqs[seqs.length - 1], seqs);
      this.inFlight += seqs.length;
      this.sock.send(Buffer.concat(frames), undefined, err => {
        if (err) this.fail(err);
      });
    }
    if (this.inFlight > 0 && !this.timer) {
      this.timer = setInterval(() => this.expire(), Math.min(1_000, this.opts.timeoutMs));
      this.timer.unref();
    }
  }

  /** A dump alone, or a run of changes up to the batch size and the in-flight cap. */
  private nextWrite(): number[] {
    if (this.pending.get(this.outbox[0])!.dump) return this.outbox.splice(0, 1);
    const max = Math.min(this.opts.batch, this.opts.maxInFlight - this.inFlight);
    let n = 1;
    while (n < max && n < this.outbox.length && !this.pending.get(this.outbox[n])!.dump) n++;
    return this.outbox.splice(0, n);
  }

  private receive(buf: Buffer): void {
    for (const m of splitMessages(buf)) {
      const p = this.pending.get(m.seq);
      if (!p) continue;
      if (m.type === NLMSG.ERROR || m.type === NLMSG.DONE) {
        const errno = errnoOf(m);
        this.settle(m.seq);
        if (errno === 0) p.resolve(p.parts);
        else p.reject(new Error(errnoName(errno)));
        // Whatever of this write has not failed by now has succeeded.
        for (const seq of this.writes.get(m.seq) ?? []) {
          const q = this.pending.get(seq);
          if (!q) continue;
          this.settle(seq);
          q.resolve([]);
        }
        this.writes.delete(m.seq);
      } else {
        p.parts.push(m);
        // A single answer without MULTI is complete in itself.
        if ((m.flags & NLM_F_MULTI) === 0) {
          this.settle(m.seq);
          p.resolve(p.parts);
        }
      }
    }
    if (this.outbox.length > 0) this.flush();
  }

  private settle(seq: number): void {
    this.pending.delete(seq);
    this.inFlight--;
    if (this.pending.size === 0) {
      this.sock.unref();
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private expire(): void {
    const limit = performance.now() - this.opts.timeoutMs;
    for (const p of this.pending.values())
      if (p.sentAt > 0 && p.sentAt < limit) return this.fail(new Error("Timeout"));
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.close(err);
    this.opts.onBroken(err);
  }
}
