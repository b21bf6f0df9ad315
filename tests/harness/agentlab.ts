// A small cluster for the node agent: a real control plane on the host's loopback, lab
// namespaces as nodes, a relay per node to reach the apiserver, and one agent process per node.
import { type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { type Server } from "node:net";
import path from "node:path";
import { AGENT_NODE_FLAGS } from "../../lib/agent/node-flags";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { KubeClient, MERGE_PATCH } from "../../lib/k8s/client";
import { ControlPlane, startControlPlane } from "./controlplane";
import { apply, applyServiceGroup, clientFor, ensureNamespace, installCrds, waitFor } from "./kube";
import { Lab, stopChild } from "./netns";
import { TCP_TO_UNIX_JS, unixToTcp } from "./relay";

export const root = path.resolve(import.meta.dirname, "../..");
export const NS = "purelb-system";
const RELAY_PORT = 16443;

export interface AgentLabOptions {
  nodes: string[];
  /** What node runs after the agent's flags (default: --import tsx lib/agent/main.ts). */
  agentArgs?: string[];
  env?: Record<string, string>;
}

/**
 * The winner of a local address among lab `nodes`, as every agent computes it when all are
 * live (every lab node is on 192.0.2.0/24 and 2001:db8::/64).
 */
export function labWinner(address: string, nodes: string[]): string {
  const subnets = parseSubnets("192.0.2.0/24,2001:db8::/64");
  const members: Member[] = nodes.map(node => ({ node, subnets, expires: Infinity }));
  return electWinner(address, members, Date.now())!;
}

export class AgentLab {
  readonly agents = new Map<string, ChildProcess>();
  private relay?: Server;
  /** Per node: the process that carries its connections to the API server. */
  private readonly relays = new Map<string, ChildProcess>();

  private constructor(
    readonly cp: ControlPlane,
    readonly client: KubeClient,
    readonly lab: Lab,
    private readonly opts: AgentLabOptions,
  ) {}

  static async start(opts: AgentLabOptions): Promise<AgentLab> {
    const lab = new Lab(opts.nodes);
    let cp: ControlPlane | undefined;
    try {
      cp = await startControlPlane();
      const client = clientFor(cp.kubeconfig);
      const me = new AgentLab(cp, client, lab, opts);
      await installCrds(client);
      await ensureNamespace(client, NS);
      const apiPort = Number(new URL(cp.server).port);
      me.relay = await unixToTcp(me.apiSocket, apiPort);
      const kc = readFileSync(cp.kubeconfig, "utf8").replace(
        /server: .*/,
        `server: https://127.0.0.1:${RELAY_PORT}`,
      );
      writeFileSync(path.join(lab.dir, "node.kubeconfig"), kc, { mode: 0o600 });
      await Promise.all(lab.nodes.map(n => me.restoreApi(n.name)));
      return me;
    } catch (err) {
      await lab.destroy();
      await cp?.stop();
      throw err;
    }
  }

  /** Starts the agent of a node and waits until it has synced. */
  async startAgent(node: string, waitSynced = true): Promise<ChildProcess> {
    const n = this.lab.node(node);
    const args = [
      ...AGENT_NODE_FLAGS,
      ...(this.opts.agentArgs ?? ["--import", "tsx", path.join(root, "lib/agent/main.ts")]),
    ];
    const log = `agent-${node}`;
    const before = readLog(this.lab.logPath(log)).length;
    const child = this.lab.spawn(
      n.ns,
      process.execPath,
      args,
      {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KUBECONFIG: path.join(this.lab.dir, "node.kubeconfig"),
        NODE_NAME: node,
        PURELB_NAMESPACE: NS,
        LOG_LEVEL: "info",
        ...this.opts.env,
      },
      log,
    );
    this.agents.set(node, child);
    if (waitSynced) {
      await waitFor(
        `agent ${node} synced`,
        () => {
          if (child.exitCode !== null)
            throw new Error(
              `agent ${node} exited ${child.exitCode}:\n${readLog(this.lab.logPath(log)).slice(-3000)}`,
            );
          return readLog(this.lab.logPath(log))
            .slice(before)
            .includes("node agent synced and running");
        },
        30_000,
      );
    }
    return child;
  }

  private get apiSocket(): string {
    return path.join(this.lab.dir, "apiserver.sock");
  }

  /** Cuts a node off the API server: its relay dies, and every connection through it. */
  async cutApi(node: string): Promise<void> {
    const relay = this.relays.get(node);
    this.relays.delete(node);
    if (relay) await stopChild(relay, "SIGKILL");
  }

  /** (Re)starts the relay that connects a node to the API server. */
  async restoreApi(node: string): Promise<void> {
    if (this.relays.has(node)) return;
    const log = `relay-${node}`;
    const before = readLog(this.lab.logPath(log)).length;
    this.relays.set(
      node,
      this.lab.spawn(
        this.lab.node(node).ns,
        process.execPath,
        ["-e", TCP_TO_UNIX_JS, String(RELAY_PORT), this.apiSocket],
        {},
        log,
      ),
    );
    await waitFor(
      `relay of ${node} ready`,
      () => readLog(this.lab.logPath(log)).slice(before).includes("relay ready"),
      10_000,
    );
  }

  async stopAgent(node: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.agents.get(node);
    this.agents.delete(node);
    if (child) await stopChild(child, signal);
  }

  agentLog(node: string): string {
    return readLog(this.lab.logPath(`agent-${node}`));
  }

  // ---- objects ---------------------------------------------------------------------------

  group(name: string, spec: object): Promise<unknown> {
    return applyServiceGroup(this.client, NS, name, spec);
  }

  agentConfig(spec: object): Promise<unknown> {
    return apply(this.client, `/apis/purelb.io/v2/namespaces/${NS}/lbnodeagents`, {
      apiVersion: "purelb.io/v2",
      kind: "LBNodeAgent",
      metadata: { name: "default" },
      spec,
    });
  }

  /**
   * A LoadBalancer Service as the allocator would leave it: pool-type and allocated-from
   * annotations, then the addresses in status (written through the status subresource), unless
   * `statusLater` (a benchmark times setIngress itself).
   */
  async service(
    ns: string,
    name: string,
    o: {
      group: string;
      poolType: "local" | "remote";
      ips: string[];
      etp?: "Local" | "Cluster";
      statusLater?: boolean;
    },
  ): Promise<void> {
    const dual = o.ips.some(i => i.includes(":")) && o.ips.some(i => !i.includes(":"));
    const v6only = o.ips.every(i => i.includes(":"));
    await this.client.request("POST", `/api/v1/namespaces/${ns}/services`, {
      body: {
        metadata: {
          name,
          namespace: ns,
          annotations: {
            "purelb.io/allocated-by": "PureLB",
            "purelb.io/allocated-from": o.group,
            "purelb.io/pool-type": o.poolType,
          },
        },
        spec: {
          type: "LoadBalancer",
          allocateLoadBalancerNodePorts: false,
          ports: [{ port: 80, protocol: "TCP", targetPort: 8080 }],
          selector: { app: name },
          ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
          ...(dual
            ? { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] }
            : v6only
              ? { ipFamilies: ["IPv6"] }
              : {}),
        },
      },
    });
    if (!o.statusLater) await this.setIngress(ns, name, o.ips);
  }

  async setIngress(ns: string, name: string, ips: string[]): Promise<void> {
    await this.client.request("PATCH", `/api/v1/namespaces/${ns}/services/${name}/status`, {
      body: { status: { loadBalancer: { ingress: ips.map(ip => ({ ip })) } } },
      contentType: MERGE_PATCH,
    });
  }

  async endpoints(
    ns: string,
    service: string,
    nodes: { node: string; ready: boolean }[],
  ): Promise<void> {
    await apply(this.client, `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${service}-slice`,
        namespace: ns,
        labels: { "kubernetes.io/service-name": service },
      },
      addressType: "IPv4",
      ports: [{ name: "", port: 8080, protocol: "TCP" }],
      endpoints: nodes.map((n, i) => ({
        addresses: [`10.244.${i}.10`],
        nodeName: n.node,
        conditions: { ready: n.ready },
      })),
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.agents.keys()].map(n => this.stopAgent(n, "SIGKILL")));
    await Promise.all([...this.relays.keys()].map(n => this.cutApi(n)));
    await this.lab.destroy();
    await new Promise(r => (this.relay ? this.relay.close(() => r(undefined)) : r(undefined)));
    await this.cp.stop();
  }
}

export function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

export { ensureNamespace, waitFor };
