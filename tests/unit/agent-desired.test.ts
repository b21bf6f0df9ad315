import { describe, expect, it } from "vitest";
import { kernelAddress } from "./fixtures/kernel-address";
import { parseAgentConfig } from "../../lib/agent/config";
import {
  DesiredInput,
  HeldAddress,
  desiredState,
  interfaceSubnets,
  isOurs,
  localCapable,
  planChanges,
} from "../../lib/agent/desired";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { ServiceModel } from "../../lib/k8s/service";
import { PURELB_ADDR_PROTO } from "../../lib/netlink/messages";

const NOW = 1_700_000_000_000;
const config = parseAgentConfig(undefined).config;
const group = (name: string, spec: object): GroupModel =>
  parseGroup("purelb-system", name, spec).group!;
const groups = new Map([
  [
    "local",
    group("local", {
      local: {
        v4pool: { pool: "192.0.2.200-192.0.2.250", subnet: "192.0.2.0/24" },
        v6pool: { pool: "2001:db8::200/120", subnet: "2001:db8::/64", aggregation: "/128" },
      },
    }),
  ],
  [
    "nodad",
    group("nodad", {
      local: { skipIPv6DAD: true, v6pool: { pool: "2001:db8::300/120", subnet: "2001:db8::/64" } },
    }),
  ],
  [
    "remote",
    group("remote", {
      remote: { v4pool: { pool: "203.0.113.0/26", subnet: "203.0.113.0/24", aggregation: "/32" } },
    }),
  ],
]);
const ifaces = [
  { index: 1, name: "lo", mac: Buffer.alloc(6), up: true, loopback: true },
  { index: 2, name: "eth0", mac: Buffer.from("020000000001", "hex"), up: true, loopback: false },
  {
    index: 3,
    name: "kube-lb0",
    mac: Buffer.from("020000000002", "hex"),
    up: true,
    loopback: false,
  },
];
const subnets = new Map([[2, parseSubnets("192.0.2.0/24,2001:db8::/64")]]);
const members: Member[] = ["n1", "n2", "n3"].map(node => ({
  node,
  subnets: parseSubnets("192.0.2.0/24,2001:db8::/64"),
  expires: NOW + 5000,
}));

function svc(
  name: string,
  o: { group: string; type: "local" | "remote"; ips: string[]; etp?: string; lb?: boolean },
): ServiceModel {
  return {
    namespace: "app",
    name,
    uid: `uid-${name}`,
    resourceVersion: "1",
    creationTimestamp: "",
    type: o.lb === false ? "ClusterIP" : "LoadBalancer",
    annotations: { "purelb.io/pool-type": o.type, "purelb.io/allocated-from": o.group },
    ipFamilies: [],
    ports: [],
    externalTrafficPolicy: o.etp,
    ingress: o.ips,
  };
}

const input = (
  node: string,
  services: ServiceModel[],
  extra: Partial<DesiredInput> = {},
): DesiredInput => ({
  node,
  now: NOW,
  services,
  groups,
  members,
  readyNodes: () => new Set(),
  interfaces: ifaces,
  subnets,
  config,
  ...extra,
});

describe("desiredState", () => {
  it("gives a local address to the election winner only, on the interface of its subnet, with the range prefix", () => {
    const s = [
      svc("web", { group: "local", type: "local", ips: ["192.0.2.200", "2001:db8::200"] }),
    ];
    for (const ip of ["192.0.2.200", "2001:db8::200"]) {
      const winner = electWinner(ip, members, NOW)!;
      for (const node of ["n1", "n2", "n3"]) {
        const d = desiredState(input(node, s)).addresses.get(ip);
        if (node !== winner) expect(d).toBeUndefined();
        else
          expect(d).toMatchObject({
            ifname: "eth0",
            kind: "local",
            prefix: ip.includes(":") ? 128 : 24,
            validLft: 300,
            preferredLft: 300,
            nodad: false,
            services: ["app/web"],
          });
      }
    }
  });

  it("reports every local election, with the same winner whichever node computes it", () => {
    const s = [svc("web", { group: "local", type: "local", ips: ["192.0.2.201"] })];
    const seen = ["n1", "n2", "n3"].map(n => desiredState(input(n, s)).elections[0].winner);
    expect(new Set(seen).size).toBe(1);
  });

  it("sets nodad for IPv6 when the group skips DAD", () => {
    const ip = "2001:db8::301";
    const winner = electWinner(ip, members, NOW)!;
    const d = desiredState(
      input(winner, [svc("x", { group: "nodad", type: "local", ips: [ip] })]),
    ).addresses.get(ip)!;
    expect(d.nodad).toBe(true);
    expect(d.prefix).toBe(64);
  });

  it("puts remote addresses on kube-lb0 on every node, permanent, with the aggregation prefix", () => {
    for (const node of ["n1", "n2"]) {
      const d = desiredState(
        input(node, [svc("r", { group: "remote", type: "remote", ips: ["203.0.113.5"] })]),
      ).addresses.get("203.0.113.5");
      expect(d).toMatchObject({ ifname: "kube-lb0", prefix: 32, validLft: 0, kind: "remote" });
    }
  });

  it("falls back to a host prefix for remote and to the subnet's for local when the group is unknown", () => {
    const s = [svc("r", { group: "gone", type: "remote", ips: ["198.51.100.7"] })];
    expect(desiredState(input("n1", s)).addresses.get("198.51.100.7")!.prefix).toBe(32);
    const ip = "192.0.2.77";
    const w = electWinner(ip, members, NOW)!;
    expect(
      desiredState(input(w, [svc("l", { group: "gone", type: "local", ips: [ip] })])).addresses.get(
        ip,
      )!.prefix,
    ).toBe(24);
  });

  it("with externalTrafficPolicy Local holds remote addresses only where an endpoint is ready", () => {
    const s = [svc("r", { group: "remote", type: "remote", ips: ["203.0.113.6"], etp: "Local" })];
    const ready = () => new Set(["n2"]);
    expect(desiredState(input("n1", s, { readyNodes: ready })).addresses.size).toBe(0);
    expect(desiredState(input("n2", s, { readyNodes: ready })).addresses.size).toBe(1);
  });

  it("keeps a shared address for all its Services, once", () => {
    const s = [
      svc("a", { group: "remote", type: "remote", ips: ["203.0.113.7"] }),
      svc("b", { group: "remote", type: "remote", ips: ["203.0.113.7"] }),
    ];
    const d = desiredState(input("n1", s));
    expect(d.addresses.size).toBe(1);
    expect(d.addresses.get("203.0.113.7")!.services).toEqual(["app/a", "app/b"]);
  });

  it("ignores Services that are not PureLB LoadBalancers", () => {
    const s = [
      svc("c", { group: "remote", type: "remote", ips: ["203.0.113.8"], lb: false }),
      { ...svc("d", { group: "remote", type: "remote", ips: ["203.0.113.9"] }), annotations: {} },
    ];
    expect(desiredState(input("n1", s)).addresses.size).toBe(0);
  });

  it("says so when the winner has no interface on the subnet, and respects a localInterface regex", () => {
    const ip = "192.0.2.210";
    const w = electWinner(ip, members, NOW)!;
    const s = [svc("w", { group: "local", type: "local", ips: [ip] })];
    const restricted = parseAgentConfig({ local: { localInterface: "^bond" } }).config;
    const d = desiredState(input(w, s, { config: restricted }));
    expect(d.addresses.size).toBe(0);
    expect(d.problems[0].message).toMatch(
      /no interface of node .* is on a subnet that holds 192\.0\.2\.210/,
    );
    expect(localCapable(ifaces, restricted)).toEqual([]);
    expect(localCapable(ifaces, config).map(i => i.name)).toEqual(["eth0"]);
  });

  it("lets nobody announce a local address when no live node is on its subnet", () => {
    const d = desiredState(
      input("n1", [svc("far", { group: "local", type: "local", ips: ["198.51.100.9"] })]),
    );
    expect(d.elections[0].winner).toBeUndefined();
    expect(d.addresses.size).toBe(0);
  });
});

const held = (o: Partial<HeldAddress> & { address: string }): HeldAddress => ({
  ...kernelAddress(2, o.address, 24),
  ifname: "eth0",
  ...o,
});

describe("isOurs", () => {
  it("trusts the IFA_PROTO marker when the kernel reports one", () => {
    expect(
      isOurs(
        held({ address: "192.0.2.200", proto: PURELB_ADDR_PROTO, validLft: 100 }),
        config,
        groups,
      ),
    ).toBe(true);
    expect(isOurs(held({ address: "192.0.2.200", proto: 4, validLft: 100 }), config, groups)).toBe(
      false,
    );
  });

  it("without a marker: pool addresses on kube-lb0, and finite pool addresses elsewhere", () => {
    expect(
      isOurs(held({ address: "203.0.113.1", ifname: "kube-lb0", prefix: 32 }), config, groups),
    ).toBe(true);
    expect(
      isOurs(held({ address: "198.51.100.1", ifname: "kube-lb0", prefix: 32 }), config, groups),
    ).toBe(false);
    expect(isOurs(held({ address: "192.0.2.200", validLft: 100 }), config, groups)).toBe(true);
    expect(isOurs(held({ address: "192.0.2.200" }), config, groups)).toBe(false);
    expect(isOurs(held({ address: "192.0.2.11", validLft: 100 }), config, groups)).toBe(false);
  });
});

describe("interfaceSubnets", () => {
  it("derives subnets from the node's own global addresses only", () => {
    const all = [
      held({ address: "192.0.2.11" }),
      held({ address: "192.0.2.12" }),
      held({ address: "2001:db8::11", prefix: 64 }),
      held({ address: "fe80::1", prefix: 64, scope: 253 }),
      held({ address: "192.0.2.200", proto: PURELB_ADDR_PROTO }),
    ];
    const m = interfaceSubnets(all, h => h.proto === PURELB_ADDR_PROTO);
    expect(m.get(2)!.length).toBe(2);
  });
});

describe("planChanges", () => {
  const want = (ip: string, o: object = {}) =>
    new Map([
      [
        ip,
        {
          address: ip,
          family: 4 as const,
          prefix: 24,
          ifname: "eth0",
          kind: "local" as const,
          validLft: 300,
          preferredLft: 300,
          nodad: false,
          services: ["a/b"],
          ...o,
        },
      ],
    ]);

  it("adds what is missing (fresh) and removes what is not wanted", () => {
    const c = planChanges(want("192.0.2.200"), [
      held({ address: "192.0.2.201", proto: PURELB_ADDR_PROTO }),
    ]);
    expect(c.add.map(a => [a.address, a.fresh])).toEqual([["192.0.2.200", true]]);
    expect(c.remove.map(r => r.address)).toEqual(["192.0.2.201"]);
  });

  it("renews a finite address once a third of its lifetime is used, not before", () => {
    expect(
      planChanges(want("192.0.2.200"), [held({ address: "192.0.2.200", validLft: 250 })]).add,
    ).toEqual([]);
    expect(
      planChanges(want("192.0.2.200"), [held({ address: "192.0.2.200", validLft: 150 })]).add.map(
        a => a.fresh,
      ),
    ).toEqual([false]);
  });

  it("moves an address that sits on the wrong interface or with the wrong prefix", () => {
    const c = planChanges(want("192.0.2.200"), [
      held({ address: "192.0.2.200", validLft: 299, prefix: 32 }),
    ]);
    expect(c.remove.length).toBe(1);
    expect(c.add.map(a => a.fresh)).toEqual([true]);
  });

  it("re-adds when permanence or nodad differ", () => {
    expect(
      planChanges(want("192.0.2.200", { validLft: 0 }), [
        held({ address: "192.0.2.200", validLft: 299 }),
      ]).add.length,
    ).toBe(1);
    const v6 = new Map([
      [
        "2001:db8::1",
        {
          address: "2001:db8::1",
          family: 6 as const,
          prefix: 64,
          ifname: "eth0",
          kind: "local" as const,
          validLft: 300,
          preferredLft: 300,
          nodad: true,
          services: [],
        },
      ],
    ]);
    expect(
      planChanges(v6, [held({ address: "2001:db8::1", prefix: 64, validLft: 299 })]).add.length,
    ).toBe(1);
  });

  it("is idempotent: nothing to do when the kernel matches", () => {
    expect(
      planChanges(want("192.0.2.200"), [held({ address: "192.0.2.200", validLft: 290 })]),
    ).toEqual({ add: [], remove: [] });
  });
});
