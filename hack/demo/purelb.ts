// PureLB into the demo's cluster, the way a user installs it: `helm upgrade --install` of the
// chart in dist/ with the agent images the nodes hold. The e2e helper (tests/e2e/purelb.ts)
// wants a Cluster object of its own process; a reused cluster is only a state file here.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type KubeClient } from "../../lib/k8s/client";
import { imageRef } from "../../tests/cluster/images";
import { toolPath } from "../../tests/harness/controlplane";
import { snapshotChart } from "./build";
import { type DemoCluster } from "./cluster";

const execFileAsync = promisify(execFile);

export async function helm(kubeconfig: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(
      toolPath("helm"),
      [...args, "--kubeconfig", kubeconfig],
      {
        timeout: 400_000,
        maxBuffer: 16 << 20,
      },
    );
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`helm ${args[0]}: ${e.stderr?.trim() || e.message}`);
  }
}

/** Whether the release `purelb` is installed (before the demo touched the cluster). */
export async function purelbInstalled(kubeconfig: string): Promise<boolean> {
  const out = await helm(kubeconfig, ["list", "--all-namespaces", "-o", "json"]);
  return (JSON.parse(out) as { name: string }[]).some(r => r.name === "purelb");
}

export async function installPurelb(c: DemoCluster): Promise<void> {
  const values = {
    agent: {
      image: imageRef(c.images, "agent"),
      bgp: { image: imageRef(c.images, "gobgp") },
    },
  };
  const file = join(c.state.dir, "demo-purelb-values.json");
  writeFileSync(file, JSON.stringify(values, null, 2));
  const chart = await snapshotChart();
  await helm(c.state.kubeconfig, [
    "upgrade",
    "--install",
    "purelb",
    chart.dir,
    "-f",
    file,
    "--wait",
    "--timeout",
    "5m",
  ]).finally(chart.remove);
}

interface PodStatus {
  metadata: { namespace: string; name: string };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
    }[];
  };
}

/** PureLB's Pods that are not ready, one line each: what a failed `helm --wait` waited for. */
export async function unreadyPods(client: KubeClient): Promise<string[]> {
  const out: string[] = [];
  for (const ns of ["purelb-system", "pepr-system"]) {
    const list = await client.request<{ items: PodStatus[] }>(
      "GET",
      `/api/v1/namespaces/${ns}/pods`,
    );
    for (const p of list.items)
      for (const c of p.status?.containerStatuses ?? [])
        if (!c.ready)
          out.push(
            `${ns}/${p.metadata.name} on ${p.spec.nodeName ?? "?"}: ${c.name} ${c.state?.waiting?.reason ?? c.state?.terminated?.reason ?? p.status?.phase ?? "?"}, ${c.restartCount} restarts`,
          );
  }
  return out;
}
