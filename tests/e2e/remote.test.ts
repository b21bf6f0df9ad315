// Remote addresses through BGP with the chart's gobgpd sidecar running as a container next to
// each agent: the BIRD router learns a Service's /32 with one next hop per node (ECMP) and the
// client behind it reaches the Pods; with externalTrafficPolicy Local the next hops follow the
// nodes that have a ready endpoint as the Deployment scales, the route goes with the last one
// and comes back with a new one, and the backend sees the client's own address.
import { mkdtempSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MERGE_PATCH } from "../../lib/k8s/client";
import { Cluster } from "../cluster/cluster";
import { imageRef } from "../cluster/images";
import { FAR4, NODE_ASN, REMOTE_POOL4, ROUTER_ASN, ROUTER_IPV4 } from "../cluster/layout";
import { clusterUnavailable } from "../cluster/requirements";
import { apply, applyServiceGroup, ensureNamespace, waitFor } from "../harness/kube";
import { echoFrom, installPurelb } from "./purelb";
import { type PodInfo, deployEcho, podsOf } from "./workload";

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`e2e tests skipped: ${unavailable}`);

const NS = "e2e-remote";
const SYSTEM = "purelb-system";

describe.skipIf(!!unavailable)("PureLB from helm: remote addresses over BGP", () => {
  let cluster: Cluster;
  let vip = "";
  const echo = (): string => imageRef(cluster.images, "echo");

  beforeAll(async () => {
    cluster = await Cluster.start({
      dir: mkdtempSync("/tmp/purelb-e2e-"),
      nodes: 3,
      log: line => console.log(`cluster: ${line}`),
    });
    await installPurelb(cluster, { agent: { bgp: { enabled: true } } });
    await apply(cluster.client, `/apis/bgp.purelb.io/v1/namespaces/${SYSTEM}/bgpconfigurations`, {
      apiVersion: "bgp.purelb.io/v1",
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec: {
        global: { asn: NODE_ASN, routerID: "${NODE_IP}" },
        neighbors: [{ address: ROUTER_IPV4, peerASN: ROUTER_ASN }],
      },
    });
    await applyServiceGroup(cluster.client, SYSTEM, "remote", {
      remote: { v4pools: [{ pool: REMOTE_POOL4, subnet: REMOTE_POOL4, aggregation: "/32" }] },
    });
    await ensureNamespace(cluster.client, NS);
    await deployEcho(cluster.client, NS, "echo", echo(), 3);
  });

  afterEach(ctx => {
    if (ctx.task.result?.state === "fail") console.log(cluster?.tails(30));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const nodeIp = (name: string): string => cluster.node(name).lab.ipv4;
  const hops = (want: string[], timeoutMs = 30_000): Promise<boolean> =>
    waitFor(
      `${vip}/32 at the router via ${want.join(",") || "nothing"}`,
      () => cluster.router.nextHops(`${vip}/32`).join() === [...want].sort().join(),
      timeoutMs,
    );
  const scale = async (replicas: number): Promise<PodInfo[]> => {
    await cluster.client.request("PATCH", `/apis/apps/v1/namespaces/${NS}/deployments/echo/scale`, {
      body: { spec: { replicas } },
      contentType: MERGE_PATCH,
    });
    return waitFor(
      `${replicas} echo pods`,
      async () => {
        const pods = await podsOf(cluster.client, NS, "echo");
        return pods.length === replicas && pods;
      },
      120_000,
    );
  };

  it("is learned by the router with every node as a next hop and serves the far client", async () => {
    const svc = await cluster.client.request<{ metadata: { name: string } }>(
      "POST",
      `/api/v1/namespaces/${NS}/services`,
      {
        body: {
          metadata: { name: "web", annotations: { "purelb.io/service-group": "remote" } },
          spec: {
            type: "LoadBalancer",
            allocateLoadBalancerNodePorts: false,
            selector: { app: "echo" },
            ports: [{ port: 80, targetPort: 8080 }],
          },
        },
      },
    );
    expect(svc.metadata.name).toBe("web");
    vip = await waitFor(
      "the address of web",
      async () => {
        const s = await cluster.client.request<{
          status?: { loadBalancer?: { ingress?: { ip: string }[] } };
        }>("GET", `/api/v1/namespaces/${NS}/services/web`);
        return s.status?.loadBalancer?.ingress?.[0]?.ip;
      },
      30_000,
    );
    expect(vip).toMatch(/^203\.0\.113\./);
    await waitFor(
      "BGP sessions Established",
      () => cluster.nodes.every(n => cluster.router.sessions().get(n.name) === "Established"),
      60_000,
    );
    await hops(cluster.nodes.map(n => n.lab.ipv4));
    const pods = await podsOf(cluster.client, NS, "echo");
    const reply = await waitFor(
      "an answer at the far client",
      () => echoFrom(cluster.farClientNs, vip),
      30_000,
    );
    expect(pods.map(p => p.name)).toContain(reply.pod);
  });

  it("with externalTrafficPolicy Local, follows the endpoint nodes 3 -> 1 -> 0 -> 2", async () => {
    await cluster.client.request("PATCH", `/api/v1/namespaces/${NS}/services/web`, {
      body: { spec: { externalTrafficPolicy: "Local" } },
      contentType: MERGE_PATCH,
    });
    let pods = await podsOf(cluster.client, NS, "echo");
    await hops(pods.map(p => nodeIp(p.node)));

    pods = await scale(1);
    await hops([nodeIp(pods[0].node)]);
    const reply = await waitFor(
      "an answer at the far client",
      () => echoFrom(cluster.farClientNs, vip),
      30_000,
    );
    expect(reply.pod).toBe(pods[0].name);
    // No SNAT on the way in: the backend sees the far client's own address.
    expect(reply.client).toBe(FAR4.client);

    await scale(0);
    await hops([]);

    pods = await scale(2);
    await hops([...new Set(pods.map(p => nodeIp(p.node)))]);
    const again = await waitFor(
      "an answer at the far client",
      () => echoFrom(cluster.farClientNs, vip),
      30_000,
    );
    expect(pods.map(p => p.name)).toContain(again.pod);
    expect(again.client).toBe(FAR4.client);
  });
});
