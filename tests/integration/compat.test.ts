// Coming from the Go PureLB v0.17: manifests written from its documentation
// (tests/fixtures/upstream/) apply unchanged with kubectl's strict field validation and pass
// this module's admission, and the allocator behaves as upstream documents, as a user sees it:
// what kubectl prints, the groups' status, the Services' addresses and Events.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_NAMESPACE } from "../../lib/k8s/annotations";
import { KubeClient } from "../../lib/k8s/client";
import { LBNodeAgentSpec } from "../../lib/k8s/lbnodeagent";
import { ServiceGroupSpec, ServiceGroupStatus } from "../../lib/k8s/servicegroup";
import { toolPath } from "../harness/controlplane";
import {
  clientFor,
  deleteAllServices,
  ensureNamespace,
  eventsFor,
  getService,
  remove,
  waitFor,
} from "../harness/kube";
import { RunningModule, startModule } from "../harness/module";

const kubeconfig = inject("kubeconfig");
const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/upstream");
const TENANT_A = "compat-tenant-a";
const TENANT_B = "compat-tenant-b";
const TENANT_C = "compat-tenant-c";
const OUTSIDER = "compat-outsider";
const NAMESPACES = [TENANT_A, TENANT_B, TENANT_C, OUTSIDER];
const SG = `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/servicegroups`;
const LBNA = `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/lbnodeagents`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], input?: string): Run {
  const r = spawnSync(toolPath("kubectl"), args, {
    input,
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: kubeconfig },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** kubectl apply with the apiserver's strict field validation: an unknown field is an error. */
const applyStrict = (args: string[], input?: string): Run =>
  kubectl(["apply", "--validate=strict", ...args], input);
const fixture = (name: string) => path.join(FIXTURES, name);
const docsOf = (name: string) =>
  parseAllDocuments(readFileSync(fixture(name), "utf8")).map(
    d => d.toJS() as { kind: string; metadata: { name: string }; spec: unknown },
  );
/** kubectl's "Warning: ..." lines. */
const warnings = (r: Run) =>
  r.stderr
    .split("\n")
    .filter(l => l.startsWith("Warning: "))
    .map(l => l.slice("Warning: ".length));

const service = (namespace: string, name: string, extra: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${namespace}
${extra}`;
const lb = `spec:
  type: LoadBalancer
  ports: [{port: 80}]`;
const annotated = (group: string) => `  annotations:
    purelb.io/service-group: ${group}
${lb}`;

describe.skipIf(!kubeconfig)("manifests of the Go PureLB v0.17, unchanged", () => {
  let mod: RunningModule | undefined;
  let client: KubeClient;
  const groupNames = [
    ...[
      "servicegroup-local.yaml",
      "servicegroup-remote.yaml",
      "servicegroup-external.yaml",
      "servicegroup-tenants.yaml",
    ].flatMap(f => docsOf(f).map(d => d.metadata.name)),
    "compat-tenant-c-extra",
  ];
  const agentNames = ["compat-default", "compat-dual-homed", "compat-old-names"];

  const cleanUp = async () => {
    for (const ns of NAMESPACES) await deleteAllServices(client, ns);
    for (const name of groupNames) await remove(client, `${SG}/${name}`);
    for (const name of agentNames) await remove(client, `${LBNA}/${name}`);
  };

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    mod = await startModule(kubeconfig);
    for (const ns of NAMESPACES) await ensureNamespace(client, ns);
    await cleanUp();
  }, 240_000);

  afterAll(async () => {
    if (client) await cleanUp();
    await mod?.stop();
  }, 60_000);

  describe("ServiceGroup", () => {
    it("every example applies with strict validation and passes admission without a word", () => {
      for (const file of [
        "servicegroup-local.yaml",
        "servicegroup-remote.yaml",
        "servicegroup-external.yaml",
        "servicegroup-tenants.yaml",
      ]) {
        const r = applyStrict(["-f", fixture(file)]);
        expect(r, file).toMatchObject({ code: 0, stderr: "" });
        for (const d of docsOf(file))
          expect(r.stdout, file).toContain(`servicegroup.purelb.io/${d.metadata.name} created`);
      }
    });

    it("stores every field as written, with upstream's defaults where it has them", async () => {
      for (const file of ["servicegroup-local.yaml", "servicegroup-remote.yaml"]) {
        for (const d of docsOf(file)) {
          const got = await client.request<{ spec: ServiceGroupSpec }>(
            "GET",
            `${SG}/${d.metadata.name}`,
          );
          // enforceNamespaces and namespaceDefault default to false, as upstream's CRD does
          expect(got.spec).toEqual({
            ...(d.spec as object),
            enforceNamespaces: false,
            namespaceDefault: false,
          });
        }
      }
      const tenants = docsOf("servicegroup-tenants.yaml");
      const primary = await client.request<{ spec: ServiceGroupSpec }>(
        "GET",
        `${SG}/${tenants[0].metadata.name}`,
      );
      expect(primary.spec).toEqual(tenants[0].spec);
    });

    it("reports status in upstream's fields, beside ours, before anything allocates", async () => {
      const status = (name: string) =>
        waitFor(`status of ${name}`, async () => {
          const sg = await client.request<{ status?: ServiceGroupStatus }>("GET", `${SG}/${name}`);
          return sg.status?.announce ? sg.status : undefined;
        });
      expect(await status("compat-local")).toMatchObject({
        announce: "Local",
        ipam: "Cluster",
        addresses: ["100.64.17.10-100.64.17.19", "2001:db8:17::10-2001:db8:17::1f"],
        allocatedIPv4: 0,
        allocatedIPv6: 0,
        availableIPv4: 10,
        availableIPv6: 16,
        boundNamespaces: [],
        poolType: "local",
        v4: { size: "10", inUse: 0 },
      });
      expect(await status("compat-remote")).toMatchObject({
        announce: "Remote",
        addresses: ["100.64.17.64/28", "2001:db8:17:1::/124"],
        availableIPv4: 16,
      });
      const external = await status("compat-external");
      expect(external).toMatchObject({ announce: "Remote", ipam: "compat-ipam", addresses: [] });
      // capacity is not known here: absent, which upstream distinguishes from 0 (full)
      expect(external).not.toHaveProperty("availableIPv4");
      expect(await status("compat-tenant-a-primary")).toMatchObject({
        boundNamespaces: [TENANT_A],
        availableIPv4: 16,
      });
      const columns = kubectl(["get", "sg", "compat-local", "-n", DEFAULT_NAMESPACE]);
      expect(columns.stdout.split("\n")[1].split(/\s+/).slice(0, 5)).toEqual([
        "compat-local",
        "Local",
        "Cluster",
        "0",
        "0",
      ]);
    });

    it("refuses what upstream's CRD refuses, saying why", () => {
      const r = applyStrict(
        ["-f", "-"],
        `apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: compat-bad, namespace: ${DEFAULT_NAMESPACE}}
spec:
  enforceNamespaces: true
  remote:
    v4pool: {subnet: 100.64.17.192/28, pool: 100.64.17.192/28}
`,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        "spec.enforceNamespaces: needs a non-empty spec.namespaces, or it would enforce nothing",
      );
      const typo = applyStrict(
        ["-f", "-"],
        `apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: compat-bad, namespace: ${DEFAULT_NAMESPACE}}
spec:
  external: {provider: p, announce: remote, sockett: /x}
`,
      );
      expect(typo.code).not.toBe(0);
      expect(typo.stderr).toContain('unknown field "spec.external.sockett"');
    });
  });

  describe("namespace scoping, case by case", () => {
    const addressOf = (ns: string, name: string) =>
      waitFor(`address of ${ns}/${name}`, async () => {
        const s = await getService(client, ns, name);
        return s.ingress.length ? s : undefined;
      });
    const eventOf = (ns: string, name: string, reason: string) =>
      waitFor(`${reason} on ${ns}/${name}`, async () =>
        (await eventsFor(client, ns, name)).find(e => e.reason === reason),
      );

    it("a group listing a namespace is its default; with two, the namespaceDefault one", async () => {
      expect(applyStrict(["-f", "-"], service(TENANT_A, "web", `${lb}`)).code).toBe(0);
      const s = await addressOf(TENANT_A, "web");
      expect(s.ingress[0]).toMatch(/^100\.64\.17\.(12[89]|13\d|14[0-3])$/);
      expect(s.annotations["purelb.io/allocated-from"]).toBe("compat-tenant-a-primary");
    });

    it("an annotation reaches the namespace's other group", async () => {
      const r = applyStrict(
        ["-f", "-"],
        service(TENANT_A, "bgp", annotated("compat-tenant-a-secondary")),
      );
      expect(r).toMatchObject({ code: 0, stderr: "" });
      const s = await addressOf(TENANT_A, "bgp");
      expect(s.annotations["purelb.io/allocated-from"]).toBe("compat-tenant-a-secondary");
    });

    it("an enforcing namespace cannot reach out: kubectl warns, the Service gets an Event and no address", async () => {
      const r = applyStrict(["-f", "-"], service(TENANT_A, "out", annotated("compat-shared")));
      expect(r.code).toBe(0);
      const why =
        "namespace compat-tenant-a is confined (enforceNamespaces) to ServiceGroups compat-tenant-a-primary, compat-tenant-a-secondary, not compat-shared; set purelb.io/service-group to one of those";
      expect(warnings(r)).toEqual([
        `PureLB will not give this Service an address: ${why}. (This is namespace scoping of ServiceGroups; the Service is stored as it is.)`,
      ]);
      expect((await eventOf(TENANT_A, "out", "AllocationFailed")).message).toBe(why);
      expect((await getService(client, TENANT_A, "out")).ingress).toEqual([]);
    });

    it("a fenced group refuses outsiders, even the group without enforceNamespaces of its own", async () => {
      const r = applyStrict(
        ["-f", "-"],
        service(OUTSIDER, "in", annotated("compat-tenant-a-secondary")),
      );
      expect(r.code).toBe(0);
      expect(warnings(r)[0]).toContain(
        "ServiceGroup compat-tenant-a-secondary serves only namespaces compat-tenant-a, and one of them enforces",
      );
      expect((await eventOf(OUTSIDER, "in", "AllocationFailed")).message).toContain(
        "refuses Services from namespace compat-outsider",
      );
    });

    it("a group serving several namespaces is the default of each, and of loadBalancerClass purelb.io/purelbv2", async () => {
      expect(applyStrict(["-f", "-"], service(TENANT_B, "web", lb)).code).toBe(0);
      expect((await addressOf(TENANT_B, "web")).annotations["purelb.io/allocated-from"]).toBe(
        "compat-shared",
      );
      const classed = `${lb}\n  loadBalancerClass: purelb.io/purelbv2`;
      expect(applyStrict(["-f", "-"], service(TENANT_C, "classed", classed)).code).toBe(0);
      expect((await addressOf(TENANT_C, "classed")).annotations["purelb.io/allocated-from"]).toBe(
        "compat-shared",
      );
    });

    it("two groups for a namespace and no namespaceDefault: admission warns, the Service falls back to default with a ConfigurationWarning", async () => {
      const extra = applyStrict(
        ["-f", "-"],
        `apiVersion: purelb.io/v2
kind: ServiceGroup
metadata: {name: compat-tenant-c-extra, namespace: ${DEFAULT_NAMESPACE}}
spec:
  namespaces: [${TENANT_C}]
  remote:
    v4pools: [{subnet: 100.64.17.176/28, pool: 100.64.17.176/28, aggregation: /32}]
`,
      );
      expect(extra.code).toBe(0);
      const ambiguity =
        "ServiceGroups compat-shared, compat-tenant-c-extra all list namespace compat-tenant-c and none is marked namespaceDefault; set namespaceDefault: true on exactly one, or name one with purelb.io/service-group";
      expect(warnings(extra)).toEqual([
        `${ambiguity}. Until then unannotated Services in ${TENANT_C} get ServiceGroup default.`,
      ]);
      const r = applyStrict(["-f", "-"], service(TENANT_C, "unsure", lb));
      expect(warnings(r)).toEqual([
        `${ambiguity}; this Service uses ServiceGroup default meanwhile`,
      ]);
      expect((await eventOf(TENANT_C, "unsure", "ConfigurationWarning")).message).toBe(
        `${ambiguity}; this Service uses ServiceGroup default meanwhile`,
      );
      // the classed Service keeps its address: scoping never revokes one
      expect((await getService(client, TENANT_C, "classed")).ingress.length).toBe(1);
    });

    it("an external group is accepted, and its Services are told this PureLB cannot call the sidecar", async () => {
      expect(
        applyStrict(["-f", "-"], service(OUTSIDER, "ext", annotated("compat-external"))).code,
      ).toBe(0);
      expect((await eventOf(OUTSIDER, "ext", "AllocationFailed")).message).toContain(
        "asks the external IPAM provider compat-ipam (socket /var/run/purelb/ipam.sock), and this PureLB cannot call external IPAM sidecars yet",
      );
    });
  });

  describe("LBNodeAgent", () => {
    it("both examples apply with strict validation and no warning: every flag is applied", () => {
      const r = applyStrict(["-f", fixture("lbnodeagent-default.yaml")]);
      expect(r.code).toBe(0);
      expect(warnings(r)).toEqual([]);
      expect(applyStrict(["-f", fixture("lbnodeagent-override.yaml")])).toMatchObject({
        code: 0,
        stderr: "",
      });
    });

    it("stores them as written, garpConfig completed with upstream's defaults", async () => {
      const [def] = docsOf("lbnodeagent-default.yaml");
      const got = await client.request<{ spec: LBNodeAgentSpec }>("GET", `${LBNA}/compat-default`);
      expect(got.spec.local).toEqual((def.spec as LBNodeAgentSpec).local);
      expect(got.spec.nodeSelector).toBeUndefined();
      const [over] = docsOf("lbnodeagent-override.yaml");
      const o = await client.request<{ spec: LBNodeAgentSpec }>("GET", `${LBNA}/compat-dual-homed`);
      expect(o.spec.nodeSelector).toEqual((over.spec as LBNodeAgentSpec).nodeSelector);
      expect(o.spec.local?.garpConfig).toEqual({
        count: 5,
        enabled: true,
        initialDelay: "100ms",
        interval: "500ms",
        verifyBeforeSend: true,
      });
    });

    it("our earlier names still apply, each with a warning naming its replacement", () => {
      const r = applyStrict(
        ["-f", "-"],
        `apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata: {name: compat-old-names, namespace: ${DEFAULT_NAMESPACE}}
spec:
  local:
    extInterface: kube-lb0
    garp: {enabled: true, count: 2, interval: 1s, refresh: 60s}
    addressLifetime: {valid: 300s}
`,
      );
      expect(r.code).toBe(0);
      expect(warnings(r)).toEqual([
        "spec.local.extInterface is deprecated and goes in the next release; write spec.local.dummyInterface: kube-lb0 instead (same meaning).",
        "spec.local.garp is deprecated and goes in the next release; write spec.local.garpConfig instead (enabled, count and interval mean the same; refresh moves to garpConfig.refresh). Without garpConfig the agent keeps the old defaults.",
        "spec.local.addressLifetime is deprecated and goes in the next release; write spec.local.addressConfig.localInterface with validLifetime: 300 (whole seconds) instead.",
      ]);
    });
  });
});
