// Runs the built module (dist/pepr-purelb.cjs) as Pepr's watcher pod runs it: PEPR_WATCH_MODE
// true, so the allocator is live and nothing else. Benchmarks measure this process's memory
// and the chaos tests kill it, so it must be the real bundle, not the sources in-process.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { peprStoreCrd } from "../../hack/post-build";
import { KubeClient } from "../../lib/k8s/client";
import { apply, ensureNamespace, waitFor } from "./kube";
import { rssMb } from "./rss";
import { selfSignedCert } from "./tls";

const root = path.resolve(import.meta.dirname, "../..");
export const BUNDLE = path.join(root, "dist", "pepr-purelb.cjs");

export interface Watcher {
  pid: number;
  /** Resident memory in MB, from /proc. */
  rssMb(): number;
  /** Stops it with `signal` and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Builds dist/ with `pepr build`, so that what runs is the code under test. */
export function buildBundle(): void {
  execFileSync("npx", ["pepr", "build"], { cwd: root, stdio: "ignore" });
  if (!existsSync(BUNDLE)) throw new Error(`pepr build did not produce ${BUNDLE}`);
}

export async function prepareCluster(client: KubeClient): Promise<void> {
  await apply(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", peprStoreCrd());
  await ensureNamespace(client, "pepr-system");
  await waitFor("PeprStore CRD served", async () => {
    await client.request("GET", "/apis/pepr.dev/v1/namespaces/pepr-system/peprstores");
    return true;
  });
}

export async function startWatcher(
  kubeconfig: string,
  env: Record<string, string> = {},
): Promise<Watcher> {
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-watcher-"));
  const { key, cert: crt } = selfSignedCert(dir);
  const child: ChildProcess = spawn(process.execPath, [BUNDLE], {
    cwd: root,
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      PEPR_WATCH_MODE: "true",
      SSL_KEY_PATH: key,
      SSL_CERT_PATH: crt,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", process.env.PURELB_WATCHER_LOG ? "inherit" : "ignore", "inherit"],
  });
  const exited = new Promise<void>(r => child.once("exit", () => r()));
  const pid = child.pid!;
  return {
    pid,
    rssMb: () => rssMb(pid),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
