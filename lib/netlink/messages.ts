/**
 * rtnetlink message bodies for links and addresses, encoded and decoded here rather than by
 * the `netlink` package's generated structs: those drop attributes they do not know (such
 * as IFA_PROTO, the marker PureLB puts on its addresses) and refuse to send them.
 * All pure: Buffer in, plain data out.
 */
import { Family, formatAddress, parseAddress } from "../ip/address";

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
} as const;

export const NLM_F = {
  REQUEST: 0x1,
  ACK: 0x4,
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
} as const;

/** Multicast groups for change notifications. */
export const RTNLGRP = { LINK: 1, IPV4_IFADDR: 5, IPV6_IFADDR: 9 } as const;

const AF_INET = 2;
const AF_INET6 = 10;
export const afOf = (family: Family): number => (family === 4 ? AF_INET : AF_INET6);

const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, CACHEINFO: 6, FLAGS: 8, PROTO: 11 } as const;
export const IFA_F = {
  NODAD: 0x02,
  DADFAILED: 0x08,
  TENTATIVE: 0x40,
  PERMANENT: 0x80,
  /** Above the 8 bits of ifaddrmsg: travels only in IFA_FLAGS. */
  NOPREFIXROUTE: 0x200,
} as const;
const IFLA = { ADDRESS: 1, IFNAME: 3, LINKINFO: 18 } as const;
const IFLA_INFO_KIND = 1;
export const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_LOWER_UP = 0x10000;

/** The kernel's "forever" lifetime. */
export const INFINITY_LIFE = 0xffffffff;

/**
 * IFA_PROTO value that marks an address as added by PureLB (kernel 6.1+ keeps and reports it;
 * older kernels ignore it). 0-3 are the kernel's own; this one is unassigned.
 */
export const PURELB_ADDR_PROTO = 0x50;

export interface KernelAddress {
  ifindex: number;
  family: Family;
  /** Canonical text. */
  address: string;
  prefix: number;
  scope: number;
  /** Seconds left; INFINITY_LIFE when permanent. */
  validLft: number;
  preferredLft: number;
  nodad: boolean;
  tentative: boolean;
  dadfailed: boolean;
  /** Undefined in models of a kernel that do not say (tests): taken as false. */
  noprefixroute?: boolean;
  /** IFA_PROTO when the kernel reported one. */
  proto?: number;
}

export interface KernelLink {
  index: number;
  name: string;
  up: boolean;
  /** IFF_LOWER_UP: the link has carrier (a cable, a veth peer that is up). */
  carrier?: boolean;
  loopback: boolean;
  /** Hardware address, 6 bytes for Ethernet; empty when the link has none. */
  mac: Buffer;
  /** IFLA_INFO_KIND ("veth", "dummy", "ifb", ...), when the kernel reports one. */
  kind?: string;
}

// ---- attribute TLVs -------------------------------------------------------------------

export function attr(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  data.copy(out, 4);
  return out;
}

const align4 = (n: number): number => (n + 3) & ~3;

export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 2) & 0x3fff;
    if (!out.has(type)) out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};
const cstring = (s: string): Buffer => Buffer.from(`${s}\0`, "utf8");
const readCString = (b: Buffer): string => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString("utf8");
};

// ---- addresses ------------------------------------------------------------------------

export function addressBytes(text: string): { family: Family; bytes: Buffer } {
  const a = parseAddress(text);
  if (!a) throw new Error(`not an IP address: ${text}`);
  const len = a.family === 4 ? 4 : 16;
  const bytes = Buffer.alloc(len);
  let v = a.value;
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return { family: a.family, bytes };
}

function bytesToText(bytes: Buffer, family: Family): string {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return formatAddress({ family, value: v });
}

function ifaddrmsg(
  family: Family,
  prefix: number,
  flags: number,
  scope: number,
  ifindex: number,
): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(afOf(family), 0);
  b.writeUInt8(prefix, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(ifindex, 4);
  return b;
}

export interface AddressSpec {
  ifindex: number;
  address: string;
  prefix: number;
  /** Seconds; 0 means permanent. */
  validLft: number;
  preferredLft: number;
  nodad: boolean;
  /** No prefix route for the address (IFA_F_NOPREFIXROUTE). */
  noPrefixRoute?: boolean;
  /** Preferred lifetime 0: IPv6 source address selection passes the address over. */
  deprecated?: boolean;
}

/** RTM_NEWADDR body: the address with its lifetimes, flags and PureLB's IFA_PROTO marker. */
export function encodeNewAddress(spec: AddressSpec): Buffer {
  const { family, bytes } = addressBytes(spec.address);
  const flags =
    (spec.nodad && family === 6 ? IFA_F.NODAD : 0) | (spec.noPrefixRoute ? IFA_F.NOPREFIXROUTE : 0);
  const valid = spec.validLft > 0 ? spec.validLft : INFINITY_LIFE;
  const preferred = spec.deprecated
    ? 0
    : spec.validLft > 0
      ? Math.min(spec.preferredLft > 0 ? spec.preferredLft : valid, valid)
      : INFINITY_LIFE;
  const cache = Buffer.alloc(16);
  cache.writeUInt32LE(preferred >>> 0, 0);
  cache.writeUInt32LE(valid >>> 0, 4);
  return Buffer.concat([
    ifaddrmsg(family, spec.prefix, flags, 0, spec.ifindex),
    attr(IFA.LOCAL, bytes),
    attr(IFA.ADDRESS, bytes),
    attr(IFA.CACHEINFO, cache),
    attr(IFA.FLAGS, u32(flags)),
    attr(IFA.PROTO, Buffer.from([PURELB_ADDR_PROTO])),
  ]);
}

/** RTM_DELADDR body. */
export function encodeDelAddress(ifindex: number, address: string, prefix: number): Buffer {
  const { family, bytes } = addressBytes(address);
  return Buffer.concat([
    ifaddrmsg(family, prefix, 0, 0, ifindex),
    attr(IFA.LOCAL, bytes),
    attr(IFA.ADDRESS, bytes),
  ]);
}

/** RTM_GETADDR dump request for every family. */
export const encodeAddressDump = (): Buffer => Buffer.alloc(8);

export function decodeAddress(body: Buffer): KernelAddress | undefined {
  if (body.length < 8) return undefined;
  const af = body.readUInt8(0);
  const family: Family | undefined = af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = parseAttrs(body.subarray(8));
  const raw = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
  if (!raw || raw.length !== (family === 4 ? 4 : 16)) return undefined;
  const flagsAttr = attrs.get(IFA.FLAGS);
  const flags = flagsAttr && flagsAttr.length >= 4 ? flagsAttr.readUInt32LE(0) : body.readUInt8(2);
  const cache = attrs.get(IFA.CACHEINFO);
  const proto = attrs.get(IFA.PROTO);
  return {
    ifindex: body.readUInt32LE(4),
    family,
    address: bytesToText(raw, family),
    prefix: body.readUInt8(1),
    scope: body.readUInt8(3),
    preferredLft: cache && cache.length >= 8 ? cache.readUInt32LE(0) : INFINITY_LIFE,
    validLft: cache && cache.length >= 8 ? cache.readUInt32LE(4) : INFINITY_LIFE,
    nodad: (flags & IFA_F.NODAD) !== 0,
    tentative: (flags & IFA_F.TENTATIVE) !== 0,
    dadfailed: (flags & IFA_F.DADFAILED) !== 0,
    noprefixroute: (flags & IFA_F.NOPREFIXROUTE) !== 0,
    proto: proto && proto.length >= 1 ? proto.readUInt8(0) : undefined,
  };
}

// ---- links ----------------------------------------------------------------------------

function ifinfomsg(index: number, flags: number, change: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(0, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

export const encodeLinkDump = (): Buffer => ifinfomsg(0, 0, 0);

/** RTM_NEWLINK body creating a link of `kind` (e.g. "dummy") named `name`. */
export function encodeCreateLink(name: string, kind: string): Buffer {
  return Buffer.concat([
    ifinfomsg(0, 0, 0),
    attr(IFLA.IFNAME, cstring(name)),
    attr(IFLA.LINKINFO, attr(IFLA_INFO_KIND, cstring(kind))),
  ]);
}

/** RTM_NEWLINK body setting a link up. */
export const encodeLinkUp = (index: number): Buffer => ifinfomsg(index, IFF_UP, IFF_UP);

export function decodeLink(body: Buffer): KernelLink | undefined {
  if (body.length < 16) return undefined;
  const attrs = parseAttrs(body.subarray(16));
  const name = attrs.get(IFLA.IFNAME);
  if (!name) return undefined;
  const flags = body.readUInt32LE(8);
  const info = attrs.get(IFLA.LINKINFO);
  const kind = info ? parseAttrs(info).get(IFLA_INFO_KIND) : undefined;
  return {
    index: body.readInt32LE(4),
    name: readCString(name),
    up: (flags & IFF_UP) !== 0,
    carrier: (flags & IFF_LOWER_UP) !== 0,
    loopback: (flags & IFF_LOOPBACK) !== 0,
    mac: Buffer.from(attrs.get(IFLA.ADDRESS) ?? Buffer.alloc(0)),
    kind: kind ? readCString(kind) : undefined,
  };
}
