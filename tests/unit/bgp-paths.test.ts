import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { kernelAddress as addr } from "./fixtures/kernel-address";
import { PeerSpec } from "../../lib/bgp/config";
import { GobgpProtoError, PROTO_PACKAGE, loadGobgpService, protoDir } from "../../lib/bgp/proto";
import {
  chooseNextHops,
  desiredPaths,
  fromApiPath,
  interfacePrefixes,
  kernelNodeAddresses,
  toApiPath,
} from "../../lib/bgp/paths";
import { KernelLink, PURELB_ADDR_PROTO } from "../../lib/netlink/messages";

const link = (index: number, name: string, loopback = false): KernelLink => ({
  index,
  name,
  up: true,
  loopback,
  mac: Buffer.alloc(6),
});
const LINKS = [link(1, "lo", true), link(2, "eth0"), link(3, "kube-lb0")];
const peer = (address: string, families: (4 | 6)[] = [4, 6]): PeerSpec => ({
  address,
  family: address.includes(":") ? 6 : 4,
  peerAsn: 64512,
  localAsn: 64513,
  password: "",
  multihopTtl: 0,
  holdTime: 90,
  keepalive: 30,
  families,
  gracefulRestart: { enabled: false, restartTime: 0 },
});
const ROUTE = { communities: [], largeCommunities: [] };

describe("what is advertised: the addresses on kube-lb0", () => {
  it("gives each address's network at its prefix length on the interface, once", () => {
    const got = interfacePrefixes(
      [
        addr(3, "203.0.113.10", 32),
        addr(3, "2001:db8:ff::10", 128),
        addr(3, "2001:db8:fe::10", 64),
        addr(3, "2001:db8:fe::11", 64),
        addr(3, "198.51.100.7", 24),
        addr(3, "fe80::1", 64, { scope: 253 }),
        addr(3, "203.0.113.99", 32, { dadfailed: true }),
        addr(2, "192.0.2.11", 24),
      ],
      3,
    );
    expect(got.map(p => p.key)).toEqual([
      "198.51.100.0/24",
      "203.0.113.10/32",
      "2001:db8:fe::/64",
      "2001:db8:ff::10/128",
    ]);
    expect(interfacePrefixes([addr(3, "203.0.113.10", 32)], undefined)).toEqual([]);
  });

  it("finds the node's own addresses for the router ID and next hops, preferring permanent ones", () => {
    const got = kernelNodeAddresses(
      [
        addr(1, "127.0.0.1", 8),
        addr(2, "192.0.2.200", 24, { validLft: 300, proto: PURELB_ADDR_PROTO }),
        addr(2, "192.0.2.50", 24, { validLft: 3600 }),
        addr(2, "192.0.2.11", 24),
        addr(2, "fe80::2", 64, { scope: 253 }),
        addr(2, "2001:db8::11", 64),
        addr(3, "203.0.113.10", 32),
      ],
      LINKS,
      "kube-lb0",
    );
    expect(got.ipv4).toEqual({ address: "192.0.2.11", source: "interface eth0" });
    expect(got.ipv6).toEqual({ address: "2001:db8::11", source: "interface eth0" });
    expect(got.own).toContain("203.0.113.10");
  });
});

describe("next hops", () => {
  const node = {
    ipv4: { address: "192.0.2.11", source: "" },
    ipv6: { address: "2001:db8::11", source: "" },
  };

  it("lets gobgpd use each session's own address when the route and session families match", () => {
    expect(chooseNextHops([peer("192.0.2.1", [4]), peer("2001:db8::1", [6])], node)).toEqual({
      v4: "0.0.0.0",
      v6: "::",
      problems: [],
    });
  });

  it("gives IPv6 routes over an IPv4 session the node's IPv6 address, and the reverse", () => {
    expect(chooseNextHops([peer("192.0.2.1")], node)).toMatchObject({
      v4: "0.0.0.0",
      v6: "2001:db8::11",
    });
    expect(chooseNextHops([peer("2001:db8::1")], node)).toMatchObject({
      v4: "192.0.2.11",
      v6: "::",
    });
  });

  it("says so when the node has no address of the route's family", () => {
    const h = chooseNextHops([peer("192.0.2.1")], { ipv4: node.ipv4 });
    expect(h.v6).toBe("::");
    expect(h.problems[0]).toMatch(
      /IPv6 routes go to 192.0.2.1 over IPv4 but this node has no IPv6 address/,
    );
  });
});

describe("gobgp paths", () => {
  const hops = { v4: "0.0.0.0", v6: "2001:db8::11", problems: [] };
  const route = {
    communities: [0xfde80064],
    largeCommunities: [{ global_admin: 65000, local_data1: 1, local_data2: 2 }],
    localPref: 150,
  };
  const paths = desiredPaths(
    interfacePrefixes([addr(3, "203.0.113.10", 32), addr(3, "2001:db8:ff::10", 128)], 3),
    hops,
    route,
  );

  it("carries IPv4 with NEXT_HOP and IPv6 in MP_REACH_NLRI, with the configured attributes", () => {
    const v4 = toApiPath(paths.get("203.0.113.10/32")!);
    expect(v4.family).toEqual({ afi: "AFI_IP", safi: "SAFI_UNICAST" });
    expect(v4.nlri).toEqual({
      "@type": "type.googleapis.com/apipb.IPAddressPrefix",
      prefix: "203.0.113.10",
      prefix_len: 32,
    });
    expect(v4.pattrs.map(a => a["@type"].split(".").pop())).toEqual([
      "OriginAttribute",
      "NextHopAttribute",
      "CommunitiesAttribute",
      "LargeCommunitiesAttribute",
      "LocalPrefAttribute",
    ]);
    expect(v4.pattrs[1]).toMatchObject({ next_hop: "0.0.0.0" });
    const v6 = toApiPath(paths.get("2001:db8:ff::10/128")!);
    expect(v6.family).toEqual({ afi: "AFI_IP6", safi: "SAFI_UNICAST" });
    expect(v6.pattrs[1]).toMatchObject({
      "@type": "type.googleapis.com/apipb.MpReachNLRIAttribute",
      family: { afi: "AFI_IP6", safi: "SAFI_UNICAST" },
      next_hops: ["2001:db8::11"],
      nlris: [
        {
          "@type": "type.googleapis.com/apipb.IPAddressPrefix",
          prefix: "2001:db8:ff::10",
          prefix_len: 128,
        },
      ],
    });
  });

  it("reads back what it wrote: same route, same fingerprint", () => {
    for (const p of paths.values())
      expect(fromApiPath(toApiPath(p))).toEqual({ key: p.key, fingerprint: p.fingerprint });
    const other = desiredPaths(
      interfacePrefixes([addr(3, "203.0.113.10", 32)], 3),
      hops,
      ROUTE,
    ).get("203.0.113.10/32")!;
    expect(other.fingerprint).not.toBe(paths.get("203.0.113.10/32")!.fingerprint);
  });

  const dir = protoDir();
  it.skipIf(!existsSync(join(dir, "gobgp.proto")))(
    `encodes as gobgp's apipb.AddPathRequest (protos from ${PROTO_PACKAGE})`,
    () => {
      const svc = loadGobgpService(dir);
      const method = svc.service.AddPath;
      for (const p of paths.values()) {
        const path = toApiPath(p);
        const wire = method.requestSerialize({ table_type: "GLOBAL", path });
        // Any values carry their full type URL on the wire, as Go's anypb resolves them.
        expect(wire.toString("latin1")).toContain("type.googleapis.com/apipb.IPAddressPrefix");
        const back = method.requestDeserialize(wire) as { path: typeof path };
        expect(fromApiPath(back.path)).toEqual({ key: p.key, fingerprint: p.fingerprint });
      }
    },
  );

  it("fails with a message naming the Debian package when the .proto files are missing", () => {
    expect(() => loadGobgpService("/nonexistent/gobgp/api")).toThrow(GobgpProtoError);
    expect(() => loadGobgpService("/nonexistent/gobgp/api")).toThrow(
      /golang-github-osrg-gobgp-dev.*PURELB_GOBGP_PROTO_DIR/,
    );
  });
});
