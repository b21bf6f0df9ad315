// `npm start -- --failover`: the announcing node's agent Pod is deleted while the LAN client
// sends one request after another (tests/e2e/traffic.ts); the address moves to the node with
// the next-lowest hash, and the longest stretch without an answer is what a user would see.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type KubeClient } from "../../lib/k8s/client";
import { type ClusterState } from "../../tests/cluster/state";
import { remove, waitFor } from "../../tests/harness/kube";
import { TrafficProbe } from "../../tests/e2e/traffic";
import { line, say } from "./output";

const execFileAsync = promisify(execFile);

export async function announcer(
  client: KubeClient,
  ns: string,
  name: string,
): Promise<string | undefined> {
  const svc = await client.request<{ metadata: { annotations?: Record<string, string> } }>(
    "GET",
    `/api/v1/namespaces/${ns}/services/${name}`,
  );
  // undefined rather than "" while nobody announces, so waitFor keeps waiting
  return (
    (svc.metadata.annotations?.["purelb.io/announcing-IPv4"] ?? "").split(",")[0].trim() ||
    undefined
  );
}

/** The node whose eth0 MAC the client has for `vip`, from its neighbour table. */
async function nodeByNeighbour(state: ClusterState, vip: string): Promise<string> {
  const neigh = await execFileAsync("ip", ["-n", state.clientNs, "-j", "neigh", "show", vip]);
  const mac = (JSON.parse(neigh.stdout || "[]") as { lladdr?: string }[])[0]?.lladdr;
  if (!mac) return "nobody";
  for (const n of state.nodes) {
    const link = await execFileAsync("ip", ["-n", n.ns, "-j", "link", "show", "eth0"]);
    if ((JSON.parse(link.stdout) as { address: string }[])[0]?.address === mac) return n.name;
  }
  return mac;
}

export async function failover(
  client: KubeClient,
  state: ClusterState,
  svc: { ns: string; name: string; vip: string },
): Promise<void> {
  say("Failover: the announcing node's agent goes away while the client keeps asking");
  const probe = TrafficProbe.start(state.clientNs, svc.vip);
  try {
    await waitFor(
      "the client's requests answered",
      () => probe.since(Date.now() - 1_000).some(r => r.ok),
      30_000,
    );
    const before = await announcer(client, svc.ns, svc.name);
    const pods = await client.request<{
      items: { metadata: { name: string }; spec: { nodeName?: string } }[];
    }>(
      "GET",
      `/api/v1/namespaces/purelb-system/pods?labelSelector=${encodeURIComponent("app.kubernetes.io/component=lbnodeagent")}`,
    );
    const agent = pods.items.find(p => p.spec.nodeName === before);
    if (!agent) throw new Error(`no agent Pod on ${before}`);
    line(
      `client (${state.clientNs}) sends one request after another, each on a new connection, to ${svc.vip}; ${before} announces it`,
    );
    const from = Date.now();
    await remove(client, `/api/v1/namespaces/purelb-system/pods/${agent.metadata.name}`);
    line(`deleted the agent Pod ${agent.metadata.name} on ${before}`);
    const after = await waitFor(
      "another node announcing",
      async () => {
        const now = await announcer(client, svc.ns, svc.name);
        return now !== undefined && now !== before && now;
      },
      60_000,
    );
    const moved = Date.now() - from;
    const settled = await waitFor(
      "answers again for 3 s",
      () => {
        const recent = probe.since(Date.now() - 3_000);
        return recent.length > 10 && recent.every(r => r.ok) && Date.now();
      },
      120_000,
    );
    const window = probe.since(from).filter(r => r.at <= settled);
    const failed = window.filter(r => !r.ok).length;
    const gap = probe.longestGap(from, settled);
    const answeredBy = new Set(probe.since(settled - 3_000).map(r => `${r.pod} (${r.node})`));
    line(`${after} announces ${svc.vip} now (next-lowest hash), ${moved} ms after the delete`);
    line(
      `the client's neighbour entry for ${svc.vip} now names ${await nodeByNeighbour(state, svc.vip)}`,
    );
    line(
      `longest gap without an answer: ${gap} ms (${failed} of ${window.length} requests failed meanwhile)`,
    );
    line(`answering again: ${[...answeredBy].join(", ")}`);
    line(
      `the DaemonSet restarts the agent on ${before}; its hash being the lowest, ${before} takes the address back once that agent's Lease is live`,
    );
  } finally {
    await probe.stop();
  }
}
