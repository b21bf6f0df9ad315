// Network namespaces for the node agent's root tests: "nodes" and a client joined by a bridge
// that lives in a namespace of its own. Nothing is ever created in the host's namespace, and
// only documentation addresses are used. Everything made here is removed by destroy(), and
// by a process 'exit' hook if a run dies first.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why netns tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "needs root (network namespaces, veth, raw sockets)";
  for (const tool of ["ip", "tcpdump"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `needs ${tool} (hack/setup.sh installs it)`;
  }
  return undefined;
}

export function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

export interface LabNode {
  name: string;
  ns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

export interface JsonAddress {
  family: "inet" | "inet6";
  local: string;
  prefixlen: number;
  valid_life_time: number;
  preferred_life_time: number;
  nodad?: boolean;
  dynamic?: boolean;
  tentative?: boolean;
  dadfailed?: boolean;
}

/**
 * Namespaces `plb-<tag>-<name>`: a bridge namespace, one per node (eth0 on the bridge with
 * 192.0.2.<10+i>/24 and 2001:db8::<10+i>/64, plus a kube-lb0 of type ifb because this kernel
 * has no dummy links), and a client (192.0.2.100, 2001:db8::100).
 */
export class Lab {
  readonly dir: string;
  readonly nodes: LabNode[] = [];
  readonly client: LabNode;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly onExit = (): void => this.destroySync();
  readonly bridgeNs: string;

  constructor(nodeNames: string[], tag = String(process.pid)) {
    this.dir = mkdtempSync(join(tmpdir(), "purelb-netns-"));
    process.on("exit", this.onExit);
    const ns = (name: string) => `plb-${tag}-${name}`;
    this.bridgeNs = ns("br");
    try {
      this.addNs(this.bridgeNs);
      run("ip", ["-n", this.bridgeNs, "link", "add", "br0", "type", "bridge"]);
      run("ip", ["-n", this.bridgeNs, "link", "set", "br0", "up"]);
      // IPv6 on a fresh bridge: no forwarding delay, no multicast snooping surprises.
      run("ip", [
        "-n",
        this.bridgeNs,
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "forward_delay",
        "0",
        "mcast_snooping",
        "0",
      ]);
      nodeNames.forEach((name, i) => this.nodes.push(this.attach(ns(name), name, i, 11 + i)));
      this.client = this.attach(ns("client"), "client", nodeNames.length, 100);
      for (const n of this.nodes) run("ip", ["-n", n.ns, "link", "add", "kube-lb0", "type", "ifb"]);
    } catch (err) {
      this.destroySync();
      throw err;
    }
  }

  private addNs(name: string): void {
    run("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    run("ip", ["-n", name, "link", "set", "lo", "up"]);
  }

  private attach(ns: string, name: string, i: number, host: number): LabNode {
    this.addNs(ns);
    return { name, ns, ...this.plug(ns, `p${i}`, host) };
  }

  /**
   * Connects namespace `ns` to the bridge: its eth0, the bridge's `port`, with 192.0.2.<host>/24
   * and 2001:db8::<host>/64.
   */
  plug(ns: string, port: string, host: number): { ipv4: string; ipv6: string; mac: string } {
    // Made inside the bridge namespace, the far end moved straight into the node's.
    run("ip", [
      "-n",
      this.bridgeNs,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns,
    ]);
    run("ip", ["-n", this.bridgeNs, "link", "set", port, "master", "br0", "up"]);
    const ipv4 = `192.0.2.${host}`;
    const ipv6 = `2001:db8::${host}`;
    run("ip", ["-n", ns, "addr", "add", `${ipv4}/24`, "dev", "eth0"]);
    run("ip", ["-n", ns, "addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad"]);
    run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    const mac = (
      JSON.parse(run("ip", ["-n", ns, "-j", "link", "show", "eth0"])) as { address: string }[]
    )[0].address;
    return { ipv4, ipv6, mac };
  }

  node(name: string): LabNode {
    const n = this.nodes.find(x => x.name === name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  }

  /** Addresses on an interface of a namespace, as `ip -j` reports them. */
  addresses(ns: string, dev: string): JsonAddress[] {
    const out = JSON.parse(run("ip", ["-n", ns, "-j", "addr", "show", "dev", dev])) as {
      addr_info: JsonAddress[];
    }[];
    return out[0]?.addr_info ?? [];
  }

  find(ns: string, dev: string, address: string): JsonAddress | undefined {
    return this.addresses(ns, dev).find(a => a.local === address);
  }

  exec(ns: string, cmd: string, args: string[]): string {
    return run("ip", ["netns", "exec", ns, cmd, ...args]);
  }

  /** Starts a process in a namespace, output to `<dir>/<logName>.log`; killed by destroy(). */
  spawn(
    ns: string,
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    logName: string,
  ): ChildProcess {
    const fd = openSync(join(this.dir, `${logName}.log`), "a");
    try {
      const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
        env,
        stdio: ["ignore", fd, fd],
      });
      this.children.add(child);
      child.once("exit", () => this.children.delete(child));
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Starts a process whose output the caller reads (tcpdump, ip monitor). */
  spawnPiped(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  logPath(logName: string): string {
    return join(this.dir, `${logName}.log`);
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.children].map(c => stopChild(c, "SIGKILL")));
    this.destroySync();
  }

  private destroySync(): void {
    for (const c of this.children)
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    this.children.clear();
    for (const ns of this.namespaces.splice(0).reverse()) spawnSync("ip", ["netns", "del", ns]);
    rmSync(this.dir, { recursive: true, force: true });
    process.off("exit", this.onExit);
  }
}

/** Sends `signal` and waits (up to 10 s, then SIGKILL) for the process to end. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(resolve => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
