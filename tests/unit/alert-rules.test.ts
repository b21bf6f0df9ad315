// The alert rules in monitoring/ through the real promtool (Debian's prometheus package,
// installed by hack/setup.sh): they load, their synthetic-series tests pass, and those tests
// notice a rule that changes. Every metric they query is one PureLB serves.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import "../../lib/agent/metrics";
import "../../lib/allocator/metrics";
import "../../lib/bgp/metrics";
import "../../lib/netbox/metrics";
import { registry } from "../../lib/metrics/registry";

const dir = path.resolve(import.meta.dirname, "../../monitoring");
const RULES = path.join(dir, "purelb-alerts.yaml");
const TESTS = path.join(dir, "purelb-alerts.test.yaml");

function promtool(args: string[], cwd = dir): { status: number; out: string } {
  const r = spawnSync("promtool", args, { cwd, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`promtool: ${r.error.message}; install it with hack/setup.sh`);
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("alert rules (monitoring/purelb-alerts.yaml)", () => {
  const scratch = mkdtempSync(path.join(tmpdir(), "purelb-alerts-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("pass promtool check rules", () => {
    const r = promtool(["check", "rules", RULES]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: 12 rules found/);
  });

  it("pass their promtool tests, firing and not firing, with synthetic series", () => {
    const r = promtool(["test", "rules", TESTS]);
    expect(r.status, r.out).toBe(0);
  });

  it("have tests that fail when a rule's threshold or duration changes", () => {
    copyFileSync(TESTS, path.join(scratch, "purelb-alerts.test.yaml"));
    const rules = readFileSync(RULES, "utf8");
    for (const [from, to] of [
      ["* 100 / purelb_address_pool_size > 90", "* 100 / purelb_address_pool_size >= 90"],
      [
        "purelb_election_lease_healthy == 0\n        for: 1m",
        "purelb_election_lease_healthy == 0\n        for: 4m",
      ],
      ["[15m])) > 3", "[15m])) > 5"],
      ['{outcome!="ok"}', '{outcome="timeout",method="GET"}'],
    ]) {
      expect(rules).toContain(from);
      writeFileSync(path.join(scratch, "purelb-alerts.yaml"), rules.replace(from, to));
      const r = promtool(["test", "rules", "purelb-alerts.test.yaml"], scratch);
      expect(r.status, `${from} -> ${to}`).not.toBe(0);
    }
  });

  it("query only metrics that PureLB serves", () => {
    const names = new Set(readFileSync(RULES, "utf8").match(/purelb_[a-z0-9_]+/g));
    const served = new Set(registry.getMetricsAsArray().map(m => m.name));
    expect(names.size).toBeGreaterThan(10);
    for (const n of names) expect(served, n).toContain(n);
  });
});
