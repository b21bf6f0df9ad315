import { Log } from "../log";
import { canonical } from "../ip/address";
import { BGPConfiguration } from "../k8s/bgp";
import { ApiError, KubeClient, MERGE_PATCH } from "../k8s/client";
import { EventRecorder } from "../k8s/events";
import { Informer } from "../k8s/informer";
import { RtNetlink } from "../netlink/rtnetlink";
import { SecretRef, pickConfiguration } from "./config";
import { BgpController, BgpKernel, NodeInfo } from "./controller";
import { ApiGlobal, GobgpApi, GobgpClient } from "./gobgp";
import { NodeStatus, statusPatch } from "./status";

export const DEFAULT_GOBGP_ADDRESS = "127.0.0.1:50051";
const GROUP = "bgp.purelb.io/v1";

export interface BgpRunOptions {
  client: KubeClient;
  node: string;
  namespace: string;
  /** The interface whose addresses are advertised; kube-lb0 unless the LBNodeAgent says otherwise. */
  extInterface?: () => string;
  /** gobgpd's API; default $PURELB_GOBGP_ADDRESS or 127.0.0.1:50051. */
  address?: string;
  kernel?: BgpKernel & { listen?(): void; close?(): void };
  heartbeatMs?: number;
}

export interface RunningBgp {
  controller: BgpController;
  stop(): Promise<void>;
}

type Config = BGPConfiguration & { metadata: { uid?: string } };

interface NodeModel extends NodeInfo {
  uid: string;
}

function toNodeModel(raw: unknown): NodeModel {
  const o = raw as {
    metadata?: { uid?: string; labels?: Record<string, string> };
    status?: { addresses?: { type?: string; address?: string }[] };
  };
  const info: NodeModel = { uid: o.metadata?.uid ?? "", labels: o.metadata?.labels ?? {}, own: [] };
  for (const a of o.status?.addresses ?? []) {
    const c = a.address ? canonical(a.address) : undefined;
    if (!c) continue;
    info.own.push(c);
    if (a.type !== "InternalIP") continue;
    const fam = c.includes(":") ? "ipv6" : "ipv4";
    info[fam] ??= { address: c, source: "Node InternalIP" };
  }
  return info;
}

/** A gobgpd client that cannot work (its API definitions are missing): every call says why. */
function brokenGobgp(err: Error): GobgpApi {
  const fail = (): Promise<never> => Promise.reject(err);
  return {
    getBgp: fail as () => Promise<ApiGlobal>,
    startBgp: fail,
    stopBgp: fail,
    addPeer: fail,
    updatePeer: fail,
    deletePeer: fail,
    listPeers: fail,
    addPath: fail,
    deletePath: fail,
    streamPaths: fail,
    deleteAllPaths: fail,
    listLocalPaths: fail,
    watchPeers: (_p, end) => {
      end(err);
      return () => {};
    },
    close: () => {},
  };
}

/**
 * Starts the BGP side of the node agent (PURELB_BGP=true): watches the BGPConfiguration and
 * this node's Node object, listens to netlink for address changes, and drives gobgpd. It
 * returns at once; nothing in it blocks or fails the agent.
 */
export function startBgp(opts: BgpRunOptions): RunningBgp {
  const { client, node, namespace } = opts;
  const address =
    opts.address ?? (process.env.PURELB_GOBGP_ADDRESS?.trim() || DEFAULT_GOBGP_ADDRESS);
  let gobgp: GobgpApi;
  try {
    gobgp = new GobgpClient(address);
  } catch (err) {
    Log.error({ err: (err as Error).message }, "BGP cannot start");
    gobgp = brokenGobgp(err as Error);
  }
  const recorder = new EventRecorder(client, `purelb-lbnodeagent/${node}`);
  const ref: { ctl?: BgpController } = {};
  const kernel =
    opts.kernel ??
    new RtNetlink(
      () => ref.ctl?.kernelChanged(),
      () => ref.ctl?.kernelChanged(),
    );
  let nodeModel: NodeModel | undefined;
  let current: Config | undefined;

  const ctl = (ref.ctl = new BgpController({
    node,
    address,
    gobgp,
    kernel,
    extInterface: opts.extInterface,
    heartbeatMs: opts.heartbeatMs,
    writeStatus: st => writeStatus(client, node, nodeModel?.uid, st),
    readSecret: r => readSecret(client, current?.metadata.namespace ?? namespace, r),
    event: (type, reason, message) => {
      if (!current?.metadata.uid) return;
      void recorder.record(
        {
          apiVersion: GROUP,
          kind: "BGPConfiguration",
          namespace: current.metadata.namespace ?? namespace,
          name: current.metadata.name,
          uid: current.metadata.uid,
        },
        type,
        reason,
        message,
      );
    },
  }));

  const all = new Map<string, Config>();
  let ignoredText = "";
  const pushConfig = (): void => {
    const { conf, ignored } = pickConfiguration<Config>(all.values());
    const text = ignored.join(",");
    if (text && text !== ignoredText)
      Log.warn(
        { using: conf?.metadata.name, ignored },
        "more than one BGPConfiguration; using the first by name",
      );
    ignoredText = text;
    current = conf;
    ctl.setConfig(conf);
  };
  const configs = new Informer<Config>(
    client,
    `/apis/${GROUP}/namespaces/${namespace}/bgpconfigurations`,
    raw => {
      const o = raw as Config;
      return {
        metadata: {
          name: o.metadata.name,
          namespace: o.metadata.namespace,
          uid: o.metadata.uid,
          generation: o.metadata.generation,
        },
        spec: o.spec,
      };
    },
    {
      upsert: (key, c) => {
        all.set(key, c);
        pushConfig();
      },
      remove: key => {
        all.delete(key);
        pushConfig();
      },
    },
    "bgpconfigurations",
  );
  let nodeText = "";
  const nodes = new Informer<NodeModel>(
    client,
    `/api/v1/nodes?fieldSelector=${encodeURIComponent(`metadata.name=${node}`)}`,
    toNodeModel,
    {
      upsert: (_k, n) => {
        nodeModel = n;
        // Node objects change often (conditions); only labels and addresses matter here.
        const text = JSON.stringify([n.labels, n.ipv4, n.ipv6, n.own]);
        if (text === nodeText) return;
        nodeText = text;
        ctl.setNode(n);
      },
      remove: () => {
        nodeModel = undefined;
        nodeText = "";
        ctl.setNode({ labels: {}, own: [] });
      },
    },
  );

  let stopped = false;
  const startInformer = (inf: Informer<unknown>, what: string, onGiveUp?: () => void): void => {
    let delay = 1000;
    const t0 = Date.now();
    const attempt = (): void => {
      inf.start().then(
        () => {
          // An empty list delivers nothing: say that it was read.
          if (inf === (configs as Informer<unknown>) && all.size === 0) pushConfig();
          if (inf === (nodes as Informer<unknown>) && !nodeModel)
            ctl.setNode({ labels: {}, own: [] });
        },
        err => {
          if (stopped) return;
          Log.warn({ err: String(err), retryMs: delay }, `BGP: cannot list ${what}; retrying`);
          if (onGiveUp && Date.now() - t0 > 30_000) {
            onGiveUp();
            onGiveUp = undefined;
          }
          setTimeout(attempt, delay).unref();
          delay = Math.min(delay * 2, 60_000);
        },
      );
    };
    attempt();
  };
  startInformer(
    configs as Informer<unknown>,
    `BGPConfigurations (${GROUP}) in ${namespace}; are PureLB's CRDs installed?`,
  );
  startInformer(
    nodes as Informer<unknown>,
    `Node ${node} (its labels select BGP neighbours)`,
    () => {
      Log.warn(
        { node },
        "BGP: going on without the Node's labels; neighbours with a nodeSelector are not peered",
      );
      ctl.setNode({ labels: {}, own: [] });
    },
  );
  kernel.listen?.();
  ctl.start();
  Log.info({ gobgpd: address, node }, "BGP enabled: driving gobgpd");

  return {
    controller: ctl,
    async stop() {
      stopped = true;
      configs.stop();
      nodes.stop();
      await ctl.stop();
      kernel.close?.();
    },
  };
}

/** Writes BGPNodeStatus/<node> through its status subresource, creating the object first if needed. */
async function writeStatus(
  client: KubeClient,
  node: string,
  nodeUid: string | undefined,
  st: NodeStatus,
): Promise<void> {
  const base = `/apis/${GROUP}/bgpnodestatuses`;
  const patch = () =>
    client.request("PATCH", `${base}/${node}/status`, {
      body: { status: statusPatch(st) },
      contentType: MERGE_PATCH,
      timeoutMs: 10_000,
    });
  try {
    await patch();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    try {
      await client.request("POST", base, {
        body: {
          apiVersion: GROUP,
          kind: "BGPNodeStatus",
          metadata: {
            name: node,
            labels: { "app.kubernetes.io/managed-by": "purelb" },
            // Goes with its Node.
            ...(nodeUid
              ? { ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: nodeUid }] }
              : {}),
          },
        },
      });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409) throw e;
    }
    await patch();
  }
}

async function readSecret(client: KubeClient, namespace: string, ref: SecretRef): Promise<string> {
  let secret: { data?: Record<string, string> };
  try {
    secret = await client.request(
      "GET",
      `/api/v1/namespaces/${namespace}/secrets/${encodeURIComponent(ref.name)}`,
    );
  } catch (err) {
    if (err instanceof ApiError && err.status === 404)
      throw Object.assign(new Error(`Secret ${namespace}/${ref.name} not found`), {
        missing: true,
      });
    throw new Error(
      `cannot read Secret ${namespace}/${ref.name}: ${err instanceof ApiError ? `${err.status} ${err.reason}` : String(err)}`,
    );
  }
  const b64 = secret.data?.[ref.key];
  if (b64 === undefined)
    throw Object.assign(new Error(`Secret ${namespace}/${ref.name} has no key ${ref.key}`), {
      missing: true,
    });
  return Buffer.from(b64, "base64").toString("utf8");
}
