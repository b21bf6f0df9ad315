// The chart's monitoring parts as `npm run build` makes them: metrics Services that select
// the allocator and agent pods on the configured ports, ServiceMonitors and PrometheusRules
// when asked (the rules of monitoring/purelb-alerts.yaml, valid for promtool), the Grafana
// dashboard, extraObjects, the schema, and NOTES.txt as `helm install` prints it.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { toolPath } from "../harness/controlplane";

const kubeconfig = inject("kubeconfig");
const root = path.resolve(import.meta.dirname, "../..");
const out = path.join(root, ".purelb", "chart-monitoring-build");
const chart = path.join(out, "purelb-chart");

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Container {
  name: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
}
type Workload = Obj & {
  spec: {
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
  };
};

const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: kubeconfig },
    maxBuffer: 64 << 20,
    timeout: 300_000,
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout ?? "",
    stderr: `${r.stderr ?? ""}${r.error ?? ""}`,
  };
};

function render(values: Record<string, unknown> = {}): Obj[] {
  const sets = Object.entries(values).flatMap(([k, v]) => [
    "--set-json",
    `${k}=${JSON.stringify(v)}`,
  ]);
  const r = run(toolPath("helm"), ["template", "purelb", chart, ...sets]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map(d => d.toJS() as Obj | null)
    .filter((o): o is Obj => !!o);
}
const one = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find(x => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

const ALERTS = parse(readFileSync(path.join(root, "monitoring", "purelb-alerts.yaml"), "utf8")) as {
  groups: { name: string; rules: unknown[] }[];
};

describe.skipIf(!kubeconfig)("chart monitoring (npm run build)", () => {
  let problem: string | undefined;

  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    run("npx", ["pepr", "build", "-o", out]);
    // As in chart.test.ts: a broken build elsewhere in the repository is not this test's subject.
    if (!existsSync(path.join(chart, "values.yaml"))) {
      problem = "pepr build did not produce the chart; fix the build first";
      console.warn(`chart monitoring tests skipped: ${problem}`);
      return;
    }
    const post = run("node", ["--import", "tsx", "hack/post-build.ts", out]);
    if (post.status !== 0)
      throw new Error(`hack/post-build.ts failed:\n${post.stdout}\n${post.stderr}`);
  }, 300_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const built = (ctx: { skip: (c: boolean, note?: string) => void }) =>
    ctx.skip(!!problem, problem);

  it("serves metrics on upstream's port 7472 through headless Services that select the allocator and agent pods", ctx => {
    built(ctx);
    const objs = render();
    const watcher = one(objs, "Deployment", "pepr-purelb-watcher") as Workload;
    const agent = one(objs, "DaemonSet", "purelb-lbnodeagent") as Workload;
    const w = watcher.spec.template.spec.containers[0];
    const a = agent.spec.template.spec.containers.find(c => c.name === "lbnodeagent")!;
    expect(w.ports).toContainEqual({ name: "metrics", containerPort: 7472 });
    expect(w.env).toContainEqual({ name: "PURELB_METRICS_PORT", value: "7472" });
    expect(a.ports).toContainEqual(
      expect.objectContaining({ name: "metrics", containerPort: 7472 }),
    );
    expect(a.env).toContainEqual({ name: "PURELB_METRICS_PORT", value: "7472" });
    for (const [name, ns, pod] of [
      ["purelb-allocator-metrics", "pepr-system", watcher],
      ["purelb-lbnodeagent-metrics", "purelb-system", agent],
    ] as const) {
      const svc = one(objs, "Service", name) as Obj & {
        spec: { clusterIP: string; selector: Record<string, string>; ports: unknown[] };
      };
      expect(svc.metadata.namespace).toBe(ns);
      expect(svc.spec.clusterIP).toBe("None");
      expect(svc.spec.ports).toEqual([
        { name: "metrics", port: 7472, targetPort: "metrics", protocol: "TCP" },
      ]);
      expect(matches(svc.spec.selector, pod.spec.template.metadata.labels), name).toBe(true);
    }
    // Off by default: they need the Prometheus Operator's CRDs.
    expect(objs.filter(o => ["ServiceMonitor", "PrometheusRule"].includes(o.kind))).toEqual([]);
    expect(objs.find(o => o.metadata.name === "purelb-grafana-dashboard")).toBeUndefined();
    // The module YAML carries the same Services.
    const yaml = parseAllDocuments(readFileSync(path.join(out, "pepr-module-purelb.yaml"), "utf8"))
      .map(d => d.toJS() as Obj)
      .filter(o => o?.kind === "Service" && o.metadata.name.endsWith("-metrics"));
    expect(yaml).toEqual([
      one(objs, "Service", "purelb-allocator-metrics"),
      one(objs, "Service", "purelb-lbnodeagent-metrics"),
    ]);
  });

  it("moves ports, containers and Services together when the ports change, and drops a Service when asked", ctx => {
    built(ctx);
    const objs = render({ "Prometheus.allocator.port": 9100, "agent.metricsPort": 9200 });
    const w = (one(objs, "Deployment", "pepr-purelb-watcher") as Workload).spec.template.spec
      .containers[0];
    expect(w.ports).toContainEqual({ name: "metrics", containerPort: 9100 });
    expect(w.env).toContainEqual({ name: "PURELB_METRICS_PORT", value: "9100" });
    const port = (name: string) =>
      (one(objs, "Service", name).spec as { ports: { port: number }[] }).ports[0].port;
    expect(port("purelb-allocator-metrics")).toBe(9100);
    expect(port("purelb-lbnodeagent-metrics")).toBe(9200);
    const off = render({ "Prometheus.lbnodeagent.Metrics.enabled": false });
    expect(off.find(o => o.metadata.name === "purelb-lbnodeagent-metrics")).toBeUndefined();
    expect(off.find(o => o.metadata.name === "purelb-allocator-metrics")).toBeDefined();
  });

  it("renders ServiceMonitors for the Services, PureLB's alert rules plus yours, the dashboard and extraObjects", ctx => {
    built(ctx);
    const objs = render({
      "Prometheus.allocator.serviceMonitor": { enabled: true, extraLabels: { release: "kps" } },
      "Prometheus.lbnodeagent.serviceMonitor.enabled": true,
      "Prometheus.allocator.prometheusRules": {
        enabled: true,
        namespace: "monitoring",
        rules: [{ alert: "MyPureLBRule", expr: 'up{job="purelb"} == 0', for: "5m" }],
      },
      "Prometheus.lbnodeagent.prometheusRules.enabled": true,
      "grafanaDashboard.enabled": true,
      extraObjects: [
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "{{ .Release.Name }}-extra" } },
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-string\n",
      ],
    });
    for (const name of ["purelb-allocator-metrics", "purelb-lbnodeagent-metrics"]) {
      const sm = one(objs, "ServiceMonitor", name) as Obj & {
        spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
      };
      const svc = one(objs, "Service", name);
      expect(sm.metadata.namespace).toBe(svc.metadata.namespace);
      expect(matches(sm.spec.selector.matchLabels, svc.metadata.labels!), name).toBe(true);
      expect(sm.spec.endpoints[0].port).toBe("metrics");
    }
    expect(one(objs, "ServiceMonitor", "purelb-allocator-metrics").metadata.labels).toMatchObject({
      release: "kps",
    });
    const groups = (name: string) =>
      (one(objs, "PrometheusRule", name).spec as { groups: { name: string; rules: unknown[] }[] })
        .groups;
    const file = (name: string) => ALERTS.groups.find(g => g.name === name)!;
    expect(one(objs, "PrometheusRule", "purelb-allocator").metadata.namespace).toBe("monitoring");
    expect(groups("purelb-allocator")).toEqual([
      file("purelb-allocator"),
      {
        name: "purelb-allocator-custom",
        rules: [{ alert: "MyPureLBRule", expr: 'up{job="purelb"} == 0', for: "5m" }],
      },
    ]);
    expect(groups("purelb-lbnodeagent")).toEqual([file("purelb-lbnodeagent")]);
    // What the chart ships passes promtool, as Prometheus would load it.
    const rules = path.join(out, "rendered-rules.yaml");
    writeFileSync(
      rules,
      stringify({ groups: [...groups("purelb-allocator"), ...groups("purelb-lbnodeagent")] }),
    );
    const check = run("promtool", ["check", "rules", rules]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 13 rules found/);

    const dash = one(objs, "ConfigMap", "purelb-grafana-dashboard");
    expect(dash.metadata.labels).toMatchObject({ grafana_dashboard: "1" });
    expect(JSON.parse(dash.data!["purelb.json"])).toEqual(
      JSON.parse(readFileSync(path.join(root, "monitoring", "purelb-dashboard.json"), "utf8")),
    );
    expect(one(objs, "ConfigMap", "purelb-extra")).toBeDefined();
    expect(one(objs, "ConfigMap", "from-string")).toBeDefined();
  });

  it("refuses monitoring values the schema does not know", ctx => {
    built(ctx);
    for (const bad of [
      ["Prometheus.allocator.bogus", "true"],
      ["Prometheus.allocator.port", '"7472"'],
      ["Prometheus.lbnodeagent.serviceMonitor.enabled", '"yes"'],
      ["grafanaDashboard.labels", "[1]"],
    ]) {
      const r = run(toolPath("helm"), [
        "template",
        "purelb",
        chart,
        "--set-json",
        `${bad[0]}=${bad[1]}`,
      ]);
      expect(r.status, bad.join("=")).not.toBe(0);
      expect(r.stderr, bad.join("=")).toMatch(/values don't meet the specifications of the schema/);
    }
  });

  it("tells what to do next after helm install", ctx => {
    built(ctx);
    // helm template leaves NOTES.txt out, and helm install (even --dry-run=client) refuses the
    // objects other test files left in the shared apiserver: render it through include.
    const copy = path.join(out, "notes-chart");
    cpSync(chart, copy, { recursive: true });
    writeFileSync(
      path.join(copy, "templates", "zz-notes.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n{{ include (print $.Template.BasePath "/NOTES.txt") . | indent 4 }}\n',
    );
    const r = run(toolPath("helm"), [
      "template",
      "purelb",
      copy,
      "--show-only",
      "templates/zz-notes.yaml",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const notes = (parse(r.stdout) as { data: { notes: string } }).data.notes;
    expect(notes).toMatch(/rollout status deploy\/pepr-purelb deploy\/pepr-purelb-watcher/);
    expect(notes).toMatch(/Create a ServiceGroup named "default" in purelb-system/);
    expect(notes).toMatch(/kubectl purelb status/);
    expect(notes).toMatch(/allocator: +Service purelb-allocator-metrics\.pepr-system, port 7472/);
    expect(notes).toMatch(
      /node agents: Service purelb-lbnodeagent-metrics\.purelb-system, port 7472/,
    );
    expect(notes).toMatch(/serviceMonitor\.enabled/);
  });
});
