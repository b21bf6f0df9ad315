import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RunningAllocator, runAllocator } from "../../lib/allocator/run";
import { KubeClient } from "../../lib/k8s/client";

import { ServiceGroupSpec, ServiceGroupStatus } from "../../lib/k8s/servicegroup";
import {
  ServiceSpecInput,
  apply,
  applyServiceGroup,
  clientFor,
  createService,
  deleteAllServices,
  ensureNamespace,
  eventsFor,
  getService,
  installCrds,
  patchService,
  remove,
  waitFor,
} from "../harness/kube";

const kubeconfig = inject("kubeconfig");
const SG_NS = "purelb-alloc-it";
const NS = "alloc-it";

describe.skipIf(!kubeconfig)("allocator against a real apiserver", () => {
  let client: KubeClient;
  let running: RunningAllocator;

  const group = (name: string, spec: ServiceGroupSpec) =>
    applyServiceGroup(client, SG_NS, name, spec);
  const svc = (name: string, s: ServiceSpecInput = {}) => createService(client, NS, name, s);
  const served = (name: string, count = 1) =>
    waitFor(`${name} to get ${count} address(es)`, async () => {
      const s = await getService(client, NS, name);
      return s.ingress.length >= count ? s : undefined;
    });
  const eventWith = (name: string, reason: string, text: RegExp) =>
    waitFor(`${reason} event on ${name} matching ${text}`, async () =>
      (await eventsFor(client, NS, name)).find(e => e.reason === reason && text.test(e.message)),
    );

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    await installCrds(client);
    await ensureNamespace(client, SG_NS);
    await ensureNamespace(client, NS);
    await group("default", {
      local: {
        v4pools: [
          { pool: "192.0.2.240-192.0.2.250", subnet: "192.0.2.0/24", aggregation: "default" },
        ],
        v6pools: [
          { pool: "2001:db8::f0-2001:db8::ff", subnet: "2001:db8::/64", aggregation: "default" },
        ],
      },
    });
    running = await runAllocator(client, SG_NS);
  });

  afterAll(async () => {
    running?.stop();
    await deleteAllServices(client, NS);
  });

  it("gives a plain LoadBalancer Service the lowest free address of the default group and says so", async () => {
    await svc("web");
    const s = await served("web");
    expect(s.ingress).toEqual(["192.0.2.240"]);
    expect(s.annotations).toMatchObject({
      "purelb.io/allocated-by": "PureLB",
      "purelb.io/allocated-from": "default",
      "purelb.io/pool-type": "local",
      "purelb.io/service-group": "default",
    });
    await eventWith(
      "web",
      "AddressAssigned",
      /Assigned 192\.0\.2\.240 from ServiceGroup default \(local pool\)/,
    );
  });

  it("gives a RequireDualStack Service one address per family, IPv4 first", async () => {
    await svc("dual", { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv6", "IPv4"] });
    const s = await served("dual", 2);
    expect(s.ingress).toEqual(["192.0.2.241", "2001:db8::f0"]);
  });

  it("waits for an unknown group with a Warning, and serves the Service once the group exists", async () => {
    await svc("later", { annotations: { "purelb.io/service-group": "routed" } });
    await eventWith(
      "later",
      "AllocationFailed",
      /ServiceGroup routed does not exist in namespace purelb-alloc-it/,
    );
    await group("routed", {
      remote: { v4pool: { pool: "203.0.113.0/30", subnet: "203.0.113.0/24", aggregation: "/32" } },
    });
    const s = await served("later");
    expect(s.ingress).toEqual(["203.0.113.0"]);
    expect(s.annotations["purelb.io/pool-type"]).toBe("remote");
  });

  it("keeps a Service pending on an exhausted pool and serves it as soon as an address is freed", async () => {
    await group("tiny", {
      remote: { v4pool: { pool: "203.0.113.120/32", subnet: "203.0.113.0/24" } },
    });
    await svc("first", { annotations: { "purelb.io/service-group": "tiny" } });
    expect((await served("first")).ingress).toEqual(["203.0.113.120"]);
    await svc("second", { annotations: { "purelb.io/service-group": "tiny" } });
    await eventWith(
      "second",
      "AllocationFailed",
      /no free IPv4 address: all 1 addresses of 203\.0\.113\.120 are in use/,
    );
    await remove(client, `/api/v1/namespaces/${NS}/services/first`);
    expect((await served("second")).ingress).toEqual(["203.0.113.120"]);
  });

  it("shares one address under one key when ports differ, and names the clash when they don't", async () => {
    await group("shared", {
      remote: { v4pool: { pool: "203.0.113.80/29", subnet: "203.0.113.0/24" } },
    });
    const key = { "purelb.io/service-group": "shared", "purelb.io/allow-shared-ip": "dns" };
    await svc("dns-tcp", {
      annotations: key,
      ports: [{ port: 53, protocol: "TCP" }],
      externalTrafficPolicy: "Local",
    });
    await svc("dns-udp", { annotations: key, ports: [{ port: 53, protocol: "UDP" }] });
    const [a, b] = [await served("dns-tcp"), await served("dns-udp")];
    expect(a.ingress).toEqual(b.ingress);
    await waitFor(
      "ETP reset on a shared address",
      async () => (await getService(client, NS, "dns-tcp")).externalTrafficPolicy === "Cluster",
    );
    await svc("dns-clash", { annotations: key, ports: [{ port: 53, protocol: "UDP" }] });
    await eventWith("dns-clash", "AllocationFailed", /alloc-it\/dns-udp already uses UDP\/53/);
  });

  it("honours a requested address and explains one outside the pool", async () => {
    await svc("pinned", { annotations: { "purelb.io/addresses": "192.0.2.250" } });
    expect((await served("pinned")).ingress).toEqual(["192.0.2.250"]);
    await svc("astray", { annotations: { "purelb.io/addresses": "198.51.100.7" } });
    await eventWith(
      "astray",
      "AllocationFailed",
      /198\.51\.100\.7 is not in ServiceGroup default .*192\.0\.2\.240-192\.0\.2\.250/,
    );
  });

  it("resets externalTrafficPolicy Local to Cluster on a local pool, with a Normal Event", async () => {
    await svc("etp", { externalTrafficPolicy: "Local" });
    await served("etp");
    await waitFor(
      "ETP reset",
      async () => (await getService(client, NS, "etp")).externalTrafficPolicy === "Cluster",
    );
    await eventWith(
      "etp",
      "ExternalTrafficPolicyReset",
      /local pool addresses are announced by a single node/,
    );
  });

  it("marks Services of a skipIPv6DAD group with purelb.io/skip-ipv6-dad, and only those", async () => {
    await group("nodad", {
      local: {
        skipIPv6DAD: true,
        v6pools: [{ pool: "2001:db8:1::10-2001:db8:1::1f", subnet: "2001:db8:1::/64" }],
      },
    });
    await svc("nodad", {
      annotations: { "purelb.io/service-group": "nodad" },
      ipFamilies: ["IPv6"],
    });
    const s = await served("nodad");
    expect(s.ingress).toEqual(["2001:db8:1::10"]);
    expect(s.annotations["purelb.io/skip-ipv6-dad"]).toBe("true");
    expect((await served("web")).annotations["purelb.io/skip-ipv6-dad"]).toBeUndefined();
    // The group stops skipping DAD: the mark goes at the Service's next write.
    await group("nodad", {
      local: { v6pools: [{ pool: "2001:db8:1::10-2001:db8:1::1f", subnet: "2001:db8:1::/64" }] },
    });
    await waitFor(
      "skip-ipv6-dad removed",
      async () =>
        (await getService(client, NS, "nodad")).annotations["purelb.io/skip-ipv6-dad"] ===
        undefined,
    );
  });

  it("refuses multi-pool on a balancePools group and a sharing key on a multiPool Service", async () => {
    await group("balanced", {
      local: {
        balancePools: true,
        v4pools: [{ pool: "198.51.100.10-198.51.100.12", subnet: "198.51.100.0/24" }],
      },
    });
    await svc("both", {
      annotations: { "purelb.io/service-group": "balanced", "purelb.io/multi-pool": "true" },
    });
    await eventWith(
      "both",
      "AllocationFailed",
      /purelb\.io\/multi-pool cannot be used with ServiceGroup balanced: it has balancePools/,
    );
    await svc("shared-multi", {
      annotations: { "purelb.io/multi-pool": "true", "purelb.io/allow-shared-ip": "k" },
    });
    await eventWith(
      "shared-multi",
      "AllocationFailed",
      /purelb\.io\/allow-shared-ip cannot be used with multiPool/,
    );
    for (const name of ["both", "shared-multi"])
      expect((await getService(client, NS, name)).ingress).toEqual([]);
  });

  it("leaves Services of another loadBalancerClass alone", async () => {
    await svc("foreign", { loadBalancerClass: "example.com/other" });
    await served("web");
    await new Promise(r => setTimeout(r, 500));
    const s = await getService(client, NS, "foreign");
    expect(s.ingress).toEqual([]);
    expect(s.annotations["purelb.io/allocated-by"]).toBeUndefined();
  });

  it("releases the address when a Service stops being a LoadBalancer", async () => {
    await svc("shrinking", { annotations: { "purelb.io/service-group": "routed" } });
    const before = await served("shrinking");
    await patchService(client, NS, "shrinking", {
      spec: { type: "ClusterIP", allocateLoadBalancerNodePorts: null, externalTrafficPolicy: null },
    });
    await eventWith(
      "shrinking",
      "AddressReleased",
      new RegExp(`Released ${before.ingress[0].replace(/\./g, "\\.")}`),
    );
    await waitFor(
      "annotations removed",
      async () =>
        (await getService(client, NS, "shrinking")).annotations["purelb.io/allocated-by"] ===
        undefined,
    );
    expect(running.allocator.book.entry(before.ingress[0])).toBeUndefined();
  });

  it("reports a malformed annotation and serves the other Services undisturbed", async () => {
    await svc("garbled", { annotations: { "purelb.io/addresses": "192.0.2.300" } });
    await eventWith("garbled", "AllocationFailed", /"192\.0\.2\.300" is not an IP address/);
    await svc("neighbour");
    expect((await served("neighbour")).ingress.length).toBe(1);
  });

  it("writes the group's size and use to its status", async () => {
    const status = await waitFor("default group status", async () => {
      const sg = await client.request<{
        status?: ServiceGroupStatus;
      }>("GET", `/apis/purelb.io/v2/namespaces/${SG_NS}/servicegroups/default`);
      return sg.status?.v4 && sg.status.v4.inUse >= 5 ? sg.status : undefined;
    });
    expect(status.v4?.size).toBe("11");
    expect(status.v6?.size).toBe("16");
    // the Go PureLB's fields beside ours, from the same count
    expect(status).toMatchObject({
      announce: "Local",
      ipam: "Cluster",
      allocatedIPv4: status.v4!.inUse,
      availableIPv4: 11 - status.v4!.inUse,
      boundNamespaces: [],
    });
    expect(status.addresses?.length).toBeGreaterThan(0);
  });

  it("re-evaluates on request: adds the multiPool range of a node that appeared, keeps the rest, drops the annotation", async () => {
    await group("multi", {
      local: {
        multiPool: true,
        v4pools: [
          { pool: "198.51.100.10-198.51.100.19", subnet: "198.51.100.0/25" },
          { pool: "198.51.100.130-198.51.100.139", subnet: "198.51.100.128/25" },
        ],
      },
    });
    const lease = (node: string, subnet: string) =>
      apply(client, `/apis/coordination.k8s.io/v1/namespaces/${SG_NS}/leases`, {
        metadata: { name: `purelb-node-${node}`, annotations: { "purelb.io/subnets": subnet } },
        spec: {
          holderIdentity: node,
          leaseDurationSeconds: 3600,
          renewTime: new Date().toISOString().replace("Z", "000Z"),
        },
      });
    await lease("n1", "198.51.100.0/25");
    await svc("everywhere", { annotations: { "purelb.io/service-group": "multi" } });
    expect((await served("everywhere")).ingress).toEqual(["198.51.100.10"]);
    await lease("n2", "198.51.100.128/25");
    await patchService(client, NS, "everywhere", {
      metadata: { annotations: { "purelb.io/re-evaluate": "true" } },
    });
    const s = await served("everywhere", 2);
    expect(s.ingress).toEqual(["198.51.100.10", "198.51.100.130"]);
    await waitFor(
      "re-evaluate removed",
      async () =>
        (await getService(client, NS, "everywhere")).annotations["purelb.io/re-evaluate"] ===
        undefined,
    );
  });

  it("rebuilds from the cluster after a restart: nothing lost, nothing handed out twice", async () => {
    await running.allocator.idle();
    running.stop();
    // While it is down: one Service goes, two arrive.
    await remove(client, `/api/v1/namespaces/${NS}/services/web`);
    await svc("while-down-1");
    await svc("while-down-2", { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] });
    running = await runAllocator(client, SG_NS);
    await served("while-down-1");
    await served("while-down-2", 2);
    await running.allocator.idle();
    const all = await client.request<{ items: unknown[] }>(
      "GET",
      `/api/v1/namespaces/${NS}/services`,
    );
    const owners = new Map<string, string[]>();
    for (const raw of all.items) {
      const s = raw as {
        metadata: { name: string; annotations?: Record<string, string> };
        status?: { loadBalancer?: { ingress?: { ip: string }[] } };
      };
      const key = s.metadata.annotations?.["purelb.io/allow-shared-ip"];
      for (const i of s.status?.loadBalancer?.ingress ?? [])
        owners.set(i.ip, [...(owners.get(i.ip) ?? []), key ?? s.metadata.name]);
    }
    for (const [ip, who] of owners)
      expect(new Set(who).size, `${ip} held by ${who.join(", ")}`).toBe(1);
    // the freed 192.0.2.240 went to a newcomer; dual's addresses stayed put
    expect((await getService(client, NS, "dual")).ingress).toEqual(["192.0.2.241", "2001:db8::f0"]);
  });
});
