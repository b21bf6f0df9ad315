// PureLB in the test cluster the way a user installs it: `helm install` of the chart that
// `npm run build` leaves in dist/, with values that point at the images imported into the
// nodes, plus small helpers to talk to it from the client namespaces.
import { execFile } from "node:child_process";
import { cpSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { toolPath } from "../harness/controlplane";
import { type Cluster } from "../cluster/cluster";
import { imageRef } from "../cluster/images";
import { type EchoReply } from "./workload";

const execFileAsync = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
export const CHART = join(root, "dist", "purelb-chart");

/** The cluster's own copy of the chart, taken at install: later upgrades use the same one. */
export function chartOf(cluster: Cluster): string {
  return join(cluster.dir, "purelb-chart");
}

/** Runs helm against the cluster; returns its output. */
export async function helm(cluster: Cluster, args: string[], timeoutMs = 300_000): Promise<string> {
  try {
    const { stdout } = await execFileAsync(
      toolPath("helm"),
      [...args, "--kubeconfig", cluster.kubeconfig],
      { timeout: timeoutMs, maxBuffer: 16 << 20 },
    );
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * `helm install purelb dist/purelb-chart --wait` with the agent (and BGP sidecar) images from
 * the image index and `values` merged over that. The controller image is the chart's own
 * default, which the image index holds under the same reference.
 */
export async function installPurelb(
  cluster: Cluster,
  values: Record<string, unknown>,
): Promise<void> {
  if (!existsSync(CHART)) throw new Error(`${CHART} is missing: run npm run build first`);
  const agent = (values.agent ?? {}) as Record<string, unknown>;
  const bgp = (agent.bgp ?? {}) as Record<string, unknown>;
  const merged = {
    ...values,
    agent: {
      ...agent,
      image: imageRef(cluster.images, "agent"),
      bgp: { ...bgp, image: imageRef(cluster.images, "gobgp") },
    },
  };
  cpSync(CHART, chartOf(cluster), { recursive: true });
  const file = join(cluster.dir, "purelb-values.json");
  writeFileSync(file, JSON.stringify(merged, null, 2));
  try {
    await helm(cluster, [
      "install",
      "purelb",
      chartOf(cluster),
      "-f",
      file,
      "--wait",
      "--timeout",
      "5m",
    ]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await unreadyPods(cluster)}`, { cause: err });
  }
}

interface PodStatus {
  metadata: { namespace: string; name: string };
  status?: {
    phase?: string;
    containerStatuses?: { name: string; ready: boolean; restartCount: number }[];
  };
}

/** Every Pod that is not ready, with the last lines of its containers' previous and current logs. */
export async function unreadyPods(cluster: Cluster): Promise<string> {
  const pods = await cluster.client.request<{ items: PodStatus[] }>("GET", "/api/v1/pods");
  const out: string[] = [];
  for (const p of pods.items) {
    const bad = (p.status?.containerStatuses ?? []).filter(c => !c.ready);
    if (p.status?.phase === "Succeeded" || (!bad.length && p.status?.phase === "Running")) continue;
    out.push(`pod ${p.metadata.namespace}/${p.metadata.name}: ${p.status?.phase}`);
    for (const c of bad) {
      out.push(`  container ${c.name}: ${c.restartCount} restarts`);
      for (const previous of [true, false]) {
        const log = await execFileAsync(toolPath("kubectl"), [
          "--kubeconfig",
          cluster.kubeconfig,
          "-n",
          p.metadata.namespace,
          "logs",
          p.metadata.name,
          "-c",
          c.name,
          "--tail=15",
          `--previous=${previous}`,
        ]).then(
          r => r.stdout,
          (e: { stderr?: string; message: string }) => e.stderr?.trim() || e.message,
        );
        out.push(
          `  ${previous ? "previous" : "current"} log:\n${String(log).replace(/^/gm, "    ")}`,
        );
      }
    }
  }
  return out.join("\n") || "(every Pod is ready)";
}

/** One HTTP GET with curl from inside a network namespace. */
export async function curlFrom(ns: string, url: string, timeoutS = 3): Promise<string> {
  try {
    const { stdout } = await execFileAsync(
      "ip",
      ["netns", "exec", ns, "curl", "-sS", "-g", "--max-time", String(timeoutS), url],
      { timeout: (timeoutS + 5) * 1000 },
    );
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`curl ${url} from ${ns}: ${e.stderr?.trim() || e.message}`);
  }
}

export async function echoFrom(ns: string, address: string, port = 80): Promise<EchoReply> {
  const host = address.includes(":") ? `[${address}]` : address;
  return JSON.parse(await curlFrom(ns, `http://${host}:${port}/`)) as EchoReply;
}

/** The MAC address `ns` has learned for `address` ("" when it has none). */
export function neighbourMac(ns: string, address: string): Promise<string> {
  return execFileAsync("ip", ["-n", ns, "-j", "neigh", "show", address], { encoding: "utf8" }).then(
    ({ stdout }) => ((JSON.parse(stdout) as { lladdr?: string }[])[0]?.lladdr ?? "").toLowerCase(),
  );
}
