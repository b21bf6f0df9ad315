// One node of the test cluster: the network namespace tests/harness/netns.ts made for it,
// plus a mount and a UTS namespace of its own, kept alive by bind mounts on files under
// <cluster dir>/ns. Inside, /sys is a fresh sysfs (so it shows the node's own links; that is
// why nodes are not entered with `ip netns exec`, which remounts /sys without cgroups), the
// host's cgroup hierarchies are mounted again, and per-node directories are bound over /run,
// /var/lib and /var/log. containerd, the kubelet and kube-proxy run in there, each in the
// node's cgroup subtree, where runc also puts the node's containers.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type LabNode, run } from "../harness/netns";
import { type CgroupTree, cgroupMounts } from "./cgroups";
import { type ImageEntry } from "./images";
import {
  CNI_TEMPLATE,
  CONTAINERD_SOCKET,
  containerdToml,
  kubeProxyConfig,
  kubeletConfig,
} from "./node-config";

const execFileAsync = promisify(execFile);

export interface NodeStart {
  pauseRef: string;
  /** Binaries. */
  kubelet: string;
  kubeProxy: string;
  kubeletKubeconfig: string;
  proxyKubeconfig: string;
  /** The cluster CA: kubelets accept the clients it signed (the apiserver's). */
  caFile: string;
}

export class ClusterNode {
  readonly dir: string;
  readonly mntFile: string;
  readonly utsFile: string;
  private readonly daemons = new Map<string, ChildProcess>();
  private started?: NodeStart;

  constructor(
    readonly lab: LabNode,
    private readonly clusterDir: string,
    private readonly cgroups: CgroupTree,
    private readonly logDir: string,
  ) {
    this.dir = join(clusterDir, "nodes", lab.name);
    this.mntFile = join(clusterDir, "ns", `${lab.name}.mnt`);
    this.utsFile = join(clusterDir, "ns", `${lab.name}.uts`);
  }

  get name(): string {
    return this.lab.name;
  }

  /** The kubelet's cgroupRoot, relative to each hierarchy's root. */
  get cgroupRoot(): string {
    return `/${this.cgroups.root}/${this.name}`;
  }

  private path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  /**
   * Makes the node's directories, its cgroups and its mount and UTS namespaces. The cluster
   * directory's ns/ must already be a private mount (a namespace file cannot be bound into a
   * shared one).
   */
  prepare(): void {
    for (const d of ["run", "var/lib", "var/log", "etc"])
      mkdirSync(this.path(d), { recursive: true });
    for (const f of [this.mntFile, this.utsFile]) writeFileSync(f, "");
    this.cgroups.create(`${this.name}/daemons`);
    // Forwarding between pods, nodes and the LAN; the default route via the router reaches
    // the far client.
    for (const [key, value] of [
      ["net.ipv4.ip_forward", "1"],
      ["net.ipv6.conf.all.forwarding", "1"],
    ])
      run("ip", ["netns", "exec", this.lab.ns, "sysctl", "-qw", `${key}=${value}`]);

    const script = [
      "set -e",
      `hostname ${this.name}`,
      "mount -t sysfs sysfs /sys",
      ...cgroupScript(),
      `mount --bind ${this.path("run")} /run`,
      `mount --bind ${this.path("var/lib")} /var/lib`,
      `mount --bind ${this.path("var/log")} /var/log`,
    ].join("\n");
    run("nsenter", [
      `--net=/run/netns/${this.lab.ns}`,
      "unshare",
      `--mount=${this.mntFile}`,
      `--uts=${this.utsFile}`,
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
    ]);
  }

  /** Arguments that run a command inside the node's namespaces. */
  enter(cmd: string[]): string[] {
    return [
      "nsenter",
      `--net=/run/netns/${this.lab.ns}`,
      `--mount=${this.mntFile}`,
      `--uts=${this.utsFile}`,
      "--",
      ...cmd,
    ];
  }

  /**
   * Starts a long-running process in the node, in its daemons cgroup (joined before exec, so
   * every descendant is in it too), output to <logDir>/<node>-<name>.log.
   */
  spawnDaemon(name: string, cmd: string[]): ChildProcess {
    const fd = openSync(join(this.logDir, `${this.name}-${name}.log`), "a");
    try {
      const child = spawn(
        "sh",
        [
          "-c",
          'echo $$ > "$0" && exec "$@"',
          this.cgroups.procsFile(`${this.name}/daemons`),
          ...this.enter(cmd),
        ],
        { stdio: ["ignore", fd, fd], env: { PATH: process.env.PATH } },
      );
      this.daemons.set(name, child);
      child.once("exit", () => {
        if (this.daemons.get(name) === child) this.daemons.delete(name);
      });
      return child;
    } finally {
      closeSync(fd);
    }
  }

  daemon(name: string): ChildProcess | undefined {
    return this.daemons.get(name);
  }

  /** Runs a command inside the node and returns its output. */
  async exec(cmd: string[], timeoutMs = 120_000): Promise<string> {
    const [bin, ...args] = this.enter(cmd);
    try {
      const { stdout } = await execFileAsync(bin, args, {
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
        env: { PATH: process.env.PATH },
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${this.name}: ${cmd.join(" ")}: ${e.stderr?.trim() || e.message}`);
    }
  }

  /** Starts containerd, the kubelet and kube-proxy; containerd's root must hold the images. */
  async start(o: NodeStart): Promise<void> {
    this.started = o;
    await this.startContainerd(o.pauseRef);
    this.startKubelet({ bin: o.kubelet, kubeconfig: o.kubeletKubeconfig, caFile: o.caFile });
    this.startKubeProxy({ bin: o.kubeProxy, kubeconfig: o.proxyKubeconfig });
  }

  /** Starts the daemons again after kill(), as a rebooted machine would. */
  async restart(): Promise<void> {
    if (!this.started) throw new Error(`${this.name} was never started`);
    await this.start(this.started);
  }

  /** Starts the node's containerd; its root must hold the images already (copySeed). */
  async startContainerd(pauseRef: string): Promise<void> {
    const template = this.path("etc", "cni.template");
    writeFileSync(template, CNI_TEMPLATE);
    writeFileSync(
      this.path("etc", "containerd.toml"),
      containerdToml({ pauseRef, cniTemplate: template }),
    );
    const child = this.spawnDaemon("containerd", [
      "/usr/bin/containerd",
      "--config",
      this.path("etc", "containerd.toml"),
    ]);
    await this.waitContainerd(CONTAINERD_SOCKET, child);
  }

  /** Host path of the node's containerd root (its /var/lib/containerd). */
  get containerdRoot(): string {
    return this.path("var/lib/containerd");
  }

  /** Waits until the containerd `child` answers on `socket`. */
  async waitContainerd(socket: string, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${this.name}: containerd exited ${child.exitCode}`);
      const up = await this.exec(["/usr/bin/ctr", "--address", socket, "version"], 5_000)
        .then(() => true)
        .catch(() => false);
      if (up) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: containerd not up after 30 s`);
      await new Promise(r => setTimeout(r, 100));
    }
  }

  /** Imports every image archive into the CRI namespace (the one the kubelet uses). */
  async importImages(images: ImageEntry[]): Promise<void> {
    for (const image of images)
      await this.exec(
        [
          "/usr/bin/ctr",
          "--address",
          CONTAINERD_SOCKET,
          "-n",
          "k8s.io",
          "images",
          "import",
          image.archive,
        ],
        300_000,
      );
  }

  startKubelet(o: { bin: string; kubeconfig: string; caFile: string }): void {
    const config = this.path("etc", "kubelet.json");
    writeFileSync(
      config,
      JSON.stringify(kubeletConfig({ cgroupRoot: this.cgroupRoot, caFile: o.caFile }), null, 2),
    );
    this.spawnDaemon("kubelet", [
      o.bin,
      `--config=${config}`,
      `--kubeconfig=${o.kubeconfig}`,
      `--hostname-override=${this.name}`,
      `--node-ip=${this.lab.ipv4},${this.lab.ipv6}`,
      "--v=1",
    ]);
  }

  startKubeProxy(o: { bin: string; kubeconfig: string }): void {
    const config = this.path("etc", "kube-proxy.json");
    writeFileSync(
      config,
      JSON.stringify(kubeProxyConfig({ kubeconfig: o.kubeconfig, node: this.name }), null, 2),
    );
    this.spawnDaemon("kube-proxy", [o.bin, `--config=${config}`, "--v=1"]);
  }

  /** SIGKILLs every process of the node: its daemons and all its containers. */
  kill(): void {
    this.cgroups.killAll(this.name);
  }

  /** Drops the namespace files; the namespaces (and every mount inside) go with the last user. */
  release(): void {
    for (const f of [this.mntFile, this.utsFile]) spawnUmount(f);
  }
}

/**
 * Mounts the host's cgroup hierarchies again on the fresh sysfs (the same hierarchies: a
 * cgroup mount with the same controllers joins the existing one).
 */
function cgroupScript(): string[] {
  const mounts = cgroupMounts();
  const mount = (m: { type: string; options: string; path: string }): string =>
    `mount -t ${m.type} ${m.options ? `-o ${m.options} ` : ""}${m.type} ${m.path}`;
  const top = mounts.find(m => m.path === "/sys/fs/cgroup");
  return [
    // cgroup v1 (and hybrid) hosts hold their hierarchies in a tmpfs; a v2 host mounts one
    top ? mount(top) : "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup",
    ...mounts.filter(m => m !== top).flatMap(m => [`mkdir -p ${m.path}`, mount(m)]),
  ];
}

function spawnUmount(path: string): void {
  try {
    run("umount", [path]);
  } catch (err) {
    if (!/not mounted|no mount point/.test((err as Error).message)) throw err;
  }
}
