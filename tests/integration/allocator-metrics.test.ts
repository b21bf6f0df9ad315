// The allocator's metrics as an operator sees them: a real Prometheus scrapes the allocator's
// /metrics (served as in production, on 127.0.0.1 here) while the test allocates against the
// real apiserver, exhausts a pool, provokes a port clash, uses multiPool and balancePools, and
// leaves a ServiceGroup in the wrong namespace. Every figure is read back with PromQL.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { microTime } from "../../lib/election/lease";
import { KubeClient } from "../../lib/k8s/client";
import { RunningAllocator, runAllocator } from "../../lib/allocator/run";
import { serveMetrics } from "../../lib/metrics/registry";
import {
  apply,
  applyServiceGroup,
  clientFor,
  createService,
  deleteAllServices,
  ensureNamespace,
  getService,
  installCrds,
  remove,
  waitFor,
} from "../harness/kube";
import { Prometheus, prometheusUnavailable } from "../harness/prometheus";

const kubeconfig = inject("kubeconfig");
const unavailable = prometheusUnavailable();
const PLB = "purelb-metrics-it";
const APP = "metrics-it";
const ELSEWHERE = "metrics-it-elsewhere";

describe.skipIf(!kubeconfig || !!unavailable)("allocator metrics scraped by Prometheus", () => {
  let client: KubeClient;
  let running: RunningAllocator | undefined;
  let server: Server | undefined;
  let prom: Prometheus | undefined;

  const svc = (name: string, group: string, more: Record<string, string> = {}, port = 80) =>
    createService(client, APP, name, {
      annotations: { "purelb.io/service-group": group, ...more },
      ports: [{ port }],
    });
  const served = (name: string) =>
    waitFor(`${name} has an address`, async () => {
      const s = await getService(client, APP, name);
      return s.ingress.length ? s : undefined;
    });
  const q = (promql: string) => prom!.value(promql);

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    await installCrds(client);
    for (const ns of [PLB, APP, ELSEWHERE]) await ensureNamespace(client, ns);
    const pool = (p: string, subnet: string) => ({ pool: p, subnet, aggregation: "default" });
    await applyServiceGroup(client, PLB, "metrics-small", {
      local: { v4pools: [pool("192.0.2.100-192.0.2.101", "192.0.2.0/24")] },
    });
    await applyServiceGroup(client, PLB, "metrics-big", {
      local: { v6pools: [pool("2001:db8:4d::/64", "2001:db8:4d::/64")] },
    });
    // multiPool: one address per range with a live node; 198.51.100.0/24 has none.
    await applyServiceGroup(client, PLB, "metrics-multi", {
      local: {
        multiPool: true,
        v4pools: [
          pool("192.0.2.110-192.0.2.111", "192.0.2.0/24"),
          pool("198.51.100.110-198.51.100.111", "198.51.100.0/24"),
        ],
      },
    });
    await applyServiceGroup(client, PLB, "metrics-balance", {
      local: {
        balancePools: true,
        v4pools: [
          pool("192.0.2.120-192.0.2.121", "192.0.2.0/24"),
          pool("192.0.2.130-192.0.2.131", "192.0.2.0/24"),
        ],
      },
    });
    await applyServiceGroup(client, ELSEWHERE, "misplaced", {
      remote: { v4pools: [pool("203.0.113.200/30", "203.0.113.200/30")] },
    });
    const now = microTime(Date.now());
    await apply(client, `/apis/coordination.k8s.io/v1/namespaces/${PLB}/leases`, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "purelb-node-m1", annotations: { "purelb.io/subnets": "192.0.2.0/24" } },
      spec: { holderIdentity: "m1", leaseDurationSeconds: 3600, renewTime: now, acquireTime: now },
    });

    running = await runAllocator(client, PLB);
    // As lib/allocator/main.ts serves it, on a free loopback port.
    const port = await new Promise<number>(resolve => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    server = serveMetrics(port, "127.0.0.1");
    prom = await Prometheus.start([{ job: "allocator", address: `127.0.0.1:${port}` }]);
    await prom.waitFor('up{job="allocator"}', v => v === 1);
  });

  afterAll(async () => {
    running?.stop();
    await prom?.stop();
    await new Promise(r => (server ? server.close(r) : r(undefined)));
    await deleteAllServices(client, APP).catch(() => undefined);
    for (const ns of [PLB, APP, ELSEWHERE])
      await remove(client, `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  it("shows pool size and use as upstream names them, and the exact size of a /64", async () => {
    expect(
      await prom!.waitFor('purelb_address_pool_size{pool="metrics-small"}', v => v === 2),
    ).toBe(2);
    expect(await q('purelb_address_pool_addresses_in_use{pool="metrics-small"}')).toBe(0);
    await svc("small-1", "metrics-small");
    await svc("small-2", "metrics-small");
    await served("small-1");
    await served("small-2");
    await prom!.waitFor('purelb_address_pool_addresses_in_use{pool="metrics-small"}', v => v === 2);
    expect(
      await q('purelb_address_pool_family_addresses_in_use{pool="metrics-small",family="IPv4"}'),
    ).toBe(2);
    const info = await prom!.query('purelb_address_pool_size_info{pool="metrics-big"}');
    expect(info.map(s => [s.metric.family, s.metric.size])).toEqual([
      ["IPv6", "18446744073709551616"],
    ]);
    expect(await q('purelb_address_pool_size{pool="metrics-big"}')).toBe(2 ** 64);
  });

  it("counts a request from an exhausted pool and a port clash as rejections, with upstream's reasons", async () => {
    await svc("small-3", "metrics-small");
    await prom!.waitFor(
      'purelb_address_pool_allocation_rejected_total{pool="metrics-small",reason="exhausted"}',
      v => (v ?? 0) >= 1,
    );
    expect(
      await q('purelb_allocation_failures_total{reason="pool-exhausted"}'),
    ).toBeGreaterThanOrEqual(1);
    const shared = { "purelb.io/allow-shared-ip": "metrics-dns" };
    await svc("dns-a", "metrics-balance", shared, 53);
    await served("dns-a");
    await svc("dns-b", "metrics-balance", shared, 53);
    await prom!.waitFor(
      'purelb_address_pool_allocation_rejected_total{pool="metrics-balance",reason="port_conflict"}',
      v => (v ?? 0) >= 1,
    );
    expect(
      await q(
        'purelb_address_pool_allocation_rejected_total{pool="metrics-balance",reason="sharing_key_conflict"}',
      ),
    ).toBe(undefined);
  });

  it("counts multiPool (partial when a range has no live node) and balancePools allocations", async () => {
    await svc("multi", "metrics-multi");
    const s = await served("multi");
    expect(s.ingress).toEqual(["192.0.2.110"]);
    await prom!.waitFor(
      'purelb_address_pool_multipool_allocations_total{pool="metrics-multi"}',
      v => v === 1,
    );
    expect(await q('purelb_address_pool_multipool_partial_total{pool="metrics-multi"}')).toBe(1);
    // dns-a already took one address of metrics-balance; the next one comes from the other range.
    await svc("balanced", "metrics-balance");
    expect((await served("balanced")).ingress[0]).toMatch(/^192\.0\.2\.1[23]0$/);
    await prom!.waitFor(
      'purelb_address_pool_balance_pools_allocations_total{pool="metrics-balance"}',
      v => v === 2,
    );
    expect(await q("purelb_addresses_assigned_total")).toBeGreaterThanOrEqual(5);
  });

  it("names a ServiceGroup outside the install namespace, and reports status writes and k8s updates", async () => {
    expect(
      await prom!.waitFor(
        `purelb_servicegroups_out_of_scope{namespace="${ELSEWHERE}",name="misplaced"}`,
        v => v === 1,
      ),
    ).toBe(1);
    const [oos] = await prom!.query('purelb_servicegroups_out_of_scope{name="misplaced"}');
    expect(oos.metric.type).toBe("remote");
    expect(await q('purelb_allocator_sg_status_writes_total{outcome="success"}')).toBeGreaterThan(
      0,
    );
    expect(await q("purelb_k8s_client_config_loaded_bool")).toBe(1);
    expect(await q('purelb_k8s_client_updates_total{kind="cache_sync"}')).toBe(1);
    expect(await q('purelb_k8s_client_updates_total{kind="service"}')).toBeGreaterThan(0);
    expect(await q('purelb_k8s_client_updates_total{kind="pool_status"}')).toBeGreaterThan(0);
    expect(await q('purelb_k8s_client_updates_total{kind="config"}')).toBeGreaterThanOrEqual(4);
    await remove(client, `/apis/purelb.io/v2/namespaces/${ELSEWHERE}/servicegroups/misplaced`);
    await prom!.waitFor(
      `purelb_servicegroups_out_of_scope{name="misplaced"}`,
      v => v === undefined,
    );
  });

  it("frees the address of a deleted Service in the pool figures", async () => {
    await remove(client, `/api/v1/namespaces/${APP}/services/small-1`);
    // small-3 was waiting for exactly this address.
    await served("small-3");
    await remove(client, `/api/v1/namespaces/${APP}/services/small-2`);
    await prom!.waitFor('purelb_address_pool_addresses_in_use{pool="metrics-small"}', v => v === 1);
  });
});
