// Admission end to end: the real apiserver sends AdmissionReviews to this module, run as
// `pepr dev` runs it, and kubectl shows the user exactly what these tests expect.
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DEFAULT_NAMESPACE } from "../../lib/k8s/annotations";
import { ApiError, KubeClient } from "../../lib/k8s/client";
import { LBNodeAgentSpec, lbNodeAgentDefaults } from "../../lib/k8s/lbnodeagent";
import { toolPath } from "../harness/controlplane";
import {
  clientFor,
  deleteAllServices,
  ensureNamespace,
  getService,
  remove,
  waitFor,
} from "../harness/kube";
import { RunningModule, WEBHOOK_NAME, startModule } from "../harness/module";

const kubeconfig = inject("kubeconfig");
const NS = "admission-it";
const SG_PATH = `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/servicegroups`;
/** What kubectl prints when the webhook denies a create. */
const denied = (message: string) =>
  `Error from server: error when creating "STDIN": admission webhook "${WEBHOOK_NAME}" denied the request: ${message}`;

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

const apply = (yaml: string): Run => kubectl(["apply", "-f", "-"], yaml);

const serviceGroup = (name: string, spec: string) => `apiVersion: purelb.io/v2
kind: ServiceGroup
metadata:
  name: ${name}
  namespace: ${DEFAULT_NAMESPACE}
spec:
${spec}`;

describe.skipIf(!kubeconfig)("admission through the apiserver", () => {
  let mod: RunningModule | undefined;
  let client: KubeClient;

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    mod = await startModule(kubeconfig);
    await ensureNamespace(client, NS);
  }, 240_000);

  afterAll(async () => {
    if (client) {
      // no namespace controller here: a deleted namespace would keep its Services
      await deleteAllServices(client, NS);
      for (const name of ["adm-web", "adm-api", "default", "adm-routed", "adm-narrow"]) {
        await remove(client, `${SG_PATH}/${name}`);
      }
      await remove(
        client,
        `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/lbnodeagents/adm-agent`,
      );
      await remove(
        client,
        `/apis/bgp.purelb.io/v1/namespaces/${DEFAULT_NAMESPACE}/bgpconfigurations/adm-bgp`,
      );
    }
    await mod?.stop();
  }, 60_000);

  it("answers a real AdmissionReview: the API client gets the webhook's status code and words", async () => {
    const err = await client
      .request("POST", SG_PATH, {
        body: {
          apiVersion: "purelb.io/v2",
          kind: "ServiceGroup",
          metadata: { name: "adm-none" },
          spec: {},
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).message).toBe(
      `POST ${SG_PATH}: 422 admission webhook "${WEBHOOK_NAME}" denied the request: spec: a ServiceGroup needs exactly one of local, remote, external or netbox (none is set); split it into one ServiceGroup per type`,
    );
  });

  it("refuses a ServiceGroup whose pool does not parse, and takes the fixed one", () => {
    const bad = apply(
      serviceGroup(
        "adm-web",
        "  local:\n    v4pools:\n    - {pool: 192.0.2.9-192.0.2.1, subnet: 192.0.2.0/24}",
      ),
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toBe(
      denied(
        'spec.local.v4pools[0].pool: "192.0.2.9-192.0.2.1" starts after it ends (first must be <= last)',
      ),
    );
    const good = apply(
      serviceGroup(
        "adm-web",
        "  local:\n    v4pools:\n    - {pool: 192.0.2.0/28, subnet: 192.0.2.0/24}",
      ),
    );
    expect(good).toMatchObject({
      code: 0,
      stdout: "servicegroup.purelb.io/adm-web created",
      stderr: "",
    });
  });

  it("refuses a ServiceGroup that overlaps another group of the namespace, naming it", () => {
    const r = apply(
      serviceGroup(
        "adm-api",
        "  local:\n    v4pools:\n    - {pool: 192.0.2.8-192.0.2.20, subnet: 192.0.2.0/24}",
      ),
    );
    expect(r.stderr).toBe(
      denied(
        "spec.local.v4pools[0].pool: 192.0.2.8-192.0.2.20 overlaps ServiceGroup adm-web (spec.local.v4pools[0].pool 192.0.2.0-192.0.2.15); an address must belong to one ServiceGroup only: shrink or move one of the pools",
      ),
    );
  });

  it("refuses every problem of a ServiceGroup at once, joined", () => {
    const r = apply(
      serviceGroup(
        "adm-api",
        "  remote:\n    multiPool: true\n    balancePools: true\n    skipIPv6DAD: true\n    v4pool: {pool: 198.51.100.1, subnet: 192.0.2.0/24}",
      ),
    );
    expect(r.stderr).toBe(
      denied(
        "spec.remote.v4pool.pool: 198.51.100.1 is not inside its subnet 192.0.2.0/24; every pool address must be in the subnet; " +
          "spec.remote.balancePools: multiPool and balancePools cannot both be true; multiPool gives one address per range, balancePools one address from the least used range: choose one; " +
          "spec.remote.skipIPv6DAD: applies only to local pools (remote addresses are not on a shared link); remove it",
      ),
    );
  });

  it("warns, and allows, when a changed group leaves Services outside its pools", async () => {
    const narrow = (pool: string) =>
      serviceGroup(
        "adm-narrow",
        `  remote:\n    v4pools:\n    - {pool: ${pool}, subnet: 203.0.113.0/24, aggregation: /32}`,
      );
    expect(apply(narrow("203.0.113.0/28")).code).toBe(0);
    const created = apply(`apiVersion: v1
kind: Service
metadata:
  name: stranded
  namespace: ${NS}
  annotations: {purelb.io/service-group: adm-narrow}
spec:
  type: LoadBalancer
  allocateLoadBalancerNodePorts: false
  ports: [{port: 80}]`);
    expect(created.code).toBe(0);
    // the module's allocator gives it an address of the old pool
    const { ingress } = await waitFor("an address for stranded", async () => {
      const s = await getService(client, NS, "stranded");
      return s.ingress.length ? s : undefined;
    });
    const r = apply(narrow("203.0.113.16/28"));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("servicegroup.purelb.io/adm-narrow configured");
    expect(r.stderr).toBe(
      `Warning: 1 Service keeps addresses outside the new pools: ${NS}/stranded (${ingress.join(", ")}). They keep them and keep working; to move one into the new pools, create a replacement Service, move traffic to it, then delete the old one.`,
    );
  });

  it("refuses a bad LBNodeAgent, takes a good one and fills in the defaults", async () => {
    const agent = (local: string, lease = "") => `apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata: {name: adm-agent, namespace: ${DEFAULT_NAMESPACE}}
spec:
  local:
${local}
${lease}`;
    expect(apply(agent("    localInterface: enp(1s0")).stderr).toBe(
      denied(
        'spec.local.localInterface: "enp(1s0" is not a regular expression (Invalid regular expression: /enp(1s0/: Unterminated group); use "default" or a pattern such as ^enp[0-9]+s0$',
      ),
    );
    expect(
      apply(agent("    garpConfig: {interval: 1m}", "  lease: {duration: 10s, renew: 10s}")).stderr,
    ).toBe(
      denied(
        "spec.lease.renew: 10s must be shorter than spec.lease.duration (10s), or the Lease lapses between renewals and the node's addresses move; renew at most a third of duration",
      ),
    );
    expect(apply(agent("    localInterface: ^enp[0-9]+s0$")).code).toBe(0);
    const stored = await client.request<{ spec: LBNodeAgentSpec }>(
      "GET",
      `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/lbnodeagents/adm-agent`,
    );
    // no defaults for the deprecated fields (they would be stored, then warned about)
    expect(stored.spec).toEqual({
      local: { localInterface: "^enp[0-9]+s0$" },
      lease: lbNodeAgentDefaults.lease,
    });
  });

  it("refuses a bad BGPConfiguration and takes a good one", () => {
    const bgp = (neighbors: string) => `apiVersion: bgp.purelb.io/v1
kind: BGPConfiguration
metadata: {name: adm-bgp, namespace: ${DEFAULT_NAMESPACE}}
spec:
  global: {asn: 65001, routerID: "\${NODE_IP}"}
  neighbors:
${neighbors}`;
    expect(
      apply(
        bgp(
          "  - {address: 192.0.2.1, peerASN: 65000}\n  - {address: 192.0.2.1, peerASN: 65002, holdTime: '90'}",
        ),
      ).stderr,
    ).toBe(
      denied(
        "spec.neighbors[1].address: 192.0.2.1 is already spec.neighbors[0]; list each peer once and merge the two entries; " +
          'spec.neighbors[1].holdTime: "90" is not a duration; write it like 90s, 1m30s or 1.5s',
      ),
    );
    expect(
      apply(bgp("  - {address: 192.0.2.1, peerASN: 65000, holdTime: 90s, keepaliveTime: 30s}"))
        .code,
    ).toBe(0);
  });

  it("refuses a PureLB Service with a malformed annotation, and leaves other classes alone", () => {
    const svc = (name: string, cls = "") => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${NS}
  annotations: {purelb.io/addresses: 192.0.2.300}
spec:
  type: LoadBalancer
  ${cls}
  allocateLoadBalancerNodePorts: false
  ports: [{port: 80}]`;
    expect(apply(svc("adm-bad")).stderr).toBe(
      denied(
        'metadata.annotations["purelb.io/addresses"]: "192.0.2.300" is not an IP address; give one IPv4 and/or one IPv6 address, comma-separated',
      ),
    );
    expect(apply(svc("adm-other", "loadBalancerClass: example.com/other")).code).toBe(0);
  });

  describe("externalTrafficPolicy", () => {
    const svc = (name: string, annotations: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${NS}
  annotations: {${annotations}}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  allocateLoadBalancerNodePorts: false
  selector: {app: ${name}}
  ports: [{port: 80}]`;

    beforeAll(() => {
      expect(
        apply(
          serviceGroup(
            "default",
            "  local:\n    v4pools:\n    - {pool: 192.0.2.100-192.0.2.110, subnet: 192.0.2.0/24}",
          ),
        ).code,
      ).toBe(0);
      expect(
        apply(
          serviceGroup(
            "adm-routed",
            "  remote:\n    v4pools:\n    - {pool: 198.51.100.0/28, subnet: 198.51.100.0/24, aggregation: /32}",
          ),
        ).code,
      ).toBe(0);
    });

    it("becomes Cluster on a local group, and the client is told why", async () => {
      const r = apply(svc("adm-local", ""));
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(
        `Warning: spec.externalTrafficPolicy: Local was changed to Cluster because ServiceGroup ${DEFAULT_NAMESPACE}/default has local addresses, which one node announces: with Local, traffic reaching that node is dropped when none of the Service's endpoints runs there. To keep the client source address, use a remote ServiceGroup (purelb.io/service-group).`,
      );
      expect((await getService(client, NS, "adm-local")).externalTrafficPolicy).toBe("Cluster");
    });

    it("becomes Cluster on a shared address whatever the group", async () => {
      const r = apply(
        svc("adm-shared", "purelb.io/service-group: adm-routed, purelb.io/allow-shared-ip: vip"),
      );
      expect(r.stderr).toMatch(
        /^Warning: spec\.externalTrafficPolicy: Local was changed to Cluster because the Service shares its address \(purelb\.io\/allow-shared-ip: "vip"\)/,
      );
      expect((await getService(client, NS, "adm-shared")).externalTrafficPolicy).toBe("Cluster");
    });

    it("stays Local on a remote group, without a warning", async () => {
      const r = apply(svc("adm-remote", "purelb.io/service-group: adm-routed"));
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect((await getService(client, NS, "adm-remote")).externalTrafficPolicy).toBe("Local");
    });
  });

  it("kubectl explains the CRDs' fields and lists ServiceGroups with their columns", () => {
    const explain = kubectl(["explain", "servicegroup.spec.local.v4pools.aggregation"]);
    expect(explain.stdout.replace(/\s+/g, " ")).toContain(
      '"default" (or unset) uses the subnet\'s mask',
    );
    const get = kubectl(["get", "sg", "-n", DEFAULT_NAMESPACE]);
    expect(get.stdout.split("\n")[0].split(/\s{2,}/)).toEqual([
      "NAME",
      "ANNOUNCE",
      "IPAM",
      "ALLOCATED-V4",
      "ALLOCATED-V6",
      "AGE",
    ]);
  });
  it("answers every fuzzed AdmissionReview with a well-formed verdict and stays healthy", async () => {
    const hooks = await client.request<{ webhooks: { clientConfig: { url: string } }[] }>(
      "GET",
      "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/pepr-purelb",
    );
    const url = new URL(hooks.webhooks[0].clientConfig.url);
    const kinds = [
      { group: "purelb.io", version: "v2", kind: "ServiceGroup", resource: "servicegroups" },
      { group: "purelb.io", version: "v2", kind: "LBNodeAgent", resource: "lbnodeagents" },
      {
        group: "bgp.purelb.io",
        version: "v1",
        kind: "BGPConfiguration",
        resource: "bgpconfigurations",
      },
      { group: "", version: "v1", kind: "Service", resource: "services" },
    ];
    const review = fc.record({
      gvk: fc.constantFrom(...kinds),
      operation: fc.constantFrom("CREATE", "UPDATE"),
      spec: fc.oneof(
        fc.anything(),
        fc.dictionary(
          fc.constantFrom("local", "remote", "netbox", "type", "global", "neighbors"),
          fc.anything(),
        ),
      ),
      annotations: fc.dictionary(
        fc.constantFrom(
          "purelb.io/addresses",
          "purelb.io/service-group",
          "purelb.io/multi-pool",
          "purelb.io/allow-shared-ip",
          "x",
        ),
        fc.string(),
      ),
    });
    const samples = fc.sample(review, { numRuns: 150, seed: 42 });
    for (const [i, r] of samples.entries()) {
      const uid = `fuzz-${i}`;
      const object = {
        apiVersion: [r.gvk.group, r.gvk.version].filter(Boolean).join("/"),
        kind: r.gvk.kind,
        metadata: { name: `fuzz-${i}`, namespace: DEFAULT_NAMESPACE, annotations: r.annotations },
        spec: r.spec,
      };
      const body = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid,
          kind: { group: r.gvk.group, version: r.gvk.version, kind: r.gvk.kind },
          resource: { group: r.gvk.group, version: r.gvk.version, resource: r.gvk.resource },
          name: object.metadata.name,
          namespace: DEFAULT_NAMESPACE,
          operation: r.operation,
          userInfo: { username: "fuzz" },
          object,
          oldObject: r.operation === "UPDATE" ? object : null,
          dryRun: true,
        },
      });
      const res = await postInsecure(url, body);
      expect(res.status, `sample ${i}: ${body}`).toBe(200);
      const answer = JSON.parse(res.text) as {
        response?: { uid: string; allowed: boolean; status?: { message?: string } };
      };
      expect(answer.response?.uid, `sample ${i}`).toBe(uid);
      expect(typeof answer.response?.allowed).toBe("boolean");
      if (answer.response && !answer.response.allowed)
        expect(answer.response.status?.message ?? "", `sample ${i}: a denial says why`).not.toBe(
          "",
        );
    }
    // still answering real requests afterwards
    const ok = apply(
      serviceGroup(
        "adm-after-fuzz",
        "  remote:\n    v4pool: {pool: 203.0.113.200/30, subnet: 203.0.113.0/24}",
      ),
    );
    expect(ok.code, ok.stderr).toBe(0);
    await remove(client, `${SG_PATH}/adm-after-fuzz`);
  });
});

/** The webhook's certificate is Pepr's own; only the apiserver holds its CA. */
function postInsecure(url: URL, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        rejectUnauthorized: false,
        headers: { "Content-Type": "application/json" },
        timeout: 15_000,
      },
      res => {
        let text = "";
        res.on("data", c => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("webhook did not answer in 15 s")));
    req.end(body);
  });
}
