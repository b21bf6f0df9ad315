// A real multi-node Kubernetes cluster on one machine, for end-to-end tests and by hand
// (tests/cluster/cli.ts). The control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) runs on the host's loopback; nodes are network namespaces on one bridge
// (tests/harness/netns.ts) running containerd, the kubelet and kube-proxy; the apiserver is
// reached on the LAN at 192.0.2.2 through a relay. A client sits on the LAN and a BIRD router
// (tests/harness/bird.ts) joins it to a second client on a subnet of its own.
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { type Server } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeClient } from "../../lib/k8s/client";
import { BirdRouter } from "../harness/bird";
import { type ControlPlane, SERVICE_CIDRS, startControlPlane } from "../harness/controlplane";
import { clientFor, waitFor } from "../harness/kube";
import { Lab, run, stopChild } from "../harness/netns";
import { TCP_TO_UNIX_JS, unixToTcp } from "../harness/relay";
import { CgroupTree } from "./cgroups";
import { type ImageEntry, imageIndexPath, imageRef, readImageIndex } from "./images";
import {
  API_HOST,
  API_IPV4,
  FAR4,
  FAR6,
  MAX_NODES,
  NODE_ASN,
  POD_CIDR4,
  POD_CIDR6,
  POD_MASK4,
  POD_MASK6,
  ROUTER_ASN,
  ROUTER_HOST,
  ROUTER_IPV4,
  ROUTER_IPV6,
  nodeNames,
  toolsDir,
} from "./layout";
import { CONNECT_PROXY_JS, egressSelectorConfig } from "./egress";
import { copySeed, ensureSeed } from "./image-seed";
import { ClusterNode } from "./node";
import { clientCert, kubeconfig } from "./pki";
import { type ClusterState, writeState } from "./state";

export interface ClusterOptions {
  /** Number of nodes (1 to 4); default 3. */
  nodes?: number;
  /** For everything the cluster writes; removed by stop(). */
  dir: string;
  /**
   * Move this process into the cluster's cgroup, so that every process it starts can be found
   * (and killed) by `cluster down` even if this one dies first. For the CLI's supervisor.
   */
  adoptSelf?: boolean;
  /** Progress lines, e.g. console.log. */
  log?: (line: string) => void;
}

const execFileAsync = promisify(execFile);

type Bin = "kube-controller-manager" | "kube-scheduler" | "kubelet" | "kube-proxy";

function bin(name: Bin): string {
  const path = join(toolsDir(), "bin", name);
  if (!existsSync(path)) throw new Error(`${name} not found at ${path}: run hack/build-tools.sh`);
  return path;
}

export class Cluster {
  readonly nodes: ClusterNode[] = [];
  client!: KubeClient;
  cp!: ControlPlane;
  lab!: Lab;
  router!: BirdRouter;
  images: ImageEntry[] = [];
  /** Namespace of the LAN client (192.0.2.100) and of the one behind the router. */
  clientNs = "";
  farClientNs = "";
  startupSeconds = 0;
  private readonly tag = String(process.pid);
  readonly cgroups = new CgroupTree(`purelb-${process.pid}`);
  private readonly extraNs: string[] = [];
  private readonly hostChildren: ChildProcess[] = [];
  private hostRelay?: Server;
  private nsMounted = false;
  private stopped?: Promise<void>;
  private readonly onExit = (): void => this.stopSync();
  readonly logDir: string;

  private constructor(private readonly opts: ClusterOptions) {
    this.logDir = join(opts.dir, "logs");
  }

  get dir(): string {
    return this.opts.dir;
  }

  get kubeconfig(): string {
    return this.cp.kubeconfig;
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    process.on("exit", c.onExit);
    try {
      await c.up();
      return c;
    } catch (err) {
      const logs = c.tails();
      await c.stop();
      throw new Error(`cluster failed to start: ${(err as Error).message}\n${logs}`, {
        cause: err,
      });
    }
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** Every network namespace the cluster made. */
  namespaces(): string[] {
    return [
      ...(this.lab
        ? [this.lab.bridgeNs, ...this.lab.nodes.map(n => n.ns), this.lab.client.ns]
        : []),
      ...this.extraNs,
      ...(this.router ? [this.router.ns] : []),
    ];
  }

  private state(phase: ClusterState["phase"]): ClusterState {
    return {
      phase,
      pid: process.pid,
      dir: this.dir,
      cgroup: this.cgroups.root,
      namespaces: this.namespaces(),
      kubeconfig: this.cp?.kubeconfig ?? "",
      nodes: this.nodes.map(n => ({
        name: n.name,
        ns: n.lab.ns,
        ipv4: n.lab.ipv4,
        ipv6: n.lab.ipv6,
      })),
      clientNs: this.clientNs,
      farClientNs: this.farClientNs,
      startupSeconds: this.startupSeconds,
    };
  }

  private save(phase: ClusterState["phase"]): void {
    writeState(this.dir, this.state(phase));
  }

  private async up(): Promise<void> {
    const started = Date.now();
    const count = this.opts.nodes ?? 3;
    if (count < 1 || count > MAX_NODES) throw new Error(`nodes must be 1 to ${MAX_NODES}`);
    const bins = {
      kcm: bin("kube-controller-manager"),
      scheduler: bin("kube-scheduler"),
      kubelet: bin("kubelet"),
      kubeProxy: bin("kube-proxy"),
    };
    this.images = readImageIndex();
    const pauseRef = imageRef(this.images, "pause");

    mkdirSync(this.logDir, { recursive: true });
    this.cgroups.create("host");
    if (this.opts.adoptSelf) this.cgroups.enter("host", process.pid);
    // Namespace files can only be bound on a mount that does not propagate.
    const nsDir = join(this.dir, "ns");
    mkdirSync(nsDir, { recursive: true });
    run("mount", ["--bind", nsDir, nsDir]);
    this.nsMounted = true;
    run("mount", ["--make-private", nsDir]);
    this.save("starting");

    // ---- networks ---------------------------------------------------------------------
    this.lab = new Lab(nodeNames(count), this.tag);
    this.clientNs = this.lab.client.ns;
    const apiNs = this.addNs("api");
    this.lab.plug(apiNs, "papi", API_HOST);
    this.router = await BirdRouter.start(this.lab, {
      name: "router",
      host: ROUTER_HOST,
      asn: ROUTER_ASN,
      peers: this.lab.nodes.map(n => ({ name: n.name, address: n.ipv4, asn: NODE_ASN })),
    });
    this.farClientNs = this.addNs("far");
    this.farNetwork();
    for (const n of this.lab.nodes) {
      run("ip", ["-n", n.ns, "route", "add", "default", "via", ROUTER_IPV4]);
      run("ip", ["-n", n.ns, "-6", "route", "add", "default", "via", ROUTER_IPV6]);
    }
    this.save("starting");
    this.log(`networks ready (${secs(started)})`);

    // ---- control plane ----------------------------------------------------------------
    const egressSock = join(this.dir, "egress.sock");
    const proxyLog = join(this.logDir, "egress-proxy.log");
    this.spawnHost("egress-proxy", "ip", [
      "netns",
      "exec",
      apiNs,
      process.execPath,
      "-e",
      CONNECT_PROXY_JS,
      egressSock,
    ]);
    await waitFor("the egress proxy", () => readLog(proxyLog).includes("proxy ready"), 10_000);
    const cpDir = join(this.dir, "cp");
    const pki = join(cpDir, "pki");
    mkdirSync(cpDir, { recursive: true });
    const egressConfig = join(cpDir, "egress-selector.yaml");
    writeFileSync(egressConfig, egressSelectorConfig(egressSock));
    this.cp = await startControlPlane({
      dir: cpDir,
      serviceAccounts: true,
      // Pods reach the apiserver as the 'kubernetes' Service (10.96.0.1 / fd00:10:96::1),
      // whose endpoint is the relay on the LAN.
      sans: [`IP:${API_IPV4}`, "IP:10.96.0.1", "IP:fd00:10:96::1"],
      apiserverArgs: [
        // its connections to kubelets, Pods and Services leave through the proxy
        `--egress-selector-config-file=${egressConfig}`,
        `--advertise-address=${API_IPV4}`,
        "--kubelet-preferred-address-types=InternalIP",
        // webhooks and aggregated APIs dialled at their Pods' addresses, which the proxy's
        // namespace routes, rather than at ClusterIPs only kube-proxy's rules know
        "--enable-aggregator-routing=true",
        "--endpoint-reconciler-type=lease",
        // for logs, exec and port-forward: the kubelets trust the cluster CA
        `--kubelet-client-certificate=${join(pki, "admin.crt")}`,
        `--kubelet-client-key=${join(pki, "admin.key")}`,
      ],
    });
    this.client = clientFor(this.cp.kubeconfig);
    const apiPort = Number(new URL(this.cp.server).port);
    const sock = join(this.dir, "apiserver.sock");
    this.hostRelay = await unixToTcp(sock, apiPort);
    this.spawnHost("relay", "ip", [
      "netns",
      "exec",
      apiNs,
      process.execPath,
      "-e",
      TCP_TO_UNIX_JS,
      String(apiPort),
      sock,
      "::",
    ]);
    this.spawnHost("kube-controller-manager", bins.kcm, [
      `--kubeconfig=${this.cp.kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
      "--controllers=*",
      "--allocate-node-cidrs=true",
      `--cluster-cidr=${POD_CIDR4},${POD_CIDR6}`,
      `--node-cidr-mask-size-ipv4=${POD_MASK4}`,
      `--node-cidr-mask-size-ipv6=${POD_MASK6}`,
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      `--service-account-private-key-file=${join(pki, "sa.key")}`,
      `--root-ca-file=${join(pki, "ca.crt")}`,
      "--use-service-account-credentials=true",
      `--cluster-signing-cert-file=${join(pki, "ca.crt")}`,
      `--cluster-signing-key-file=${join(pki, "ca.key")}`,
      "--v=1",
    ]);
    this.spawnHost("kube-scheduler", bins.scheduler, [
      `--kubeconfig=${this.cp.kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
      "--v=1",
    ]);
    this.save("starting");
    this.log(`control plane ready (${secs(started)})`);

    // ---- nodes ------------------------------------------------------------------------
    const lanServer = `https://${API_IPV4}:${apiPort}`;
    const caPem = readFileSync(join(pki, "ca.crt"), "utf8");
    const proxyKubeconfig = join(this.dir, "kube-proxy.kubeconfig");
    writeFileSync(
      proxyKubeconfig,
      kubeconfig(lanServer, caPem, clientCert(pki, "kube-proxy", { cn: "system:kube-proxy" })),
      { mode: 0o600 },
    );
    for (const n of this.lab.nodes)
      this.nodes.push(new ClusterNode(n, this.dir, this.cgroups, this.logDir));
    for (const node of this.nodes) node.prepare();
    const seedStarted = Date.now();
    const seed = await ensureSeed(this.nodes[0], this.images);
    this.log(`images ready in ${secs(seedStarted)} (seed ${seed})`);
    await Promise.all(
      this.nodes.map(async node => {
        const nodeKubeconfig = join(node.dir, "etc", "kubelet.kubeconfig");
        writeFileSync(
          nodeKubeconfig,
          kubeconfig(
            lanServer,
            caPem,
            clientCert(pki, node.name, { cn: `system:node:${node.name}`, org: "system:nodes" }),
          ),
          { mode: 0o600 },
        );
        copySeed(seed, node.containerdRoot);
        await node.start({
          pauseRef,
          kubelet: bins.kubelet,
          kubeProxy: bins.kubeProxy,
          kubeletKubeconfig: nodeKubeconfig,
          proxyKubeconfig,
          caFile: join(pki, "ca.crt"),
        });
      }),
    );
    this.save("starting");

    // Pod routes: each node's pod CIDRs via its LAN address, on every other node and in the
    // apiserver's namespace (pods talk to it with their own addresses).
    const cidrs = await waitFor(
      "every node registered with pod CIDRs",
      async () => {
        const list = await this.client.request<{
          items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[];
        }>("GET", "/api/v1/nodes");
        const byName = new Map(list.items.map(n => [n.metadata.name, n.spec.podCIDRs ?? []]));
        return this.nodes.every(n => (byName.get(n.name)?.length ?? 0) === 2) && byName;
      },
      120_000,
    );
    for (const target of this.nodes) {
      for (const cidr of cidrs.get(target.name) ?? []) {
        const via = cidr.includes(":") ? target.lab.ipv6 : target.lab.ipv4;
        for (const ns of [
          ...this.nodes.filter(n => n !== target).map(n => n.lab.ns),
          apiNs,
          this.clientNs,
        ])
          run("ip", [
            "-n",
            ns,
            ...(cidr.includes(":") ? ["-6"] : []),
            "route",
            "add",
            cidr,
            "via",
            via,
          ]);
      }
    }
    await this.waitReady(120_000);
    this.startupSeconds = (Date.now() - started) / 1000;
    this.save("ready");
    this.log(`${count} nodes Ready in ${this.startupSeconds.toFixed(1)}s`);
  }

  /** Waits until every node reports Ready. */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    await waitFor(
      "every node Ready",
      async () => {
        for (const n of this.nodes)
          if (!n.daemon("kubelet")) throw new Error(`kubelet of ${n.name} exited`);
        const list = await this.client.request<{
          items: {
            metadata: { name: string };
            status?: { conditions?: { type: string; status: string }[] };
          }[];
        }>("GET", "/api/v1/nodes");
        const ready = new Set(
          list.items
            .filter(n => n.status?.conditions?.some(c => c.type === "Ready" && c.status === "True"))
            .map(n => n.metadata.name),
        );
        return this.nodes.every(n => ready.has(n.name));
      },
      timeoutMs,
    );
  }

  private addNs(name: string): string {
    const ns = `plb-${this.tag}-${name}`;
    run("ip", ["netns", "add", ns]);
    this.extraNs.push(ns);
    run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** The far client's link to the router, and forwarding through the router. */
  private farNetwork(): void {
    const r = this.router.ns;
    const far = this.farClientNs;
    run("ip", [
      "-n",
      r,
      "link",
      "add",
      "eth1",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      far,
    ]);
    run("ip", ["-n", r, "addr", "add", `${FAR4.router}/${FAR4.prefix}`, "dev", "eth1"]);
    run("ip", ["-n", r, "addr", "add", `${FAR6.router}/${FAR6.prefix}`, "dev", "eth1", "nodad"]);
    run("ip", ["-n", r, "link", "set", "eth1", "up"]);
    run("ip", ["-n", far, "addr", "add", `${FAR4.client}/${FAR4.prefix}`, "dev", "eth0"]);
    run("ip", ["-n", far, "addr", "add", `${FAR6.client}/${FAR6.prefix}`, "dev", "eth0", "nodad"]);
    run("ip", ["-n", far, "link", "set", "eth0", "up"]);
    run("ip", ["-n", far, "route", "add", "default", "via", FAR4.router]);
    run("ip", ["-n", far, "-6", "route", "add", "default", "via", FAR6.router]);
    for (const key of ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"])
      run("ip", ["netns", "exec", r, "sysctl", "-qw", `${key}=1`]);
  }

  private spawnHost(name: string, cmd: string, args: string[]): ChildProcess {
    const fd = openSync(join(this.logDir, `${name}.log`), "a");
    try {
      const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], cwd: this.dir });
      this.hostChildren.push(child);
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** The bridge port of a node's eth0 (tests/harness/netns.ts names them p<index>). */
  private port(name: string): string {
    return `p${this.nodes.indexOf(this.node(name))}`;
  }

  /**
   * A node dies as a powered-off machine would: its link goes down, then every process in it
   * (containerd, kubelet, kube-proxy, every container) is SIGKILLed, and what a reboot wipes
   * goes too: addresses other than the node's own, nftables rules, conntrack entries. Its
   * namespaces and files stay, for restartNode.
   */
  killNode(name: string): void {
    const node = this.node(name);
    run("ip", ["-n", this.lab.bridgeNs, "link", "set", this.port(name), "down"]);
    node.kill();
    const ns = node.lab.ns;
    const links = JSON.parse(run("ip", ["-n", ns, "-j", "addr", "show"])) as {
      ifname: string;
      addr_info: { local: string; prefixlen: number; scope: string }[];
    }[];
    for (const link of links.filter(l => l.ifname === "eth0" || l.ifname === "kube-lb0"))
      for (const a of link.addr_info)
        if (a.scope !== "link" && a.local !== node.lab.ipv4 && a.local !== node.lab.ipv6)
          run("ip", ["-n", ns, "addr", "del", `${a.local}/${a.prefixlen}`, "dev", link.ifname]);
    run("ip", ["netns", "exec", ns, "nft", "flush", "ruleset"]);
    spawnSync("ip", ["netns", "exec", ns, "conntrack", "-F"], { stdio: "ignore" });
  }

  /** Brings a killed node back: link up, its daemons started again; waits until it is Ready. */
  async restartNode(name: string, timeoutMs = 120_000): Promise<void> {
    const node = this.node(name);
    run("ip", ["-n", this.lab.bridgeNs, "link", "set", this.port(name), "up"]);
    await node.restart();
    await this.waitReady(timeoutMs);
  }

  node(name: string): ClusterNode {
    const n = this.nodes.find(x => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Last lines of every log, for a failure message. */
  tails(lines = 15): string {
    const names = [
      "kube-controller-manager",
      "kube-scheduler",
      "relay",
      ...this.nodes.flatMap(n =>
        ["containerd", "kubelet", "kube-proxy"].map(d => `${n.name}-${d}`),
      ),
    ];
    return names
      .map(name => {
        let text = "(no log)";
        try {
          text = readFileSync(join(this.logDir, `${name}.log`), "utf8")
            .trimEnd()
            .split("\n")
            .slice(-lines)
            .join("\n");
        } catch {
          // not started
        }
        return `--- ${name}.log ---\n${text}`;
      })
      .join("\n");
  }

  /**
   * Tears everything down: every process in the cluster's cgroups (node daemons, shims,
   * containers), the host-side processes, the control plane, the namespaces (and with the
   * mount namespaces every mount made inside a node), the cgroups and the directory.
   */
  stop(): Promise<void> {
    return (this.stopped ??= (async () => {
      const t = Date.now();
      // Every step runs even when one before it failed: a half-done teardown leaves the
      // most behind. The first failure is reported at the end.
      const errors: unknown[] = [];
      const step = async (fn: () => unknown): Promise<void> => {
        try {
          await fn();
        } catch (err) {
          errors.push(err);
        }
      };
      await step(() => this.cgroups.killAll("", [process.pid]));
      await step(() => Promise.all(this.hostChildren.map(c => stopChild(c, "SIGTERM"))));
      await step(() => this.cp?.stop());
      this.log(`stop: processes gone (${secs(t)})`);
      for (const server of [this.hostRelay])
        await step(
          () => new Promise(r => (server ? server.close(() => r(undefined)) : r(undefined))),
        );
      for (const n of this.nodes) await step(() => n.release());
      await step(() => this.router?.destroy());
      await step(() => this.lab?.destroy());
      for (const ns of this.extraNs.splice(0)) await step(() => run("ip", ["netns", "del", ns]));
      if (this.nsMounted) await step(() => run("umount", [join(this.dir, "ns")]));
      this.nsMounted = false;
      // Our own children were reaped while the awaits above ran; the cgroups can go.
      if (this.opts.adoptSelf) await step(() => this.cgroups.leave(process.pid));
      await step(() => this.cgroups.remove());
      this.log(`stop: namespaces, mounts and cgroups gone (${secs(t)})`);
      // rm(1) is several times faster than rmSync on the nodes' ~20k hard-linked image files.
      await step(() =>
        Promise.all(this.nodes.map(n => execFileAsync("rm", ["-rf", "--one-file-system", n.dir]))),
      );
      await step(() => rmSync(this.dir, { recursive: true, force: true }));
      this.log(`stop: ${this.dir} removed (${secs(t)})`);
      process.off("exit", this.onExit);
      if (errors.length) throw errors[0];
    })());
  }

  /** What a process 'exit' hook can do: kill, unmount, delete; `cluster down` finishes it. */
  private stopSync(): void {
    try {
      this.cgroups.killAll("", [process.pid]);
    } catch {
      // left for `cluster down`
    }
    for (const c of this.hostChildren)
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const n of this.nodes) {
      try {
        n.release();
      } catch {
        // left for `cluster down`
      }
    }
    for (const ns of this.extraNs) spawnSync("ip", ["netns", "del", ns]);
    if (this.nsMounted) {
      try {
        run("umount", [join(this.dir, "ns")]);
      } catch {
        // left for `cluster down`
      }
    }
    this.cgroups.removeSync();
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

export { imageIndexPath };
