import { describe, expect, it } from "vitest";
import {
  INFINITY_LIFE,
  PURELB_ADDR_PROTO,
  attr,
  decodeAddress,
  decodeLink,
  encodeCreateLink,
  encodeDelAddress,
  encodeNewAddress,
  parseAttrs,
} from "../../lib/netlink/messages";

describe("rtnetlink messages", () => {
  it("round-trips an address with lifetimes, nodad and the PureLB marker", () => {
    const body = encodeNewAddress({
      ifindex: 7,
      address: "2001:db8::5",
      prefix: 64,
      validLft: 300,
      preferredLft: 120,
      nodad: true,
    });
    expect(decodeAddress(body)).toEqual({
      ifindex: 7,
      family: 6,
      address: "2001:db8::5",
      prefix: 64,
      scope: 0,
      validLft: 300,
      preferredLft: 120,
      nodad: true,
      tentative: false,
      dadfailed: false,
      noprefixroute: false,
      proto: PURELB_ADDR_PROTO,
    });
  });

  it("carries noprefixroute in IFA_FLAGS and a deprecated address with preferred lifetime 0", () => {
    for (const validLft of [0, 300]) {
      const a = decodeAddress(
        encodeNewAddress({
          ifindex: 7,
          address: "2001:db8::6",
          prefix: 64,
          validLft,
          preferredLft: validLft,
          nodad: false,
          noPrefixRoute: true,
          deprecated: true,
        }),
      )!;
      expect([a.noprefixroute, a.preferredLft]).toEqual([true, 0]);
      expect(a.validLft).toBe(validLft || INFINITY_LIFE);
    }
  });

  it("writes 0 s lifetimes as forever and never sets nodad on IPv4", () => {
    const a = decodeAddress(
      encodeNewAddress({
        ifindex: 2,
        address: "192.0.2.9",
        prefix: 32,
        validLft: 0,
        preferredLft: 0,
        nodad: true,
      }),
    )!;
    expect([a.validLft, a.preferredLft, a.nodad]).toEqual([INFINITY_LIFE, INFINITY_LIFE, false]);
  });

  it("encodes deletes with the address as IFA_LOCAL", () => {
    const body = encodeDelAddress(3, "192.0.2.9", 24);
    expect(body.readUInt8(1)).toBe(24);
    expect(parseAttrs(body.subarray(8)).get(2)!.toString("hex")).toBe("c0000209");
  });

  it("pads attributes to four bytes and skips malformed ones", () => {
    const a = attr(3, Buffer.from("eth0\0"));
    expect(a.length).toBe(12);
    expect(a.readUInt16LE(0)).toBe(9);
    const m = parseAttrs(Buffer.concat([a, Buffer.from([0xff, 0xff, 1, 0])]));
    expect([...m.keys()]).toEqual([3]);
  });

  it("decodes a link with its name, kind, carrier and MAC", () => {
    const msg = encodeCreateLink("kube-lb0", "dummy");
    const withMac = Buffer.concat([msg, attr(1, Buffer.from("020000000001", "hex"))]);
    withMac.writeInt32LE(5, 4);
    withMac.writeUInt32LE(0x1, 8);
    expect(decodeLink(withMac)).toEqual({
      index: 5,
      name: "kube-lb0",
      up: true,
      carrier: false,
      loopback: false,
      mac: Buffer.from("020000000001", "hex"),
      kind: "dummy",
    });
    withMac.writeUInt32LE(0x10001, 8);
    expect(decodeLink(withMac)?.carrier).toBe(true);
  });
});
