// PureLB's admission pods being down blocks only PureLB's writes (issue 23). The webhook
// configurations the build writes into the module YAML (hack/webhooks.ts) are registered
// against the built module run as an admission pod runs it; then the module is stopped, the
// configurations stay, and kubectl shows what each write gets from the real apiserver.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DEFAULT_NAMESPACE } from "../../lib/k8s/annotations";
import { KubeClient } from "../../lib/k8s/client";
import {
  DEFAULT_SERVICE_FAILURE_POLICY,
  SERVICE_MATCH_CONDITIONS,
  WebhookConfiguration,
  serviceWebhookName,
} from "../../hack/webhooks";
import { toolPath } from "../harness/controlplane";
import {
  clientFor,
  deleteAllServices,
  ensureNamespace,
  installCrds,
  remove,
} from "../harness/kube";
import { MODULE_NAME, WEBHOOK_NAME } from "../harness/module";
import {
  Admission,
  BuiltModule,
  buildModule,
  registerWebhooks,
  removeWebhooks,
  startAdmission,
} from "../harness/admission";

const kubeconfig = inject("kubeconfig");
const NS = "admission-outage-it";
const SERVICES_WEBHOOK = serviceWebhookName(MODULE_NAME);
const root = path.resolve(import.meta.dirname, "../..");
const uuid = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { pepr: { uuid: string } }
).pepr.uuid;
// Its own output directory (gitignored), so that dist/ is left alone.
const out = path.join(root, ".purelb", "admission-outage-build");
/** Pepr's mark on every object its Mutate ran on: <uuid>.pepr.dev/<capability>. */
const MARKER = `${uuid}.pepr.dev/validation`;
/** A webhook of this test only: the Service condition on DELETE, where `object` is null. */
const DELETE_PROBE = "purelb-outage-delete-probe";

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

type Kind = "ClusterIP" | "NodePort" | "LoadBalancer";
function service(
  name: string,
  type: Kind,
  opts: { cls?: string; annotations?: Record<string, string>; port?: number } = {},
): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${NS}
  annotations: ${JSON.stringify(opts.annotations ?? {})}
spec:
  type: ${type}
${opts.cls ? `  loadBalancerClass: ${opts.cls}\n` : ""}${type === "LoadBalancer" ? "  allocateLoadBalancerNodePorts: false\n" : ""}  selector: {app: ${name}}
  ports: [{port: ${opts.port ?? 80}, targetPort: 8080}]
`;
}

const serviceGroup = (name: string) => `apiVersion: purelb.io/v2
kind: ServiceGroup
metadata:
  name: ${name}
  namespace: ${DEFAULT_NAMESPACE}
spec:
  local:
    v4pools:
    - {pool: 192.0.2.200-192.0.2.210, subnet: 192.0.2.0/24}
`;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** Why the apiserver refused a write: it could not reach the webhook server. */
const unreachable = (webhook: string, url: string) =>
  `Internal error occurred: failed calling webhook "${escape(webhook)}": failed to call webhook: Post "${escape(url)}": dial tcp (127\\.0\\.0\\.1|\\[::1\\]):3000: connect: connection refused`;
/** What kubectl prints when a create is refused that way. */
const createRefused = (webhook: string, url: string) =>
  new RegExp(
    `^Error from server \\(InternalError\\): error when creating "STDIN": ${unreachable(webhook, url)}$`,
  );

describe.skipIf(!kubeconfig)("PureLB's admission pods down", () => {
  let client: KubeClient;
  let built: BuiltModule;
  let admission: Admission | undefined;
  let mutateUrl = "";
  let validateUrl = "";
  const annotationsOf = async (name: string) =>
    (
      await client.request<{ metadata: { annotations?: Record<string, string> } }>(
        "GET",
        `/api/v1/namespaces/${NS}/services/${name}`,
      )
    ).metadata.annotations ?? {};

  beforeAll(async () => {
    // First: the build blocks this process for minutes, and the apiserver closes idle
    // keep-alive connections meanwhile ("socket hang up" on the next request).
    built = buildModule(out);
    client = clientFor(kubeconfig);
    await ensureNamespace(client, NS);
    await ensureNamespace(client, DEFAULT_NAMESPACE);
    await installCrds(client);
    admission = await startAdmission(client, kubeconfig, built);
    // The apiserver appends the webhook's timeout to the URL it calls.
    const timeout = built.webhooks[0].webhooks![0].timeoutSeconds;
    mutateUrl = `${admission.url("mutate")}?timeout=${timeout}s`;
    validateUrl = `${admission.url("validate")}?timeout=${timeout}s`;
    await registerWebhooks(client, admission.webhooks());
  }, 600_000);

  afterAll(async () => {
    await admission?.stop();
    rmSync(out, { recursive: true, force: true });
    if (!client) return;
    await removeWebhooks(client, [
      ...(built?.webhooks ?? []),
      { kind: "ValidatingWebhookConfiguration", metadata: { name: DELETE_PROBE } },
    ]);
    await deleteAllServices(client, NS);
    await remove(
      client,
      `/apis/purelb.io/v2/namespaces/${DEFAULT_NAMESPACE}/servicegroups/outage-web`,
    );
  }, 60_000);

  it("ships a webhook for PureLB's kinds on Fail and one for Services on the chart's default", () => {
    const hooks = built.webhooks.flatMap(c =>
      (c.webhooks ?? []).map(w => ({
        kind: c.kind,
        name: w.name,
        failurePolicy: w.failurePolicy,
        resources: (w.rules ?? []).flatMap(r => r.resources),
        matchConditions: w.matchConditions,
      })),
    );
    expect(hooks).toEqual([
      {
        kind: "MutatingWebhookConfiguration",
        name: SERVICES_WEBHOOK,
        failurePolicy: DEFAULT_SERVICE_FAILURE_POLICY,
        resources: ["services"],
        matchConditions: SERVICE_MATCH_CONDITIONS,
      },
      {
        kind: "ValidatingWebhookConfiguration",
        name: WEBHOOK_NAME,
        failurePolicy: "Fail",
        resources: ["servicegroups", "lbnodeagents", "bgpconfigurations"],
        matchConditions: undefined,
      },
      {
        kind: "ValidatingWebhookConfiguration",
        name: SERVICES_WEBHOOK,
        failurePolicy: DEFAULT_SERVICE_FAILURE_POLICY,
        resources: ["services"],
        matchConditions: SERVICE_MATCH_CONDITIONS,
      },
    ]);
  });

  describe("with the module up", () => {
    it("calls the module only for PureLB's Services: only they get Pepr's mark", async () => {
      const before = admission!.requests();
      for (const [name, type, cls] of [
        ["up-clusterip", "ClusterIP"],
        ["up-nodeport", "NodePort"],
        ["up-other-class", "LoadBalancer", "example.com/other"],
      ] as [string, Kind, string?][]) {
        expect(apply(service(name, type, { cls })).stdout).toBe(`service/${name} created`);
        expect(apply(service(name, type, { cls, port: 81 })).stdout).toBe(
          `service/${name} configured`,
        );
      }
      expect(admission!.requests(), "AdmissionReviews for other Services").toBe(before);
      for (const [name, cls] of [
        ["up-purelb", undefined],
        ["up-purelb-class", "purelb.io/purelb"],
      ]) {
        expect(apply(service(name!, "LoadBalancer", { cls })).stdout).toBe(
          `service/${name} created`,
        );
      }
      // a mutating and a validating review for each
      expect(admission!.requests() - before).toBe(4);
      expect(await annotationsOf("up-clusterip")).not.toHaveProperty(MARKER);
      expect(await annotationsOf("up-nodeport")).not.toHaveProperty(MARKER);
      expect(await annotationsOf("up-other-class")).not.toHaveProperty(MARKER);
      expect((await annotationsOf("up-purelb"))[MARKER]).toBe("succeeded");
      expect((await annotationsOf("up-purelb-class"))[MARKER]).toBe("succeeded");
    });

    it("refuses a PureLB Service's malformed annotation from the Services webhook", () => {
      const r = apply(
        service("up-bad", "LoadBalancer", {
          annotations: { "purelb.io/addresses": "192.0.2.300" },
        }),
      );
      expect(r.stderr).toBe(
        `Error from server: error when creating "STDIN": admission webhook "${SERVICES_WEBHOOK}" denied the request: metadata.annotations["purelb.io/addresses"]: "192.0.2.300" is not an IP address; give one IPv4 and/or one IPv6 address, comma-separated`,
      );
    });
  });

  describe("with the module stopped", () => {
    beforeAll(async () => {
      await admission?.stop();
      admission = undefined;
    }, 60_000);

    it("creates and updates ClusterIP, NodePort and other-class LoadBalancer Services as if PureLB were not installed", () => {
      for (const [name, type, cls] of [
        ["down-clusterip", "ClusterIP"],
        ["down-nodeport", "NodePort"],
        ["down-other-class", "LoadBalancer", "example.com/other"],
      ] as [string, Kind, string?][]) {
        expect(apply(service(name, type, { cls }))).toEqual({
          code: 0,
          stdout: `service/${name} created`,
          stderr: "",
        });
        expect(apply(service(name, type, { cls, port: 81 }))).toEqual({
          code: 0,
          stdout: `service/${name} configured`,
          stderr: "",
        });
      }
      // and those that existed before the outage
      expect(apply(service("up-clusterip", "ClusterIP", { port: 83 })).stdout).toBe(
        "service/up-clusterip configured",
      );
    });

    it(`stores a PureLB Service unchecked under the default serviceFailurePolicy ${DEFAULT_SERVICE_FAILURE_POLICY}`, async () => {
      expect(apply(service("down-purelb", "LoadBalancer"))).toEqual({
        code: 0,
        stdout: "service/down-purelb created",
        stderr: "",
      });
      expect(apply(service("up-purelb", "LoadBalancer", { port: 81 })).stdout).toBe(
        "service/up-purelb configured",
      );
      // The cost: a malformed annotation is stored; the allocator reports it with an Event.
      const bad = apply(
        service("down-bad", "LoadBalancer", {
          annotations: { "purelb.io/addresses": "192.0.2.300" },
        }),
      );
      expect(bad.stdout).toBe("service/down-bad created");
      expect((await annotationsOf("down-bad"))["purelb.io/addresses"]).toBe("192.0.2.300");
    });

    it("refuses a ServiceGroup with the words the README shows", () => {
      const r = apply(serviceGroup("outage-web"));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(createRefused(WEBHOOK_NAME, validateUrl));
      expect(kubectl(["get", "servicegroup", "outage-web", "-n", DEFAULT_NAMESPACE]).code).not.toBe(
        0,
      );
    });

    describe("with admission.serviceFailurePolicy Fail", () => {
      let failing: WebhookConfiguration[] = [];
      beforeAll(async () => {
        // What the chart renders with --set admission.serviceFailurePolicy=Fail, pointed here.
        const a = await startAdmission(client, kubeconfig, built);
        failing = a.webhooks("Fail");
        await a.stop();
        await registerWebhooks(client, failing);
      }, 120_000);

      it("refuses PureLB Services, and Services entering or leaving LoadBalancer", () => {
        const create = apply(service("fail-purelb", "LoadBalancer"));
        expect(create.code).not.toBe(0);
        expect(create.stderr).toMatch(createRefused(SERVICES_WEBHOOK, mutateUrl));
        // up-purelb is PureLB's; down-clusterip would become PureLB's.
        for (const [name, type] of [
          ["up-purelb", "ClusterIP"],
          ["down-clusterip", "LoadBalancer"],
        ] as [string, Kind][]) {
          const r = apply(service(name, type));
          expect(r.code, `${name} to ${type}`).not.toBe(0);
          expect(r.stderr).toMatch(new RegExp(unreachable(SERVICES_WEBHOOK, mutateUrl)));
        }
      });

      it("still leaves every other Service alone", () => {
        expect(apply(service("fail-clusterip", "ClusterIP")).stdout).toBe(
          "service/fail-clusterip created",
        );
        expect(apply(service("down-nodeport", "NodePort", { port: 82 })).stdout).toBe(
          "service/down-nodeport configured",
        );
        expect(
          apply(service("down-other-class", "LoadBalancer", { cls: "example.com/other", port: 82 }))
            .stdout,
        ).toBe("service/down-other-class configured");
      });

      it("evaluates the Service condition on DELETE, where the object is null, without failing", async () => {
        // The Service webhooks do not ask for DELETE; a probe with the same condition does.
        const cfg = failing.find(c => c.kind === "ValidatingWebhookConfiguration")!;
        const hook = cfg.webhooks!.find(w => w.name === SERVICES_WEBHOOK)!;
        const probe: WebhookConfiguration = {
          ...cfg,
          metadata: { name: DELETE_PROBE },
          webhooks: [{ ...hook, rules: [{ ...hook.rules![0], operations: ["DELETE"] }] }],
        };
        await registerWebhooks(client, [probe]);
        expect(kubectl(["delete", "service", "fail-clusterip", "-n", NS]).stdout).toBe(
          `service "fail-clusterip" deleted from ${NS} namespace`,
        );
        const r = kubectl(["delete", "service", "down-purelb", "-n", NS]);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(
          new RegExp(
            `^Error from server \\(InternalError\\): ${unreachable(SERVICES_WEBHOOK, validateUrl)}$`,
          ),
        );
        await removeWebhooks(client, [probe]);
      });
    });
  });
});
