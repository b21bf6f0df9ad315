import { readFileSync } from "node:fs";
import type https from "node:https";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";

/** Where the API server is and how to authenticate to it. */
export interface ApiAccess {
  server: URL;
  /** Adds TLS material and credentials to a request. */
  apply(opts: https.RequestOptions): Promise<void>;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

interface KubeconfigFile {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: {
    name: string;
    cluster: {
      server: string;
      "certificate-authority"?: string;
      "certificate-authority-data"?: string;
      "insecure-skip-tls-verify"?: boolean;
    };
  }[];
  users?: {
    name: string;
    user: {
      "client-certificate"?: string;
      "client-certificate-data"?: string;
      "client-key"?: string;
      "client-key-data"?: string;
      token?: string;
      tokenFile?: string;
      exec?: unknown;
    };
  }[];
}

/**
 * The in-cluster service account, else $KUBECONFIG (first file) or ~/.kube/config.
 * Certificates, tokens and token files are supported; exec plugins are not (the
 * controllers run in-cluster; the CLI uses @kubernetes/client-node for those).
 */
export function loadApiAccess(env: NodeJS.ProcessEnv = process.env): ApiAccess {
  if (env.KUBERNETES_SERVICE_HOST && !env.KUBECONFIG) return inCluster(env);
  const file =
    env.KUBECONFIG?.split(path.delimiter)[0] || path.join(os.homedir(), ".kube", "config");
  return fromFile(file);
}

function inCluster(env: NodeJS.ProcessEnv): ApiAccess {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const server = new URL(
    `https://${host.includes(":") ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? 443}`,
  );
  const ca = readFileSync(path.join(SA_DIR, "ca.crt"));
  return {
    server,
    apply: async opts => withToken(opts, { ca }, readToken(path.join(SA_DIR, "token"))),
  };
}

export function fromFile(file: string): ApiAccess {
  const dir = path.dirname(file);
  const cfg = parse(readFileSync(file, "utf8")) as KubeconfigFile;
  const ctxName = cfg["current-context"];
  const ctx = cfg.contexts?.find(c => c.name === ctxName)?.context ?? cfg.contexts?.[0]?.context;
  const cluster = cfg.clusters?.find(c => c.name === ctx?.cluster)?.cluster;
  const user = cfg.users?.find(u => u.name === ctx?.user)?.user ?? {};
  if (!cluster) throw new Error(`${file}: no cluster for the current context`);
  if (user.exec)
    throw new Error(
      `${file}: exec credential plugins are not supported by the controllers; use a token or client certificate`,
    );
  const read = (p: string) => readFileSync(path.resolve(dir, p));
  const data = (d: string) => Buffer.from(d, "base64");
  const tls: https.RequestOptions = {
    ca: cluster["certificate-authority-data"]
      ? data(cluster["certificate-authority-data"])
      : cluster["certificate-authority"]
        ? read(cluster["certificate-authority"])
        : undefined,
    cert: user["client-certificate-data"]
      ? data(user["client-certificate-data"])
      : user["client-certificate"]
        ? read(user["client-certificate"])
        : undefined,
    key: user["client-key-data"]
      ? data(user["client-key-data"])
      : user["client-key"]
        ? read(user["client-key"])
        : undefined,
    rejectUnauthorized: !cluster["insecure-skip-tls-verify"],
  };
  const token = user.token
    ? () => user.token
    : user.tokenFile
      ? readToken(path.resolve(dir, user.tokenFile))
      : undefined;
  return { server: new URL(cluster.server), apply: async opts => withToken(opts, tls, token) };
}

/** Re-reads a projected token at most once a minute: the kubelet rotates it. */
function readToken(file: string): () => string {
  let value = "";
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > 60_000) {
      value = readFileSync(file, "utf8").trim();
      readAt = Date.now();
    }
    return value;
  };
}

function withToken(
  opts: https.RequestOptions,
  tls: https.RequestOptions,
  token: (() => string | undefined) | undefined,
): void {
  Object.assign(opts, tls);
  const t = token?.();
  if (t) opts.headers = { ...opts.headers, Authorization: `Bearer ${t}` };
}
