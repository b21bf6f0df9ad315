import { Log } from "../log";
import { DEFAULT_NAMESPACE, NODE_LEASE_PREFIX } from "../k8s/annotations";
import { KubeClient } from "../k8s/client";
import { Informer } from "../k8s/informer";
import { toServiceModel } from "../k8s/service";
import { ServiceGroup } from "../k8s/servicegroup";
import { Allocator, leaseToNode } from "./allocator";
import { NetboxIpam } from "../netbox/ipam";
import { KubeAllocatorApi } from "./api";
import { watchOutOfScope } from "./out-of-scope";

export interface RunningAllocator {
  allocator: Allocator;
  informers: Informer<unknown>[];
  /** Replaces watches idle for longer than maxIdleMs and retries pending Services. */
  resync(maxIdleMs: number): void;
  stop(): void;
}

/**
 * Starts the allocator against a cluster: groups and node Leases are listed first, then the
 * Services, whose existing allocations are recorded before anything new is handed out.
 */
export async function runAllocator(
  client: KubeClient,
  namespace = process.env.PURELB_NAMESPACE ?? DEFAULT_NAMESPACE,
): Promise<RunningAllocator> {
  const cluster = process.env.PURELB_CLUSTER_NAME ?? (await clusterUid(client));
  const allocator = new Allocator(new KubeAllocatorApi(client), {
    namespace,
    netbox: new NetboxIpam(client),
    cluster,
  });
  const groups = new Informer<ServiceGroup>(
    client,
    `/apis/purelb.io/v2/namespaces/${namespace}/servicegroups`,
    raw => raw as ServiceGroup,
    {
      upsert: (_k, sg) => allocator.upsertGroup(namespace, sg.metadata.name, sg.spec),
      remove: key => allocator.removeGroup(namespace, key.split("/")[1]),
    },
    "servicegroups",
  );
  const leases = new Informer(
    client,
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    raw => leaseToNode(raw),
    {
      upsert: (key, lease) => {
        if (lease && key.split("/")[1].startsWith(NODE_LEASE_PREFIX)) allocator.upsertLease(lease);
      },
      remove: key => allocator.removeLease(key.split("/")[1].slice(NODE_LEASE_PREFIX.length)),
    },
    "leases",
  );
  const services = new Informer(
    client,
    "/api/v1/services",
    toServiceModel,
    {
      upsert: (_k, svc) => allocator.upsertService(svc),
      remove: key => allocator.removeService(key),
    },
    "services",
  );
  // Listing in parallel is safe: until markSynced the allocator only records what it sees.
  const listGroups = groups.start().catch(err => {
    throw new Error(
      `cannot list ServiceGroups (purelb.io/v2) in ${namespace}: ${String(err)}. Install PureLB's CRDs (crds/) before the controller starts.`,
    );
  });
  await Promise.all([listGroups, leases.start(), services.start()]);
  allocator.markSynced();
  const outOfScope = watchOutOfScope(client, namespace);
  const sweep = () =>
    void allocator
      .idle()
      .then(() => allocator.sweepNetbox())
      .catch(err => Log.warn({ err: String(err) }, "Netbox sweep failed"));
  sweep();
  const sweeper = setInterval(sweep, NETBOX_SWEEP_MS);
  sweeper.unref();
  Log.info(
    {
      namespace,
      services: allocator.book.size,
      sinceProcessStartMs: Math.round(process.uptime() * 1000),
    },
    "allocator synced and running",
  );
  const informers = [groups, leases, services] as Informer<unknown>[];
  return {
    allocator,
    informers,
    resync(maxIdleMs) {
      for (const i of informers) {
        if (i.idleMs > maxIdleMs) {
          Log.warn({ idleMs: i.idleMs }, "watch silent for too long; reopening it");
          i.restart();
        }
      }
      allocator.retryPending();
    },
    stop() {
      clearInterval(sweeper);
      informers.forEach(i => i.stop());
      outOfScope.stop();
      allocator.stop();
    },
  };
}

/** How often Netbox records that no Service holds any more are looked for (also once at start). */
const NETBOX_SWEEP_MS = 5 * 60_000;

/** Netbox records name the cluster; without PURELB_CLUSTER_NAME, kube-system's uid identifies it. */
async function clusterUid(client: KubeClient): Promise<string> {
  try {
    const ns = await client.request<{ metadata: { uid: string } }>(
      "GET",
      "/api/v1/namespaces/kube-system",
    );
    return ns.metadata.uid;
  } catch {
    return "kubernetes";
  }
}
