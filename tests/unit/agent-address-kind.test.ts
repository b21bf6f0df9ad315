// Local or remote is the pool's decision, and local addresses are added so that the node
// never adopts one as its own: told as the stories of a user who edits purelb.io/pool-type,
// and of an agent upgraded over addresses an older agent added with a prefix route.
import { describe, expect, it } from "vitest";
import { addressKind } from "../../lib/agent/address-kind";
import { parseAgentConfig } from "../../lib/agent/config";
import { HeldAddress, desiredState, planChanges } from "../../lib/agent/desired";
import { electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { parseAddress } from "../../lib/ip/address";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { ServiceModel } from "../../lib/k8s/service";
import { kernelAddress } from "./fixtures/kernel-address";
import { step } from "./validate-story";

const NOW = 1_700_000_000_000;
const group = (name: string, spec: object): GroupModel =>
  parseGroup("purelb-system", name, spec).group!;
const groups = new Map([
  [
    "local",
    group("local", {
      local: {
        v4pool: { pool: "192.0.2.200-192.0.2.250", subnet: "192.0.2.0/24" },
        v6pool: { pool: "2001:db8::200/120", subnet: "2001:db8::/64" },
      },
    }),
  ],
  [
    "remote",
    group("remote", { remote: { v4pool: { pool: "203.0.113.0/26", subnet: "203.0.113.0/24" } } }),
  ],
  [
    "nb",
    group("nb", { netbox: { url: "https://netbox.example", tenant: "t", poolType: "local" } }),
  ],
]);
const svc = (ann: Record<string, string>, ingress: string[]): ServiceModel => ({
  namespace: "app",
  name: "web",
  uid: "uid-web",
  resourceVersion: "1",
  creationTimestamp: "",
  type: "LoadBalancer",
  annotations: ann,
  ipFamilies: [],
  ports: [],
  ingress,
});
const kind = (s: ServiceModel, ip: string) => addressKind(s, parseAddress(ip)!, groups)?.kind;
const ifaces = [
  { index: 2, name: "eth0", mac: Buffer.alloc(6, 1), up: true, loopback: false },
  { index: 3, name: "kube-lb0", mac: Buffer.alloc(6, 2), up: true, loopback: false },
];
const members = [
  { node: "n1", subnets: parseSubnets("192.0.2.0/24,2001:db8::/64"), expires: NOW + 5000 },
];

describe("local or remote", () => {
  it("follows the pool that holds the address, not the user-editable pool-type annotation", () => {
    step("a user sets pool-type local on an address of a remote pool: still remote", () => {
      const s = svc({ "purelb.io/allocated-from": "remote", "purelb.io/pool-type": "local" }, []);
      expect(kind(s, "203.0.113.5")).toBe("remote");
    });
    step("and remote on an address of a local pool: still local", () => {
      const s = svc({ "purelb.io/allocated-from": "local", "purelb.io/pool-type": "remote" }, []);
      expect(kind(s, "192.0.2.201")).toBe("local");
    });
    step(
      "allocated-from names a group that does not hold the address: the one that does decides",
      () => {
        const s = svc(
          { "purelb.io/allocated-from": "remote", "purelb.io/pool-type": "remote" },
          [],
        );
        expect(kind(s, "192.0.2.201")).toBe("local");
      },
    );
    step("a Netbox group has no ranges: its poolType decides for the addresses it gave", () => {
      const s = svc({ "purelb.io/allocated-from": "nb" }, []);
      expect(kind(s, "198.51.100.7")).toBe("local");
    });
    step("no known group holds the address: the allocator's pool-type record decides", () => {
      const s = svc({ "purelb.io/allocated-from": "gone", "purelb.io/pool-type": "remote" }, []);
      expect(kind(s, "198.51.100.7")).toBe("remote");
    });
    step(
      "a Service PureLB did not allocate is not announced, even with an address in a pool",
      () => {
        expect(kind(svc({}, []), "192.0.2.201")).toBeUndefined();
      },
    );
  });
});

describe("local addresses the node does not adopt", () => {
  const config = parseAgentConfig(undefined).config;
  const input = (ingress: string[]) => ({
    node: "n1",
    now: NOW,
    services: [
      svc({ "purelb.io/allocated-from": "local", "purelb.io/pool-type": "local" }, ingress),
    ],
    groups,
    members,
    readyNodes: () => new Set<string>(),
    interfaces: ifaces,
    subnets: new Map([[2, parseSubnets("192.0.2.0/24,2001:db8::/64")]]),
    config,
  });
  const v4 = "192.0.2.201";
  const v6 = "2001:db8::201";

  it("adds them without a prefix route, and IPv6 deprecated, unless the LBNodeAgent says otherwise", () => {
    expect(electWinner(v4, members, NOW)).toBe("n1");
    const d = desiredState(input([v4, v6])).addresses;
    expect(config.noPrefixRoute).toBe(true);
    expect([d.get(v4)!.noPrefixRoute, d.get(v4)!.deprecated]).toEqual([true, false]);
    expect([d.get(v6)!.noPrefixRoute, d.get(v6)!.deprecated]).toEqual([true, true]);
    const off = parseAgentConfig({
      local: { addressConfig: { localInterface: { validLifetime: 300, noPrefixRoute: false } } },
    }).config;
    expect(off.noPrefixRoute).toBe(false);
    expect(desiredState({ ...input([v4]), config: off }).addresses.get(v4)!.noPrefixRoute).toBe(
      false,
    );
  });

  it("an upgraded agent fixes copies an older agent added with a prefix route and preferred", () => {
    const desired = desiredState(input([v4, v6])).addresses;
    const held = (address: string, prefix: number, over: Partial<HeldAddress>): HeldAddress => ({
      ...kernelAddress(2, address, prefix, { validLft: 300, preferredLft: 300, proto: 0x50 }),
      ifname: "eth0",
      ...over,
    });
    const old = planChanges(desired, [held(v4, 24, {}), held(v6, 64, { nodad: false })]);
    step("IPv4: the kernel cannot drop the flag in place, so the copy is re-added", () => {
      expect(old.remove.map(h => h.address)).toEqual([v4]);
      expect(old.add.find(a => a.address === v4)).toMatchObject({
        fresh: true,
        noPrefixRoute: true,
      });
    });
    step("IPv6: replaced in place with the flag and preferred lifetime 0", () => {
      expect(old.add.find(a => a.address === v6)).toMatchObject({ fresh: false, deprecated: true });
    });
    const now = planChanges(desired, [
      held(v4, 24, { noprefixroute: true }),
      held(v6, 64, { noprefixroute: true, preferredLft: 0 }),
    ]);
    step("copies that already match are left alone", () => {
      expect([now.add, now.remove]).toEqual([[], []]);
    });
  });
});
