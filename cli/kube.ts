import type https from "node:https";
import os from "node:os";
import path from "node:path";
import { ApiError, KubeClient } from "../lib/k8s/client";
import { ApiAccess, fromFile } from "../lib/k8s/kubeconfig";

/** An error for the user: printed without a stack, with the exit code it carries. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.cluster,
  ) {
    super(message);
  }
}

/** Exit codes of every command. */
export const EXIT = {
  ok: 0,
  /** validate found a FAIL; status found a component down. */
  findings: 1,
  usage: 2,
  /** The cluster cannot be reached, refuses us, or lacks PureLB's CRDs. */
  cluster: 3,
} as const;

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
}

/**
 * A client for the kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) or, inside a pod,
 * the service account. lib/k8s/kubeconfig handles certificates and tokens; kubeconfigs with
 * an exec credential plugin (cloud logins), or --context, go through @kubernetes/client-node.
 */
export async function connect(
  opts: ConnectOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeClient> {
  const file =
    opts.kubeconfig ??
    env.KUBECONFIG?.split(path.delimiter)[0] ??
    path.join(os.homedir(), ".kube", "config");
  const inCluster = !opts.kubeconfig && !env.KUBECONFIG && env.KUBERNETES_SERVICE_HOST;
  if (!opts.context) {
    try {
      if (inCluster) return KubeClient.fromEnvironment();
      return new KubeClient(fromFile(file));
    } catch (err) {
      const message = (err as Error).message;
      if (!/exec credential plugins/.test(message)) {
        throw new CliError(`cannot use the kubeconfig ${file}: ${message.replace(/^.*?: /, "")}`);
      }
    }
  }
  return new KubeClient(await clientNodeAccess(file, opts.context));
}

async function clientNodeAccess(file: string, context: string | undefined): Promise<ApiAccess> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
    if (context) kc.setCurrentContext(context);
  } catch (err) {
    throw new CliError(`cannot use the kubeconfig ${file}: ${(err as Error).message}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster)
    throw new CliError(
      `the kubeconfig ${file} has no cluster for context ${kc.getCurrentContext() || "(none)"}`,
    );
  return {
    server: new URL(cluster.server),
    apply: async (opts: https.RequestOptions) => {
      try {
        await kc.applyToHTTPSOptions(opts);
      } catch (err) {
        throw new CliError(
          `cannot get credentials for ${cluster.server}: ${(err as Error).message}`,
        );
      }
    },
  };
}

/** GET with errors a user can act on. `what` names the thing read, for the message. */
export async function get<T>(client: KubeClient, apiPath: string, what: string): Promise<T> {
  try {
    return await client.request<T>("GET", apiPath, { timeoutMs: 20_000 });
  } catch (err) {
    throw explain(err, client, what);
  }
}

/** Every item of a list, page by page. */
export async function list<T>(client: KubeClient, apiPath: string, what: string): Promise<T[]> {
  const items: T[] = [];
  let cont = "";
  do {
    const sep = apiPath.includes("?") ? "&" : "?";
    const page = await get<{ items?: T[]; metadata?: { continue?: string } }>(
      client,
      `${apiPath}${sep}limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      what,
    );
    items.push(...(page.items ?? []));
    cont = page.metadata?.continue ?? "";
  } while (cont);
  return items;
}

export function explain(err: unknown, client: KubeClient, what: string): Error {
  if (err instanceof CliError) return err;
  if (err instanceof ApiError) {
    if (err.status === 401)
      return new CliError(
        `the API server at ${client.server.origin} refused the credentials of the kubeconfig (401 Unauthorized) while reading ${what}; log in again`,
      );
    if (err.status === 403)
      return new CliError(
        `not allowed to read ${what} (403 Forbidden): ${err.message.replace(/^GET \S+: 403 /, "")}`,
      );
    return err;
  }
  const code = (err as { code?: string }).code;
  const detail = code ? `${code} ${(err as Error).message}` : (err as Error).message;
  return new CliError(
    `cannot reach the Kubernetes API at ${client.server.origin} (${detail}); is the cluster up and is this the right kubeconfig/context?`,
  );
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;

/** Fails with how to install PureLB when the apiserver does not serve purelb.io/v2. */
export async function requirePureLBCrds(client: KubeClient): Promise<void> {
  try {
    await client.request("GET", "/apis/purelb.io/v2", { timeoutMs: 20_000 });
  } catch (err) {
    if (isNotFound(err)) {
      throw new CliError(
        "PureLB's CRDs are not installed: the API server does not serve purelb.io/v2 (ServiceGroup, LBNodeAgent). Install PureLB (helm install purelb dist/purelb-chart) or its CRDs (kubectl apply -f dist/purelb-crds.yaml).",
      );
    }
    throw explain(err, client, "the purelb.io API group");
  }
}

/** Whether the apiserver serves an API group version (e.g. bgp.purelb.io/v1). */
export async function serves(client: KubeClient, groupVersion: string): Promise<boolean> {
  try {
    await client.request("GET", `/apis/${groupVersion}`, { timeoutMs: 20_000 });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw explain(err, client, groupVersion);
  }
}
