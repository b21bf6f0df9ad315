// status fields the Go PureLB v0.17 writes, so its columns and dashboards read ours.
import { describe, expect, it } from "vitest";
import { upstreamStatus } from "../../lib/allocator/group-status";
import { parseGroup } from "../../lib/ipam/group";
import { ServiceGroupSpec } from "../../lib/k8s/servicegroup";

const model = (spec: ServiceGroupSpec) => {
  const { group, problems } = parseGroup("purelb-system", "g", spec);
  expect(problems).toEqual([]);
  return group!;
};

describe("ServiceGroup status in upstream's fields", () => {
  it("a dual-stack local group: Local, Cluster, the pools as written, free per family", () => {
    const g = model({
      namespaces: ["tenant-b", "tenant-a"],
      local: {
        v4pools: [{ pool: "192.168.1.100-192.168.1.199", subnet: "192.168.1.0/24" }],
        v6pools: [{ pool: "fc00::/120", subnet: "fc00::/64" }],
      },
    });
    expect(upstreamStatus(g, { 4: 3n, 6: 1n })).toEqual({
      announce: "Local",
      ipam: "Cluster",
      addresses: ["192.168.1.100-192.168.1.199", "fc00::/120"],
      allocatedIPv4: 3,
      allocatedIPv6: 1,
      availableIPv4: 97,
      availableIPv6: 255,
      boundNamespaces: ["tenant-a", "tenant-b"],
    });
  });

  it("an IPv4-only remote group reports availableIPv6 0, and a huge IPv6 pool is capped", () => {
    const v4 = model({ remote: { v4pool: { pool: "172.31.0.0/30", subnet: "172.31.0.0/24" } } });
    expect(upstreamStatus(v4, { 4: 4n, 6: 0n })).toMatchObject({
      announce: "Remote",
      availableIPv4: 0,
      availableIPv6: 0,
      boundNamespaces: [],
    });
    const v6 = model({ remote: { v6pool: { pool: "fd00:2::/64", subnet: "fd00:2::/64" } } });
    expect(upstreamStatus(v6, { 4: 0n, 6: 2n }).availableIPv6).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("external and Netbox groups: the provider as ipam, no available counts", () => {
    const ext = model({ external: { provider: "my-ipam", announce: "local" } });
    const s = upstreamStatus(ext, { 4: 2n, 6: 0n });
    expect(s).toEqual({
      announce: "Local",
      ipam: "my-ipam",
      addresses: [],
      allocatedIPv4: 2,
      allocatedIPv6: 0,
      boundNamespaces: [],
    });
    const nb = model({
      netbox: { url: "https://nb.example/api", tenant: "t", prefix: "10.0.0.0/24" },
    });
    expect(upstreamStatus(nb, { 4: 0n, 6: 0n })).toMatchObject({
      announce: "Remote",
      ipam: "Netbox",
      addresses: ["10.0.0.0/24"],
    });
    expect(upstreamStatus(nb, { 4: 0n, 6: 0n })).not.toHaveProperty("availableIPv4");
  });
});
