import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Member,
  cachedHash,
  candidates,
  electWinner,
  electionHash,
  nextExpiry,
} from "../../lib/election/election";
import { leaseToMember, microTime, parseSubnets } from "../../lib/election/lease";
import { parseAddress } from "../../lib/ip/address";

const NOW = 1_700_000_000_000;
const member = (
  node: string,
  subnets = "192.0.2.0/24,2001:db8::/64",
  expires = NOW + 5_000,
): Member => ({ node, subnets: parseSubnets(subnets), expires });

describe("electionHash", () => {
  it("is sha256 of node#address in hex", () => {
    // echo -n 'n1#192.0.2.200' | sha256sum
    expect(electionHash("n1", "192.0.2.200")).toBe(
      "738f2ed09c00c915013c9ec26fa818037a6f37013c0f933d3e8df3e6b7f97786",
    );
    expect(electionHash("n1", "192.0.2.200")).toBe(electionHash("n1", "192.0.2.200"));
    expect(electionHash("n1", "192.0.2.200")).not.toBe(electionHash("n2", "192.0.2.200"));
  });
});

describe("electWinner", () => {
  it("picks the lowest hash among live members on the address's subnet", () => {
    const members = ["n1", "n2", "n3"].map(n => member(n));
    const w = electWinner("192.0.2.200", members, NOW)!;
    const lowest = [...members].sort((a, b) =>
      electionHash(a.node, "192.0.2.200") < electionHash(b.node, "192.0.2.200") ? -1 : 1,
    )[0].node;
    expect(w).toBe(lowest);
  });

  it("ignores members whose Lease has expired and members on other subnets", () => {
    const w = electWinner(
      "192.0.2.200",
      [member("n1"), member("n2", "192.0.2.0/24", NOW - 1), member("n3", "198.51.100.0/24")],
      NOW,
    );
    expect(w).toBe("n1");
    expect(electWinner("203.0.113.5", [member("n1")], NOW)).toBeUndefined();
    expect(electWinner("not-an-ip", [member("n1")], NOW)).toBeUndefined();
  });

  it("elects IPv4 and IPv6 separately, by family-matching subnets", () => {
    const members = [member("v4only", "192.0.2.0/24"), member("v6only", "2001:db8::/64")];
    expect(electWinner("192.0.2.9", members, NOW)).toBe("v4only");
    expect(electWinner("2001:db8::9", members, NOW)).toBe("v6only");
  });

  it("does not depend on the order of members, and is the same on every agent", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 254 }),
        (nodes, host) => {
          const ip = `192.0.2.${host}`;
          const ms = nodes.map(n => member(n));
          const w = electWinner(ip, ms, NOW);
          expect(electWinner(ip, [...ms].reverse(), NOW)).toBe(w);
          expect(nodes).toContain(w);
        },
      ),
    );
  });

  it("moves only the addresses of a node that leaves", () => {
    const nodes = ["a", "b", "c", "d"].map(n => member(n));
    const addrs = Array.from({ length: 200 }, (_, i) => `192.0.2.${i + 1}`);
    const before = new Map(addrs.map(a => [a, electWinner(a, nodes, NOW)]));
    const after = new Map(
      addrs.map(a => [
        a,
        electWinner(
          a,
          nodes.filter(n => n.node !== "b"),
          NOW,
        ),
      ]),
    );
    for (const a of addrs) if (before.get(a) !== "b") expect(after.get(a)).toBe(before.get(a));
    // and spreads them: every node wins something out of 200
    expect(new Set(before.values()).size).toBe(4);
  });

  it("cachedHash gives the same answers as electionHash", () => {
    const h = cachedHash(3);
    for (let i = 0; i < 10; i++)
      expect(h("n1", `192.0.2.${i}`)).toBe(electionHash("n1", `192.0.2.${i}`));
  });
});

describe("candidates and nextExpiry", () => {
  it("lists live members on the subnet and finds the next expiry", () => {
    const ms = [
      member("a", "192.0.2.0/24", NOW + 100),
      member("b", "192.0.2.0/25", NOW + 50),
      member("c", "192.0.2.0/24", NOW - 1),
    ];
    expect(candidates(parseAddress("192.0.2.200")!, ms, NOW).map(m => m.node)).toEqual(["a"]);
    expect(nextExpiry(ms, NOW)).toBe(NOW + 50);
    expect(nextExpiry([], NOW)).toBeUndefined();
  });
});

describe("leaseToMember", () => {
  it("reads holder, subnets and expiry from a node Lease", () => {
    const m = leaseToMember({
      metadata: {
        name: "purelb-node-n1",
        annotations: { "purelb.io/subnets": "192.0.2.0/24, 2001:db8::/64,garbage" },
      },
      spec: { holderIdentity: "n1", renewTime: microTime(NOW), leaseDurationSeconds: 5 },
    })!;
    expect(m.node).toBe("n1");
    expect(m.subnets.length).toBe(2);
    expect(m.expires).toBe(NOW + 5_000);
  });

  it("ignores Leases that are not node Leases or have no holder", () => {
    expect(
      leaseToMember({ metadata: { name: "other" }, spec: { holderIdentity: "n1" } }),
    ).toBeUndefined();
    expect(leaseToMember({ metadata: { name: "purelb-node-n1" }, spec: {} })).toBeUndefined();
  });

  it("writes MicroTime with six fractional digits", () => {
    expect(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678))).toBe("2024-01-02T03:04:05.678000Z");
  });
});
