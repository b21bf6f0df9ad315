// `npm start` as root without KUBECONFIG: PureLB doing its job on the test cluster
// (tests/cluster), a request from the LAN client answered through the address by a Pod.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { type KubeClient } from "../../lib/k8s/client";
import { imageRef } from "../../tests/cluster/images";
import { LAN4, toolsDir } from "../../tests/cluster/layout";
import { clusterUnavailable } from "../../tests/cluster/requirements";
import { echoFrom } from "../../tests/e2e/purelb";
import { deployEcho } from "../../tests/e2e/workload";
import { apply, clientFor, ensureNamespace, remove, waitFor } from "../../tests/harness/kube";
import { ensureBuilt } from "./build";
import { ClusterSession, type DemoCluster } from "./cluster";
import { inspect, ranking } from "./election";
import { announcer, failover } from "./failover";
import { line, say, timed } from "./output";
import { helm, installPurelb, purelbInstalled, unreadyPods } from "./purelb";

const root = resolve(import.meta.dirname, "../..");
const NS = "purelb-demo";
const APP = "echo";
const GROUPS = "/apis/purelb.io/v2/namespaces/purelb-system/servicegroups";

/** Ends the demo with this exit code and message (a missing tool: what to run). */
export class DemoError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export async function runClusterDemo(opts: { once: boolean; failover: boolean }): Promise<void> {
  const missing = clusterUnavailable();
  if (missing) throw new DemoError(`the cluster demo ${missing}`, 3);

  const session = new ClusterSession();
  /** Undone in reverse order when the demo ends, however it ends. */
  const undo: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  let reused = false;
  let interrupted = false;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      say(
        reused ? "Removing the demo's objects (the cluster keeps running)" : "Stopping the cluster",
      );
      for (const fn of undo.reverse())
        await fn().catch((e: unknown) => line(`cleanup: ${String(e)}`));
      await session.release();
    })());
  const onSignal = (): void => {
    if (cleaning) return line("still cleaning up; a moment");
    interrupted = true;
    line("interrupted");
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    say("Building the chart from the working tree");
    await ensureBuilt();
    line(`chart: ${join(root, "dist", "purelb-chart")}`);

    say("The test cluster (tests/cluster): nodes are network namespaces on one LAN, 192.0.2.0/24");
    const cluster = await timed("cluster ready", () => session.acquire(3));
    reused = cluster.reused;
    const kc = cluster.state.kubeconfig;
    const client = clientFor(kc);
    for (const n of cluster.state.nodes) line(`${n.name}: ${n.ipv4}   LAN client: 192.0.2.100`);

    await setUp(client, cluster, undo);
    const vip = await explain(client, cluster);
    await request(cluster, vip);
    if (opts.failover) await failover(client, cluster.state, { ns: NS, name: APP, vip });
    tryNext(cluster, vip);

    if (opts.once) return await cleanup();
    line(
      reused
        ? "Running until Ctrl-C, which removes the demo's objects and keeps the cluster."
        : "Running until Ctrl-C, which stops the cluster (the demo started it).",
    );
    await new Promise(() => undefined);
  } catch (err) {
    await cleanup();
    // a step cut short by Ctrl-C fails too; the signal handler's exit code is the one to keep
    if (interrupted) await new Promise(() => undefined);
    throw err;
  }
}

async function setUp(
  client: KubeClient,
  cluster: DemoCluster,
  undo: (() => Promise<unknown>)[],
): Promise<void> {
  const kc = cluster.state.kubeconfig;
  say("Installing PureLB: helm upgrade --install purelb dist/purelb-chart --wait");
  const had = await purelbInstalled(kc);
  // Only what the demo added goes; on a cluster of its own everything goes with the cluster.
  if (cluster.reused && !had) undo.push(() => helm(kc, ["uninstall", "purelb", "--wait"]));
  await timed("helm (waits for every PureLB Pod)", () => installPurelb(cluster)).catch(
    async (err: unknown) => {
      const pods = await unreadyPods(client).catch(() => []);
      throw new Error(`${String(err)}${pods.map(p => `\n  not ready: ${p}`).join("")}`);
    },
  );

  const group = parse(readFileSync(join(root, "samples/servicegroup-default.yaml"), "utf8"));
  const hadGroup = await client.request("GET", `${GROUPS}/default`).then(
    () => true,
    () => false,
  );
  if (cluster.reused && !hadGroup) undo.push(() => remove(client, `${GROUPS}/default`));
  await apply(client, GROUPS, group);
  // The sample's IPv4 pool lies in the nodes' LAN and outside what tests use; its IPv6 pool
  // is not on the LAN, so the demo's Service is IPv4 only.
  line(
    `ServiceGroup purelb-system/default from samples/servicegroup-default.yaml: local pool ${group.spec.local.v4pools[0].pool} on ${LAN4}`,
  );

  say(`A demo app: Deployment ${NS}/${APP} of the echo image, 2 Pods on 2 nodes`);
  await ensureNamespace(client, NS);
  if (cluster.reused) undo.push(() => remove(client, `/api/v1/namespaces/${NS}`));
  const pods = await timed("Pods ready", () =>
    deployEcho(client, NS, APP, imageRef(cluster.images, "echo"), 2),
  );
  for (const p of pods) line(`pod ${p.name} on ${p.node} (${p.ips[0] ?? "?"})`);

  await remove(client, `/api/v1/namespaces/${NS}/services/${APP}`);
  await client.request("POST", `/api/v1/namespaces/${NS}/services`, {
    body: {
      metadata: { name: APP },
      spec: {
        type: "LoadBalancer",
        allocateLoadBalancerNodePorts: false,
        selector: { app: APP },
        ipFamilyPolicy: "SingleStack",
        ipFamilies: ["IPv4"],
        ports: [{ port: 80, targetPort: 8080 }],
      },
    },
  });
  line(`Service ${NS}/${APP}: type LoadBalancer, port 80 -> 8080`);
}

/** Prints the address, who announces it and why; returns the address. */
async function explain(client: KubeClient, cluster: DemoCluster): Promise<string> {
  const kc = cluster.state.kubeconfig;
  const node = await waitFor("the announcing node", () => announcer(client, NS, APP), 60_000);
  const report = await inspect(kc, `${NS}/${APP}`);
  const a = report.addresses[0];
  if (!a) throw new Error(`kubectl purelb inspect ${NS}/${APP} shows no address`);
  say(`The address: ${a.address}  (ServiceGroup ${report.group.name}, pool ${a.pool ?? "?"})`);
  line(
    `announced by ${node}: purelb.io/announcing-IPv4 = ${a.announcing?.node},${a.announcing?.interface ?? "?"}`,
  );
  line(
    `why ${node}: the agents elect, among the live nodes on ${a.subnet ?? LAN4}, the lowest hash:`,
  );
  for (const l of ranking(a.address, a.candidates ?? [])) line(`  ${l}`);
  line(
    a.winner === node
      ? `kubectl purelb inspect agrees: the winner is ${a.winner}`
      : `kubectl purelb inspect says the winner is ${a.winner ?? "nobody"}; still settling`,
  );
  return a.address;
}

async function request(cluster: DemoCluster, vip: string): Promise<void> {
  const from = cluster.state.clientNs;
  say(`A request through ${vip} from the LAN client (192.0.2.100, namespace ${from})`);
  const first = await waitFor("an answer through the address", () => echoFrom(from, vip), 30_000);
  line(
    `answered by pod ${first.pod} on ${first.node} (the source address it saw: ${first.client})`,
  );
  const tally = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const r = await echoFrom(from, vip);
    const k = `${r.pod} (${r.node})`;
    tally.set(k, (tally.get(k) ?? 0) + 1);
  }
  line(
    `8 more: ${[...tally].map(([k, v]) => `${v} by ${k}`).join(", ")}; kube-proxy on the announcing node spreads them`,
  );
}

function tryNext(cluster: DemoCluster, vip: string): void {
  say("Try next (another shell)");
  line(`export KUBECONFIG=${cluster.state.kubeconfig}`);
  line(
    `export PATH=${join(toolsDir(), "bin")}:${join(root, "cli")}:$PATH   # kubectl, kubectl purelb`,
  );
  line(`kubectl get service -n ${NS} ${APP}`);
  line(`kubectl purelb inspect ${NS}/${APP}`);
  line(`kubectl purelb election --node ${cluster.state.nodes[0]?.name ?? "node1"}`);
  line(`kubectl purelb services`);
  line(`ip netns exec ${cluster.state.clientNs} curl -s http://${vip}/`);
}
