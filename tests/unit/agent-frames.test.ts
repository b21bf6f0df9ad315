import { describe, expect, it } from "vitest";
import {
  ETH_P_ARP,
  ETH_P_IPV6,
  gratuitousArp,
  icmpv6Checksum,
  unsolicitedNa,
} from "../../lib/announce/frames";

const mac = Buffer.from("02aabbccddee", "hex");

describe("gratuitous ARP", () => {
  it("builds the request form: broadcast, sender = target = the address, zero target MAC", () => {
    const f = gratuitousArp(mac, "192.0.2.200", "request");
    expect(f.length).toBe(60);
    expect(f.subarray(0, 6).toString("hex")).toBe("ffffffffffff");
    expect(f.subarray(6, 12)).toEqual(mac);
    expect(f.readUInt16BE(12)).toBe(ETH_P_ARP);
    expect(f.subarray(14, 22).toString("hex")).toBe("0001080006040001");
    expect(f.subarray(22, 28)).toEqual(mac);
    expect(f.subarray(28, 32).toString("hex")).toBe("c00002c8");
    expect(f.subarray(32, 38).toString("hex")).toBe("000000000000");
    expect(f.subarray(38, 42).toString("hex")).toBe("c00002c8");
  });

  it("builds the reply form with the sender's MAC as target", () => {
    const f = gratuitousArp(mac, "192.0.2.200", "reply");
    expect(f.readUInt16BE(20)).toBe(2);
    expect(f.subarray(32, 38)).toEqual(mac);
  });

  it("refuses IPv6 addresses and bad MACs", () => {
    expect(() => gratuitousArp(mac, "2001:db8::1", "request")).toThrow(/IPv4/);
    expect(() => gratuitousArp(Buffer.alloc(4), "192.0.2.1", "request")).toThrow(/6-byte/);
  });
});

describe("unsolicited Neighbor Advertisement", () => {
  const f = unsolicitedNa(mac, "2001:db8::200");
  const ip6 = f.subarray(14, 54);
  const icmp = f.subarray(54);

  it("goes to ff02::1 from the address itself with hop limit 255", () => {
    expect(f.subarray(0, 6).toString("hex")).toBe("333300000001");
    expect(f.readUInt16BE(12)).toBe(ETH_P_IPV6);
    expect(ip6.readUInt8(6)).toBe(58);
    expect(ip6.readUInt8(7)).toBe(255);
    expect(ip6.subarray(8, 24).toString("hex")).toBe("20010db8000000000000000000000200");
    expect(ip6.subarray(24, 40).toString("hex")).toBe("ff020000000000000000000000000001");
    expect(ip6.readUInt16BE(4)).toBe(32);
  });

  it("is an NA with Override set, Solicited clear, and the target link-layer option", () => {
    expect(icmp.readUInt8(0)).toBe(136);
    expect(icmp.readUInt32BE(4)).toBe(0x20000000);
    expect(icmp.subarray(8, 24)).toEqual(ip6.subarray(8, 24));
    expect([icmp.readUInt8(24), icmp.readUInt8(25)]).toEqual([2, 1]);
    expect(icmp.subarray(26, 32)).toEqual(mac);
  });

  it("carries a checksum that verifies", () => {
    const zeroed = Buffer.from(icmp);
    const sum = zeroed.readUInt16BE(2);
    zeroed.writeUInt16BE(0, 2);
    expect(icmpv6Checksum(ip6.subarray(8, 24), ip6.subarray(24, 40), zeroed)).toBe(sum);
    expect(sum).not.toBe(0);
  });
});
