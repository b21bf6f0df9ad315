import { describe, expect, it } from "vitest";
import {
  NodeFacts,
  Passwords,
  matchesSelector,
  parseCommunity,
  pickConfiguration,
  planBgp,
  secretRefs,
} from "../../lib/bgp/config";
import { BGPConfiguration, BGPConfigurationSpec } from "../../lib/k8s/bgp";

const node = (over: Partial<NodeFacts> = {}): NodeFacts => ({
  name: "n1",
  labels: { rack: "r1", "bgp/peer": "yes" },
  ipv4: { address: "192.0.2.11", source: "Node InternalIP" },
  ipv6: { address: "2001:db8::11", source: "Node InternalIP" },
  own: new Set(["192.0.2.11", "2001:db8::11"]),
  ...over,
});
const conf = (spec: BGPConfigurationSpec, name = "default"): BGPConfiguration => ({
  metadata: { name, namespace: "purelb-system" },
  spec,
});
const none: Passwords = new Map();

describe("planBgp: the global speaker", () => {
  it("takes an explicit router ID as given", () => {
    const p = planBgp(
      conf({ global: { asn: 64513, routerID: "198.51.100.1", listenPort: 1179 } }),
      node(),
      none,
    );
    expect(p.global).toEqual({
      asn: 64513,
      routerId: "198.51.100.1",
      routerIdSource: "config",
      listenPort: 1179,
    });
    expect(p.problems).toEqual([]);
    expect(p.source).toBe("purelb-system/default");
  });

  it("fills ${NODE_IP} and an unset router ID from the node's IPv4 address, and says where it came from", () => {
    expect(
      planBgp(conf({ global: { asn: 64513, routerID: "${NODE_IP}" } }), node(), none).global,
    ).toMatchObject({
      routerId: "192.0.2.11",
      routerIdSource: "template (Node InternalIP)",
      listenPort: 179,
    });
    expect(
      planBgp(
        conf({ global: { asn: 64513 } }),
        node({ ipv4: { address: "192.0.2.99", source: "interface eth0" } }),
        none,
      ).global,
    ).toMatchObject({
      routerId: "192.0.2.99",
      routerIdSource: "default (interface eth0)",
    });
  });

  it("does not run BGP when the router ID cannot be had, and says why", () => {
    const p = planBgp(
      conf({
        global: { asn: 64513, routerID: "${NODE_IP}" },
        neighbors: [{ address: "192.0.2.1", peerASN: 64512 }],
      }),
      node({ ipv4: undefined }),
      none,
    );
    expect(p.global).toBeUndefined();
    expect(p.peers).toEqual([]);
    expect(p.problems[0]).toMatch(
      /no IPv4 address for the router ID.*give spec.global.routerID an IPv4 address/,
    );
    expect(
      planBgp(conf({ global: { asn: 64513, routerID: "2001:db8::1" } }), node(), none).problems[0],
    ).toMatch(/not an IPv4 address/);
  });

  it("does not run BGP without a configuration or an ASN", () => {
    const p = planBgp(undefined, node(), none);
    expect(p.global).toBeUndefined();
    expect(p.problems).toEqual([expect.stringMatching(/no BGPConfiguration/)]);
    expect(planBgp(conf({}), node(), none).problems[0]).toMatch(/spec.global.asn is missing/);
    expect(planBgp(conf({ global: { asn: 0 } }), node(), none).global).toBeUndefined();
  });

  it("uses the first configuration by name", () => {
    const { conf: c, ignored } = pickConfiguration([
      conf({}, "zeta"),
      conf({}, "alpha"),
      conf({}, "mid"),
    ]);
    expect(c?.metadata.name).toBe("alpha");
    expect(ignored).toEqual(["mid", "zeta"]);
  });
});

describe("planBgp: neighbours", () => {
  const g = { asn: 64513 };

  it("spells out every peer setting, with gobgpd's defaults made explicit", () => {
    const p = planBgp(
      conf({ global: g, neighbors: [{ address: "192.0.2.1", peerASN: 64512 }] }),
      node(),
      none,
    );
    expect(p.peers).toEqual([
      {
        address: "192.0.2.1",
        family: 4,
        peerAsn: 64512,
        localAsn: 64513,
        password: "",
        multihopTtl: 0,
        holdTime: 90,
        keepalive: 30,
        families: [4, 6],
        gracefulRestart: { enabled: false, restartTime: 0 },
      },
    ]);
  });

  it("reads timers, multihop, families and graceful restart", () => {
    const p = planBgp(
      conf({
        global: g,
        neighbors: [
          {
            address: "2001:DB8::1",
            peerASN: 64512,
            holdTime: "9s",
            families: ["ipv6-unicast"],
            multihop: { ttl: 4 },
          },
          {
            address: "192.0.2.2",
            peerASN: 64513,
            holdTime: "30s",
            keepaliveTime: "5s",
            multihop: {},
          },
        ],
        gracefulRestart: { enabled: true },
      }),
      node(),
      none,
    );
    expect(p.peers[0]).toMatchObject({
      address: "2001:db8::1",
      family: 6,
      holdTime: 9,
      keepalive: 3,
      families: [6],
      multihopTtl: 4,
      gracefulRestart: { enabled: true, restartTime: 9 },
    });
    expect(p.peers[1]).toMatchObject({
      holdTime: 30,
      keepalive: 5,
      multihopTtl: 255,
      gracefulRestart: { enabled: true, restartTime: 30 },
    });
    const q = planBgp(
      conf({
        global: g,
        neighbors: [{ address: "192.0.2.1", peerASN: 1 }],
        gracefulRestart: { enabled: true, restartTime: "2m" },
      }),
      node(),
      none,
    );
    expect(q.peers[0].gracefulRestart).toEqual({ enabled: true, restartTime: 120 });
  });

  it("cannot give gobgpd a hold time of 0 and says so; bad keepalives fall back to a third", () => {
    const p = planBgp(
      conf({
        global: g,
        neighbors: [
          { address: "192.0.2.1", peerASN: 1, holdTime: "0s" },
          { address: "192.0.2.2", peerASN: 1, holdTime: "12s", keepaliveTime: "20s" },
        ],
      }),
      node(),
      none,
    );
    expect(p.peers.map(x => [x.holdTime, x.keepalive])).toEqual([
      [90, 30],
      [12, 4],
    ]);
    expect(p.problems).toEqual([
      expect.stringMatching(/holdTime 0s .* not supported by gobgpd; using 90s/),
    ]);
  });

  it("peers only from nodes the selector matches, skips itself, bad and repeated entries", () => {
    const p = planBgp(
      conf({
        global: g,
        neighbors: [
          { address: "192.0.2.1", peerASN: 1, nodeSelector: { matchLabels: { rack: "r1" } } },
          { address: "192.0.2.2", peerASN: 1, nodeSelector: { matchLabels: { rack: "r2" } } },
          { address: "192.0.2.11", peerASN: 64513 },
          { address: "not-an-ip", peerASN: 1 },
          { address: "192.0.2.1", peerASN: 2 },
        ],
      }),
      node(),
      none,
    );
    expect(p.peers.map(x => [x.address, x.peerAsn])).toEqual([["192.0.2.1", 1]]);
    expect(p.problems).toEqual([
      expect.stringMatching(/spec.neighbors\[3\].address "not-an-ip" is not an IP address/),
    ]);
  });

  it("takes the password from the Secret, and tells a missing Secret from one not read", () => {
    const spec = {
      global: g,
      neighbors: [
        { address: "192.0.2.1", peerASN: 1, passwordSecretRef: { name: "bgp", key: "pw" } },
      ],
    };
    expect(secretRefs(conf(spec), node())).toEqual([{ name: "bgp", key: "pw" }]);
    expect(
      planBgp(conf(spec), node(), new Map([["bgp/pw", { value: "s3cret" }]])).peers[0].password,
    ).toBe("s3cret");
    const missing = planBgp(
      conf(spec),
      node(),
      new Map([["bgp/pw", { error: "Secret purelb-system/bgp not found", missing: true }]]),
    );
    expect(missing.peers).toEqual([]);
    expect(missing.keep).toEqual([]);
    expect(missing.problems[0]).toMatch(/not found; not peering until it exists/);
    const failed = planBgp(
      conf(spec),
      node(),
      new Map([["bgp/pw", { error: "cannot read Secret: 500" }]]),
    );
    expect(failed.keep).toEqual(["192.0.2.1"]);
    expect(failed.problems[0]).toMatch(/leaving the session as it is/);
    expect(failed.problems.join()).not.toContain("s3cret");
  });
});

describe("route attributes", () => {
  it("parses standard, large and well-known communities", () => {
    expect(parseCommunity("65000:100")).toEqual({ standard: 65000 * 65536 + 100 });
    expect(parseCommunity("no-export")).toEqual({ standard: 0xffffff01 });
    expect(parseCommunity("blackhole")).toEqual({ standard: 65535 * 65536 + 666 });
    expect(parseCommunity("4294967295")).toEqual({ standard: 4294967295 });
    expect(parseCommunity("4200000000:1:2")).toEqual({
      large: { global_admin: 4200000000, local_data1: 1, local_data2: 2 },
    });
    for (const bad of ["65536:1", "1:2:3:4", "x:1", "", "no-such-name"])
      expect(parseCommunity(bad)).toBeUndefined();
  });

  it("carries communities and local preference, reporting what it cannot use", () => {
    const p = planBgp(
      conf({
        global: { asn: 1 },
        communities: ["65000:100", "65000:100", "1:2:3", "junk"],
        localPref: 150,
      }),
      node(),
      none,
    );
    expect(p.route).toEqual({
      communities: [65000 * 65536 + 100],
      largeCommunities: [{ global_admin: 1, local_data1: 2, local_data2: 3 }],
      localPref: 150,
    });
    expect(p.problems).toEqual([expect.stringMatching(/communities\[3\] "junk"/)]);
  });
});

describe("label selectors", () => {
  const labels = { zone: "a", role: "edge" };
  it.each([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { zone: "a" } }, true],
    [{ matchLabels: { zone: "b" } }, false],
    [{ matchExpressions: [{ key: "zone", operator: "In" as const, values: ["a", "b"] }] }, true],
    [{ matchExpressions: [{ key: "zone", operator: "NotIn" as const, values: ["a"] }] }, false],
    [{ matchExpressions: [{ key: "rack", operator: "NotIn" as const, values: ["a"] }] }, true],
    [{ matchExpressions: [{ key: "role", operator: "Exists" as const }] }, true],
    [{ matchExpressions: [{ key: "role", operator: "DoesNotExist" as const }] }, false],
    [
      {
        matchLabels: { zone: "a" },
        matchExpressions: [{ key: "rack", operator: "Exists" as const }],
      },
      false,
    ],
  ])("%j -> %s", (sel, want) => expect(matchesSelector(sel, labels)).toBe(want));
});
