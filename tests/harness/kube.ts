import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { ApiError, KubeClient, MERGE_PATCH } from "../../lib/k8s/client";
import { fromFile } from "../../lib/k8s/kubeconfig";
import { toServiceModel, ServiceModel } from "../../lib/k8s/service";

const root = path.resolve(import.meta.dirname, "../..");

export function clientFor(kubeconfig: string): KubeClient {
  return new KubeClient(fromFile(kubeconfig));
}

/** Polls until `fn` returns a value that is not undefined/false, or fails with `what`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

/** Applies PureLB's CRDs from crds/ and waits until the apiserver serves them. */
export async function installCrds(client: KubeClient): Promise<void> {
  const dir = path.join(root, "crds");
  for (const file of readdirSync(dir).filter(f => f.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), "utf8"))) {
      const crd = doc.toJS() as { metadata: { name: string } };
      if (!crd) continue;
      await apply(client, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
      await waitFor(`CRD ${crd.metadata.name} established`, async () => {
        const got = await client.request<{
          status?: { conditions?: { type: string; status: string }[] };
        }>("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
        return got.status?.conditions?.some(c => c.type === "Established" && c.status === "True");
      });
    }
  }
}

/** Create-or-replace by name under a collection path. */
export async function apply(
  client: KubeClient,
  collection: string,
  obj: { metadata: { name: string; [k: string]: unknown } } & Record<string, unknown>,
): Promise<unknown> {
  try {
    return await client.request("POST", collection, { body: obj });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 409) throw err;
  }
  // Replace it; a controller writing the object's status in between makes the PUT conflict,
  // so read the current version again and retry, as kubectl does.
  for (let attempt = 1; ; attempt++) {
    const current = await client.request<{ metadata: { resourceVersion: string } }>(
      "GET",
      `${collection}/${obj.metadata.name}`,
    );
    try {
      return await client.request("PUT", `${collection}/${obj.metadata.name}`, {
        body: {
          ...obj,
          metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion },
        },
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409 || attempt >= 10) throw err;
    }
  }
}

/** Creates or replaces ServiceGroup `name` in `namespace`. */
export function applyServiceGroup(
  client: KubeClient,
  namespace: string,
  name: string,
  spec: unknown,
): Promise<unknown> {
  return apply(client, `/apis/purelb.io/v2/namespaces/${namespace}/servicegroups`, {
    apiVersion: "purelb.io/v2",
    kind: "ServiceGroup",
    metadata: { name },
    spec,
  });
}

export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  try {
    await client.request("POST", "/api/v1/namespaces", { body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 409) throw err;
  }
}

export async function remove(client: KubeClient, objectPath: string): Promise<void> {
  try {
    await client.request("DELETE", objectPath);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
}

export interface ServiceSpecInput {
  annotations?: Record<string, string>;
  ipFamilyPolicy?: "SingleStack" | "PreferDualStack" | "RequireDualStack";
  ipFamilies?: ("IPv4" | "IPv6")[];
  ports?: { port: number; protocol?: "TCP" | "UDP" }[];
  externalTrafficPolicy?: "Cluster" | "Local";
  loadBalancerClass?: string;
  type?: string;
}

export function serviceObject(namespace: string, name: string, s: ServiceSpecInput = {}): object {
  const type = s.type ?? "LoadBalancer";
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, annotations: s.annotations ?? {} },
    spec: {
      type,
      ...(type === "LoadBalancer" ? { allocateLoadBalancerNodePorts: false } : {}),
      selector: { app: name },
      ports: (s.ports ?? [{ port: 80 }]).map((p, i) => ({
        name: `p${i}`,
        port: p.port,
        protocol: p.protocol ?? "TCP",
        targetPort: 8080,
      })),
      ...(s.ipFamilyPolicy ? { ipFamilyPolicy: s.ipFamilyPolicy } : {}),
      ...(s.ipFamilies ? { ipFamilies: s.ipFamilies } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      ...(s.loadBalancerClass ? { loadBalancerClass: s.loadBalancerClass } : {}),
    },
  };
}

export async function createService(
  client: KubeClient,
  namespace: string,
  name: string,
  s: ServiceSpecInput = {},
): Promise<ServiceModel> {
  return toServiceModel(
    await client.request("POST", `/api/v1/namespaces/${namespace}/services`, {
      body: serviceObject(namespace, name, s),
    }),
  );
}

export async function getService(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<ServiceModel> {
  return toServiceModel(
    await client.request("GET", `/api/v1/namespaces/${namespace}/services/${name}`),
  );
}

export async function patchService(
  client: KubeClient,
  namespace: string,
  name: string,
  patch: object,
): Promise<void> {
  await client.request("PATCH", `/api/v1/namespaces/${namespace}/services/${name}`, {
    body: patch,
    contentType: MERGE_PATCH,
  });
}

export interface CoreEvent {
  reason: string;
  message: string;
  type: string;
  involvedObject: { name: string };
}

export async function eventsFor(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<CoreEvent[]> {
  const list = await client.request<{ items: CoreEvent[] }>(
    "GET",
    `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
  );
  return list.items;
}

/**
 * Deletes every Service of a namespace. The test apiserver has no namespace controller, and
 * an allocator of a later test file would otherwise find their addresses in use.
 */
export async function deleteAllServices(client: KubeClient, namespace: string): Promise<void> {
  const list = await client.request<{ items: { metadata: { name: string } }[] }>(
    "GET",
    `/api/v1/namespaces/${namespace}/services`,
  );
  await Promise.all(
    list.items.map(s =>
      remove(client, `/api/v1/namespaces/${namespace}/services/${s.metadata.name}`),
    ),
  );
}
