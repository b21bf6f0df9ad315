// Control-plane and node-network faults with a client requesting each VIP every 100 ms: four
// nodes in network namespaces whose agents heartbeat each other, a real kube-apiserver, and
// what the client sees (lost requests, the longest gap, who answered). Needs root.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentLab, labWinner, waitFor } from "../harness/agentlab";
import { ClientLoop, NameServers, type Reachability } from "../harness/client-loop";
import { ensureNamespace, eventsFor, remove } from "../harness/kube";
import { netnsUnavailable, run } from "../harness/netns";
import { encode } from "../../lib/heartbeat/wire";
import {
  HolderSampler,
  freezeApiserver,
  heartbeatKey,
  metric,
  scrapeMetrics,
  splitLan,
} from "../harness/outage";

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`netns tests skipped: ${unavailable}`);

const NODES = ["n1", "n2", "n3", "n4"];
const LEASE_MS = 5_000;
const APP = "outage-it";
const METRICS_PORT = 9091;
/**
 * A new IPv6 holder answers only once duplicate address detection is done: a random delay of
 * up to 1 s, then 1 s for an answer that does not come (Linux defaults).
 */
const DAD_MS = 2_000;
const FREEZE_MS = Number(process.env.PURELB_OUTAGE_FREEZE_MS ?? 60_000);

/** The first address of each family's pool that `node` wins among `among`. */
function wonBy(node: string, among = NODES, skip: string[] = []): { v4: string; v6: string } {
  const pick = (all: string[]) => {
    const ip = all.find(a => !skip.includes(a) && labWinner(a, among) === node);
    if (!ip) throw new Error(`no address won by ${node}`);
    return ip;
  };
  const v4 = pick(Array.from({ length: 40 }, (_, i) => `192.0.2.${200 + i}`));
  const v6 = pick(Array.from({ length: 200 }, (_, i) => `2001:db8::${(0x200 + i).toString(16)}`));
  return { v4, v6 };
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe.skipIf(!!unavailable)("serving through control-plane and node-network faults", () => {
  let L: AgentLab;
  let servers: NameServers;
  const key = heartbeatKey();
  const used: string[] = [];
  const undo: (() => void)[] = [];

  const vipsFor = (node: string, among = NODES) => {
    const v = wonBy(node, among, used);
    used.push(v.v4, v.v6);
    return v;
  };

  /**
   * Every agent hears the other three and sees every Lease live. Polled twice a second: each
   * look starts a process per node, and polling faster starves the agents on two cores.
   */
  async function healthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const both = (n: string) =>
      metric(scrapeMetrics(L, n, METRICS_PORT), 'purelb_membership_nodes{signal="both"}');
    for (;;) {
      const seen = NODES.map(both);
      if (seen.every(v => v === NODES.length)) return;
      if (Date.now() > deadline)
        throw new Error(`not every agent judges every node on both signals: ${seen.join(",")}`);
      await sleep(500);
    }
  }

  async function serve(name: string, ips: string[], holder: string): Promise<ClientLoop[]> {
    await healthy();
    await L.service(APP, name, { group: "local", poolType: "local", ips });
    const sampler = new HolderSampler(L, ips);
    try {
      await waitFor(`${ips.join(",")} on ${holder}`, () =>
        ips.every(ip => sampler.holders(ip).join() === holder),
      );
    } finally {
      sampler.stop();
    }
    const loops = await Promise.all(ips.map(ip => ClientLoop.start(L.lab, ip)));
    const t = Date.now();
    // A fresh IPv6 address answers once DAD is done: count from when every VIP answers.
    await Promise.all(loops.map(l => l.answerAfter(t, 10_000)));
    await sleep(200);
    return loops;
  }

  /** Reachability of each loop from `from` until it stops. */
  const stopAll = async (loops: ClientLoop[], from: number) => {
    await Promise.all(loops.map(l => l.stop()));
    return loops.map(l => l.report(from));
  };

  const summary = (r: Reachability) =>
    `${r.requests} requests, ${r.failures} lost, longest gap ${r.longestGapMs} ms, answered by ${JSON.stringify(r.answeredBy)}`;

  beforeAll(async () => {
    L = await AgentLab.start({
      nodes: NODES,
      env: { PURELB_HEARTBEAT_KEY_FILE: key.file, PURELB_METRICS_PORT: String(METRICS_PORT) },
    });
    await ensureNamespace(L.client, APP);
    await L.agentConfig({
      local: {
        garp: { enabled: true, count: 2, interval: "200ms", refresh: "60s" },
        // Shorter than the freeze: the addresses survive it only if the agents renew them.
        addressLifetime: { valid: "12s", preferred: "12s" },
      },
      lease: { duration: `${LEASE_MS / 1000}s`, renew: "1.5s" },
    });
    await L.group("local", {
      local: {
        v4pools: [
          { pool: "192.0.2.200-192.0.2.239", subnet: "192.0.2.0/24", aggregation: "default" },
        ],
        v6pools: [
          { pool: "2001:db8::200-2001:db8::2ff", subnet: "2001:db8::/64", aggregation: "default" },
        ],
      },
    });
    await Promise.all(NODES.map(n => L.startAgent(n)));
    servers = await NameServers.start(L.lab);
  });

  afterEach(ctx => {
    for (const u of undo.splice(0).reverse()) u();
    if (ctx.task.result?.state !== "fail") return;
    for (const n of NODES)
      console.log(`--- agent ${n} ---\n${L.agentLog(n).split("\n").slice(-30).join("\n")}`);
  });

  afterAll(async () => {
    for (const u of undo.splice(0).reverse()) u();
    await servers?.stop();
    await L?.stop();
    key.remove();
    expect(run("ip", ["netns", "list"])).not.toMatch(new RegExp(`plb-${process.pid}-`));
  });

  it("drops heartbeats signed with another key, and a flood beyond the rate, from a host on the LAN", async () => {
    const forged = encode(
      { node: "n2", flags: 0, clock: Date.now(), seq: 1 },
      Buffer.from("not-the-cluster-key-at-all"),
    );
    const metricsBefore = scrapeMetrics(L, "n1", METRICS_PORT);
    const dropped = (text: string, reason: string) =>
      metric(text, `purelb_heartbeats_dropped_total{reason="${reason}"}`) ?? 0;
    // From the client's namespace: 100 datagrams at once to n1's heartbeat port.
    L.lab.exec(L.lab.client.ns, process.execPath, [
      "-e",
      `const s = require("node:dgram").createSocket("udp4"); const m = Buffer.from(process.argv[1], "hex");
       let n = 0; const next = () => n++ < 100 ? s.send(m, 7934, process.argv[2], next) : s.close(); next();`,
      forged.toString("hex"),
      L.lab.node("n1").ipv4,
    ]);
    await sleep(500);
    const after = scrapeMetrics(L, "n1", METRICS_PORT);
    const mac = dropped(after, "mac") - dropped(metricsBefore, "mac");
    const rate = dropped(after, "rate") - dropped(metricsBefore, "rate");
    console.log(`forged heartbeats: ${mac} failed the MAC, ${rate} over the rate limit`);
    // The MAC is checked only within the per-source rate: most of the flood costs no hashing.
    expect(mac).toBeGreaterThan(0);
    expect(mac).toBeLessThanOrEqual(20);
    expect(mac + rate).toBe(100);
    // n2 is still judged on its own heartbeats: nothing the forger sent counted.
    expect(metric(after, 'purelb_membership_nodes{signal="both"}')).toBe(NODES.length);
  });

  it(`keeps every VIP on its node, renewed, while the API server is frozen for ${FREEZE_MS / 1000} s, and moves nothing when it is back`, async () => {
    const { v4, v6 } = vipsFor("n1");
    const loops = await serve("frozen", [v4, v6], "n1");
    const from = Date.now();
    const arp = L.lab.spawnPiped(L.lab.client.ns, "tcpdump", [
      "-i",
      "eth0",
      "-n",
      "-l",
      "-U",
      "arp or (icmp6 and ip6[40] == 136)",
    ]);
    let frames = "";
    arp.stdout!.setEncoding("utf8").on("data", (c: string) => (frames += c));
    await sleep(500);
    const sampler = new HolderSampler(L, [v4, v6], 500);
    const thaw = freezeApiserver(L);
    undo.push(thaw);
    const t0 = Date.now();
    await sleep(Math.min(20_000, FREEZE_MS / 2));
    // Mid-outage, n1 says what it sees: its own Lease lapsed, the others heard.
    const mid = scrapeMetrics(L, "n1", METRICS_PORT);
    expect(metric(mid, "purelb_api_reachable")).toBe(0);
    // Every node, n1 included, is in on heartbeats alone.
    expect(metric(mid, 'purelb_membership_nodes{signal="heartbeat-only"}')).toBe(4);
    expect(metric(mid, "purelb_node_serving")).toBe(1);
    await sleep(FREEZE_MS - (Date.now() - t0));
    thaw();
    const during = frames;
    // Back: the Leases are renewed and nothing moves.
    await waitFor(
      "n1's Lease renewed",
      async () => {
        await sleep(400);
        return metric(scrapeMetrics(L, "n1", METRICS_PORT), "purelb_api_reachable") === 1;
      },
      30_000,
    );
    await sleep(LEASE_MS);
    sampler.stop();
    arp.kill("SIGKILL");
    const reports = await stopAll(loops, from);
    for (const [i, r] of reports.entries())
      console.log(`API frozen ${FREEZE_MS} ms, ${[v4, v6][i]}: ${summary(r)}`);
    expect(sampler.seen(v4)).toEqual(["n1"]);
    expect(sampler.seen(v6)).toEqual(["n1"]);
    for (const r of reports) {
      expect(r.failures).toBe(0);
      expect(Object.keys(r.answeredBy)).toEqual(["n1"]);
      expect(r.longestGapMs).toBeLessThan(1_000);
    }
    // No announcement storm: nothing was fresh, so at most the periodic refresh.
    const announced = during
      .split("\n")
      .filter(l => l.includes(`Reply ${v4} is-at`) || l.includes(`tgt is ${v6}`)).length;
    expect(announced).toBeLessThanOrEqual(4);
    expect(L.agentLog("n1")).toMatch(/Lease has lapsed.*keeps its local addresses/);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/frozen`);
  });

  it("hands its VIPs over at once when its agent stops (SIGTERM) while the API server is frozen", async () => {
    const { v4, v6 } = vipsFor("n4");
    const rest = NODES.filter(n => n !== "n4");
    const next = { v4: labWinner(v4, rest), v6: labWinner(v6, rest) };
    const loops = await serve("leaving", [v4, v6], "n4");
    const sampler = new HolderSampler(L, [v4, v6]);
    const thaw = freezeApiserver(L);
    undo.push(thaw);
    await sleep(2_000);
    const t0 = Date.now();
    // The agent cannot delete its Lease now: its last heartbeat says it leaves.
    await L.stopAgent("n4", "SIGTERM");
    await waitFor(
      "the VIPs on the next winners",
      () => sampler.holders(v4).join() === next.v4 && sampler.holders(v6).join() === next.v6,
      5_000,
    );
    await Promise.all(loops.map(l => l.answerAfter(Date.now(), 5_000)));
    const reports = loops.map(l => l.report(t0, Date.now()));
    for (const [i, r] of reports.entries())
      console.log(`graceful stop during the freeze, ${[v4, v6][i]}: ${summary(r)}`);
    expect(reports[0].longestGapMs).toBeLessThan(1_500);
    expect(reports[1].longestGapMs).toBeLessThan(1_500 + DAD_MS);
    thaw();
    sampler.stop();
    await Promise.all(loops.map(l => l.stop()));
    await L.startAgent("n4");
    await remove(L.client, `/api/v1/namespaces/${APP}/services/leaving`);
  });

  it("keeps one holder when one node loses the API server: the holder keeps its VIPs, says so, and nobody takes them", async () => {
    const { v4, v6 } = vipsFor("n2");
    const loops = await serve("api-cut", [v4, v6], "n2");
    const from = Date.now();
    const sampler = new HolderSampler(L, [v4, v6]);
    await L.cutApi("n2");
    undo.push(() => void L.restoreApi("n2"));
    await sleep(3 * LEASE_MS);
    const cut = scrapeMetrics(L, "n2", METRICS_PORT);
    expect(metric(cut, "purelb_api_reachable")).toBe(0);
    expect(metric(cut, "purelb_node_serving")).toBe(1);
    const peer = scrapeMetrics(L, "n1", METRICS_PORT);
    expect(metric(peer, 'purelb_membership_nodes{signal="heartbeat-only"}')).toBe(1);
    expect(
      metric(peer, 'purelb_membership_transitions_total{event="peer_lease_lapsed"}'),
    ).toBeGreaterThanOrEqual(1);
    await L.restoreApi("n2");
    await waitFor("n2's Lease renewed", () => /Lease is renewed/.test(L.agentLog("n2")), 20_000);
    sampler.stop();
    const reports = await stopAll(loops, from);
    for (const [i, r] of reports.entries())
      console.log(`API cut from the holder, ${[v4, v6][i]}: ${summary(r)}`);
    expect(sampler.seen(v4)).toEqual(["n2"]);
    expect(sampler.seen(v6)).toEqual(["n2"]);
    for (const r of reports) {
      expect(r.failures).toBe(0);
      expect(r.longestGapMs).toBeLessThan(1_000);
    }
    expect(L.agentLog("n2")).toMatch(/Lease has lapsed.*keeps its local addresses/);
    // The others said why they kept it, as Events on their nodes.
    await waitFor("PeerLeaseLapsed Event on n1", async () =>
      (await eventsFor(L.client, "default", "n1")).find(
        e => e.reason === "PeerLeaseLapsed" && e.message.includes("n2"),
      ),
    );
    await waitFor("APIFound Event on n2", async () =>
      (await eventsFor(L.client, "default", "n2")).find(e => e.reason === "APIFound"),
    );
    await remove(L.client, `/api/v1/namespaces/${APP}/services/api-cut`);
  });

  it("fails over within the Lease duration + 1 s when the holder is cut off the node network, and the cut-off node withdraws", async () => {
    const { v4, v6 } = vipsFor("n3");
    const rest = NODES.filter(n => n !== "n3");
    const next = { v4: labWinner(v4, rest), v6: labWinner(v6, rest) };
    const loops = await serve("lan-cut", [v4, v6], "n3");
    const sampler = new HolderSampler(L, [v4, v6]);
    const t0 = Date.now();
    const heal = splitLan(L, ["n3"], true);
    undo.push(heal);
    await waitFor(
      "the others hold the VIPs and n3 none",
      () => sampler.holders(v4).join() === next.v4 && sampler.holders(v6).join() === next.v6,
      LEASE_MS + 5_000,
    );
    const withdrawnMs = Date.now() - t0;
    await Promise.all(loops.map(l => l.answerAfter(Date.now(), 5_000)));
    const reports = loops.map(l => l.report(t0, Date.now()));
    for (const [i, r] of reports.entries())
      console.log(
        `LAN cut of the holder, ${[v4, v6][i]}: ${summary(r)}; n3 withdrew after ${withdrawnMs} ms`,
      );
    expect(reports[0].longestGapMs).toBeLessThanOrEqual(LEASE_MS + 1_000);
    expect(reports[1].longestGapMs).toBeLessThanOrEqual(LEASE_MS + 1_000 + DAD_MS);
    expect(withdrawnMs).toBeLessThanOrEqual(LEASE_MS + 1_500);
    expect(L.agentLog("n3")).toMatch(/withdraws its local addresses/);
    heal();
    // Back on the LAN, n3 wins its addresses again.
    await waitFor(
      "n3 holds its VIPs again",
      () => sampler.holders(v4).join() === "n3" && sampler.holders(v6).join() === "n3",
      LEASE_MS + 10_000,
    );
    sampler.stop();
    await Promise.all(loops.map(l => l.stop()));
    await remove(L.client, `/api/v1/namespaces/${APP}/services/lan-cut`);
  });

  it("splits into two even groups: the side of the lowest node name serves every VIP, once; the other withdraws", async () => {
    // n1 and n4 stay with the client; n2 and n3 go to a bridge of their own.
    const moving = vipsFor("n2");
    const staying = vipsFor("n1");
    const ips = [moving.v4, moving.v6, staying.v4, staying.v6];
    await L.service(APP, "split-stay", {
      group: "local",
      poolType: "local",
      ips: [staying.v4, staying.v6],
    });
    const loops = await serve("split-move", [moving.v4, moving.v6], "n2");
    const stayLoops = await Promise.all(
      [staying.v4, staying.v6].map(ip => ClientLoop.start(L.lab, ip)),
    );
    await Promise.all(stayLoops.map(l => l.answerAfter(Date.now(), 10_000)));
    const sampler = new HolderSampler(L, ips);
    const t0 = Date.now();
    const heal = splitLan(L, ["n2", "n3"]);
    undo.push(heal);
    const side = ["n1", "n4"];
    const next = { v4: labWinner(moving.v4, side), v6: labWinner(moving.v6, side) };
    await waitFor(
      "the n1 side holds every VIP, the other side none",
      () =>
        sampler.holders(moving.v4).join() === next.v4 &&
        sampler.holders(moving.v6).join() === next.v6 &&
        sampler.holders(staying.v4).join() === "n1" &&
        sampler.holders(staying.v6).join() === "n1",
      LEASE_MS + 5_000,
    );
    await Promise.all(loops.map(l => l.answerAfter(Date.now(), 5_000)));
    const moved = loops.map(l => l.report(t0, Date.now()));
    const stayed = stayLoops.map(l => l.report(t0, Date.now()));
    for (const [i, r] of moved.entries())
      console.log(`split 2|2, moved ${[moving.v4, moving.v6][i]}: ${summary(r)}`);
    for (const [i, r] of stayed.entries())
      console.log(`split 2|2, stayed ${[staying.v4, staying.v6][i]}: ${summary(r)}`);
    expect(moved[0].longestGapMs).toBeLessThanOrEqual(LEASE_MS + 1_000);
    expect(moved[1].longestGapMs).toBeLessThanOrEqual(LEASE_MS + 1_000 + DAD_MS);
    for (const r of stayed) expect(r.failures).toBe(0);
    expect(L.agentLog("n2")).toMatch(/withdraws its local addresses/);
    heal();
    await waitFor(
      "the VIPs back on their winners",
      () =>
        sampler.holders(moving.v4).join() === "n2" && sampler.holders(moving.v6).join() === "n2",
      LEASE_MS + 10_000,
    );
    sampler.stop();
    // Never two holders on the client's side of the split.
    for (const ip of ips)
      for (const s of sampler.samples.get(ip)!)
        expect(s.filter(n => side.includes(n)).length).toBeLessThanOrEqual(1);
    await Promise.all([...loops, ...stayLoops].map(l => l.stop()));
    for (const s of ["split-move", "split-stay"])
      await remove(L.client, `/api/v1/namespaces/${APP}/services/${s}`);
  });
});
