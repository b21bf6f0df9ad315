// The e2e suite's backend: a Deployment of the echo image (hack/images/echo), spread one Pod
// per node, each answering with its pod name, its node and the client address it saw.
import { type KubeClient } from "../../lib/k8s/client";
import { apply, waitFor } from "../harness/kube";

export interface EchoReply {
  pod: string;
  node: string;
  client: string;
  clientPort: number;
  server: string;
}

export interface PodInfo {
  name: string;
  node: string;
  ips: string[];
}

/** Creates (or replaces) the Deployment and waits until `replicas` Pods are Ready. */
export async function deployEcho(
  client: KubeClient,
  ns: string,
  name: string,
  image: string,
  replicas: number,
): Promise<PodInfo[]> {
  const labels = { app: name };
  await apply(client, `/apis/apps/v1/namespaces/${ns}/deployments`, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          // At most one more on any node than on another: with as many replicas as nodes,
          // one each, so traffic has to cross nodes.
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: "kubernetes.io/hostname",
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchLabels: labels },
            },
          ],
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: "echo",
              image,
              // imported into every node; there is no registry to pull from
              imagePullPolicy: "Never",
              ports: [{ containerPort: 8080 }],
              env: [
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              ],
              readinessProbe: { httpGet: { path: "/", port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  });
  return waitFor(
    `${replicas} ready pods of ${ns}/${name}`,
    async () => {
      const pods = await readyPods(client, ns, name);
      return pods.length === replicas && pods;
    },
    180_000,
  );
}

interface PodObject {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status?: { podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
}

async function readyPods(client: KubeClient, ns: string, app: string): Promise<PodInfo[]> {
  const list = await client.request<{ items: PodObject[] }>(
    "GET",
    `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`app=${app}`)}`,
  );
  return list.items
    .filter(
      p =>
        !p.metadata.deletionTimestamp &&
        p.status?.conditions?.some(c => c.type === "Ready" && c.status === "True"),
    )
    .map(p => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? "",
      ips: (p.status?.podIPs ?? []).map(i => i.ip),
    }));
}

/** The Ready Pods of app `app`. */
export function podsOf(client: KubeClient, ns: string, app: string): Promise<PodInfo[]> {
  return readyPods(client, ns, app);
}
