// Failover as a client sees it: three lab nodes running agents, an HTTP server per node
// answering its name, and a client requesting a local address every 100 ms through each
// failover case. Shared by tests/netns/failover-client.test.ts (bounds) and
// bench/failover-client.ts (figures).
//
// The four cases, for the address's winner `first` and the node `next` that stands in:
//  - graceful: first's agent stops on SIGTERM (withdraws, deletes its Lease);
//  - node death: first's agent is SIGKILLed and its eth0 set down, as a dead node looks to the
//    LAN; next takes over once first's Lease lapses;
//  - node return: after a node death, eth0 up and the agent restarted; first wins again;
//  - crash restart: first's agent is SIGKILLed (link up, so its kernel keeps answering for the
//    address), next takes over once the Lease lapses, and more than a Lease later the agent
//    restarts and wins again.
import { type ChildProcess } from "node:child_process";
import { AgentLab, labWinner } from "./agentlab";
import { ClientLoop, NameServers, Reachability } from "./client-loop";
import { ensureNamespace, waitFor } from "./kube";
import { run } from "./netns";

/** Counts unsolicited NAs for one address from one MAC, seen in the client namespace. */
class NaCapture {
  private count = 0;
  private constructor(private readonly child: ChildProcess) {}

  static async start(L: AgentLab, ip: string, mac: string): Promise<NaCapture> {
    const child = L.lab.spawnPiped(L.lab.client.ns, "tcpdump", [
      ...["-i", "eth0", "-n", "-e", "-l", "-U", "-t"],
      ...["ether", "src", mac, "and", "icmp6", "and", "ip6[40] == 136"],
    ]);
    const cap = new NaCapture(child);
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      for (const l of c.split("\n")) if (l.includes(`tgt is ${ip},`)) cap.count++;
    });
    await waitFor("tcpdump listening", () => err.includes("listening on"), 10_000);
    return cap;
  }

  stop(): number {
    this.child.kill("SIGKILL");
    return this.count;
  }
}

export const NODES = ["n1", "n2", "n3"];
const APP = "failover-client";
/** After the addresses have settled, the client must have followed within this. */
const HOLD_MS = 2_000;
/** Answers before each case starts, so a loop that cannot reach the address at all shows. */
const BASELINE_MS = 500;
/** Crash restart: how long past the Lease the agent stays down (IPv6: about three DAD tries). */
const CRASH_EXTRA_MS = 5_000;

export type FailoverCase = "graceful" | "node death" | "node return" | "crash restart";

export interface CaseResult {
  case: FailoverCase;
  address: string;
  first: string;
  next: string;
  /** The whole case, from the fault (or the repair) until HOLD_MS after things settled. */
  reach: Reachability;
  /** Crash restart only: while the agent was down, and from the moment it was ready again. */
  whileDown?: Reachability;
  afterReady?: Reachability;
  /** Crash restart only: unsolicited NAs for the address from the stand-in while first was
   * down (IPv6: its copies fail DAD against first's, so none may be announced). */
  standInNas?: number;
}

export interface FailoverLabOptions {
  leaseS: number;
  /** What node runs after the agent's flags (the lab's default: tsx lib/agent/main.ts). */
  agentArgs?: string[];
}

const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

export class FailoverLab {
  private constructor(
    readonly L: AgentLab,
    private readonly servers: NameServers,
    readonly leaseS: number,
  ) {}

  static async start(opts: FailoverLabOptions): Promise<FailoverLab> {
    const L = await AgentLab.start({ nodes: NODES, agentArgs: opts.agentArgs });
    try {
      // A node's own (permanent) IPv6 address survives a link flap, as a network manager
      // would restore it; PureLB's copies (finite lifetime) are flushed by the kernel.
      for (const n of L.lab.nodes)
        L.lab.exec(n.ns, "sysctl", ["-qw", "net.ipv6.conf.eth0.keep_addr_on_down=1"]);
      await ensureNamespace(L.client, APP);
      await L.agentConfig({
        local: {
          garp: { enabled: true, count: 2, interval: "200ms", refresh: "60s" },
          addressLifetime: { valid: "60s", preferred: "60s" },
        },
        lease: { duration: `${opts.leaseS}s`, renew: "1s" },
      });
      // IPv6 with duplicate address detection on, as by default.
      await L.group("local", {
        local: {
          v4pools: [
            { pool: "192.0.2.200-192.0.2.239", subnet: "192.0.2.0/24", aggregation: "default" },
          ],
          v6pools: [
            {
              pool: "2001:db8::200-2001:db8::2ff",
              subnet: "2001:db8::/64",
              aggregation: "default",
            },
          ],
        },
      });
      const servers = await NameServers.start(L.lab);
      await Promise.all(NODES.map(n => L.startAgent(n)));
      return new FailoverLab(L, servers, opts.leaseS);
    } catch (err) {
      await L.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.servers.stop();
    await this.L.stop();
  }

  /** Nodes holding a usable copy of `ip` (not tentative, not failed DAD). */
  holders(ip: string): string[] {
    return NODES.filter(n => {
      const a = this.L.lab.find(this.L.lab.node(n).ns, "eth0", ip);
      return a && !a.tentative && !a.dadfailed;
    });
  }

  private waitHolders(ip: string, want: string[], timeoutMs = 15_000): Promise<unknown> {
    return waitFor(
      `${ip} on ${want.join(",")}`,
      () => this.holders(ip).join() === want.join(),
      timeoutMs,
    );
  }

  private roles(ip: string): { first: string; next: string } {
    const first = labWinner(ip, NODES);
    return {
      first,
      next: labWinner(
        ip,
        NODES.filter(n => n !== first),
      ),
    };
  }

  /** Creates a Service for `ip` and waits until the client reaches it on its winner. */
  async serve(name: string, ip: string): Promise<void> {
    await this.L.service(APP, name, { group: "local", poolType: "local", ips: [ip] });
    await this.waitHolders(ip, [this.roles(ip).first]);
    await this.waitAnsweredBy(ip, this.roles(ip).first);
  }

  /**
   * Waits until `node` answers the client for `ip`. The client's neighbour entry is flushed
   * first, so that a case that left the client stuck does not spill into the next one.
   */
  private async waitAnsweredBy(ip: string, node: string): Promise<void> {
    run("ip", ["-n", this.L.lab.client.ns, "neigh", "flush", "to", ip]);
    const loop = await ClientLoop.start(this.L.lab, ip);
    try {
      await waitFor(
        `${node} answering for ${ip}`,
        () => loop.answers.some(a => a.node === node),
        15_000,
      );
    } finally {
      await loop.stop();
    }
  }

  private async measure(
    ip: string,
    fn: (loop: ClientLoop) => Promise<void>,
  ): Promise<{ loop: ClientLoop; reach: Reachability; t0: number }> {
    const loop = await ClientLoop.start(this.L.lab, ip);
    try {
      await sleep(BASELINE_MS);
      const t0 = Date.now();
      await fn(loop);
      await sleep(HOLD_MS);
      await loop.stop();
      return { loop, reach: loop.report(t0), t0 };
    } finally {
      await loop.stop();
    }
  }

  async graceful(ip: string): Promise<CaseResult> {
    const { first, next } = this.roles(ip);
    await this.waitHolders(ip, [first]);
    await this.waitAnsweredBy(ip, first);
    const { reach } = await this.measure(ip, async () => {
      await this.L.stopAgent(first, "SIGTERM");
      await this.waitHolders(ip, [next]);
    });
    await this.L.startAgent(first);
    await this.waitHolders(ip, [first]);
    await this.waitAnsweredBy(ip, first);
    return { case: "graceful", address: ip, first, next, reach };
  }

  /** Leaves `first` dead with its link down: nodeReturn() brings it back. */
  async nodeDeath(ip: string): Promise<CaseResult> {
    const { first, next } = this.roles(ip);
    await this.waitHolders(ip, [first]);
    await this.waitAnsweredBy(ip, first);
    const { reach } = await this.measure(ip, async () => {
      await this.L.stopAgent(first, "SIGKILL");
      this.link(first, "down");
      await waitFor(`${ip} on ${next}`, () => this.holders(ip).includes(next), 15_000);
    });
    return { case: "node death", address: ip, first, next, reach };
  }

  async nodeReturn(ip: string): Promise<CaseResult> {
    const { first, next } = this.roles(ip);
    await this.waitAnsweredBy(ip, next);
    const { reach } = await this.measure(ip, async () => {
      this.link(first, "up");
      await this.L.startAgent(first);
      await this.waitHolders(ip, [first]);
    });
    return { case: "node return", address: ip, first, next, reach };
  }

  async crashRestart(ip: string): Promise<CaseResult> {
    const { first, next } = this.roles(ip);
    let restartAt = 0;
    let readyAt = 0;
    let standInNas = 0;
    await this.waitHolders(ip, [first]);
    await this.waitAnsweredBy(ip, first);
    const na = await NaCapture.start(this.L, ip, this.L.lab.node(next).mac);
    const { loop, reach, t0 } = await this.measure(ip, async () => {
      await this.L.stopAgent(first, "SIGKILL");
      // Well over a Lease: next has taken over (an IPv6 copy with DAD cannot, while first's
      // kernel still defends the address: next tries again every 2 s).
      await sleep(this.leaseS * 1000 + CRASH_EXTRA_MS);
      if (!ip.includes(":"))
        await waitFor(`${ip} on ${next}`, () => this.holders(ip).includes(next), 10_000);
      restartAt = Date.now();
      standInNas = na.stop();
      await this.L.startAgent(first);
      readyAt = Date.now();
      await this.waitHolders(ip, [first]);
    });
    return {
      case: "crash restart",
      address: ip,
      first,
      next,
      reach,
      whileDown: loop.report(t0, restartAt),
      standInNas,
      afterReady: loop.report(readyAt),
    };
  }

  private link(node: string, state: "up" | "down"): void {
    run("ip", ["-n", this.L.lab.node(node).ns, "link", "set", "eth0", state]);
  }
}

/** One line for a log: the case, the gap and who answered. */
export function describeCase(r: CaseResult): string {
  const fmt = (x: Reachability) =>
    `longest gap ${x.longestGapMs} ms, ${x.failures} failed of ${x.requests}, answered by ${JSON.stringify(x.answeredBy)}`;
  let s = `${r.case} ${r.address} (${r.first} -> ${r.next}): ${fmt(r.reach)}`;
  if (r.whileDown) s += `; while down: ${fmt(r.whileDown)}`;
  if (r.afterReady) s += `; after ready: ${fmt(r.afterReady)}`;
  if (r.standInNas !== undefined) s += `; NAs from the stand-in while down: ${r.standInNas}`;
  return s;
}
