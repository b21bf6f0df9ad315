// Faults between nodes and the control plane for an AgentLab: freeze the kube-apiserver
// (SIGSTOP, what an apiserver upgrade or an etcd stall looks like to the nodes), cut nodes off
// the lab's bridge while their links stay up, and watch which nodes hold an address.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AgentLab } from "./agentlab";
import { run } from "./netns";

/** A heartbeat key file for the lab's agents; remove() deletes it. */
export function heartbeatKey(): { file: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-hbkey-"));
  const file = path.join(dir, "key");
  writeFileSync(file, randomBytes(32).toString("hex"), { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The kube-apiserver of this lab's control plane: our own child, found by its binary and its
 * data directory on the command line, so no other process is ever signalled.
 */
export function apiserverPid(lab: AgentLab): number {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      if (
        ppid === process.pid &&
        argv[0].endsWith("kube-apiserver") &&
        argv.some(a => a.includes(lab.cp.dir))
      )
        return Number(entry);
    } catch {
      // A process that ended while we looked.
    }
  }
  throw new Error(`no kube-apiserver child of ${process.pid} with ${lab.cp.dir}`);
}

/** Freezes the apiserver until the returned function is called (idempotent). */
export function freezeApiserver(lab: AgentLab): () => void {
  const pid = apiserverPid(lab);
  process.kill(pid, "SIGSTOP");
  let thawed = false;
  return () => {
    if (thawed) return;
    thawed = true;
    process.kill(pid, "SIGCONT");
  };
}

/** The bridge port of a lab node (Lab names them p<index>). */
const port = (lab: AgentLab, node: string): string =>
  `p${lab.lab.nodes.findIndex(n => n.name === node)}`;

/**
 * Moves the bridge ports of `nodes` to a bridge of their own (`br1`), or detaches them when
 * `alone`: their links stay up (no carrier change), but no frame reaches the other side.
 * Returns the function that puts them back on br0.
 */
export function splitLan(lab: AgentLab, nodes: string[], alone = false): () => void {
  const ns = lab.lab.bridgeNs;
  if (!alone) {
    run("ip", ["-n", ns, "link", "add", "br1", "type", "bridge"]);
    run("ip", ["-n", ns, "link", "set", "br1", "type", "bridge", "forward_delay", "0"]);
    run("ip", ["-n", ns, "link", "set", "br1", "up"]);
  }
  for (const n of nodes)
    run("ip", [
      "-n",
      ns,
      "link",
      "set",
      port(lab, n),
      ...(alone ? ["nomaster"] : ["master", "br1"]),
    ]);
  let healed = false;
  return () => {
    if (healed) return;
    healed = true;
    for (const n of nodes) run("ip", ["-n", ns, "link", "set", port(lab, n), "master", "br0"]);
    if (!alone) run("ip", ["-n", ns, "link", "del", "br1"]);
  };
}

/** An agent's Prometheus metrics, read inside its node's namespace. */
export function scrapeMetrics(lab: AgentLab, node: string, port = 9091): string {
  return lab.lab.exec(lab.lab.node(node).ns, process.execPath, [
    "-e",
    `require("node:http").get("http://127.0.0.1:${port}/metrics", r => { let b = ""; r.on("data", c => (b += c)); r.on("end", () => process.stdout.write(b)); });`,
  ]);
}

/** The value of one metric series (`name{labels}` exactly as exposed), or undefined. */
export function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find(l => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/**
 * Samples which nodes hold each address every `everyMs` until stop(); the most holders seen
 * at once, and the holders at every sample, per address.
 */
export class HolderSampler {
  readonly samples = new Map<string, string[][]>();
  private timer: NodeJS.Timeout;

  constructor(
    private readonly lab: AgentLab,
    private readonly addresses: string[],
    everyMs = 250,
  ) {
    for (const a of addresses) this.samples.set(a, []);
    this.timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }

  holders(address: string): string[] {
    return this.lab.lab.nodes
      .filter(n => this.lab.lab.find(n.ns, "eth0", address))
      .map(n => n.name);
  }

  private sample(): void {
    // One `ip` call per node for all addresses: the samples must not stall the test.
    const held = this.lab.lab.nodes.map(n => ({
      name: n.name,
      addresses: new Set(this.lab.lab.addresses(n.ns, "eth0").map(a => a.local)),
    }));
    for (const a of this.addresses)
      this.samples.get(a)!.push(held.filter(h => h.addresses.has(a)).map(h => h.name));
  }

  /** Every distinct holder set seen for an address, in order. */
  seen(address: string): string[] {
    const out: string[] = [];
    for (const s of this.samples.get(address) ?? []) {
      const k = s.join(",") || "(none)";
      if (out[out.length - 1] !== k) out.push(k);
    }
    return out;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
