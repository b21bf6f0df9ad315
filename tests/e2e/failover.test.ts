// Failover of a local address under traffic, measured as the longest gap the LAN client sees
// between two answers: the announcing node's agent Pod deleted (graceful hand-over), the
// announcing node killed (link, kubelet, agent and Pods gone at once), and the node back.
// Throughout, at most one node holds the address. Needs root.
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../cluster/cluster";
import { imageRef } from "../cluster/images";
import { LAN4, LOCAL_POOL4 } from "../cluster/layout";
import { clusterUnavailable } from "../cluster/requirements";
import { ensureNamespace, remove, waitFor } from "../harness/kube";
import { installPurelb } from "./purelb";
import { TrafficProbe } from "./traffic";
import { deployEcho } from "./workload";

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`e2e tests skipped: ${unavailable}`);

const NS = "e2e-failover";
const execFileAsync = promisify(execFile);
/** The chart's default Lease duration. */
const LEASE_MS = 5_000;

describe.skipIf(!!unavailable)("PureLB from helm: failover under traffic", () => {
  let cluster: Cluster;
  let probe: TrafficProbe | undefined;
  let vip = "";
  /** Nodes seen holding the address at once, sampled every 100 ms while a test runs. */
  let maxHolders = 0;
  let sampler: NodeJS.Timeout | undefined;
  /** Nodes killed and not back yet. */
  const down = new Set<string>();

  beforeAll(async () => {
    cluster = await Cluster.start({
      dir: mkdtempSync("/tmp/purelb-e2e-"),
      nodes: 3,
      log: line => console.log(`cluster: ${line}`),
    });
    await installPurelb(cluster, {
      serviceGroup: {
        default: {
          create: true,
          spec: {
            local: { v4pools: [{ subnet: LAN4, pool: LOCAL_POOL4, aggregation: "default" }] },
          },
        },
      },
    });
    await ensureNamespace(cluster.client, NS);
    await deployEcho(cluster.client, NS, "echo", imageRef(cluster.images, "echo"), 3);
    await cluster.client.request("POST", `/api/v1/namespaces/${NS}/services`, {
      body: {
        metadata: { name: "web" },
        spec: {
          type: "LoadBalancer",
          allocateLoadBalancerNodePorts: false,
          selector: { app: "echo" },
          ports: [{ port: 80, targetPort: 8080 }],
        },
      },
    });
    vip = await waitFor(
      "the address of web",
      async () =>
        (
          await cluster.client.request<{
            status?: { loadBalancer?: { ingress?: { ip: string }[] } };
          }>("GET", `/api/v1/namespaces/${NS}/services/web`)
        ).status?.loadBalancer?.ingress?.[0]?.ip,
      30_000,
    );
    await waitFor("the address on one node", async () => (await holders()).length === 1, 30_000);
    probe = TrafficProbe.start(cluster.clientNs, vip);
    await waitFor(
      "traffic flowing",
      () => probe!.since(Date.now() - 1_000).some(r => r.ok),
      30_000,
    );
    sampler = setInterval(() => {
      void holders().then(
        h => (maxHolders = Math.max(maxHolders, h.length)),
        () => undefined,
      );
    }, 100);
  });

  afterEach(ctx => {
    if (ctx.task.result?.state === "fail") console.log(cluster?.tails(30));
  });

  afterAll(async () => {
    clearInterval(sampler);
    await probe?.stop();
    await cluster?.stop();
  });

  /** Nodes that are up and whose eth0 holds the VIP. */
  async function holders(): Promise<string[]> {
    const out: string[] = [];
    for (const n of cluster.nodes) {
      if (down.has(n.name)) continue;
      const { stdout } = await execFileAsync("ip", [
        "-n",
        n.lab.ns,
        "-j",
        "addr",
        "show",
        "dev",
        "eth0",
        "up",
      ]);
      const links = JSON.parse(stdout || "[]") as { addr_info: { local: string }[] }[];
      if (links.some(l => l.addr_info.some(a => a.local === vip))) out.push(n.name);
    }
    return out;
  }

  async function announcer(): Promise<string> {
    const svc = await cluster.client.request<{
      metadata: { annotations?: Record<string, string> };
    }>("GET", `/api/v1/namespaces/${NS}/services/web`);
    return (svc.metadata.annotations?.["purelb.io/announcing-IPv4"] ?? "").split(",")[0];
  }

  /** Runs `event`, then waits until the client has been answered for 3 s; returns the gap. */
  async function gapAround(what: string, event: () => Promise<void>): Promise<number> {
    const from = Date.now();
    await event();
    const settled = await waitFor(
      `answers again after ${what}`,
      () => {
        const recent = probe!.since(Date.now() - 3_000);
        return recent.length > 10 && recent.every(r => r.ok) && Date.now();
      },
      120_000,
    );
    const gap = probe!.longestGap(from, settled);
    console.log(`failover figure: ${what}: longest gap ${gap} ms`);
    return gap;
  }

  it("hands the address over when the announcer's agent Pod is deleted", async () => {
    const before = await announcer();
    const pods = await cluster.client.request<{
      items: { metadata: { name: string }; spec: { nodeName: string } }[];
    }>("GET", "/api/v1/namespaces/purelb-system/pods");
    const agent = pods.items.find(p => p.spec.nodeName === before);
    expect(agent).toBeDefined();
    const gap = await gapAround("agent Pod deleted", async () => {
      await remove(cluster.client, `/api/v1/namespaces/purelb-system/pods/${agent!.metadata.name}`);
      await waitFor("another announcer", async () => (await announcer()) !== before, 30_000);
    });
    expect(gap).toBeLessThan(3_000);
    expect(maxHolders).toBe(1);
  });

  it("moves the address when the announcing node dies, and keeps serving when it is back", async () => {
    const victim = await announcer();
    const gap = await gapAround("announcing node killed", async () => {
      down.add(victim);
      cluster.killNode(victim);
      await waitFor(
        "another announcer",
        async () => {
          const now = await announcer();
          return now !== "" && now !== victim;
        },
        60_000,
      );
    });
    // Lease expiry, then one announcement; the dead node's Pod stays an endpoint (and eats
    // some requests) until the node controller gives up on it.
    expect(gap).toBeLessThan(LEASE_MS + 3_000);
    expect(maxHolders).toBe(1);

    const back = await gapAround("node back", async () => {
      await cluster.restartNode(victim);
      down.delete(victim);
    });
    expect(back).toBeLessThan(LEASE_MS + 3_000);
    await waitFor(
      "one holder after the node is back",
      async () => (await holders()).length === 1,
      30_000,
    );
    expect(maxHolders).toBe(1);
  });
});
