// Runs this Pepr module against a cluster the way `pepr dev` does: build, apply the
// webhook configurations (pointing at this machine, port 3000) and the PeprStore CRD, then
// fork the module with PEPR_MODE=dev, which serves admission and runs the watchers.
import { spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_NAMESPACE } from "../../lib/k8s/annotations";
import { ApiError, KubeClient } from "../../lib/k8s/client";
import { clientFor, ensureNamespace, installCrds, remove } from "./kube";

export interface RunningModule {
  stop(): Promise<void>;
}

const root = path.resolve(import.meta.dirname, "../..");
const uuid = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { pepr: { uuid: string } }
).pepr.uuid;
/** Pepr names the webhook configurations, its Service and its stores after the module. */
export const MODULE_NAME = `pepr-${uuid}`;
export const WEBHOOK_NAME = `${MODULE_NAME}.pepr.dev`;
/** Pepr hard-codes the port of its admission server. */
const PORT = 3000;
// Pepr's certificate names the host as a DNS name only, and the apiserver (Go) accepts an
// IP literal only against IP names, so the webhook URL must use a host name.
const HOST = "localhost";
const READY_TIMEOUT_MS = 180_000;
const STOP_GRACE_MS = 5_000;

export async function startModule(kubeconfig: string): Promise<RunningModule> {
  const client = clientFor(kubeconfig);
  if (await portOpen(PORT)) {
    throw new Error(
      `port ${PORT} is in use (another pepr dev or module?); Pepr's admission server needs it`,
    );
  }
  await installCrds(client);
  await ensureNamespace(client, DEFAULT_NAMESPACE);

  // pepr dev forks dist/pepr-<uuid>.js, a CommonJS bundle, but package.json says
  // "type": "module": without this, Node loads the bundle as ESM and it dies on require().
  mkdirSync(path.join(root, "dist"), { recursive: true });
  writeFileSync(path.join(root, "dist", "package.json"), '{ "type": "commonjs" }\n');

  // PURELB_MODULE_LOG keeps the module's output after stop(), for debugging a test run.
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-module-"));
  const log = process.env.PURELB_MODULE_LOG ?? path.join(dir, "pepr-dev.log");
  const fd = openSync(log, "w");
  // Own process group: npx, pepr's CLI, esbuild and the forked module all stop together.
  const child = spawn("npx", ["pepr", "dev", "--host", HOST, "--yes"], {
    cwd: root,
    detached: true,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: process.env.LOG_LEVEL ?? "info" },
  });
  closeSync(fd);
  const pgid = child.pid!;
  let exited = false;
  child.once("exit", () => (exited = true));
  const onExit = () => signalGroup(pgid, "SIGKILL");
  process.on("exit", onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await stopGroup(pgid);
      process.off("exit", onExit);
      await removeWebhooks(client);
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (;;) {
        if (exited) throw new Error(`pepr dev exited before ${what}`);
        // pepr dev outlives a module that crashed, so look for Node's crash trailer
        if (/^Node\.js v\d+/m.test(readFileSync(log, "utf8")))
          throw new Error(`the module crashed before ${what}`);
        if (await check().catch(() => false)) return;
        if (Date.now() > deadline)
          throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000}s waiting for ${what}`);
        await new Promise(r => setTimeout(r, 250));
      }
    };
    await until("the webhook configurations", async () => {
      await client.request(
        "GET",
        `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MODULE_NAME}`,
      );
      await client.request(
        "GET",
        `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${MODULE_NAME}`,
      );
      return true;
    });
    await until(`https://${HOST}:${PORT}/healthz`, () => healthy(PORT));
    await until("the apiserver to reach the validating webhook", () => webhookDenies(client));
    return { stop };
  } catch (err) {
    const tail = readFileSync(log, "utf8").trimEnd().split("\n").slice(-40).join("\n");
    await stop();
    throw new Error(
      `module did not start: ${(err as Error).message}\n--- last lines of pepr dev ---\n${tail}`,
      { cause: err },
    );
  }
}

/**
 * A dry-run create of a ServiceGroup with no pools must come back denied by our webhook:
 * only then does the apiserver reach the module (DNS, TLS, CA bundle, rules) end to end.
 */
async function webhookDenies(client: KubeClient): Promise<boolean> {
  try {
    await client.request(
      "POST",
      `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/servicegroups?dryRun=All`,
      {
        body: {
          apiVersion: "purelb.io/v2",
          kind: "ServiceGroup",
          metadata: { name: "readiness-probe" },
          spec: {},
        },
      },
    );
    return false;
  } catch (err) {
    return (
      err instanceof ApiError &&
      err.message.includes(`admission webhook "${WEBHOOK_NAME}" denied the request`)
    );
  }
}

async function removeWebhooks(client: KubeClient): Promise<void> {
  const paths = [
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${MODULE_NAME}`,
    `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${MODULE_NAME}`,
    `/apis/pepr.dev/v1/namespaces/pepr-system/peprstores/${MODULE_NAME}-store`,
    `/apis/pepr.dev/v1/namespaces/pepr-system/peprstores/${MODULE_NAME}-schedule`,
  ];
  for (const p of paths) await remove(client, p).catch(() => undefined);
}

function healthy(port: number): Promise<boolean> {
  return new Promise(resolve => {
    // the module's certificate is self-signed for this run; only liveness matters here
    const req = request(
      { host: "127.0.0.1", port, path: "/healthz", rejectUnauthorized: false, timeout: 2_000 },
      res => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

async function stopGroup(pgid: number): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  if (await groupGone(pgid, STOP_GRACE_MS)) return;
  signalGroup(pgid, "SIGKILL");
  await groupGone(pgid, STOP_GRACE_MS);
}

async function groupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!signalGroup(pgid, 0)) return true;
    await new Promise(r => setTimeout(r, 100));
  }
  return false;
}
