// BGP lab pieces for root tests: BIRD2 routers in namespaces of their own on a Lab's bridge,
// and a gobgpd per lab node. Every daemon runs with its own configuration, control socket
// and pid file under the lab's temporary directory, inside a namespace the test made, so
// nothing touches (or depends on) the host's own bird or gobgpd services. Namespaces made
// here are deleted by destroy() and by a process 'exit' hook.
import { type ChildProcess, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_PROTO_DIR, PROTO_PACKAGE, protoDir } from "../../lib/bgp/proto";
import { Lab, LabNode, netnsUnavailable, run, stopChild } from "./netns";

/** Why BGP root tests cannot run here, or undefined when they can. */
export function bgpUnavailable(): string | undefined {
  const why = netnsUnavailable();
  if (why) return why;
  const tools: [string, string][] = [
    ["gobgpd", "gobgpd"],
    ["bird", "bird2"],
    ["birdc", "bird2"],
  ];
  for (const [tool, pkg] of tools) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `needs ${tool} (Debian package ${pkg}; hack/setup.sh installs it)`;
  }
  const dir = protoDir();
  if (!existsSync(join(dir, "gobgp.proto")))
    return `needs gobgp's .proto files in ${dir} (Debian package ${PROTO_PACKAGE}${dir === DEFAULT_PROTO_DIR ? "" : ", or fix PURELB_GOBGP_PROTO_DIR"})`;
  return undefined;
}

export const GOBGP_API = "127.0.0.1:50051";

/** Starts gobgpd in a node's namespace: API on the namespace's own loopback, no pprof. */
export function startGobgpd(lab: Lab, node: LabNode): ChildProcess {
  return lab.spawn(
    node.ns,
    "gobgpd",
    ["--api-hosts", GOBGP_API, "--pprof-disable", "--log-plain", "--log-level", "info"],
    { PATH: process.env.PATH },
    `gobgpd-${node.name}`,
  );
}

export interface BirdPeer {
  /** BIRD protocol name (letters, digits, underscore). */
  name: string;
  address: string;
  asn: number;
  password?: string;
}

export interface RouterOptions {
  name: string;
  /** Last octet / group of its addresses: 192.0.2.<host>, 2001:db8::<host>. */
  host: number;
  asn: number;
  peers: BirdPeer[];
}

export interface BirdRoute {
  /** The BGP protocol (peer) the route came from. */
  proto: string;
  via: string;
  best: boolean;
}

/**
 * An upstream router: BIRD2 in namespace plb-<pid>-<name>, attached to the lab bridge. It
 * imports every route its peers send and exports them to its kernel with ECMP (merge paths).
 */
export class BirdRouter {
  readonly ns: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly dir: string;
  readonly socket: string;
  private child?: ChildProcess;
  private peers: BirdPeer[];
  private readonly onExit = (): void => this.destroySync();

  private constructor(
    private readonly lab: Lab,
    private readonly opts: RouterOptions,
  ) {
    this.ns = `plb-${process.pid}-${opts.name}`;
    this.ipv4 = `192.0.2.${opts.host}`;
    this.ipv6 = `2001:db8::${opts.host}`;
    this.dir = join(lab.dir, opts.name);
    this.socket = join(this.dir, "bird.ctl");
    this.peers = opts.peers;
  }

  static async start(lab: Lab, opts: RouterOptions): Promise<BirdRouter> {
    const r = new BirdRouter(lab, opts);
    process.on("exit", r.onExit);
    try {
      mkdirSync(r.dir, { recursive: true });
      run("ip", ["netns", "add", r.ns]);
      run("ip", ["-n", r.ns, "link", "set", "lo", "up"]);
      lab.plug(r.ns, `r${opts.host}`, opts.host);
      r.writeConfig();
      r.child = lab.spawn(
        r.ns,
        "bird",
        ["-f", "-c", join(r.dir, "bird.conf"), "-s", r.socket, "-P", join(r.dir, "bird.pid")],
        { PATH: process.env.PATH },
        `bird-${opts.name}`,
      );
      const deadline = Date.now() + 10_000;
      while (
        !existsSync(r.socket) ||
        spawnSync("birdc", ["-s", r.socket, "show", "status"]).status !== 0
      ) {
        if (r.child.exitCode !== null || Date.now() > deadline)
          throw new Error(
            `bird ${opts.name} did not start; see ${lab.logPath(`bird-${opts.name}`)}`,
          );
        await new Promise(res => setTimeout(res, 50));
      }
      return r;
    } catch (err) {
      await r.destroy();
      throw err;
    }
  }

  private writeConfig(): void {
    const o = this.opts;
    const lines = [
      "log stderr all;",
      `router id ${this.ipv4};`,
      "protocol device { scan time 1; }",
      "protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths yes; }",
      "protocol kernel kernel6 { ipv6 { import none; export all; }; merge paths yes; }",
      "template bgp node {",
      `  local ${this.ipv4} as ${o.asn};`,
      "  hold time 9; keepalive time 3; connect retry time 1; error wait time 1, 2;",
      "  ipv4 { import all; export none; };",
      "  ipv6 { import all; export none; };",
      "}",
      ...this.peers.map(
        p =>
          `protocol bgp ${p.name} from node { neighbor ${p.address} as ${p.asn};${p.password ? ` password "${p.password}";` : ""} }`,
      ),
      "",
    ];
    writeFileSync(join(this.dir, "bird.conf"), lines.join("\n"));
  }

  /** Replaces the peers and reloads BIRD's configuration (sessions of unchanged peers stay). */
  reconfigure(peers: BirdPeer[]): void {
    this.peers = peers;
    this.writeConfig();
    const out = this.birdc("configure");
    if (!/Reconfigured|Reconfiguration in progress/.test(out))
      throw new Error(`bird ${this.opts.name} configure: ${out}`);
  }

  birdc(...args: string[]): string {
    return run("birdc", ["-s", this.socket, ...args]);
  }

  /** BGP protocol name -> state ("Established", "Active", ...). */
  sessions(): Map<string, string> {
    const out = new Map<string, string>();
    for (const line of this.birdc("show", "protocols").split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f[1] !== "BGP") continue;
      const state = /\b(Established|Active|Connect|Idle|OpenSent|OpenConfirm|Passive)\b/.exec(
        line.split(/\s+/).slice(4).join(" "),
      );
      out.set(f[0], state?.[1] ?? f[3]);
    }
    return out;
  }

  /** BIRD's routing table: prefix -> the routes it holds for it (one per peer that sent it). */
  routes(): Map<string, BirdRoute[]> {
    const out = new Map<string, BirdRoute[]>();
    let prefix = "";
    let last: BirdRoute | undefined;
    for (const line of this.birdc("show", "route").split("\n")) {
      const head = /^(\S+\/\d+)\s+/.exec(line);
      if (head) prefix = head[1];
      const route = /unicast \[(\w+)[^\]]*\]\s*(\*)?/.exec(line);
      if (route && prefix) {
        last = { proto: route[1], via: "", best: route[2] === "*" };
        out.set(prefix, [...(out.get(prefix) ?? []), last]);
        continue;
      }
      const via = /^\s+via (\S+)/.exec(line);
      if (via && last) last.via = via[1];
    }
    return out;
  }

  /** Next hops of the route for a prefix, sorted. */
  nextHops(prefix: string): string[] {
    return (this.routes().get(prefix) ?? []).map(r => r.via).sort();
  }

  /** The router's kernel route for a prefix, as `ip route` prints it ("" when absent). */
  kernelRoute(prefix: string): string {
    return run("ip", [
      "-n",
      this.ns,
      ...(prefix.includes(":") ? ["-6"] : []),
      "route",
      "show",
      prefix,
    ]).trim();
  }

  async destroy(): Promise<void> {
    if (this.child) await stopChild(this.child, "SIGTERM");
    this.destroySync();
  }

  private destroySync(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      this.child.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", this.ns]);
    process.off("exit", this.onExit);
  }
}
