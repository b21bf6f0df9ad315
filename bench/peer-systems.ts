// The two systems the `peer` suite drives: MetalLB's controller (a Go binary built by
// hack/build-tools.sh --peers) and our allocator as the watcher pod runs it.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { KubeClient } from "../lib/k8s/client";
import {
  apply,
  applyServiceGroup,
  ensureNamespace,
  installCrds,
  waitFor,
} from "../tests/harness/kube";
import { rssMb } from "../tests/harness/rss";
import { buildBundle, prepareCluster, startWatcher } from "../tests/harness/watcher";
import { Proc, System } from "./peer-driver";
import { progress } from "./result";

const root = path.resolve(import.meta.dirname, "..");
const MLB_NS = "metallb-system";

function metallbBinary(): string {
  const cache = process.env.PURELB_TOOLS_DIR ?? path.join(homedir(), ".cache", "purelb-tools");
  const bin = path.join(cache, "bin", "metallb-controller");
  if (!existsSync(bin)) {
    progress("building MetalLB's controller (hack/build-tools.sh --peers, ~4 min, once)");
    execFileSync("bash", [path.join(root, "hack", "build-tools.sh"), "--peers"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
  }
  return path.resolve(path.dirname(bin), readlinkSync(bin));
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.once("error", reject);
  });

async function crdEstablished(client: KubeClient, name: string): Promise<void> {
  await waitFor(`CRD ${name} established`, async () => {
    const got = await client.request<{
      status?: { conditions?: { type: string; status: string }[] };
    }>("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    return got.status?.conditions?.some(c => c.type === "Established" && c.status === "True");
  });
}

/** Flags MetalLB runs with; printed in the table's note. */
export const metallbFlags = (port: number | string = "<free port>") => [
  `--namespace=${MLB_NS}`,
  // No admission webhook: there is no Service to reach it by, and our side's bundle runs in
  // watch mode without admission too.
  "--webhook-mode=disabled",
  `--port=${port}`,
  "--log-level=warn",
];

export function metallb(): System & { version: string } {
  const bin = metallbBinary();
  const version = path.basename(path.dirname(bin)).replace(/^metallb-controller-/, "");
  const pool = (name: string, cidr: string, autoAssign: boolean) => ({
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: MLB_NS },
    spec: { addresses: [cidr], autoAssign },
  });
  return {
    name: "MetalLB",
    version,
    smallPool: { "metallb.io/address-pool": "small" },
    async setup(client, big, small) {
      const dir = path.join(path.dirname(bin), "crds");
      for (const file of readdirSync(dir).filter(f => f.endsWith(".yaml")))
        for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), "utf8"))) {
          const crd = doc.toJS() as { metadata: { name: string } } | null;
          if (!crd) continue;
          await apply(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
          await crdEstablished(client, crd.metadata.name);
        }
      await ensureNamespace(client, MLB_NS);
      const pools = `/apis/metallb.io/v1beta1/namespaces/${MLB_NS}/ipaddresspools`;
      await apply(client, pools, pool("big", big, true));
      await apply(client, pools, pool("small", small, false));
    },
    async start(kubeconfig) {
      const log = openSync(path.join(tmpdir(), `metallb-controller-${process.pid}.log`), "a");
      const child = spawn(bin, metallbFlags(await freePort()), {
        env: { ...process.env, KUBECONFIG: kubeconfig },
        stdio: ["ignore", log, log],
      });
      const exited = new Promise<void>(r => child.once("exit", () => r()));
      const pid = child.pid!;
      return {
        rssMb: () => rssMb(pid),
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exited;
        },
      } satisfies Proc;
    },
  };
}

export function purelb(): System {
  progress("building the module bundle (pepr build)");
  buildBundle();
  const group = (cidr: string) => ({
    remote: { v4pool: { pool: cidr, subnet: cidr, aggregation: "/32" } },
  });
  return {
    name: "PureLB",
    smallPool: { "purelb.io/service-group": "small" },
    async setup(client, big, small) {
      await installCrds(client);
      await prepareCluster(client);
      await ensureNamespace(client, "purelb-system");
      await applyServiceGroup(client, "purelb-system", "default", group(big));
      await applyServiceGroup(client, "purelb-system", "small", group(small));
    },
    async start(kubeconfig) {
      const w = await startWatcher(kubeconfig);
      return { rssMb: () => w.rssMb(), kill: () => w.stop("SIGKILL") };
    },
  };
}
