// The purelb.io/announcing-IPv4/-IPv6 annotations, told as the story of a multiPool Service
// whose two addresses two nodes on different subnets announce, and of the readers (kubectl
// purelb) that meet values written by older agents.
import { describe, expect, it } from "vitest";
import {
  announcerOf,
  encodeAnnouncing,
  parseAnnouncing,
  reconcileAnnouncing,
} from "../../lib/k8s/announcing";
import { step } from "./validate-story";

const A = "192.0.2.150";
const B = "198.51.100.150";
const slotA = { node: "n1", interface: "eth0", address: A };
const slotB = { node: "n2", interface: "eth1", address: B };

describe("announcing slots", () => {
  it("two nodes winning different addresses of one Service agree after one write each", () => {
    const ingress = [A, B];
    const afterN1 = reconcileAnnouncing(undefined, [slotA], ingress);
    step("n1 writes its slot into an empty annotation", () => {
      expect(afterN1).toBe("n1,eth0,192.0.2.150");
    });
    const afterN2 = reconcileAnnouncing(afterN1, [slotB], ingress);
    step("n2 adds its own slot and keeps n1's", () => {
      expect(afterN2).toBe("n1,eth0,192.0.2.150 n2,eth1,198.51.100.150");
    });
    step("then neither node has anything to change: no more writes", () => {
      expect(reconcileAnnouncing(afterN2, [slotA], ingress)).toBe(afterN2);
      expect(reconcileAnnouncing(afterN2, [slotB], ingress)).toBe(afterN2);
    });
    step("a write lost to a concurrent one is redone by its node on the next version", () => {
      const lost = reconcileAnnouncing(undefined, [slotB], ingress);
      expect(reconcileAnnouncing(lost, [slotA], ingress)).toBe(afterN2);
    });
  });

  it("a new winner takes the slot, and an address the Service gave up is swept", () => {
    const value = encodeAnnouncing([slotA, slotB]);
    step("n3 wins A after n1 went: its slot replaces n1's, n2's stays", () => {
      expect(
        reconcileAnnouncing(value, [{ node: "n3", interface: "ens3", address: A }], [A, B]),
      ).toBe("n3,ens3,192.0.2.150 n2,eth1,198.51.100.150");
    });
    step("the Service lost B: n1's next write drops B's slot", () => {
      expect(reconcileAnnouncing(value, [slotA], [A])).toBe("n1,eth0,192.0.2.150");
    });
  });

  it("is canonical: sorted by address (numerically), one slot per address", () => {
    const v = encodeAnnouncing([
      { node: "n2", interface: "eth0", address: "192.0.2.20" },
      { node: "n1", interface: "eth0", address: "192.0.2.3" },
      { node: "n9", interface: "eth0", address: "192.0.2.3" },
    ]);
    expect(v).toBe("n1,eth0,192.0.2.3 n2,eth0,192.0.2.20");
    expect(encodeAnnouncing(parseAnnouncing(v))).toBe(v);
  });

  it("reads leniently: interfaces with commas, IPv6, and drops what is not a slot", () => {
    expect(
      parseAnnouncing("n1,br,lan,2001:DB8::1  junk n2,eth0 n3,,192.0.2.1 n4,eth0,nope"),
    ).toEqual([{ node: "n1", interface: "br,lan", address: "2001:db8::1" }]);
    expect(parseAnnouncing(undefined)).toEqual([]);
  });

  it("tells kubectl purelb who announces an address, in the slot form and the older one", () => {
    const v = encodeAnnouncing([slotA, slotB]);
    expect(announcerOf(v, B)).toEqual({ node: "n2", interface: "eth1" });
    expect(announcerOf(v, "192.0.2.99")).toBeUndefined();
    step("an agent from before the slots wrote node,interface for the family", () => {
      expect(announcerOf("n1,eth0", A)).toEqual({ node: "n1", interface: "eth0" });
      expect(announcerOf("n1", A)).toEqual({ node: "n1" });
    });
  });
});
