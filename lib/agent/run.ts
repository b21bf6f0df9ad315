import { Log } from "../log";
import { Announcer } from "../announce/announcer";
import { LeaseKeeper, leaseToMember } from "../election/lease";
import { Annotation, DEFAULT_NAMESPACE, NODE_LEASE_PREFIX } from "../k8s/annotations";
import { Heartbeats } from "../heartbeat/heartbeat";
import { HeartbeatSettings, heartbeatSettings } from "../heartbeat/settings";
import { KubeClient, MERGE_PATCH } from "../k8s/client";
import { EventRecorder } from "../k8s/events";
import { Informer } from "../k8s/informer";
import { LBNodeAgent } from "../k8s/lbnodeagent";
import { ServiceModel, toServiceModel } from "../k8s/service";
import { ServiceGroup } from "../k8s/servicegroup";
import { RtNetlink } from "../netlink/rtnetlink";
import { AgentApi, Kernel, NodeAgent } from "./agent";
import { parseAgentConfig } from "./config";

export interface RunningAgent {
  agent: NodeAgent;
  informers: Informer<unknown>[];
  /** Replaces watches that have been silent for longer than maxIdleMs. */
  resync(maxIdleMs: number): void;
  /** Withdraws this node's addresses, deletes its Lease, closes sockets. */
  stop(): Promise<void>;
}

export interface AgentRunOptions {
  client: KubeClient;
  /** A second client (its own connections) for the node Lease, so that renewals never wait
   * behind other traffic: a late renewal moves this node's addresses away. */
  leaseClient?: KubeClient;
  node: string;
  namespace?: string;
  kernel?: Kernel & { listen?(): void; close?(): void };
  /** Heartbeat key and port; default from the environment (heartbeat/settings.ts). */
  heartbeat?: HeartbeatSettings;
}

/** Ready endpoints of an EndpointSlice, by node: all the agent keeps of it. */
export function sliceToReadyNodes(raw: unknown): { service: string; nodes: string[] } | undefined {
  const o = raw as {
    metadata?: { namespace?: string; labels?: Record<string, string> };
    endpoints?: { nodeName?: string; conditions?: { ready?: boolean | null } }[];
  };
  const name = o.metadata?.labels?.["kubernetes.io/service-name"];
  if (!name) return undefined;
  const nodes = new Set<string>();
  // A missing `ready` means unknown, which consumers are told to treat as ready.
  for (const e of o.endpoints ?? [])
    if (e.nodeName && e.conditions?.ready !== false) nodes.add(e.nodeName);
  return { service: `${o.metadata?.namespace ?? ""}/${name}`, nodes: [...nodes].sort() };
}

/** At most this many annotation/Event writes at once: a burst (1,000 addresses won at start)
 * must not starve the watches or flood the apiserver. */
const API_WRITES_IN_FLIGHT = 4;

class KubeAgentApi implements AgentApi {
  private readonly recorder: EventRecorder;
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly node: string,
    private readonly namespace = "",
  ) {
    this.recorder = new EventRecorder(client, `purelb-lbnodeagent/${node}`);
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= API_WRITES_IN_FLIGHT) await new Promise<void>(r => this.queue.push(r));
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
      this.queue.shift()?.();
    }
  }

  annotate(svc: ServiceModel, annotations: Record<string, string>): Promise<void> {
    return this.limited(async () => {
      await this.client.request(
        "PATCH",
        `/api/v1/namespaces/${svc.namespace}/services/${svc.name}`,
        {
          body: { metadata: { annotations } },
          contentType: MERGE_PATCH,
        },
      );
    });
  }

  configEvent(name: string, uid: string, reason: string, message: string): void {
    const ref = {
      apiVersion: "purelb.io/v2",
      kind: "LBNodeAgent",
      namespace: this.namespace,
      name,
      uid,
    };
    void this.limited(() => this.recorder.record(ref, "Warning", reason, message));
  }

  nodeEvent(type: "Normal" | "Warning", reason: string, message: string): void {
    // kubelet's convention: a Node's uid in Events is its name, so `kubectl describe node` shows them.
    const ref = { apiVersion: "v1", kind: "Node", namespace: "", name: this.node, uid: this.node };
    void this.limited(() => this.recorder.record(ref, type, reason, message));
  }

  event(svc: ServiceModel, type: "Normal" | "Warning", reason: string, message: string): void {
    void this.limited(() =>
      this.recorder.record(
        {
          apiVersion: "v1",
          kind: "Service",
          namespace: svc.namespace,
          name: svc.name,
          uid: svc.uid,
        },
        type,
        reason,
        message,
      ),
    );
  }
}

/**
 * Starts the node agent: configuration and groups first, then this node's Lease (so that it
 * takes part in elections), then the Leases, Services and EndpointSlices. Only when all are
 * listed does it touch the kernel: adding what is missing, removing what it added before and
 * no Service needs any more.
 */
export async function runAgent(opts: AgentRunOptions): Promise<RunningAgent> {
  const { client, node } = opts;
  const namespace = opts.namespace ?? process.env.PURELB_NAMESPACE ?? DEFAULT_NAMESPACE;
  const ref: { agent?: NodeAgent } = {};
  const kernel =
    opts.kernel ??
    new RtNetlink(
      () => ref.agent?.trigger(),
      () => ref.agent?.trigger(),
    );
  const announcer = Announcer.create();
  Log.info({ node, mechanism: announcer.mechanism }, "announcements of local addresses");
  const initial = parseAgentConfig(undefined).config;
  const keeper = new LeaseKeeper(opts.leaseClient ?? client, namespace, node, initial.lease);
  let keeperStarted = false;
  let pendingSubnets: Parameters<LeaseKeeper["setSubnets"]>[0] | undefined;
  const hbSettings = opts.heartbeat ?? heartbeatSettings();
  const hb = hbSettings
    ? new Heartbeats({
        node,
        ...hbSettings,
        timeoutMs: initial.lease.durationSeconds * 1000,
        onChange: () => ref.agent?.trigger(),
        apiLive: () => ref.agent?.membership?.apiLive ?? false,
      })
    : undefined;
  // Only a node that listens says it heartbeats (its Lease's addresses) and counts heartbeats.
  const listening = (await hb?.listen()) ?? false;
  if (hb && !listening) Log.error({ node }, "heartbeats off: no socket could listen");
  if (listening) keeper.annotate(() => ({ [Annotation.hears]: hb!.hearing().join(",") }));
  const a = (ref.agent = new NodeAgent({
    node,
    kernel,
    announcer,
    api: new KubeAgentApi(client, node, namespace),
    onSubnets: (s, addresses) => {
      if (listening) keeper.setAnnotation(Annotation.heartbeatAddresses, addresses.join(","));
      if (keeperStarted) keeper.setSubnets(s);
      else pendingSubnets = s;
    },
    onConfig: c => {
      keeper.setTiming(c.lease);
      hb?.setTimeout(c.lease.durationSeconds * 1000);
    },
    peers: () => (listening ? hb!.view() : undefined),
  }));
  const ns = (path: string) => `/apis/${path.replace("{ns}", namespace)}`;
  // BGP (gobgpd sidecar) runs beside the address work and never holds it up; loaded only when on.
  const bgp =
    process.env.PURELB_BGP === "true"
      ? import("../bgp/run")
          .then(m =>
            m.startBgp({ client, node, namespace, extInterface: () => a.config.extInterface }),
          )
          .catch(err => void Log.error({ err: String(err) }, "BGP could not start"))
      : undefined;

  // The Node's labels pick the LBNodeAgent (spec.nodeSelector). Like the Go PureLB, they are
  // read when configuration is delivered, not watched.
  const readLabels = () =>
    client
      .request<{ metadata?: { labels?: Record<string, string> } }>("GET", `/api/v1/nodes/${node}`)
      .then(n => a.setNodeLabels(n.metadata?.labels ?? {}))
      .catch(err =>
        Log.warn({ node, err: String(err) }, "cannot read the Node's labels for nodeSelector"),
      );
  const configs = new Informer<LBNodeAgent>(
    client,
    ns("purelb.io/v2/namespaces/{ns}/lbnodeagents"),
    raw => raw as LBNodeAgent,
    {
      upsert: (_k, o) => {
        a.upsertAgentConfig(o.metadata.name, o.spec, o.metadata.uid);
        void readLabels();
      },
      remove: key => a.removeAgentConfig(key.split("/")[1]),
    },
    "lbnodeagents",
  );
  const groups = new Informer<ServiceGroup>(
    client,
    ns("purelb.io/v2/namespaces/{ns}/servicegroups"),
    raw => raw as ServiceGroup,
    {
      upsert: (_k, g) => a.upsertGroup(g.metadata.name, g.spec),
      remove: key => a.removeGroup(key.split("/")[1]),
    },
    "servicegroups",
  );
  const leases = new Informer(
    client,
    ns("coordination.k8s.io/v1/namespaces/{ns}/leases"),
    raw => leaseToMember(raw),
    {
      upsert: (key, m) => {
        if (!key.split("/")[1].startsWith(NODE_LEASE_PREFIX)) return;
        a.upsertMember(key, m);
        if (m) hb?.setPeer(m.node, m.addresses ?? []);
      },
      remove: key => {
        a.removeMember(key);
        const name = key.split("/")[1];
        if (name.startsWith(NODE_LEASE_PREFIX))
          hb?.setPeer(name.slice(NODE_LEASE_PREFIX.length), []);
      },
    },
    "leases",
  );
  const services = new Informer(
    client,
    "/api/v1/services",
    toServiceModel,
    { upsert: (_k, s) => a.upsertService(s), remove: key => a.removeService(key) },
    "services",
  );
  const slices = new Informer(
    client,
    `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent("kubernetes.io/service-name")}`,
    sliceToReadyNodes,
    { upsert: (key, s) => a.upsertSlice(key, s), remove: key => a.removeSlice(key) },
    "endpointslices",
  );

  await readLabels();
  try {
    await configs.start();
  } catch (err) {
    throw new Error(
      `cannot list LBNodeAgents (purelb.io/v2) in ${namespace}: ${String(err)}. Install PureLB's CRDs (crds/) before the agent starts.`,
    );
  }
  try {
    await groups.start();
  } catch (err) {
    throw new Error(
      `cannot list ServiceGroups (purelb.io/v2) in ${namespace}: ${String(err)}. Install PureLB's CRDs (crds/) before the agent starts.`,
    );
  }
  // Read the interfaces once so that the Lease carries this node's subnets from the start.
  await a.reconcile();
  await keeper.start(pendingSubnets ?? []);
  keeperStarted = true;
  if (pendingSubnets) keeper.setSubnets(pendingSubnets);
  await leases.start();
  // Heartbeats go out once the peers are known; their start-up grace counts from here.
  if (listening) hb!.start();
  await services.start();
  await slices.start();
  kernel.listen?.();
  a.markSynced();
  await a.idle();
  Log.info(
    { node, namespace, reconcile: a.lastBusyReport ?? a.lastReport },
    "node agent synced and running",
  );

  const informers = [configs, groups, leases, services, slices] as Informer<unknown>[];
  let stopping: Promise<void> | undefined;
  return {
    agent: a,
    informers,
    resync(maxIdleMs) {
      for (const i of informers) if (i.idleMs > maxIdleMs) i.restart();
      a.trigger();
    },
    stop() {
      stopping ??= (async () => {
        informers.forEach(i => i.stop());
        await (await bgp)?.stop(); // routes go before the addresses do
        await a.withdrawAll();
        await hb?.stop(); // tells the peers to take over now, even when the API is down
        await keeper.stop();
        kernel.close?.();
        announcer.close();
      })();
      return stopping;
    },
  };
}
