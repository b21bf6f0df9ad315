// PureLB installed with `helm install` from dist/ on the three-node test cluster, its own
// images running as Pods: local addresses (IPv4, IPv6, dual-stack) carry HTTP from the client
// on the LAN to backend Pods on every node, announced by the node the client's neighbour
// entry names. Needs root, the cluster binaries and images, and `npm run build`.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../cluster/cluster";
import { imageRef } from "../cluster/images";
import { LAN4, LAN6, LOCAL_POOL4, LOCAL_POOL6 } from "../cluster/layout";
import { clusterUnavailable } from "../cluster/requirements";
import { ensureNamespace, remove, waitFor } from "../harness/kube";
import { echoFrom, installPurelb, neighbourMac } from "./purelb";
import { type PodInfo, deployEcho } from "./workload";

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`e2e tests skipped: ${unavailable}`);

const NS = "e2e-local";
const execFileAsync = promisify(execFile);

interface LbService {
  metadata: { annotations?: Record<string, string> };
  status?: { loadBalancer?: { ingress?: { ip: string }[] } };
}

describe.skipIf(!!unavailable)("PureLB from helm: local addresses", () => {
  let cluster: Cluster;
  let pods: PodInfo[];

  beforeAll(async () => {
    cluster = await Cluster.start({
      dir: mkdtempSync("/tmp/purelb-e2e-"),
      nodes: 3,
      log: line => console.log(`cluster: ${line}`),
    });
    const t = Date.now();
    await installPurelb(cluster, {
      serviceGroup: {
        default: {
          create: true,
          spec: {
            local: {
              v4pools: [{ subnet: LAN4, pool: LOCAL_POOL4, aggregation: "default" }],
              v6pools: [{ subnet: LAN6, pool: LOCAL_POOL6, aggregation: "default" }],
            },
          },
        },
      },
    });
    console.log(`helm install --wait: ${((Date.now() - t) / 1000).toFixed(1)}s`);
    await ensureNamespace(cluster.client, NS);
    pods = await deployEcho(cluster.client, NS, "echo", imageRef(cluster.images, "echo"), 3);
  });

  afterEach(ctx => {
    if (ctx.task.result?.state === "fail") console.log(cluster?.tails(30));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** Creates a LoadBalancer Service for the echo Pods; returns its addresses once assigned. */
  async function lbService(
    name: string,
    families: ("IPv4" | "IPv6")[],
  ): Promise<{ ips: string[]; created: number }> {
    const created = Date.now();
    await cluster.client.request("POST", `/api/v1/namespaces/${NS}/services`, {
      body: {
        metadata: { name },
        spec: {
          type: "LoadBalancer",
          allocateLoadBalancerNodePorts: false,
          selector: { app: "echo" },
          ipFamilyPolicy: families.length === 2 ? "RequireDualStack" : "SingleStack",
          ipFamilies: families,
          ports: [{ port: 80, targetPort: 8080 }],
        },
      },
    });
    const ips = await waitFor(
      `addresses of ${name}`,
      async () => {
        const svc = await cluster.client.request<LbService>(
          "GET",
          `/api/v1/namespaces/${NS}/services/${name}`,
        );
        const got = (svc.status?.loadBalancer?.ingress ?? []).map(i => i.ip);
        return got.length === families.length && got;
      },
      30_000,
    );
    return { ips, created };
  }

  /**
   * HTTP from the LAN client through `vip` until Pods on two nodes have answered; checks that
   * every answer came from an echo Pod and that the client reached the announcing node.
   */
  async function serves(service: string, vip: string): Promise<void> {
    const family = vip.includes(":") ? "IPv6" : "IPv4";
    const announcing = await waitFor(
      `announcing-${family} of ${service}`,
      async () => {
        const svc = await cluster.client.request<LbService>(
          "GET",
          `/api/v1/namespaces/${NS}/services/${service}`,
        );
        return svc.metadata.annotations?.[`purelb.io/announcing-${family}`];
      },
      30_000,
    );
    const [node, iface] = announcing.split(",");
    expect(iface).toBe("eth0");
    const seen = await waitFor(
      `answers through ${vip} from pods on two nodes`,
      async () => {
        const nodes = new Set<string>();
        for (let i = 0; i < 12; i++) {
          const reply = await echoFrom(cluster.clientNs, vip);
          expect(pods.map(p => p.name)).toContain(reply.pod);
          nodes.add(reply.node);
        }
        return nodes.size >= 2 && nodes;
      },
      60_000,
    );
    expect([...seen].some(n => n !== node)).toBe(true);
    // The client's neighbour entry for the VIP: the announcing node's MAC, nobody else's.
    expect(await neighbourMac(cluster.clientNs, vip)).toBe(cluster.node(node).lab.mac);
  }

  it("puts the agent, allocator and admission Pods on the nodes", async () => {
    const list = await cluster.client.request<{
      items: { metadata: { namespace: string; name: string }; spec: { nodeName?: string } }[];
    }>("GET", "/api/v1/pods");
    const agents = list.items.filter(p => p.metadata.namespace === "purelb-system");
    expect(new Set(agents.map(p => p.spec.nodeName))).toEqual(new Set(["node1", "node2", "node3"]));
    expect(list.items.filter(p => p.metadata.namespace === "pepr-system").length).toBeGreaterThan(
      0,
    );
  });

  it("serves HTTP through an IPv4 VIP, from Pods on several nodes", async () => {
    const { ips, created } = await lbService("web4", ["IPv4"]);
    expect(ips[0]).toMatch(/^192\.0\.2\.2[0-3]\d$/);
    await serves("web4", ips[0]);
    console.log(
      `web4: created -> HTTP through ${ips[0]} in ${Date.now() - created} ms (incl. checks)`,
    );
  });

  it("serves HTTP through an IPv6 VIP", async () => {
    const { ips } = await lbService("web6", ["IPv6"]);
    expect(ips[0]).toMatch(/^2001:db8::2[0-3][0-9a-f]?$/);
    await serves("web6", ips[0]);
  });

  it("serves a dual-stack Service on both its addresses", async () => {
    const { ips } = await lbService("web46", ["IPv4", "IPv6"]);
    for (const ip of ips) await serves("web46", ip);
  });

  it("removes the address from every node when the Service goes", async () => {
    const { ips } = await lbService("gone", ["IPv4"]);
    await waitFor(
      "the address on a node",
      async () =>
        (await Promise.all(cluster.nodes.map(n => hasAddress(n.lab.ns, ips[0])))).some(Boolean),
      30_000,
    );
    await remove(cluster.client, `/api/v1/namespaces/${NS}/services/gone`);
    await waitFor(
      "the address gone from every node",
      async () =>
        !(await Promise.all(cluster.nodes.map(n => hasAddress(n.lab.ns, ips[0])))).some(Boolean),
      30_000,
    );
  });
});

async function hasAddress(ns: string, ip: string): Promise<boolean> {
  const { stdout } = await execFileAsync("ip", ["-n", ns, "-j", "addr", "show"]);
  return (JSON.parse(stdout) as { addr_info: { local: string }[] }[]).some(l =>
    l.addr_info.some(a => a.local === ip),
  );
}
