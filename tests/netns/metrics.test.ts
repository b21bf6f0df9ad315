// Every metric moving as a scenario drives it, read from a real Prometheus: three node agents
// in network namespaces and an allocator against a real apiserver; Prometheus on the host's
// 127.0.0.1 scrapes the allocator and, through relays, each agent's /metrics on port 7472.
// The test allocates, exhausts the pool, fails a node over, and queries PromQL. Needs root.
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RunningAllocator, runAllocator } from "../../lib/allocator/run";
import { DEFAULT_METRICS_PORT, serveMetrics } from "../../lib/metrics/registry";
import { AgentLab, NS, labWinner, waitFor } from "../harness/agentlab";
import { createService, ensureNamespace, getService, remove } from "../harness/kube";
import { netnsUnavailable } from "../harness/netns";
import { Prometheus, prometheusUnavailable } from "../harness/prometheus";
import { ScrapeRelay, scrapeRelay } from "../harness/scrape-relay";

const unavailable = netnsUnavailable() ?? prometheusUnavailable();
if (unavailable) console.warn(`metrics netns tests skipped: ${unavailable}`);

const NODES = ["m1", "m2", "m3"];
const APP = "metrics-app";
const POOL = "metrics-local";
const A = "192.0.2.210";
const B = "192.0.2.211";

describe.skipIf(!!unavailable)("metrics of a running cluster, scraped by Prometheus", () => {
  let L: AgentLab;
  let running: RunningAllocator | undefined;
  let server: Server | undefined;
  let prom: Prometheus;
  const relays: ScrapeRelay[] = [];
  const q = (promql: string) => prom.value(promql);
  const wait = (promql: string, ok: (v: number | undefined) => boolean) =>
    prom.waitFor(promql, ok, 30_000);
  const served = (name: string) =>
    waitFor(`${name} has an address`, async () => {
      const s = await getService(L.client, APP, name);
      return s.ingress.length ? s : undefined;
    });

  beforeAll(async () => {
    L = await AgentLab.start({ nodes: NODES });
    await ensureNamespace(L.client, APP);
    await L.agentConfig({
      local: { garp: { enabled: true, count: 2, interval: "100ms", refresh: "60s" } },
      lease: { duration: "5s", renew: "1s" },
    });
    await L.group(POOL, {
      local: {
        v4pools: [{ pool: `${A}-${B}`, subnet: "192.0.2.0/24", aggregation: "default" }],
      },
    });
    await Promise.all(NODES.map(n => L.startAgent(n)));
    running = await runAllocator(L.client, NS);
    const port = await new Promise<number>(resolve => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    server = serveMetrics(port, "127.0.0.1");
    for (const n of NODES)
      relays.push(await scrapeRelay(L.lab, L.lab.node(n).ns, DEFAULT_METRICS_PORT));
    prom = await Prometheus.start([
      { job: "allocator", address: `127.0.0.1:${port}` },
      ...NODES.map((node, i) => ({
        job: "lbnodeagent",
        address: relays[i].address,
        labels: { node },
      })),
    ]);
    await wait("count(up == 1)", v => v === 4);
  });

  afterEach(ctx => {
    if (ctx.task.result?.state !== "fail") return;
    for (const n of NODES)
      console.log(`--- agent ${n} ---\n${L.agentLog(n).split("\n").slice(-20).join("\n")}`);
  });

  afterAll(async () => {
    running?.stop();
    await prom?.stop();
    await Promise.all(relays.map(r => r.stop()));
    await new Promise(r => (server ? server.close(r) : r(undefined)));
    await L?.stop();
  });

  it("shows every agent in the election with healthy, renewing Leases, on upstream's port", async () => {
    for (const node of NODES) {
      await wait(`purelb_election_member_count{node="${node}"}`, v => v === 3);
      expect(await q(`purelb_election_lease_healthy{node="${node}"}`)).toBe(1);
      expect(await q(`purelb_election_subnet_count{node="${node}"}`)).toBe(2);
      expect(await q(`purelb_election_local_subnet_count{node="${node}"}`)).toBe(2);
      expect(await q(`purelb_lbnodeagent_selector_state{node="${node}",state="default"}`)).toBe(1);
      expect(await q(`purelb_k8s_client_config_loaded_bool{node="${node}"}`)).toBe(1);
    }
    await wait('min(purelb_election_lease_renewals_total{job="lbnodeagent"})', v => (v ?? 0) >= 2);
    expect(await q("sum(purelb_election_lease_renewal_failures_total)")).toBe(0);
  });

  it("counts an allocation from the pool to the announcement on the elected node", async () => {
    await createService(L.client, APP, "a", { annotations: { "purelb.io/service-group": POOL } });
    expect((await served("a")).ingress).toEqual([A]);
    const winner = labWinner(A, NODES);
    await wait(`purelb_address_pool_addresses_in_use{pool="${POOL}"}`, v => v === 1);
    expect(await q(`purelb_address_pool_size{pool="${POOL}"}`)).toBe(2);
    await wait(
      `purelb_lbnodeagent_announced{service="${APP}/a",ip="${A}",node="${winner}"}`,
      v => v === 1,
    );
    expect(await q(`purelb_lbnodeagent_address_additions_total{node="${winner}"}`)).toBe(1);
    expect(await q(`purelb_lbnodeagent_election_wins_total{node="${winner}"}`)).toBe(1);
    // Two GARP rounds of two frames each, from the winner only.
    await wait(`purelb_lbnodeagent_garp_sent_total{node="${winner}"}`, v => v === 4);
    expect(await q(`purelb_garp_sent_total{node="${winner}",interface="eth0"}`)).toBe(4);
    expect(await q('sum(purelb_lbnodeagent_garp_sent_total{job="lbnodeagent"})')).toBe(4);
    expect(await q(`purelb_announced_addresses{node="${winner}",type="local",family="IPv4"}`)).toBe(
      1,
    );
    expect(await q("sum(purelb_lbnodeagent_garp_errors_total)")).toBe(0);
    expect(await q('sum(purelb_election_winner_changes_total{job="lbnodeagent"})')).toBe(undefined);
  });

  it("counts the rejection when the pool runs out", async () => {
    await createService(L.client, APP, "b", { annotations: { "purelb.io/service-group": POOL } });
    expect((await served("b")).ingress).toEqual([B]);
    await createService(L.client, APP, "c", { annotations: { "purelb.io/service-group": POOL } });
    await wait(
      `purelb_address_pool_allocation_rejected_total{pool="${POOL}",reason="exhausted"}`,
      v => (v ?? 0) >= 1,
    );
    // The group's figures are written 0.5 s after a change and scraped every second.
    await wait(`purelb_address_pool_addresses_in_use{pool="${POOL}"}`, v => v === 2);
    await wait("purelb_addresses_assigned_total", v => v === 2);
  });

  it("shows the failover: one handover counted by the new winner, its win, the old node gone", async () => {
    const old = labWinner(A, NODES);
    const rest = NODES.filter(n => n !== old);
    const next = labWinner(A, rest);
    const winsBefore = (await q(`purelb_lbnodeagent_election_wins_total{node="${next}"}`)) ?? 0;
    await L.stopAgent(old, "SIGTERM");
    await wait(`up{node="${old}"}`, v => v === 0);
    for (const n of rest) await wait(`purelb_election_member_count{node="${n}"}`, v => v === 2);
    await wait(
      `sum(purelb_election_winner_changes_total{key="${A}",job="lbnodeagent"})`,
      v => v === 1,
    );
    expect(await q(`purelb_election_winner_changes_total{key="${A}",node="${next}"}`)).toBe(1);
    expect(await q(`purelb_lbnodeagent_election_wins_total{node="${next}"}`)).toBe(winsBefore + 1);
    await wait(
      `purelb_lbnodeagent_announced{service="${APP}/a",ip="${A}",node="${next}"}`,
      v => v === 1,
    );
    await wait(`purelb_lbnodeagent_garp_sent_total{node="${next}"}`, v => (v ?? 0) >= 4);
  });

  it("counts the withdrawal and frees the pool when the Service goes", async () => {
    const holder = labWinner(
      A,
      NODES.filter(n => n !== labWinner(A, NODES)),
    );
    const before = (await q(`purelb_lbnodeagent_address_withdrawals_total{node="${holder}"}`)) ?? 0;
    // c, still waiting, would take A at once: it goes first.
    await remove(L.client, `/api/v1/namespaces/${APP}/services/c`);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/a`);
    await wait(
      `purelb_lbnodeagent_address_withdrawals_total{node="${holder}"}`,
      v => v === before + 1,
    );
    await wait(
      `purelb_lbnodeagent_announced{service="${APP}/a",node="${holder}"}`,
      v => v === undefined,
    );
    await wait(`purelb_address_pool_addresses_in_use{pool="${POOL}"}`, v => v === 1);
    expect(await q(`sum(purelb_election_winner_changes_total{key="${A}"})`)).toBe(undefined);
  });
});
