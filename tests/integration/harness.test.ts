// Proves tests/harness runs a real API server: CRDs get established, and
// dual-stack LoadBalancer Services get cluster IPs and a status subresource
// whose updates reach watchers, which is what PureLB's allocator relies on.
import { isIP } from "node:net";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

const kubeconfig = inject("kubeconfig");
const ns = "default";

describe.skipIf(!kubeconfig)("test control plane", () => {
  // The describe body runs even when skipped, so clients are made in beforeAll.
  const kc = new k8s.KubeConfig();
  let core: k8s.CoreV1Api;
  let ext: k8s.ApiextensionsV1Api;
  let custom: k8s.CustomObjectsApi;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(() => {
    kc.loadFromFile(kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it("points child processes at the control plane", () => {
    expect(process.env.KUBECONFIG).toBe(kubeconfig);
  });

  it("establishes a CRD and stores an instance", async () => {
    const group = "test.purelb.io";
    const plural = "widgets";
    const name = `${plural}.${group}`;
    await ext.createCustomResourceDefinition({
      body: {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name },
        spec: {
          group,
          scope: "Namespaced",
          names: { plural, singular: "widget", kind: "Widget", listKind: "WidgetList" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: "object",
                  properties: {
                    spec: { type: "object", properties: { size: { type: "integer" } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    cleanups.push(() => ext.deleteCustomResourceDefinition({ name }));

    await eventually(async () => {
      const crd = await ext.readCustomResourceDefinition({ name });
      const established = crd.status?.conditions?.find(c => c.type === "Established");
      expect(established?.status).toBe("True");
    });

    const widget = {
      apiVersion: `${group}/v1`,
      kind: "Widget",
      metadata: { name: "w1" },
      spec: { size: 3 },
    };
    const ref = { group, version: "v1", namespace: ns, plural, name: "w1" };
    // The handler for a just-established CRD can lag by a moment.
    await eventually(() => custom.createNamespacedCustomObject({ ...ref, body: widget }));
    cleanups.push(() => custom.deleteNamespacedCustomObject(ref));

    const stored = (await custom.getNamespacedCustomObject(ref)) as typeof widget;
    expect(stored.spec.size).toBe(3);
  });

  it("allocates dual-stack cluster IPs and streams load balancer status through a watch", async () => {
    const name = "harness-lb";
    const created = await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          type: "LoadBalancer",
          ipFamilyPolicy: "RequireDualStack",
          ipFamilies: ["IPv4", "IPv6"],
          allocateLoadBalancerNodePorts: false,
          ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
        },
      },
    });
    cleanups.push(() => core.deleteNamespacedService({ name, namespace: ns }));

    const clusterIPs = created.spec?.clusterIPs ?? [];
    expect(clusterIPs.map(ip => isIP(ip))).toEqual([4, 6]);

    const wanted = ["192.0.2.10", "2001:db8::10"];
    let abort: AbortController | undefined;
    const seen = new Promise<string[]>((resolve, reject) => {
      new k8s.Watch(kc)
        .watch(
          `/api/v1/namespaces/${ns}/services`,
          // Starting from the create's resourceVersion, no event can be missed
          // even if the watch connects after the patch below.
          {
            fieldSelector: `metadata.name=${name}`,
            resourceVersion: created.metadata?.resourceVersion,
          },
          (phase, obj: k8s.V1Service) => {
            const ips = (obj.status?.loadBalancer?.ingress ?? []).map(i => i.ip ?? "");
            if (phase === "MODIFIED" && ips.length > 0) resolve(ips);
          },
          err => reject(new Error(`watch ended before the status update: ${String(err)}`)),
        )
        .then(controller => (abort = controller), reject);
    });

    try {
      await core.patchNamespacedServiceStatus(
        {
          name,
          namespace: ns,
          body: { status: { loadBalancer: { ingress: wanted.map(ip => ({ ip })) } } },
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
      expect(await withTimeout(seen, 10_000)).toEqual(wanted);
    } finally {
      abort?.abort();
    }
  });
});

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
