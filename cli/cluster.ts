import { Member } from "../lib/election/election";
import { leaseToMember } from "../lib/election/lease";
import { NODE_LEASE_PREFIX } from "../lib/k8s/annotations";
import { BGPConfiguration, BGPNodeStatus } from "../lib/k8s/bgp";
import { KubeClient } from "../lib/k8s/client";
import { LBNodeAgent } from "../lib/k8s/lbnodeagent";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { get, isNotFound, list } from "./kube";

/** A Service as the API returns it: the CLI reads whole objects (validate needs them). */
export interface RawService {
  metadata: { namespace: string; name: string; uid?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

/** A node Lease of the agents, with what `status` shows about it. */
export interface NodeLease {
  name: string;
  member: Member;
  renewTime?: string;
  durationSeconds?: number;
}

export interface CoreEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  source?: { component?: string };
  reportingComponent?: string;
  involvedObject?: { uid?: string };
  metadata?: { creationTimestamp?: string };
}

export interface Workload {
  kind: "Deployment" | "DaemonSet";
  metadata: { namespace: string; name: string; labels?: Record<string, string> };
  spec?: { replicas?: number };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    desiredNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    updatedNumberScheduled?: number;
  };
}

const ns = (namespace: string) => encodeURIComponent(namespace);

export const listGroups = (c: KubeClient, namespace: string): Promise<ServiceGroup[]> =>
  list<ServiceGroup>(
    c,
    `/apis/purelb.io/v2/namespaces/${ns(namespace)}/servicegroups`,
    `ServiceGroups in ${namespace}`,
  );

export const listAllGroups = (c: KubeClient): Promise<ServiceGroup[]> =>
  list<ServiceGroup>(c, "/apis/purelb.io/v2/servicegroups", "ServiceGroups");

export const listAgents = (c: KubeClient): Promise<LBNodeAgent[]> =>
  list<LBNodeAgent>(c, "/apis/purelb.io/v2/lbnodeagents", "LBNodeAgents");

export const listBgpConfigs = (c: KubeClient): Promise<BGPConfiguration[]> =>
  list<BGPConfiguration>(c, "/apis/bgp.purelb.io/v1/bgpconfigurations", "BGPConfigurations");

export const listBgpStatuses = (c: KubeClient): Promise<BGPNodeStatus[]> =>
  list<BGPNodeStatus>(c, "/apis/bgp.purelb.io/v1/bgpnodestatuses", "BGPNodeStatuses");

export const listServices = (c: KubeClient): Promise<RawService[]> =>
  list<RawService>(c, "/api/v1/services", "Services");

export async function getService(
  c: KubeClient,
  namespace: string,
  name: string,
): Promise<RawService | undefined> {
  try {
    return await get<RawService>(
      c,
      `/api/v1/namespaces/${ns(namespace)}/services/${encodeURIComponent(name)}`,
      `Service ${namespace}/${name}`,
    );
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The agents' node Leases (purelb-node-*) in PureLB's namespace. */
export async function listNodeLeases(
  c: KubeClient,
  namespace: string,
  now: number,
): Promise<NodeLease[]> {
  const raw = await list<{
    metadata: { name: string };
    spec?: { renewTime?: string; leaseDurationSeconds?: number };
  }>(
    c,
    `/apis/coordination.k8s.io/v1/namespaces/${ns(namespace)}/leases`,
    `Leases in ${namespace}`,
  );
  const out: NodeLease[] = [];
  for (const l of raw) {
    if (!l.metadata.name.startsWith(NODE_LEASE_PREFIX)) continue;
    const member = leaseToMember(l, now);
    if (member)
      out.push({
        name: l.metadata.name,
        member,
        renewTime: l.spec?.renewTime,
        durationSeconds: l.spec?.leaseDurationSeconds,
      });
  }
  return out.sort((a, b) => a.member.node.localeCompare(b.member.node));
}

/** Events about one Service (this incarnation of it: same uid), oldest first. */
export async function serviceEvents(
  c: KubeClient,
  namespace: string,
  name: string,
  uid: string | undefined,
): Promise<CoreEvent[]> {
  const selector = encodeURIComponent(`involvedObject.kind=Service,involvedObject.name=${name}`);
  const events = await list<CoreEvent>(
    c,
    `/api/v1/namespaces/${ns(namespace)}/events?fieldSelector=${selector}`,
    `Events of ${namespace}/${name}`,
  );
  return events
    .filter(e => !uid || !e.involvedObject?.uid || e.involvedObject.uid === uid)
    .sort((a, b) => eventTime(a).localeCompare(eventTime(b)));
}

export const eventTime = (e: CoreEvent): string =>
  e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? "";

/** Nodes with a ready endpoint of the Service, from its EndpointSlices. */
export async function readyEndpointNodes(
  c: KubeClient,
  namespace: string,
  name: string,
): Promise<string[]> {
  const selector = encodeURIComponent(`kubernetes.io/service-name=${name}`);
  const slices = await list<{
    endpoints?: { nodeName?: string; conditions?: { ready?: boolean | null } }[];
  }>(
    c,
    `/apis/discovery.k8s.io/v1/namespaces/${ns(namespace)}/endpointslices?labelSelector=${selector}`,
    `EndpointSlices of ${namespace}/${name}`,
  );
  const nodes = new Set<string>();
  for (const s of slices)
    for (const e of s.endpoints ?? [])
      if (e.nodeName && e.conditions?.ready !== false) nodes.add(e.nodeName);
  return [...nodes].sort();
}

export async function listWorkloads(
  c: KubeClient,
  kind: "Deployment" | "DaemonSet",
  namespace: string,
  labelSelector: string,
): Promise<Workload[]> {
  const plural = kind === "Deployment" ? "deployments" : "daemonsets";
  const items = await list<Omit<Workload, "kind">>(
    c,
    `/apis/apps/v1/namespaces/${ns(namespace)}/${plural}?labelSelector=${encodeURIComponent(labelSelector)}`,
    `${kind}s in ${namespace}`,
  );
  return items.map(i => ({ ...i, kind }));
}

/** Every AllocationFailed Event, of all namespaces: `services` matches them to Services by uid. */
export const allocationFailures = (c: KubeClient): Promise<CoreEvent[]> =>
  list<CoreEvent>(
    c,
    `/api/v1/events?fieldSelector=${encodeURIComponent("reason=AllocationFailed")}`,
    "AllocationFailed Events",
  );
