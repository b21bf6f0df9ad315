// The test cluster itself, before PureLB is in it: three nodes Ready, a backend Deployment
// spread over them, and a ClusterIP Service answered across nodes through kube-proxy. Then
// teardown, which must leave no process, namespace, mount or cgroup behind. Needs root.
import { mkdtempSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../cluster/cluster";
import { imageRef } from "../cluster/images";
import { clusterUnavailable } from "../cluster/requirements";
import { leftovers } from "../cluster/state";
import { ensureNamespace, waitFor } from "../harness/kube";
import { type EchoReply, deployEcho, podsOf } from "./workload";

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`e2e tests skipped: ${unavailable}`);

const NS = "smoke";

describe.skipIf(!!unavailable)("the test cluster", () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.start({
      dir: mkdtempSync("/tmp/purelb-e2e-"),
      nodes: 3,
      log: line => console.log(`cluster: ${line}`),
    });
    console.log(`cluster start-up: ${cluster.startupSeconds.toFixed(1)}s`);
  });

  afterEach(ctx => {
    if (ctx.task.result?.state === "fail") console.log(cluster?.tails(30));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it("has three Ready nodes, each with an IPv4 and an IPv6 pod CIDR", async () => {
    const nodes = await cluster.client.request<{
      items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[];
    }>("GET", "/api/v1/nodes");
    expect(nodes.items.map(n => n.metadata.name).sort()).toEqual(["node1", "node2", "node3"]);
    for (const n of nodes.items) {
      expect(n.spec.podCIDRs?.length).toBe(2);
      expect(n.spec.podCIDRs?.[0]).toMatch(/^198\.51\.100\./);
      expect(n.spec.podCIDRs?.[1]).toMatch(/^2001:db8:100:/);
    }
  });

  it("runs an echo Deployment on every node and serves its ClusterIP from a node", async () => {
    await ensureNamespace(cluster.client, NS);
    await deployEcho(cluster.client, NS, "echo", imageRef(cluster.images, "echo"), 3);
    const pods = await podsOf(cluster.client, NS, "echo");
    expect(new Set(pods.map(p => p.node)).size).toBe(3);

    const svc = await cluster.client.request<{ spec: { clusterIPs: string[] } }>(
      "POST",
      `/api/v1/namespaces/${NS}/services`,
      {
        body: {
          metadata: { name: "echo" },
          spec: {
            selector: { app: "echo" },
            ipFamilyPolicy: "RequireDualStack",
            ipFamilies: ["IPv4", "IPv6"],
            ports: [{ port: 80, targetPort: 8080 }],
          },
        },
      },
    );
    expect(svc.spec.clusterIPs).toHaveLength(2);
    const from = cluster.node("node1");
    for (const ip of svc.spec.clusterIPs) {
      const url = ip.includes(":") ? `http://[${ip}]/` : `http://${ip}/`;
      // kube-proxy picks a backend per connection: keep asking until Pods on other nodes
      // have answered too, which proves pod routes between nodes.
      const seen = await waitFor(
        `answers through ${ip} from pods on two nodes`,
        async () => {
          const seenNodes = new Set<string>();
          for (let i = 0; i < 12; i++) {
            const out = await from.exec(["curl", "-sS", "--max-time", "3", url], 10_000);
            const reply = JSON.parse(out) as EchoReply;
            expect(pods.map(p => p.name)).toContain(reply.pod);
            seenNodes.add(reply.node);
          }
          return seenNodes.size >= 2 && seenNodes;
        },
        60_000,
      );
      expect([...seen].some(n => n !== "node1")).toBe(true);
    }
  });

  it("tears down leaving no process, namespace, mount or cgroup", async () => {
    const state = {
      dir: cluster.dir,
      cgroup: cluster.cgroups.root,
      namespaces: cluster.namespaces(),
    };
    expect(state.namespaces.length).toBeGreaterThan(5);
    expect(cluster.cgroups.pids().length).toBeGreaterThan(0);
    await cluster.stop();
    expect(leftovers(state)).toEqual([]);
  });
});
