// The Helm chart and module YAML that `npm run build` makes (pepr build + hack/post-build.ts):
// lint, render with default and other values, server-side dry-run against the real apiserver,
// least-privilege RBAC (no wildcards; what the agent may and may not do, asked of the
// apiserver), and the launcher that runs the module bundle in the agent.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { chartLocalSpec, lbNodeAgentDefaults } from "../../lib/k8s/lbnodeagent";
import {
  DEFAULT_SERVICE_FAILURE_POLICY,
  SERVICE_MATCH_CONDITIONS,
  WebhookConfiguration,
} from "../../hack/webhooks";
import { toolPath } from "../harness/controlplane";
import { clientFor, ensureNamespace, installCrds, remove, waitFor } from "../harness/kube";

const kubeconfig = inject("kubeconfig");
const root = path.resolve(import.meta.dirname, "../..");
const uuid = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { pepr: { uuid: string } }
).pepr.uuid;
// Its own output directory (gitignored), so that dist/ and a concurrent `pepr dev` are left alone.
const out = path.join(root, ".purelb", "chart-test-build");
const chart = path.join(out, `${uuid}-chart`);
const AGENT = "purelb-lbnodeagent";
const AGENT_SA = `system:serviceaccount:purelb-system:${AGENT}`;
const CONTROLLER_SA = `system:serviceaccount:pepr-system:pepr-${uuid}`;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext?: Record<string, unknown> & {
    capabilities?: { add?: string[]; drop?: string[] };
  };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  hostNetwork?: boolean;
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  tolerations?: Record<string, unknown>[];
  containers: Container[];
  volumes?: {
    name: string;
    emptyDir?: unknown;
    secret?: { secretName: string };
    configMap?: { name: string };
  }[];
}

function run(
  cmd: string,
  args: string[],
  input?: string,
): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    cwd: root,
    input,
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: kubeconfig },
    maxBuffer: 64 << 20,
    timeout: 300_000,
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout ?? "",
    stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`,
  };
}

const docs = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map(d => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o);

/** `helm template` with --set-json pairs; the rendered objects. */
function render(values: Record<string, unknown> = {}): K8sObject[] {
  const sets = Object.entries(values).flatMap(([k, v]) => [
    "--set-json",
    `${k}=${JSON.stringify(v)}`,
  ]);
  const r = run(toolPath("helm"), ["template", "purelb", chart, ...sets]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return docs(r.stdout);
}

const find = (objs: K8sObject[], kind: string, name: string): K8sObject | undefined =>
  objs.find(o => o.kind === kind && o.metadata.name === name);
const must = (objs: K8sObject[], kind: string, name: string): K8sObject => {
  const o = find(objs, kind, name);
  if (!o)
    throw new Error(
      `no ${kind} ${name} in ${objs.map(x => `${x.kind}/${x.metadata.name}`).join(", ")}`,
    );
  return o;
};
const podOf = (o: K8sObject): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const envOf = (c: Container) =>
  Object.fromEntries((c.env ?? []).map(e => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
const rulesOf = (objs: K8sObject[]): { where: string; rule: Rule }[] =>
  objs
    .filter(o => o.kind === "Role" || o.kind === "ClusterRole")
    .flatMap(o =>
      ((o.rules as Rule[] | undefined) ?? []).map(rule => ({
        where: `${o.kind}/${o.metadata.name}`,
        rule,
      })),
    );

const NON_DEFAULT = {
  "agent.bgp.enabled": true,
  "agent.bgp.passwordSecrets": ["bgp-peer-password"],
  "serviceGroup.default": {
    create: true,
    spec: {
      local: {
        v4pools: [
          { subnet: "192.0.2.0/24", pool: "192.0.2.240-192.0.2.250", aggregation: "default" },
        ],
      },
    },
  },
  "netbox.secretNames": ["netbox-token"],
  "lbNodeAgent.spec.lease": { duration: "9s", renew: "3s" },
  defaultAnnouncer: "other",
};

describe.skipIf(!kubeconfig)("Helm chart and module YAML (npm run build)", () => {
  let buildProblem: string | undefined;

  beforeAll(() => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const pepr = run("npx", ["pepr", "build", "-o", out]);
    // pepr build exits 0 even when tsc fails; what counts is whether it wrote the chart. A
    // failure there comes from the module's code (any type error in the repository), not
    // from the packaging under test.
    if (
      !existsSync(path.join(chart, "values.yaml")) ||
      !existsSync(path.join(out, `pepr-module-${uuid}.yaml`))
    ) {
      const errors = `${pepr.stdout}\n${pepr.stderr}`
        .split("\n")
        .filter(l => /error TS|ERROR|Error/.test(l))
        .slice(0, 8)
        .join("\n");
      buildProblem = `pepr build did not produce the chart (status ${pepr.status}); fix the build first:\n${errors}`;
      console.warn(`chart tests skipped: ${buildProblem}`);
      return;
    }
    const post = run("node", ["--import", "tsx", "hack/post-build.ts", out]);
    if (post.status !== 0)
      throw new Error(`hack/post-build.ts failed:\n${post.stdout}\n${post.stderr}`);
  }, 300_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const skipIfNoBuild = (ctx: { skip: (condition: boolean, note?: string) => void }) =>
    ctx.skip(buildProblem !== undefined, buildProblem);

  it("passes helm lint --strict without warnings", ctx => {
    skipIfNoBuild(ctx);
    for (const values of [
      [],
      [
        "--set",
        "agent.bgp.enabled=true",
        "--set",
        "serviceGroup.default.create=true",
        "--set-json",
        `serviceGroup.default.spec=${JSON.stringify(NON_DEFAULT["serviceGroup.default"].spec)}`,
      ],
    ]) {
      const r = run(toolPath("helm"), ["lint", "--strict", chart, ...values]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it("ships PureLB's CRDs and Pepr's PeprStore in crds/, and the agent runs the module bundle", ctx => {
    skipIfNoBuild(ctx);
    const crds = docs(readFileSync(path.join(out, "purelb-crds.yaml"), "utf8")).map(
      o => o.metadata.name,
    );
    expect(crds.sort()).toEqual([
      "bgpconfigurations.bgp.purelb.io",
      "bgpnodestatuses.bgp.purelb.io",
      "lbnodeagents.purelb.io",
      "peprstores.pepr.dev",
      "servicegroups.purelb.io",
    ]);
    for (const name of crds)
      expect(existsSync(path.join(chart, "crds", `${name}.yaml`)), name).toBe(true);

    const objs = render();
    const ds = must(objs, "DaemonSet", AGENT);
    expect(ds.metadata.namespace).toBe("purelb-system");
    const pod = podOf(ds);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.serviceAccountName).toBe(AGENT);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.containers.map(c => c.name)).toEqual(["lbnodeagent"]);
    const agent = pod.containers[0];
    const moduleSecret = must(objs, "Secret", `pepr-${uuid}-module`);
    const gz = Object.keys(moduleSecret.data as object).find(k => k.endsWith(".js.gz"))!;
    const hash = gz.slice("module-".length, -".js.gz".length);
    expect(agent.args).toEqual(["--optimize-for-size", "/app/launcher/launch.cjs", hash]);
    // The agent reads the bundle from Pepr's module Secret through the API, with the launcher
    // that Pepr's pods find in that Secret: the chart carries the bundle once.
    const launcher = (must(objs, "ConfigMap", `${AGENT}-launcher`).data as Record<string, string>)[
      "launch.cjs"
    ];
    expect(launcher).toBe(
      Buffer.from((moduleSecret.data as Record<string, string>)["launch.cjs"], "base64").toString(),
    );
    expect(pod.volumes).toContainEqual({
      name: "launcher",
      configMap: { name: `${AGENT}-launcher` },
    });
    expect(must(objs, "Role", `${AGENT}-module`)).toMatchObject({
      metadata: { namespace: "pepr-system" },
      rules: [
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: [`pepr-${uuid}-module`],
          verbs: ["get"],
        },
      ],
    });
    expect(envOf(agent)).toEqual({
      PURELB_MODE: "agent",
      PURELB_MODULE_SECRET: `pepr-system/pepr-${uuid}-module`,
      NODE_NAME: "spec.nodeName",
      PURELB_NAMESPACE: "metadata.namespace",
      PURELB_METRICS_PORT: "7472",
      LOG_LEVEL: "info",
      PURELB_HEARTBEAT_PORT: "7934",
      PURELB_HEARTBEAT_KEY_FILE: "/etc/purelb/heartbeat/key",
    });
    // Heartbeats: the chart generates the shared key; the agent reads it from a file.
    expect(agent.ports).toContainEqual({ name: "heartbeat", containerPort: 7934, protocol: "UDP" });
    expect(agent.volumeMounts).toContainEqual({
      name: "heartbeat-key",
      mountPath: "/etc/purelb/heartbeat",
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({
      name: "heartbeat-key",
      secret: { secretName: "purelb-heartbeat", optional: true, defaultMode: 0o400 },
    });
    const key = (objs: K8sObject[]) =>
      Buffer.from(
        (must(objs, "Secret", "purelb-heartbeat").data as Record<string, string>).key,
        "base64",
      ).toString();
    expect(key(objs)).toMatch(/^[A-Za-z0-9]{64}$/);
    // Without a cluster to look the old one up in, every render makes a new key.
    expect(key(render())).not.toBe(key(objs));
    const off = podOf(must(render({ "agent.heartbeat.enabled": false }), "DaemonSet", AGENT));
    expect(envOf(off.containers[0]).PURELB_HEARTBEAT).toBe("off");
    expect(off.volumes?.map(v => v.name)).not.toContain("heartbeat-key");
    expect(agent.readinessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(agent.ports).toContainEqual(
      expect.objectContaining({ name: "metrics", containerPort: 7472 }),
    );
    expect(agent.securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW"] },
    });
    expect(must(objs, "Namespace", "purelb-system").metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "privileged",
    });

    const lbna = must(objs, "LBNodeAgent", "default");
    // our defaults, in the Go PureLB's field names (the deprecated ones would warn on install)
    expect(lbna.spec).toEqual({ local: chartLocalSpec, lease: lbNodeAgentDefaults.lease });
    expect(objs.filter(o => o.kind === "ServiceGroup")).toEqual([]);
    expect(find(objs, "Role", "purelb-netbox-secrets")).toBeUndefined();
  });

  it("runs the allocator and admission pods non-root, read-only, without capabilities", ctx => {
    skipIfNoBuild(ctx);
    const objs = render();
    for (const name of [`pepr-${uuid}`, `pepr-${uuid}-watcher`]) {
      const pod = podOf(must(objs, "Deployment", name));
      expect(pod.securityContext, name).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65534,
        seccompProfile: { type: "RuntimeDefault" },
      });
      const c = pod.containers[0];
      expect(c.securityContext, name).toEqual({
        runAsUser: 65534,
        runAsGroup: 65534,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      // Pepr's controller.js would write the unpacked module under /app: the launcher uses an emptyDir.
      expect(c.args?.[0], name).toBe("/app/load/launch.cjs");
      expect(c.volumeMounts, name).toContainEqual({ name: "run", mountPath: "/app/run" });
      expect(pod.volumes?.find(v => v.name === "run")?.emptyDir, name).toBeDefined();
    }
    // Without controller.js nobody needs to write CRDs.
    const controllerRules = (must(objs, "ClusterRole", `pepr-${uuid}`).rules as Rule[]).flatMap(
      r => r.resources ?? [],
    );
    expect(controllerRules).not.toContain("customresourcedefinitions");
  });

  it("renders BGP, a default ServiceGroup and Netbox Secret access when asked", ctx => {
    skipIfNoBuild(ctx);
    const objs = render(NON_DEFAULT);
    // upstream's switch reaches both controller roles (admission and the allocator)
    const defaults = render();
    for (const name of [`pepr-${uuid}`, `pepr-${uuid}-watcher`]) {
      const env = (o: K8sObject[]) => envOf(podOf(must(o, "Deployment", name)).containers[0]);
      expect(env(defaults).PURELB_DEFAULT_ANNOUNCER, name).toBe("PureLB");
      expect(env(objs).PURELB_DEFAULT_ANNOUNCER, name).toBe("other");
    }
    const pod = podOf(must(objs, "DaemonSet", AGENT));
    expect(pod.containers.map(c => c.name)).toEqual(["lbnodeagent", "gobgpd"]);
    expect(envOf(pod.containers[0])).toMatchObject({
      PURELB_BGP: "true",
      PURELB_GOBGP_ADDRESS: "127.0.0.1:50051",
      PURELB_GOBGP_PROTO_DIR: "/usr/share/gocode/src/github.com/osrg/gobgp/api",
    });
    const gobgpd = pod.containers[1];
    expect(gobgpd.args).toContain("--api-hosts=127.0.0.1:50051");
    expect(gobgpd.securityContext?.capabilities).toEqual({
      drop: ["ALL"],
      add: ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"],
    });
    expect(gobgpd.securityContext?.allowPrivilegeEscalation).toBe(false);

    const secretRules = (must(objs, "Role", AGENT).rules as Rule[]).filter(r =>
      r.resources?.includes("secrets"),
    );
    expect(secretRules).toEqual([
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["bgp-peer-password"],
        verbs: ["get"],
      },
    ]);

    expect(must(objs, "ServiceGroup", "default")).toMatchObject({
      metadata: { namespace: "purelb-system" },
      spec: NON_DEFAULT["serviceGroup.default"].spec,
    });
    expect(must(objs, "LBNodeAgent", "default").spec).toMatchObject({
      lease: { duration: "9s", renew: "3s" },
    });
    expect(must(objs, "Role", "purelb-netbox-secrets").rules).toEqual([
      { apiGroups: [""], resources: ["secrets"], resourceNames: ["netbox-token"], verbs: ["get"] },
    ]);
    expect(must(objs, "RoleBinding", "purelb-netbox-secrets").subjects).toEqual([
      { kind: "ServiceAccount", name: `pepr-${uuid}`, namespace: "pepr-system" },
    ]);
  });

  it("calls the admission pods for PureLB's kinds and only for the Services PureLB serves", ctx => {
    skipIfNoBuild(ctx);
    const hooks = (objs: K8sObject[]) =>
      objs
        .filter(o => o.kind.endsWith("WebhookConfiguration"))
        .map(o => o as unknown as WebhookConfiguration);
    const summary = (objs: K8sObject[]) =>
      hooks(objs).flatMap(c =>
        (c.webhooks ?? []).map(w => [
          c.kind,
          w.name,
          w.failurePolicy,
          w.timeoutSeconds,
          (w.rules ?? []).flatMap(r => r.resources).join(","),
          JSON.stringify(w.matchConditions) === JSON.stringify(SERVICE_MATCH_CONDITIONS),
        ]),
      );
    const M = "MutatingWebhookConfiguration";
    const V = "ValidatingWebhookConfiguration";
    const svc = `pepr-${uuid}-services.pepr.dev`;
    const ours = `pepr-${uuid}.pepr.dev`;
    const kinds = "servicegroups,lbnodeagents,bgpconfigurations";
    expect(DEFAULT_SERVICE_FAILURE_POLICY).toBe("Ignore");
    const byDefault = render();
    expect(summary(byDefault)).toEqual([
      [M, svc, "Ignore", 10, "services", true],
      [V, ours, "Fail", 10, kinds, false],
      [V, svc, "Ignore", 10, "services", true],
    ]);
    // The module YAML registers exactly what the chart renders by default.
    const fromYaml = docs(readFileSync(path.join(out, `pepr-module-${uuid}.yaml`), "utf8"));
    expect(hooks(fromYaml)).toEqual(hooks(byDefault));

    // Other values reach every webhook, and nothing else changes: Pepr's own template put the
    // timeout in place of every "10" in the file, the webhook path's secret included.
    const other = render({
      "admission.serviceFailurePolicy": "Fail",
      "admission.webhookTimeout": 15,
      additionalIgnoredNamespaces: ["team-a"],
    });
    expect(summary(other)).toEqual([
      [M, svc, "Fail", 15, "services", true],
      [V, ours, "Fail", 15, kinds, false],
      [V, svc, "Fail", 15, "services", true],
    ]);
    const apiPath = Buffer.from(
      (must(other, "Secret", `pepr-${uuid}-api-path`).data as { value: string }).value,
      "base64",
    ).toString();
    for (const c of hooks(other))
      for (const w of c.webhooks ?? []) {
        const kind = c.kind === M ? "mutate" : "validate";
        expect(w.clientConfig?.service?.path, w.name).toBe(`/${kind}/${apiPath}`);
        expect(w.clientConfig?.caBundle, w.name).toBe(
          hooks(byDefault)[0].webhooks![0].clientConfig!.caBundle,
        );
        expect(w.namespaceSelector?.matchExpressions?.[0]?.values, w.name).toEqual([
          "kube-system",
          "pepr-system",
          "team-a",
        ]);
      }
    expect(
      summary(render({ "admission.failurePolicy": "Ignore" })).map(([, name, policy]) => [
        name,
        policy,
      ]),
    ).toEqual([
      [svc, "Ignore"],
      [ours, "Ignore"],
      [svc, "Ignore"],
    ]);
    // Without PureLB as the default announcer, Services without a class are not PureLB's: the
    // apiserver must not call for them, and the expression still compiles there.
    const classOnly = render({ defaultAnnouncer: "other" });
    for (const c of hooks(classOnly))
      for (const w of (c.webhooks ?? []).filter(w => w.name === svc))
        expect(w.matchConditions?.[0].expression, w.name).toBe(
          SERVICE_MATCH_CONDITIONS[0].expression.replace(
            /!has\((object|oldObject)\.spec\.loadBalancerClass\)/g,
            "false",
          ),
        );
    const dryRun = run(
      toolPath("kubectl"),
      ["apply", "--dry-run=server", "-f", "-"],
      hooks(classOnly)
        .map(o => stringify(o, { lineWidth: 0 }))
        .join("---\n"),
    );
    expect(dryRun.status, dryRun.stderr).toBe(0);
    const wrong = run(toolPath("helm"), [
      "template",
      "purelb",
      chart,
      "--set",
      "admission.serviceFailurePolicy=Sometimes",
    ]);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/serviceFailurePolicy/);
  });

  it("refuses values the schema does not know or a ServiceGroup spec that is not one", ctx => {
    skipIfNoBuild(ctx);
    const bad = (args: string[]) => run(toolPath("helm"), ["template", "purelb", chart, ...args]);
    const typo = bad(["--set", "agent.bgp.enable=true"]);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toMatch(/enable/);
    const wrongField = bad([
      "--set",
      "serviceGroup.default.create=true",
      "--set-json",
      'serviceGroup.default.spec={"local":{"v4pools":[{"subnett":"192.0.2.0/24"}]}}',
    ]);
    expect(wrongField.status).not.toBe(0);
    expect(wrongField.stderr).toMatch(/subnett/);
    const empty = bad(["--set", "serviceGroup.default.create=true"]);
    expect(empty.status).not.toBe(0);
    expect(empty.stderr).toMatch(/exactly one of local, remote, external or netbox/);
  });

  it("fits in the 1 MiB Secret that Helm stores a release in", ctx => {
    skipIfNoBuild(ctx);
    for (const values of [[], ["--set", "agent.bgp.enabled=true"]]) {
      const r = run(toolPath("helm"), ["template", "purelb", chart, ...values]);
      expect(r.status, r.stderr).toBe(0);
      const bytes = helmReleaseBytes(chart, r.stdout);
      expect(bytes, `the release would take ${bytes} bytes`).toBeLessThan(1 << 20);
    }
  });

  it("grants no wildcard in any RBAC rule (chart with any values, module YAML, purelb-system.yaml)", ctx => {
    skipIfNoBuild(ctx);
    const sources: [string, K8sObject[]][] = [
      ["chart (defaults)", render()],
      ["chart (BGP, ServiceGroup, Netbox)", render(NON_DEFAULT)],
      [
        `pepr-module-${uuid}.yaml`,
        docs(readFileSync(path.join(out, `pepr-module-${uuid}.yaml`), "utf8")),
      ],
      ["purelb-system.yaml", docs(readFileSync(path.join(out, "purelb-system.yaml"), "utf8"))],
    ];
    for (const [source, objs] of sources) {
      const rules = rulesOf(objs);
      expect(rules.length, source).toBeGreaterThan(5);
      for (const { where, rule } of rules) {
        const text = `${source} ${where}: ${JSON.stringify(rule)}`;
        expect(rule.resources ?? [], text).not.toContain("*");
        expect(rule.verbs ?? [], text).not.toContain("*");
        expect(rule.nonResourceURLs ?? [], text).not.toContain("*");
        // resourceNames: [] would mean every object: a rule has names or no resourceNames key.
        if (rule.resourceNames) expect(rule.resourceNames.length, text).toBeGreaterThan(0);
      }
    }
  });

  it("puts the same PureLB objects in the module YAML as the chart renders by default", ctx => {
    skipIfNoBuild(ctx);
    const isOurs = (o: K8sObject) => o.metadata.labels?.["app.kubernetes.io/part-of"] === "purelb";
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const byKey = (objs: K8sObject[]) => new Map(objs.filter(isOurs).map(o => [key(o), o]));
    const fromChart = byKey(render());
    const fromYaml = byKey(docs(readFileSync(path.join(out, `pepr-module-${uuid}.yaml`), "utf8")));
    // A published file cannot carry a secret key: the module YAML leaves the heartbeat Secret
    // to the user (docs/operating.md); the agent's volume for it is optional.
    const heartbeatSecret = "Secret/purelb-system/purelb-heartbeat";
    expect(fromChart.has(heartbeatSecret)).toBe(true);
    expect(fromYaml.has(heartbeatSecret)).toBe(false);
    fromChart.delete(heartbeatSecret);
    expect([...fromYaml.keys()].sort()).toEqual([...fromChart.keys()].sort());
    for (const [k, o] of fromChart) expect(fromYaml.get(k), k).toEqual(o);
    // Pepr's own pods are hardened the same way in both.
    const yamlWatcher = docs(readFileSync(path.join(out, `pepr-module-${uuid}.yaml`), "utf8")).find(
      o => o.kind === "Deployment" && o.metadata.name === `pepr-${uuid}-watcher`,
    )!;
    expect(podOf(yamlWatcher).containers[0].securityContext).toEqual(
      podOf(must(render(), "Deployment", `pepr-${uuid}-watcher`)).containers[0].securityContext,
    );
    expect(podOf(yamlWatcher).containers[0].args?.[0]).toBe("/app/load/launch.cjs");
  });

  describe("against the apiserver", () => {
    const kubectl = (args: string[], input?: string) => run(toolPath("kubectl"), args, input);
    const created: string[] = [];
    const TEST_NS = "purelb-chart-it";
    const dir = path.join(root, ".purelb", "chart-test-launch");
    let hash = "";

    const track = (o: K8sObject) => {
      const group = o.apiVersion === "v1" ? "/api/v1" : `/apis/${o.apiVersion}`;
      const plural = `${o.kind.toLowerCase()}s`;
      created.push(
        o.metadata.namespace
          ? `${group}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}`
          : `${group}/${plural}/${o.metadata.name}`,
      );
    };
    // Server-side: the module Secret is too large for client-side apply's last-applied annotation.
    const applyForReal = (objs: K8sObject[]) => {
      const r = kubectl(
        ["apply", "--server-side", "--field-manager=purelb-chart-test", "-f", "-"],
        objs.map(o => stringify(o, { lineWidth: 0 })).join("---\n"),
      );
      if (r.status !== 0) throw new Error(r.stderr);
      objs.forEach(track);
    };

    beforeAll(async () => {
      if (buildProblem) return;
      const client = clientFor(kubeconfig);
      await installCrds(client);
      // The PeprStore CRD as the chart ships it (Helm installs crds/ for real before templates).
      const r = kubectl(["apply", "-f", path.join(chart, "crds", "peprstores.pepr.dev.yaml")]);
      if (r.status !== 0) throw new Error(r.stderr);
      await waitFor(
        "PeprStore CRD",
        () => kubectl(["get", "peprstores", "-A"]).status === 0,
        30_000,
      );
      // A dry run creates nothing, so objects in a namespace the same dry run creates would fail.
      await ensureNamespace(client, "purelb-system");
      await ensureNamespace(client, "pepr-system");
      await ensureNamespace(client, TEST_NS);
      // The RBAC of the chart (with BGP and Netbox Secrets), for real.
      const rbac = render(NON_DEFAULT).filter(
        o =>
          ["ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].includes(
            o.kind,
          ) && o.metadata.labels?.["app.kubernetes.io/part-of"] === "purelb",
      );
      applyForReal(rbac);
      // The agent's namespaced rights, also in a namespace of this test's own for the run below.
      const inTestNs = rbac
        .filter(o => (o.kind === "Role" || o.kind === "RoleBinding") && o.metadata.name === AGENT)
        .map(o => ({ ...o, metadata: { ...o.metadata, namespace: TEST_NS } }));
      applyForReal(inTestNs);

      rmSync(dir, { recursive: true, force: true });
      mkdirSync(path.join(dir, "load"), { recursive: true });
      mkdirSync(path.join(dir, "run"), { recursive: true });
      const secret = must(render(), "Secret", `pepr-${uuid}-module`);
      for (const [k, v] of Object.entries(secret.data as Record<string, string>)) {
        writeFileSync(path.join(dir, "load", k), Buffer.from(v, "base64"));
        if (k.endsWith(".js.gz")) hash = k.slice("module-".length, -".js.gz".length);
      }
    });

    afterAll(async () => {
      rmSync(dir, { recursive: true, force: true });
      const client = clientFor(kubeconfig);
      for (const p of created.reverse()) await remove(client, p).catch(() => undefined);
      await remove(client, `/api/v1/namespaces/${TEST_NS}`).catch(() => undefined);
    });

    it("accepts every rendered object in a server-side dry run, with default and other values", ctx => {
      skipIfNoBuild(ctx);
      for (const values of [{}, NON_DEFAULT]) {
        const manifest = render(values)
          .map(o => stringify(o, { lineWidth: 0 }))
          .join("---\n");
        // As docs/operating.md says to apply the module YAML: the module Secret is too large for
        // client-side apply's last-applied annotation.
        const r = kubectl(
          [
            "apply",
            "--server-side",
            "--field-manager=purelb-chart-test",
            "--dry-run=server",
            "-f",
            "-",
          ],
          manifest,
        );
        expect(r.status, r.stderr).toBe(0);
        for (const o of [
          "daemonset.apps/purelb-lbnodeagent",
          "lbnodeagent.purelb.io/default",
          `deployment.apps/pepr-${uuid}-watcher`,
          `secret/pepr-${uuid}-module`,
        ]) {
          expect(r.stdout).toContain(`${o} serverside-applied (server dry run)`);
        }
      }
    });

    it("keeps the heartbeat key of an installed release on upgrade (lookup)", ctx => {
      skipIfNoBuild(ctx);
      const existing = "k".repeat(20) + "0123456789".repeat(4) + "kkkk";
      const secret: K8sObject = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "purelb-heartbeat", namespace: "purelb-system" },
        data: { key: Buffer.from(existing).toString("base64") },
      };
      applyForReal([secret]);
      const r = run(toolPath("helm"), ["template", "purelb", chart, "--dry-run=server"]);
      expect(r.status, r.stderr).toBe(0);
      const data = must(docs(r.stdout), "Secret", "purelb-heartbeat").data as Record<
        string,
        string
      >;
      expect(Buffer.from(data.key, "base64").toString()).toBe(existing);
    });

    it("gives the agent and the controller exactly the access they need, as the apiserver sees it", async ctx => {
      skipIfNoBuild(ctx);
      const can = (as: string, args: string[]) =>
        waitFor(`kubectl auth can-i --as ${as} ${args.join(" ")}`, () => {
          const res = kubectl(["auth", "can-i", `--as=${as}`, ...args]);
          return res.stdout.trim() === "yes" || res.stdout.trim() === "no"
            ? res.stdout.trim()
            : undefined;
        });
      const expectations: [string, string[], "yes" | "no"][] = [
        [AGENT_SA, ["watch", "services", "--all-namespaces"], "yes"],
        [AGENT_SA, ["patch", "services", "-n", "default"], "yes"],
        [AGENT_SA, ["create", "events", "-n", "default"], "yes"],
        [AGENT_SA, ["list", "endpointslices.discovery.k8s.io", "--all-namespaces"], "yes"],
        [AGENT_SA, ["get", "nodes/node-a"], "yes"],
        [AGENT_SA, ["delete", "leases.coordination.k8s.io", "-n", "purelb-system"], "yes"],
        [AGENT_SA, ["watch", "servicegroups.purelb.io", "-n", "purelb-system"], "yes"],
        [AGENT_SA, ["get", "bgpconfigurations.bgp.purelb.io", "-n", "purelb-system"], "yes"],
        [AGENT_SA, ["update", "bgpnodestatuses.bgp.purelb.io", "--subresource=status"], "yes"],
        [AGENT_SA, ["get", "secrets/bgp-peer-password", "-n", "purelb-system"], "yes"],
        [AGENT_SA, ["get", `secrets/pepr-${uuid}-module`, "-n", "pepr-system"], "yes"],
        [AGENT_SA, ["get", `secrets/pepr-${uuid}-tls`, "-n", "pepr-system"], "no"],
        // and nothing more
        [AGENT_SA, ["get", "secrets/netbox-token", "-n", "purelb-system"], "no"],
        [AGENT_SA, ["list", "secrets", "-n", "purelb-system"], "no"],
        [AGENT_SA, ["delete", "services", "-n", "default"], "no"],
        [AGENT_SA, ["create", "leases.coordination.k8s.io", "-n", "default"], "no"],
        [AGENT_SA, ["update", "servicegroups.purelb.io", "-n", "purelb-system"], "no"],
        [AGENT_SA, ["watch", "nodes"], "yes"],
        [AGENT_SA, ["patch", "nodes/node-a"], "no"],
        [AGENT_SA, ["patch", "services", "-n", "default", "--subresource=status"], "no"],
        [CONTROLLER_SA, ["get", "secrets/netbox-token", "-n", "purelb-system"], "yes"],
        [CONTROLLER_SA, ["get", "secrets/bgp-peer-password", "-n", "purelb-system"], "no"],
        [CONTROLLER_SA, ["get", "namespaces/kube-system"], "yes"],
        [CONTROLLER_SA, ["get", "namespaces/default"], "no"],
      ];
      for (const [as, args, want] of expectations)
        expect(await can(as, args), `${as} ${args.join(" ")}`).toBe(want);
    });

    const launch = (args: string[], env: Record<string, string>) =>
      spawn("node", [env.LAUNCHER ?? path.join(dir, "load", "launch.cjs"), ...args], {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          PURELB_MODULE_DIR: path.join(dir, "load"),
          PURELB_RUN_DIR: path.join(dir, "run"),
          ...env,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });

    it("the launcher checks the module's sha256 and refuses a module that does not match", async ctx => {
      skipIfNoBuild(ctx);
      const wrong = hash.replace(/^./, c => (c === "0" ? "1" : "0"));
      writeFileSync(
        path.join(dir, "load", `module-${wrong}.js.gz`),
        readFileSync(path.join(dir, "load", `module-${hash}.js.gz`)),
      );
      const child = launch([wrong], {});
      let err = "";
      child.stderr.on("data", d => (err += String(d)));
      const code = await new Promise<number | null>(r => child.on("exit", r));
      expect(code).toBe(1);
      expect(err).toMatch(new RegExp(`has sha256 ${hash}, expected ${wrong}`));
    });

    it("runs the bundle as the node agent with only the agent's RBAC: module from Pepr's Secret, Lease, /healthz, /metrics, clean SIGTERM", async ctx => {
      skipIfNoBuild(ctx);
      const client = clientFor(kubeconfig);
      // Nothing for the agent to announce here, and no interface to create: dummyInterface lo,
      // a localInterface that matches none.
      const lbna = {
        apiVersion: "purelb.io/v2",
        kind: "LBNodeAgent",
        metadata: { name: "chart-test", namespace: TEST_NS },
        spec: { local: { localInterface: "^purelb-chart-test-none$", dummyInterface: "lo" } },
      };
      await client.request("POST", `/apis/purelb.io/v2/namespaces/${TEST_NS}/lbnodeagents`, {
        body: lbna,
      });
      track(lbna as K8sObject);

      // Pepr's module Secret, for real: the agent reads the bundle from it with its own token.
      const moduleSecret = must(render(), "Secret", `pepr-${uuid}-module`);
      applyForReal([moduleSecret]);
      const token = kubectl(["create", "token", AGENT, "-n", "purelb-system", "--duration=10m"]);
      expect(token.status, token.stderr).toBe(0);
      const admin = parseAllDocuments(readFileSync(kubeconfig, "utf8"))[0].toJS() as {
        clusters: { cluster: Record<string, string> }[];
      };
      const cluster = admin.clusters[0].cluster;
      // What the kubelet gives a pod: its service account's token and the cluster CA.
      const sa = path.join(dir, "serviceaccount");
      mkdirSync(sa, { recursive: true });
      writeFileSync(path.join(sa, "token"), token.stdout.trim(), { mode: 0o600 });
      writeFileSync(
        path.join(sa, "ca.crt"),
        Buffer.from(cluster["certificate-authority-data"], "base64"),
      );
      const api = new URL(cluster.server);
      writeFileSync(
        path.join(dir, "kubeconfig"),
        stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster }],
          users: [{ name: "agent", user: { tokenFile: path.join(sa, "token") } }],
          contexts: [{ name: "c", context: { cluster: "c", user: "agent" } }],
          "current-context": "c",
        }),
        { mode: 0o600 },
      );
      writeFileSync(
        path.join(dir, "launcher.cjs"),
        (must(render(), "ConfigMap", `${AGENT}-launcher`).data as Record<string, string>)[
          "launch.cjs"
        ],
      );
      rmSync(path.join(dir, "run", `module-${hash}.cjs`), { force: true });

      const port = await freePort();
      const node = "chart-test-node";
      const child = launch([hash], {
        LAUNCHER: path.join(dir, "launcher.cjs"),
        PURELB_MODULE_DIR: path.join(dir, "nowhere"),
        PURELB_MODULE_SECRET: `pepr-system/pepr-${uuid}-module`,
        PURELB_SERVICEACCOUNT_DIR: sa,
        KUBERNETES_SERVICE_HOST: api.hostname,
        KUBERNETES_SERVICE_PORT: api.port,
        // The module itself would read the in-cluster account from its fixed path: a kubeconfig with the same token.
        KUBECONFIG: path.join(dir, "kubeconfig"),
        PURELB_MODE: "agent",
        NODE_NAME: node,
        PURELB_NAMESPACE: TEST_NS,
        PURELB_METRICS_PORT: String(port),
        LOG_LEVEL: "info",
      });
      let log = "";
      child.stdout.on("data", d => (log += String(d)));
      child.stderr.on("data", d => (log += String(d)));
      const exited = new Promise<number | null>(r => child.on("exit", r));
      const lease = `/apis/coordination.k8s.io/v1/namespaces/${TEST_NS}/leases/purelb-node-${node}`;
      try {
        await waitFor(
          "the agent to sync",
          () => /node agent synced and running/.test(log) || undefined,
          60_000,
        ).catch(err => {
          throw new Error(`${(err as Error).message}\n${log}`);
        });
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(await health.text()).toBe("ok");
        expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(
          /purelb_announced_addresses/,
        );
        expect(
          await client.request<{ spec: { holderIdentity: string } }>("GET", lease),
        ).toMatchObject({ spec: { holderIdentity: node } });
        expect(existsSync(path.join(dir, "run", `module-${hash}.cjs`))).toBe(true);
        // Agent mode never loads Pepr's admission and watch stack.
        expect(log).not.toMatch(/pepr|admission/i);
        expect(log).not.toMatch(/forbidden/i);
      } finally {
        child.kill("SIGTERM");
      }
      expect(await exited, log).toBe(0);
      // Graceful shutdown deletes the node's Lease, so that others take over at once.
      await expect(client.request("GET", lease)).rejects.toMatchObject({ status: 404 });
    });
  });
});

/**
 * What Helm stores for a release: base64(gzip(JSON)), the chart's files base64 in the JSON,
 * plus the rendered manifest. Kubernetes refuses a Secret over 1 MiB.
 */
function helmReleaseBytes(chartDir: string, manifest: string): number {
  const files: { name: string; data: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else
        files.push({ name: path.relative(chartDir, p), data: readFileSync(p).toString("base64") });
    }
  };
  walk(chartDir);
  return gzipSync(JSON.stringify({ chart: { files }, manifest })).toString("base64").length;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
