import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { BGPConfiguration, BGPConfigurationSpec } from "../../lib/k8s/bgp";
import { validateBGPConfiguration } from "../../lib/validate/bgp";
import { step } from "./validate-story";

const conf = (spec: unknown): BGPConfiguration => ({
  metadata: { name: "default", namespace: "purelb-system" },
  spec: spec as BGPConfigurationSpec,
});
const denial = (spec: unknown) => formatProblems(validateBGPConfiguration(conf(spec)).problems);
const global = { asn: 65001, routerID: "${NODE_IP}" };
const peer = { address: "192.0.2.1", peerASN: 65000 };

describe("BGPConfiguration validation, one story per rule", () => {
  it("a minimal configuration passes", () => {
    expect(denial({ global, neighbors: [peer] })).toBe("");
  });

  it("ASNs are 1 to 4294967295", () => {
    step("0 is refused", () => {
      expect(denial({ global: { asn: 0 } })).toBe(
        "spec.global.asn: 0 is out of range; use a value from 1 to 4294967295",
      );
    });
    step("a 4-byte ASN passes; one past it is refused", () => {
      expect(
        denial({ global: { asn: 4294967295 }, neighbors: [{ ...peer, peerASN: 4200000000 }] }),
      ).toBe("");
      expect(denial({ global, neighbors: [{ ...peer, peerASN: 4294967296 }] })).toBe(
        "spec.neighbors[0].peerASN: 4294967296 is out of range; use a value from 1 to 4294967295",
      );
    });
  });

  it("the router ID is IPv4 or a known template", () => {
    step("an IPv6 address is refused with both forms", () => {
      expect(denial({ global: { asn: 65001, routerID: "2001:db8::1" } })).toBe(
        'spec.global.routerID: "2001:db8::1" is neither an IPv4 address nor a template; use an IPv4 address such as 192.0.2.1 or ${NODE_IP} for each node\'s IPv4 address',
      );
    });
    step("a misspelt template is refused", () => {
      expect(denial({ global: { asn: 65001, routerID: "${NODE_IPV4}" } })).toMatch(
        /^spec\.global\.routerID: /,
      );
    });
    step("an IPv4 address passes", () => {
      expect(denial({ global: { asn: 65001, routerID: "192.0.2.10" } })).toBe("");
    });
  });

  it("neighbor addresses are IPs, each listed once", () => {
    step("a host name is refused", () => {
      expect(denial({ global, neighbors: [{ ...peer, address: "router.example" }] })).toBe(
        'spec.neighbors[0].address: "router.example" is not an IP address; give the peer\'s IPv4 or IPv6 address, e.g. 192.0.2.1',
      );
    });
    step("the same peer twice (in two spellings) is refused, naming the first", () => {
      expect(
        denial({
          global,
          neighbors: [
            { address: "2001:db8::1", peerASN: 65000 },
            { address: "2001:DB8:0::1", peerASN: 65002 },
          ],
        }),
      ).toBe(
        "spec.neighbors[1].address: 2001:db8::1 is already spec.neighbors[0]; list each peer once and merge the two entries",
      );
    });
  });

  it("hold and keepalive times make a working session", () => {
    step("a hold time under 3s is refused", () => {
      expect(denial({ global, neighbors: [{ ...peer, holdTime: "2s" }] })).toBe(
        'spec.neighbors[0].holdTime: "2s" is too short; BGP allows 0s (no keepalives) or 3s and more',
      );
    });
    step("keepalive not shorter than hold is refused", () => {
      expect(
        denial({ global, neighbors: [{ ...peer, holdTime: "9s", keepaliveTime: "9s" }] }),
      ).toBe(
        'spec.neighbors[0].keepaliveTime: "9s" is not shorter than holdTime "9s", so the session would expire between keepalives; use about a third of holdTime',
      );
    });
    step("an unparsable duration is refused", () => {
      expect(denial({ global, neighbors: [{ ...peer, holdTime: "90" }] })).toBe(
        'spec.neighbors[0].holdTime: "90" is not a duration; write it like 90s, 1m30s or 1.5s',
      );
    });
    step("90s/30s passes", () => {
      expect(
        denial({ global, neighbors: [{ ...peer, holdTime: "90s", keepaliveTime: "30s" }] }),
      ).toBe("");
    });
  });

  it("families are closed and listed once", () => {
    expect(
      denial({ global, neighbors: [{ ...peer, families: ["ipv4-unicast", "ipv4-unicast"] }] }),
    ).toBe("spec.neighbors[0].families[1]: ipv4-unicast is listed twice; list each family once");
    expect(denial({ global, neighbors: [{ ...peer, families: ["l2vpn-evpn"] }] })).toBe(
      'spec.neighbors[0].families[0]: "l2vpn-evpn" is not one of ipv4-unicast, ipv6-unicast',
    );
  });

  it("node selectors follow label selector rules", () => {
    expect(
      denial({
        global,
        neighbors: [
          { ...peer, nodeSelector: { matchExpressions: [{ key: "rack", operator: "In" }] } },
        ],
      }),
    ).toBe(
      "spec.neighbors[0].nodeSelector.matchExpressions[0].values: In needs at least one value; list the label values to match",
    );
  });

  it("graceful restart time fits BGP's 12 bits", () => {
    expect(denial({ global, gracefulRestart: { enabled: true, restartTime: "2h" } })).toBe(
      'spec.gracefulRestart.restartTime: "2h" is out of range; BGP carries 1s to 4095s',
    );
  });

  it("communities are standard, large or well-known", () => {
    step("a 16-bit overflow is refused with the three forms", () => {
      expect(denial({ global, communities: ["65000:70000"] })).toMatch(
        /^spec\.communities\[0\]: "65000:70000" is not a BGP community; write 65000:100/,
      );
    });
    step("the three forms pass", () => {
      expect(denial({ global, communities: ["65000:100", "4200000000:1:2", "no-export"] })).toBe(
        "",
      );
    });
  });

  it("never crashes on any shape, and every problem has a spec path", () => {
    const neighbor = fc.record(
      {
        address: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()),
        peerASN: fc.integer(),
        holdTime: fc.string(),
        keepaliveTime: fc.string(),
        families: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const spec = fc.oneof(
      fc.record(
        {
          global: fc.record(
            {
              asn: fc.oneof(fc.integer(), fc.anything()),
              routerID: fc.oneof(fc.ipV4(), fc.string()),
            },
            { requiredKeys: [] },
          ),
          neighbors: fc.oneof(fc.array(neighbor, { maxLength: 4 }), fc.anything()),
          communities: fc.array(fc.string()),
          gracefulRestart: fc.anything(),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(spec, s => {
        for (const p of validateBGPConfiguration(conf(s)).problems)
          expect(p.path).toMatch(/^spec(\.|$)/);
      }),
      { numRuns: 1000 },
    );
  });
});
