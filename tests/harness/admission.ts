// Runs the built module as Pepr's admission pods run it (neither PEPR_WATCH_MODE nor
// PEPR_MODE=dev: admission only, on Pepr's port 3000), and registers the webhook
// configurations that `npm run build` wrote into the module YAML, pointed at this process:
// the configurations PureLB ships, not the ones `pepr dev` makes up.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { ApiError, KubeClient } from "../../lib/k8s/client";
import { FailurePolicy, WebhookConfiguration, isWebhookConfiguration } from "../../hack/webhooks";
import { selfSignedCert } from "./tls";
import { prepareCluster } from "./watcher";
import { waitFor } from "./kube";

const root = path.resolve(import.meta.dirname, "../..");
const uuid = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { pepr: { uuid: string } }
).pepr.uuid;
/** Pepr hard-codes the port of its admission server. */
const PORT = 3000;
// The apiserver (Go) accepts an IP literal only against IP names; the certificate has both.
const HOST = "localhost";

export interface BuiltModule {
  bundle: string;
  /** The configurations in the module YAML, calling the in-cluster Service. */
  webhooks: WebhookConfiguration[];
}

/** `pepr build` and hack/post-build.ts into `out`, as `npm run build` does into dist/. */
export function buildModule(out: string): BuiltModule {
  rmSync(out, { recursive: true, force: true });
  execFileSync("npx", ["pepr", "build", "-o", out], { cwd: root, stdio: "ignore" });
  const bundle = path.join(out, `pepr-${uuid}.cjs`);
  const yamlPath = path.join(out, `pepr-module-${uuid}.yaml`);
  if (!existsSync(bundle) || !existsSync(yamlPath))
    throw new Error(`pepr build wrote no ${bundle} or ${yamlPath}: does the module type-check?`);
  execFileSync("node", ["--import", "tsx", "hack/post-build.ts", out], {
    cwd: root,
    stdio: "ignore",
  });
  const webhooks = parseAllDocuments(readFileSync(yamlPath, "utf8"))
    .map(d => d.toJS() as WebhookConfiguration | null)
    .filter((o): o is WebhookConfiguration => !!o && isWebhookConfiguration(o));
  return { bundle, webhooks };
}

export interface Admission {
  /** The shipped configurations pointed at this process; register them with registerWebhooks. */
  webhooks(serviceFailurePolicy?: FailurePolicy): WebhookConfiguration[];
  /** `https://localhost:3000/<mutate|validate>/<secret>` */
  url(kind: "mutate" | "validate"): string;
  /** AdmissionReviews the module has received so far (from its log). */
  requests(): number;
  stop(): Promise<void>;
}

export async function startAdmission(
  client: KubeClient,
  kubeconfig: string,
  built: BuiltModule,
): Promise<Admission> {
  if (await portOpen(PORT))
    throw new Error(
      `port ${PORT} is in use (pepr dev or another module?); Pepr's admission needs it`,
    );
  const apiPath = /^\/(?:mutate|validate)\/([0-9a-f]+)$/.exec(
    built.webhooks[0]?.webhooks?.[0]?.clientConfig?.service?.path as string,
  )?.[1];
  if (!apiPath)
    throw new Error("the module YAML's webhooks have no /mutate|validate/<secret> path");
  // Pepr starts serving once its store (a PeprStore in pepr-system) is there.
  await prepareCluster(client);
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-admission-"));
  const { key, cert } = selfSignedCert(dir);
  const caBundle = Buffer.from(readFileSync(cert)).toString("base64");
  const log = process.env.PURELB_ADMISSION_LOG ?? path.join(dir, "admission.log");
  const fd = openSync(log, "w");
  const child: ChildProcess = spawn(process.execPath, [built.bundle], {
    cwd: path.dirname(built.bundle),
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      PEPR_API_PATH: apiPath,
      SSL_KEY_PATH: key,
      SSL_CERT_PATH: cert,
      // info: Pepr logs each AdmissionReview it receives, which requests() counts
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>(r => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `https://${HOST}:${PORT}/healthz`,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`the module exited: ${readFileSync(log, "utf8")}`);
        return healthy();
      },
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const url = (kind: "mutate" | "validate") => `https://${HOST}:${PORT}/${kind}/${apiPath}`;
  return {
    url,
    requests: () => (readFileSync(log, "utf8").match(/"msg":"Incoming request"/g) ?? []).length,
    webhooks: policy =>
      built.webhooks.map(cfg => ({
        ...cfg,
        webhooks: (cfg.webhooks ?? []).map(w => ({
          ...w,
          clientConfig: {
            caBundle,
            url: url(cfg.kind === "MutatingWebhookConfiguration" ? "mutate" : "validate"),
          },
          ...(policy && w.matchConditions ? { failurePolicy: policy } : {}),
        })),
      })),
    stop,
  };
}

const API = "/apis/admissionregistration.k8s.io/v1";
const COLLECTION: Record<string, string> = {
  MutatingWebhookConfiguration: `${API}/mutatingwebhookconfigurations`,
  ValidatingWebhookConfiguration: `${API}/validatingwebhookconfigurations`,
};

/** Creates or replaces each configuration. */
export async function registerWebhooks(
  client: KubeClient,
  configs: WebhookConfiguration[],
): Promise<void> {
  for (const cfg of configs) {
    const at = `${COLLECTION[cfg.kind]}/${cfg.metadata.name}`;
    try {
      const got = await client.request<{ metadata: { resourceVersion: string } }>("GET", at);
      await client.request("PUT", at, {
        body: {
          ...cfg,
          metadata: { ...cfg.metadata, resourceVersion: got.metadata.resourceVersion },
        },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      await client.request("POST", COLLECTION[cfg.kind], { body: cfg });
    }
  }
}

export async function removeWebhooks(
  client: KubeClient,
  configs: Pick<WebhookConfiguration, "kind" | "metadata">[],
): Promise<void> {
  for (const cfg of configs) {
    try {
      await client.request("DELETE", `${COLLECTION[cfg.kind]}/${cfg.metadata.name}`);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
  }
}

function healthy(): Promise<boolean> {
  return new Promise(resolve => {
    // a self-signed certificate of this run; only liveness matters here
    const req = request(
      {
        host: "127.0.0.1",
        port: PORT,
        path: "/healthz",
        rejectUnauthorized: false,
        timeout: 2_000,
      },
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
