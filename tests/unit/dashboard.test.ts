// The Grafana dashboard in monitoring/: every panel query is PromQL that a real Prometheus
// accepts (Grafana's $__rate_interval stands for a range), over metrics PureLB serves.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import "../../lib/agent/metrics";
import "../../lib/allocator/metrics";
import "../../lib/bgp/metrics";
import "../../lib/netbox/metrics";
import { registry } from "../../lib/metrics/registry";
import { Prometheus, prometheusUnavailable } from "../harness/prometheus";

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, "../../monitoring/purelb-dashboard.json"), "utf8"),
) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const queries = dashboard.panels.flatMap(p =>
  (p.targets ?? []).map(t => ({ panel: p.title, expr: t.expr })),
);

describe.skipIf(!!prometheusUnavailable())(
  "Grafana dashboard (monitoring/purelb-dashboard.json)",
  () => {
    let prom: Prometheus;
    beforeAll(async () => {
      prom = await Prometheus.start([]);
    });
    afterAll(() => prom?.stop());

    it("has panels for pools, elections, announcements, BGP and Netbox, on a selectable data source", () => {
      expect(dashboard.uid).toBe("purelb");
      expect(dashboard.templating.list.map(v => v.name)).toEqual(["datasource"]);
      expect(queries.length).toBeGreaterThan(20);
    });

    it("queries only PromQL that Prometheus accepts", async () => {
      for (const q of queries) {
        const promql = q.expr.replaceAll("$__rate_interval", "1m");
        await expect(prom.query(promql), `${q.panel}: ${q.expr}`).resolves.toBeDefined();
      }
      // and the check bites: a broken expression is refused
      await expect(prom.query("sum by (pool (purelb_address_pool_size)")).rejects.toThrow();
    });

    it("uses only metrics PureLB serves, and every upstream pool and election metric", () => {
      const used = new Set(queries.flatMap(q => q.expr.match(/purelb_[a-z0-9_]+/g) ?? []));
      const served = new Set(registry.getMetricsAsArray().map(m => m.name));
      for (const n of used) expect(served, n).toContain(n.replace(/_bucket$/, ""));
      for (const n of [
        "purelb_address_pool_size",
        "purelb_address_pool_addresses_in_use",
        "purelb_address_pool_allocation_rejected_total",
        "purelb_election_member_count",
        "purelb_election_lease_healthy",
        "purelb_election_winner_changes_total",
        "purelb_lbnodeagent_garp_sent_total",
        "purelb_lbnodeagent_announced",
      ])
        expect(used, n).toContain(n);
    });
  },
);
