// Chaos for the node agent on real interfaces: three nodes in network namespaces, an agent
// process per node against a real kube-apiserver, a handful of local Services (IPv4, IPv6,
// dual-stack, one without DAD, one on a subnet only two nodes have). Agents are killed at
// random (seeded; SIGTERM and SIGKILL) and restarted after a random delay while every node's
// eth0 is sampled. Needs root.
//
// What must hold, per local address:
//  - once the lease period (duration + renew) has passed since the last membership change,
//    with no agent starting or stopping: the nodes whose agents run hold it exactly when the
//    election over those nodes picks them, and not tentatively;
//  - never two nodes at once, in or out of a transition, except (a) while one of them is
//    joining (a restarted agent adds what it wins at once; the previous holder removes it when
//    it sees the new Lease: there is no handshake between them), or (b) one of them is a node
//    whose agent was SIGKILLed;
//  - a node whose agent stopped on SIGTERM holds none of them (withdrawn before its Lease goes);
//  - a node whose agent was SIGKILLed keeps what its kernel had (nobody is left to remove it),
//    gains nothing, and loses it when the address lifetime runs out. Such a stale IPv6 copy
//    also defends the address in DAD, so the new winner's copy of a DAD-enabled IPv6 address
//    may fail DAD (the kernel deletes it; the agent adds it again after a short pause) until the
//    stale one is gone: those addresses are judged only once no stopped node has held them for
//    DAD_GRACE_MS.
// At the end, with every agent back, each address is on its winner and nowhere else.
//
// And clients follow: a client requests some of the addresses every 100 ms throughout, and
// after every step it is answered again within that step's bound (see clientBound). Addresses
// with DAD are not watched: while a killed node's stale copy defends one, no other node can
// take it over (their copies fail DAD), so its gaps depend on lifetimes, not on the agents.
//
// Namespaces and processes go in afterAll, and through the exit hooks of the Lab (namespaces,
// agents, relays) and the control plane if the run dies first. Processes are killed by PID.
//
// Replay a run with PURELB_AGENT_CHAOS_SEED=<seed>. The seed fixes every random choice; which
// agents are up when a choice is made still depends on timing, so a replay is close, not exact.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { electWinner, Member } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { AgentLab, NS as SYSTEM_NS, waitFor } from "../harness/agentlab";
import { ClientLoop, NameServers } from "../harness/client-loop";
import { ensureNamespace } from "../harness/kube";
import { netnsUnavailable, run } from "../harness/netns";
import { prng } from "../harness/prng";

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`node agent chaos test skipped: ${unavailable}`);

const execFileP = promisify(execFile);
const SEED = Number(process.env.PURELB_AGENT_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const NODES = ["n1", "n2", "n3"];
const APP = "chaos-agent";

const LEASE_S = 3;
const RENEW_MS = 1_000;
/** After a membership change, elections have settled once the dead node's Lease ran out. */
const SETTLE_MS = LEASE_S * 1000 + RENEW_MS;
/** The shortest lifetime the agent accepts: how long a SIGKILLed agent's addresses linger. */
const VALID_S = 10;
/**
 * After the stale copy goes: the winner's next try comes within the agent's back-off cap
 * (2 s; it pauses between tries while DAD keeps failing), and DAD takes up to 2 s more.
 */
const DAD_GRACE_MS = 5_000;
/** Kills go on for this long, and until there were MIN_KILLS. */
const CHAOS_MS = 35_000;
const MIN_KILLS = 8;
const SAMPLE_MS = 150;
/** Watched by a client: IPv4 and IPv6 without DAD, on the subnet the client is on. */
const WATCHED = ["192.0.2.200", "192.0.2.202", "2001:db8::300"];

/** A kill, or a restart from its start until the agent was ready. */
interface Step {
  kind: "SIGTERM" | "SIGKILL" | "restart";
  node: string;
  t: number;
  readyAt?: number;
}

/**
 * By when the client must be answered again after a step, as in the failover cases: a SIGTERM
 * hands over at once (1 s), a SIGKILL waits for the Lease to lapse (Lease + 1 s), a restarted
 * agent takes its addresses back within 1 s of being ready.
 */
function clientDeadline(s: Step): number {
  if (s.kind === "SIGTERM") return s.t + 1_000;
  if (s.kind === "SIGKILL") return s.t + LEASE_S * 1000 + 1_000;
  return (s.readyAt ?? s.t) + 1_000;
}

/**
 * The window judged after step `x` (from the kill, or from the moment a restarted agent was
 * ready) and the longest the client may go unanswered in it: until the latest deadline of the
 * steps in play around it (a dead node's Lease that has not lapsed yet, or a node still
 * starting, can hold an election up).
 */
function clientBound(x: Step, steps: Step[]): { from: number; to: number; allowedMs: number } {
  const from = x.readyAt ?? x.t;
  const own = clientDeadline(x);
  const to = own + 2_000;
  let deadline = own;
  for (const s of steps) {
    if ((s.readyAt ?? s.t) >= x.t - SETTLE_MS && s.t <= to)
      deadline = Math.max(deadline, clientDeadline(s));
  }
  return { from, to, allowedMs: deadline - from };
}

/** 198.51.100.0/24 is on n1 and n2 only: its address has two candidates, sometimes none. */
const EXTRA_SUBNET: Record<string, string> = { n1: "198.51.100.11/24", n2: "198.51.100.12/24" };
const SUBNETS: Record<string, string> = {
  n1: "192.0.2.0/24,198.51.100.0/24,2001:db8::/64",
  n2: "192.0.2.0/24,198.51.100.0/24,2001:db8::/64",
  n3: "192.0.2.0/24,2001:db8::/64",
};

const SERVICES = [
  { name: "v4-a", group: "local", ips: ["192.0.2.200"] },
  { name: "v4-b", group: "local", ips: ["192.0.2.201"] },
  { name: "v6-a", group: "local", ips: ["2001:db8::200"] },
  { name: "dual", group: "local", ips: ["192.0.2.202", "2001:db8::201"] },
  { name: "v6-nodad", group: "local-nodad", ips: ["2001:db8::300"] },
  { name: "two-nodes", group: "local-two", ips: ["198.51.100.200"] },
];
const ADDRESSES = SERVICES.flatMap(s => s.ips);
/** IPv6 addresses added with DAD. */
const DAD = new Set(
  SERVICES.filter(s => s.group !== "local-nodad").flatMap(s => s.ips.filter(i => i.includes(":"))),
);

/** What the agents compute: the election among the nodes whose agents run. */
function winner(address: string, running: string[]): string | undefined {
  const members: Member[] = running.map(node => ({
    node,
    subnets: parseSubnets(SUBNETS[node]),
    expires: Infinity,
  }));
  return electWinner(address, members, Date.now());
}

const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));

type Phase = "running" | "starting" | "stopping" | "dead";
interface NodeState {
  phase: Phase;
  /** The signal of the last kill. */
  signal?: NodeJS.Signals;
  deadAt?: number;
  syncedAt?: number;
  /** After a SIGKILL: what its kernel kept, from the first sample taken after the death. */
  stale?: Set<string>;
}
interface Snapshot {
  t: number;
  version: number;
  lastChange: number;
  nodes: Record<string, NodeState>;
}
interface Held {
  tentative: boolean;
  dadfailed: boolean;
}
/** One read of one node's eth0: the local addresses of this test it holds. */
interface Read {
  node: string;
  held: Map<string, Held>;
}

/** Reads are taken one after another in this order, so that each pair of nodes has a read of one between two reads of the other. */
const ORDER = ["n1", "n2", "n3", "n1", "n2"];

/**
 * Whether x and y held `address` at the same moment, for certain: some read of y lies between
 * two reads of x that both show it. (Reads one after another are not a snapshot: x could have
 * removed it and y added it in between; a single read of each cannot tell.)
 */
function heldTogether(reads: Read[], x: string, y: string, address: string): boolean {
  const has = (i: number) => reads[i].held.has(address);
  for (let j = 0; j < reads.length; j++) {
    if (reads[j].node !== y || !has(j)) continue;
    const before = reads.slice(0, j).some((r, i) => r.node === x && has(i));
    const after = reads.some((r, i) => i > j && r.node === x && has(i));
    if (before && after) return true;
  }
  return false;
}

describe.skipIf(!!unavailable)(
  `node agent chaos: random SIGTERM/SIGKILL of agents (seed ${SEED})`,
  () => {
    let L: AgentLab;
    let servers: NameServers | undefined;
    const steps: Step[] = [];
    const rnd = prng(SEED);
    const state: Record<string, NodeState> = {};
    let version = 0;
    let lastChange = 0;
    let T0 = Date.now();
    const timeline: string[] = [];
    const violations: string[] = [];
    let violationCount = 0;
    let aborted = false;
    const timers = new Set<NodeJS.Timeout>();
    const pending = new Set<Promise<void>>();
    /** When a node that is not running its agent was last seen holding each address. */
    const lastForeign = new Map<string, number>();
    const stats = {
      samples: 0,
      settled: 0,
      windowSamples: 0,
      dadSkips: 0,
      /** DAD-enabled IPv6 addresses judged settled while a SIGKILLed agent was down. */
      dadAfterKill: 0,
      joinOverlaps: 0,
      staleOverlaps: 0,
      /** Sets of running agents seen settled. */
      sets: new Set<string>(),
      kills: { SIGTERM: 0, SIGKILL: 0 } as Record<string, number>,
      /** Settled samples with an agent down, by the signal that stopped it. */
      settledWithout: { SIGTERM: 0, SIGKILL: 0 } as Record<string, number>,
    };

    const rel = (t = Date.now()) => `${((t - T0) / 1000).toFixed(2)}s`;
    const note = (text: string) => timeline.push(`${rel()} ${text}`);
    const violation = (text: string) => {
      violationCount++;
      if (violations.length < 20) violations.push(`${rel()} ${text}`);
    };
    const setPhase = (node: string, phase: Phase, extra: Partial<NodeState> = {}) => {
      state[node] = { ...state[node], ...extra, phase };
      version++;
      lastChange = Date.now();
    };
    const snapshot = (): Snapshot => ({
      t: Date.now(),
      version,
      lastChange,
      nodes: Object.fromEntries(NODES.map(n => [n, { ...state[n] }])),
    });
    const msg = (text: string) => `seed ${SEED}: ${text}`;
    const wait = <T>(
      what: string,
      fn: () => Promise<T | undefined | false> | T | undefined | false,
      timeoutMs?: number,
    ): Promise<T> =>
      waitFor(what, fn, timeoutMs).catch((err: unknown) => expect.fail(msg(String(err))));

    async function readNodes(order: string[]): Promise<Read[]> {
      const script = order
        .map(n => `ip -n ${L.lab.node(n).ns} -j addr show dev eth0; echo @@`)
        .join("; ");
      const { stdout } = await execFileP("sh", ["-c", script]);
      const parts = stdout.split("@@\n");
      return order.map((node, i) => {
        const parsed = JSON.parse(parts[i]) as {
          addr_info?: { local: string; tentative?: boolean; dadfailed?: boolean }[];
        }[];
        const held = new Map<string, Held>();
        for (const a of parsed[0]?.addr_info ?? []) {
          if (ADDRESSES.includes(a.local))
            held.set(a.local, { tentative: a.tentative ?? false, dadfailed: a.dadfailed ?? false });
        }
        return { node, held };
      });
    }

    function check(before: Snapshot, after: Snapshot, reads: Read[]): void {
      stats.samples++;
      const stable = before.version === after.version;
      const held = (node: string) =>
        new Set(reads.filter(r => r.node === node).flatMap(r => [...r.held.keys()]));

      // Nodes without a running agent.
      for (const n of NODES) {
        const s = before.nodes[n];
        if (s.phase === "running" && after.nodes[n].phase === "running") continue;
        const h = held(n);
        for (const a of h) lastForeign.set(a, after.t);
        if (!stable || s.phase !== "dead") continue;
        if (s.signal === "SIGTERM") {
          if (h.size)
            violation(
              `${n}'s agent stopped on SIGTERM, but its eth0 still holds ${[...h].join(", ")}`,
            );
          continue;
        }
        const live = state[n];
        if (live.stale === undefined) live.stale = h;
        else {
          const gained = [...h].filter(a => !live.stale!.has(a));
          if (gained.length)
            violation(`${n}'s agent is dead, yet its eth0 gained ${gained.join(", ")}`);
        }
        if (h.size && before.t > s.deadAt! + VALID_S * 1000 + 1_500)
          violation(
            `${n}: ${[...h].join(", ")} outlived the ${VALID_S}s lifetime since its agent was killed`,
          );
      }

      // Two holders at once.
      // A killed agent's copies stay stale until its next incarnation has synced; a joining
      // agent adds what it wins before the previous holder has seen its Lease.
      const excuse = (n: string): "join" | "stale" | undefined => {
        const states = [before.nodes[n], after.nodes[n]];
        if (states.some(s => s.signal === "SIGKILL" && s.phase !== "running")) return "stale";
        if (
          states.some(
            s =>
              s.phase === "starting" ||
              (s.phase === "running" && before.t - (s.syncedAt ?? 0) < SETTLE_MS),
          )
        )
          return "join";
        return undefined;
      };
      for (const a of ADDRESSES) {
        for (const [i, x] of NODES.entries()) {
          for (const y of NODES.slice(i + 1)) {
            if (!heldTogether(reads, x, y, a) && !heldTogether(reads, y, x, a)) continue;
            const whys = [excuse(x), excuse(y)];
            const why = whys.includes("stale")
              ? "stale"
              : whys.includes("join")
                ? "join"
                : undefined;
            if (why === "stale") stats.staleOverlaps++;
            else if (why === "join") {
              stats.joinOverlaps++;
              note(`${a} on ${x} and ${y} at once while one joins`);
            } else
              violation(
                `${a} is on ${x} and ${y} at once (${x}: ${before.nodes[x].phase}, ${y}: ${before.nodes[y].phase})`,
              );
          }
        }
      }

      // Settled: exactly the winner among the running agents.
      const quiet =
        stable &&
        NODES.every(n => before.nodes[n].phase === "running" || before.nodes[n].phase === "dead") &&
        before.t - before.lastChange >= SETTLE_MS;
      if (!quiet) {
        stats.windowSamples++;
        return;
      }
      const running = NODES.filter(n => before.nodes[n].phase === "running");
      stats.settled++;
      for (const n of NODES)
        if (before.nodes[n].phase === "dead") stats.settledWithout[before.nodes[n].signal!]++;
      stats.sets.add(running.join("+"));
      for (const a of ADDRESSES) {
        if (DAD.has(a) && before.t - (lastForeign.get(a) ?? -Infinity) < DAD_GRACE_MS) {
          stats.dadSkips++;
          continue;
        }
        if (
          DAD.has(a) &&
          NODES.some(n => before.nodes[n].phase === "dead" && before.nodes[n].signal === "SIGKILL")
        )
          stats.dadAfterKill++;
        const w = winner(a, running);
        const since = `settled for ${before.t - before.lastChange} ms`;
        for (const n of running) {
          const copies = reads.filter(r => r.node === n).map(r => r.held.get(a));
          if (n === w && !copies.every(h => h))
            violation(
              `${a} is not on ${w}, the winner among running ${running.join(",")} (${since})`,
            );
          if (n !== w && copies.some(h => h))
            violation(
              `${a} is on ${n}, but the winner among running ${running.join(",")} is ${w ?? "nobody"} (${since})`,
            );
          const bad = copies.find(h => h?.tentative || h?.dadfailed);
          if (bad)
            violation(`${a} on ${n} is ${bad.dadfailed ? "dadfailed" : "tentative"} (${since})`);
        }
      }
    }

    async function sampler(): Promise<void> {
      while (!aborted) {
        const before = snapshot();
        try {
          const reads = await readNodes(ORDER);
          check(before, snapshot(), reads);
        } catch (err) {
          if (!aborted) violation(`sampling failed: ${String(err)}`);
        }
        await sleep(SAMPLE_MS);
      }
    }

    async function kill(node: string, signal: NodeJS.Signals): Promise<void> {
      const child = L.agents.get(node)!;
      stats.kills[signal]++;
      steps.push({ kind: signal as Step["kind"], node, t: Date.now() });
      note(`${signal} ${node} (pid ${child.pid})`);
      setPhase(node, "stopping", { signal, stale: undefined });
      await L.stopAgent(node, signal);
      setPhase(node, "dead", { deadAt: Date.now() });
      note(`${node} exited (code ${child.exitCode}, signal ${child.signalCode})`);
      if (signal === "SIGTERM") {
        if (child.exitCode !== 0)
          violation(
            `${node}'s agent did not shut down cleanly on SIGTERM (code ${child.exitCode}, signal ${child.signalCode})`,
          );
        const [r] = await readNodes([node]);
        if (r.held.size)
          violation(
            `${node}'s agent exited on SIGTERM and left ${[...r.held.keys()].join(", ")} on eth0`,
          );
      }
    }

    async function restart(node: string): Promise<void> {
      if (aborted) return;
      note(`starting ${node}`);
      setPhase(node, "starting");
      const step: Step = { kind: "restart", node, t: Date.now() };
      steps.push(step);
      try {
        await L.startAgent(node);
        const now = Date.now();
        step.readyAt = now;
        setPhase(node, "running", {
          syncedAt: now,
          signal: undefined,
          stale: undefined,
          deadAt: undefined,
        });
        note(`${node} synced`);
      } catch (err) {
        if (!aborted) violation(`${node}'s agent did not come back: ${String(err)}`);
      }
    }

    function restartLater(node: string, ms: number): void {
      const timer = setTimeout(() => {
        timers.delete(timer);
        const p = restart(node).finally(() => pending.delete(p));
        pending.add(p);
      }, ms);
      timers.add(timer);
    }

    /** Waits until nothing starts or stops and the last change is `holdMs` old (at most maxMs). */
    async function quiet(holdMs: number, maxMs: number): Promise<void> {
      const deadline = Date.now() + maxMs;
      while (Date.now() < deadline && !violations.length) {
        if (
          NODES.every(n => state[n].phase === "running" || state[n].phase === "dead") &&
          Date.now() - lastChange >= holdMs
        )
          return;
        await sleep(100);
      }
    }

    beforeAll(async () => {
      console.log(`node agent chaos: seed ${SEED} (replay with PURELB_AGENT_CHAOS_SEED=${SEED})`);
      L = await AgentLab.start({ nodes: NODES });
      for (const [n, cidr] of Object.entries(EXTRA_SUBNET))
        run("ip", ["-n", L.lab.node(n).ns, "addr", "add", cidr, "dev", "eth0"]);
      await ensureNamespace(L.client, APP);
      await L.agentConfig({
        local: {
          garp: { enabled: true, count: 1, interval: "200ms", refresh: "60s" },
          addressLifetime: { valid: `${VALID_S}s`, preferred: `${VALID_S}s` },
        },
        lease: { duration: `${LEASE_S}s`, renew: `${RENEW_MS}ms` },
      });
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
      await L.group("local-nodad", {
        local: {
          skipIPv6DAD: true,
          v6pools: [
            { pool: "2001:db8::300-2001:db8::3ff", subnet: "2001:db8::/64", aggregation: "/128" },
          ],
        },
      });
      await L.group("local-two", {
        local: {
          v4pools: [
            {
              pool: "198.51.100.200-198.51.100.239",
              subnet: "198.51.100.0/24",
              aggregation: "default",
            },
          ],
        },
      });
      for (const s of SERVICES)
        await L.service(APP, s.name, { group: s.group, poolType: "local", ips: s.ips });
      servers = await NameServers.start(L.lab);
      const t = Date.now();
      await Promise.all(NODES.map(n => L.startAgent(n)));
      console.log(`three agents synced in ${Date.now() - t} ms`);
      for (const n of NODES) setPhase(n, "running", { syncedAt: Date.now() });
    });

    // A failure shows what happened and what the agents said.
    afterEach(ctx => {
      if (ctx.task.result?.state !== "fail") return;
      console.log(`--- chaos timeline (seed ${SEED}) ---\n${timeline.join("\n")}`);
      for (const n of NODES)
        console.log(
          `--- agent ${n} (last lines) ---\n${L?.agentLog(n).split("\n").slice(-30).join("\n")}`,
        );
    });

    afterAll(async () => {
      aborted = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      // A restart under way normally syncs within a second or two; L.stop() ends it otherwise.
      await Promise.race([Promise.allSettled([...pending]), sleep(5_000)]);
      await servers?.stop();
      await L?.stop();
      expect(run("ip", ["netns", "list"]), msg("lab namespaces left behind")).not.toMatch(
        new RegExp(`plb-${process.pid}-`),
      );
    });

    it("keeps every local address on exactly its winner while agents die and come back", async () => {
      // The model the checks use matches what the agents publish.
      for (const n of NODES) {
        const lease = await wait(`Lease of ${n} with its subnets`, async () => {
          const l = await L.client.request<{ metadata: { annotations?: Record<string, string> } }>(
            "GET",
            `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/purelb-node-${n}`,
          );
          return l.metadata.annotations?.["purelb.io/subnets"] === SUBNETS[n] ? l : undefined;
        });
        expect(lease, msg(`Lease of ${n}`)).toBeDefined();
      }
      const holders = (reads: Read[], a: string) =>
        reads
          .filter(r => r.held.has(a) && !r.held.get(a)!.tentative && !r.held.get(a)!.dadfailed)
          .map(r => r.node);
      const converged = async (what: string, timeoutMs: number) => {
        let last: Read[] = [];
        try {
          await waitFor(
            what,
            async () => {
              last = await readNodes(NODES);
              return ADDRESSES.every(
                a =>
                  holders(last, a).join() === (winner(a, NODES) ?? "") &&
                  last.filter(r => r.held.has(a)).length === 1,
              );
            },
            timeoutMs,
          );
        } catch {
          const seen = ADDRESSES.map(
            a =>
              `${a}: on ${
                last
                  .filter(r => r.held.has(a))
                  .map(r => r.node)
                  .join(",") || "none"
              }, winner ${winner(a, NODES)}`,
          );
          expect.fail(msg(`${what}, timed out:\n  ${seen.join("\n  ")}`));
        }
      };
      await converged("every address on its winner before the chaos", 15_000);
      console.log(
        `winners with all agents up: ${ADDRESSES.map(a => `${a}->${winner(a, NODES)}`).join(", ")}`,
      );

      const loops = await Promise.all(
        WATCHED.map(ip => ClientLoop.start(L.lab, ip, { maxMs: 180_000 })),
      );
      T0 = Date.now();
      lastChange = T0;
      const sampling = sampler();
      const signals: NodeJS.Signals[] = [];
      for (let i = 0; i < MIN_KILLS; i++) signals.push(i % 2 ? "SIGTERM" : "SIGKILL");
      for (let i = signals.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [signals[i], signals[j]] = [signals[j], signals[i]];
      }
      let kills = 0;
      while (!violations.length) {
        const elapsed = Date.now() - T0;
        if (kills >= MIN_KILLS && elapsed >= CHAOS_MS) break;
        if (elapsed > CHAOS_MS + 25_000) {
          violation(`only ${kills} kills in ${elapsed} ms`);
          break;
        }
        // Keep at least one agent running.
        const candidates = NODES.filter(n => state[n].phase === "running");
        if (candidates.length < 2) {
          await sleep(100);
          continue;
        }
        // A fixed number of draws per kill, whatever the timing.
        const [rNode, rSignal, rDelay, rMode, rGap] = [rnd(), rnd(), rnd(), rnd(), rnd()];
        const node = candidates[Math.floor(rNode * candidates.length)];
        const signal = signals[kills] ?? (rSignal < 0.5 ? "SIGTERM" : "SIGKILL");
        kills++;
        await kill(node, signal);
        if (stats.kills[signal] === 1) {
          // The first victim of each signal stays down until a few samples have been judged
          // settled without it; after SIGKILL, also until its stale copies have expired, so that
          // the new winners' DAD-enabled IPv6 copies are judged too.
          const judged = stats.settledWithout[signal];
          const until =
            Date.now() + (signal === "SIGKILL" ? VALID_S * 1000 + DAD_GRACE_MS + 500 : 0);
          await quiet(SETTLE_MS, 12_000);
          for (
            let i = 0;
            i < 200 &&
            (Date.now() < until || stats.settledWithout[signal] < judged + 5) &&
            !violations.length;
            i++
          )
            await sleep(100);
          restartLater(node, 0);
          continue;
        }
        restartLater(node, 500 + rDelay * 5_500);
        // Sometimes let things settle (the settled checks run then), sometimes pile up changes;
        // late in the run only the latter, so that the kills are done in time.
        if (rMode < 0.4 && elapsed < CHAOS_MS * 0.6)
          await quiet(SETTLE_MS + 500 + rGap * 1_500, 10_000);
        else await sleep(300 + rGap * 1_700);
      }
      note(`chaos over after ${kills} kills; waiting for the restarts`);

      if (!violations.length) {
        await wait("pending restarts", () => timers.size === 0 && pending.size === 0, 30_000);
        expect(
          NODES.filter(n => state[n].phase !== "running"),
          msg("agents not running at the end"),
        ).toEqual([]);
        // Restarted agents drop their stale copies when they sync; allow a lifetime all the same.
        await converged(
          "every address on its winner with all agents back",
          VALID_S * 1000 + SETTLE_MS,
        );
        // And it stays so while the sampler judges a few settled samples.
        await quiet(SETTLE_MS, SETTLE_MS + 5_000);
        const settled = stats.settled;
        for (let i = 0; i < 40 && stats.settled < settled + 5 && !violations.length; i++)
          await sleep(100);
      }
      aborted = true;
      await sampling;
      await Promise.all(loops.map(l => l.stop()));

      // Clients: after every step, answered again within its bound.
      const clientGaps: string[] = [];
      for (const loop of loops) {
        const whole = loop.report();
        clientGaps.push(
          `${loop.vip}: longest gap ${whole.longestGapMs} ms, ${whole.failures}/${whole.requests} unanswered, by ${JSON.stringify(whole.answeredBy)}`,
        );
        for (const x of steps) {
          const { from, to, allowedMs } = clientBound(x, steps);
          const r = loop.report(from, to);
          if (r.longestGapMs > allowedMs)
            violation(
              `client of ${loop.vip}: after ${x.kind} ${x.node} at ${rel(x.t)}${x.readyAt ? ` (ready ${rel(x.readyAt)})` : ""}, unanswered for ${r.longestGapMs} ms from ${rel(r.gapFrom)}; allowed ${allowedMs} ms`,
            );
        }
      }
      console.log(`clients during the chaos (seed ${SEED}):\n  ${clientGaps.join("\n  ")}`);

      const summary =
        `${kills} kills (${stats.kills.SIGTERM} SIGTERM, ${stats.kills.SIGKILL} SIGKILL) in ${rel()}; ${stats.samples} samples, ` +
        `${stats.settled} settled (running sets ${[...stats.sets].sort().join(" ")}; ${stats.settledWithout.SIGTERM} with an agent down by SIGTERM, ${stats.settledWithout.SIGKILL} by SIGKILL), ` +
        `${stats.windowSamples} in transition, ` +
        `${stats.dadSkips} DAD-address checks deferred behind stale copies (${stats.dadAfterKill} made with a SIGKILLed agent down), overlaps tolerated: ${stats.joinOverlaps} while joining, ${stats.staleOverlaps} with a killed node's stale copy`;
      console.log(`node agent chaos (seed ${SEED}): ${summary}`);
      if (stats.joinOverlaps)
        console.log(
          `overlaps while joining:\n${timeline.filter(l => l.includes("while one joins")).join("\n")}`,
        );
      expect(
        violations,
        msg(`${violationCount} violation(s); ${summary}\ntimeline:\n${timeline.join("\n")}`),
      ).toEqual([]);
      expect(kills, msg("kill events")).toBeGreaterThanOrEqual(MIN_KILLS);
      expect(stats.kills.SIGTERM, msg("SIGTERM kills")).toBeGreaterThanOrEqual(2);
      expect(stats.kills.SIGKILL, msg("SIGKILL kills")).toBeGreaterThanOrEqual(2);
      expect(stats.settled, msg("settled samples")).toBeGreaterThanOrEqual(10);
      expect(
        stats.sets.size,
        msg("distinct sets of running agents seen settled"),
      ).toBeGreaterThanOrEqual(2);
      expect(
        stats.settledWithout.SIGTERM,
        msg("settled samples with an agent down after SIGTERM"),
      ).toBeGreaterThanOrEqual(3);
      expect(
        stats.settledWithout.SIGKILL,
        msg("settled samples with an agent down after SIGKILL"),
      ).toBeGreaterThanOrEqual(3);
      expect(
        stats.dadAfterKill,
        msg("DAD-enabled IPv6 addresses judged settled with a SIGKILLed agent down"),
      ).toBeGreaterThanOrEqual(1);
    }, 110_000);
  },
);
