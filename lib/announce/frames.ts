/**
 * Ethernet frames that tell a link which hardware address now holds an IP address:
 * gratuitous ARP (request and reply forms, as switches and hosts differ in which they
 * heed) and the IPv6 unsolicited Neighbor Advertisement to all-nodes. Pure: bytes only.
 */
import { addressBytes } from "../netlink/messages";

export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
const BROADCAST = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** ff02::1 and its Ethernet multicast address 33:33:00:00:00:01. */
const ALL_NODES = Buffer.from("ff020000000000000000000000000001", "hex");
const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0, 0, 0, 1]);

export type ArpOp = "request" | "reply";

function ethernet(dst: Buffer, src: Buffer, type: number): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  src.copy(h, 6);
  h.writeUInt16BE(type, 12);
  return h;
}

function checkMac(mac: Buffer): void {
  if (mac.length !== 6) throw new Error(`need a 6-byte Ethernet address, got ${mac.length} bytes`);
}

/**
 * Gratuitous ARP for `ip` from `mac`, broadcast: sender and target protocol address are both
 * `ip`. The request form has an all-zero target hardware address, the reply form the sender's.
 */
export function gratuitousArp(mac: Buffer, ip: string, op: ArpOp): Buffer {
  checkMac(mac);
  const { family, bytes } = addressBytes(ip);
  if (family !== 4) throw new Error(`gratuitous ARP is for IPv4 addresses, not ${ip}`);
  const arp = Buffer.alloc(28);
  arp.writeUInt16BE(1, 0); // Ethernet
  arp.writeUInt16BE(0x0800, 2); // IPv4
  arp.writeUInt8(6, 4);
  arp.writeUInt8(4, 5);
  arp.writeUInt16BE(op === "request" ? 1 : 2, 6);
  mac.copy(arp, 8);
  bytes.copy(arp, 14);
  if (op === "reply") mac.copy(arp, 18);
  bytes.copy(arp, 24);
  // Ethernet's minimum payload is 46 bytes: pad so that no driver has to.
  return Buffer.concat([ethernet(BROADCAST, mac, ETH_P_ARP), arp, Buffer.alloc(18)]);
}

/**
 * Unsolicited Neighbor Advertisement (RFC 4861 7.2.6) for `ip` from `mac` to ff02::1:
 * source `ip`, hop limit 255, Override set, Solicited clear, with the target link-layer option.
 */
export function unsolicitedNa(mac: Buffer, ip: string): Buffer {
  checkMac(mac);
  const { family, bytes: target } = addressBytes(ip);
  if (family !== 6) throw new Error(`Neighbor Advertisements are for IPv6 addresses, not ${ip}`);
  const icmp = Buffer.alloc(32);
  icmp.writeUInt8(136, 0); // Neighbor Advertisement
  icmp.writeUInt8(0, 1);
  icmp.writeUInt32BE(0x20000000, 4); // R=0 S=0 O=1
  target.copy(icmp, 8);
  icmp.writeUInt8(2, 24); // option: target link-layer address
  icmp.writeUInt8(1, 25); // length in units of 8 bytes
  mac.copy(icmp, 26);
  icmp.writeUInt16BE(icmpv6Checksum(target, ALL_NODES, icmp), 2);

  const ip6 = Buffer.alloc(40);
  ip6.writeUInt32BE(0x60000000, 0);
  ip6.writeUInt16BE(icmp.length, 4);
  ip6.writeUInt8(58, 6); // ICMPv6
  ip6.writeUInt8(255, 7);
  target.copy(ip6, 8);
  ALL_NODES.copy(ip6, 24);
  return Buffer.concat([ethernet(ALL_NODES_MAC, mac, ETH_P_IPV6), ip6, icmp]);
}

/** The ICMPv6 checksum over the IPv6 pseudo-header and the message (checksum field zero). */
export function icmpv6Checksum(src: Buffer, dst: Buffer, msg: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(msg.length, 32);
  pseudo.writeUInt8(58, 39);
  const all = Buffer.concat([pseudo, msg, Buffer.alloc(msg.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
