/**
 * Netlink message headers: framing of requests and splitting of what the kernel sends back.
 * Pure: Buffer in, plain data out.
 */
import { getSystemErrorName } from "node:util";

/** Length of struct nlmsghdr. */
export const HEADER_LEN = 16;

export const NLMSG = { ERROR: 2, DONE: 3 } as const;
/** Set on every part of a multipart (dump) answer. */
export const NLM_F_MULTI = 0x2;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** The payload after the header. */
  data: Buffer;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** One request: header and body. Port 0 lets the kernel fill in the sender. */
export function frame(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const len = HEADER_LEN + body.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out.writeUInt32LE(0, 12);
  body.copy(out, HEADER_LEN);
  return out;
}

/** The messages in one datagram; a truncated tail is dropped. */
export function splitMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + HEADER_LEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < HEADER_LEN || off + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      data: buf.subarray(off + HEADER_LEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/**
 * The errno of an NLMSG_ERROR (0 is an ACK) or of an NLMSG_DONE, which carries the dump's
 * error when it failed part way. Returned as a positive number.
 */
export const errnoOf = (m: NetlinkMessage): number =>
  m.data.length >= 4 ? -m.data.readInt32LE(0) : 0;

/** "EEXIST" for 17, as the kernel's tools print it. */
export function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
