// The split of Pepr's webhook configuration (hack/webhooks.ts); the apiserver's view of the
// result is in tests/integration/admission-outage.test.ts, Helm's in chart.test.ts.
import { describe, expect, it } from "vitest";
import {
  SERVICE_MATCH_CONDITIONS,
  WebhookConfiguration,
  splitServiceWebhook,
  webhookTemplate,
} from "../../hack/webhooks";

const rule = (group: string, resource: string) => ({
  apiGroups: [group],
  apiVersions: ["v1"],
  operations: ["CREATE", "UPDATE"],
  resources: [resource],
});

const pepr = (rules: ReturnType<typeof rule>[]): WebhookConfiguration => ({
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingWebhookConfiguration",
  metadata: { name: "pepr-purelb" },
  webhooks: [
    {
      name: "pepr-purelb.pepr.dev",
      failurePolicy: "Fail",
      timeoutSeconds: 10,
      clientConfig: {
        caBundle: "Q0ExMA==",
        service: { name: "pepr-purelb", namespace: "pepr-system", path: "/validate/ab10cd" },
      },
      namespaceSelector: {
        matchExpressions: [
          { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] },
        ],
      },
      rules,
    },
  ],
});

describe("splitServiceWebhook", () => {
  it("keeps PureLB's kinds on Pepr's webhook and gives Services their own, narrowed", () => {
    const split = splitServiceWebhook(
      pepr([rule("purelb.io", "servicegroups"), rule("", "services")]),
      "Ignore",
    );
    expect(split.webhooks?.map(w => [w.name, w.failurePolicy, w.rules, w.matchConditions])).toEqual(
      [
        ["pepr-purelb.pepr.dev", "Fail", [rule("purelb.io", "servicegroups")], undefined],
        [
          "pepr-purelb-services.pepr.dev",
          "Ignore",
          [rule("", "services")],
          SERVICE_MATCH_CONDITIONS,
        ],
      ],
    );
    expect(split.webhooks?.[1].clientConfig).toEqual(split.webhooks?.[0].clientConfig);
  });

  it("leaves out a webhook with no rules", () => {
    const split = splitServiceWebhook(pepr([rule("", "services")]), "Fail");
    expect(split.webhooks?.map(w => w.name)).toEqual(["pepr-purelb-services.pepr.dev"]);
  });

  it("refuses a shape it was not written for, rather than ship it half split", () => {
    const two = pepr([rule("", "services")]);
    two.webhooks!.push({ ...two.webhooks![0], name: "other.pepr.dev" });
    expect(() => splitServiceWebhook(two, "Ignore")).toThrow(/expected Pepr's one webhook/);
    const mixed = pepr([{ ...rule("", "services"), resources: ["services", "pods"] }]);
    expect(() => splitServiceWebhook(mixed, "Ignore")).toThrow(/mixes Services/);
  });
});

describe("webhookTemplate", () => {
  it("templates the name, both policies, the timeout and the ignored namespaces, and nothing else", () => {
    const text = webhookTemplate(
      splitServiceWebhook(
        pepr([rule("purelb.io", "servicegroups"), rule("", "services")]),
        "Ignore",
      ),
    );
    expect(text).toContain("name: {{ .Values.uuid }}-services.pepr.dev\n");
    expect(text).toContain("failurePolicy: {{ .Values.admission.failurePolicy }}\n");
    expect(text).toContain("failurePolicy: {{ .Values.admission.serviceFailurePolicy }}\n");
    expect(
      text.match(/timeoutSeconds: \{\{ \.Values\.admission\.webhookTimeout \}\}\n/g),
    ).toHaveLength(2);
    expect(text).toContain(
      "            - kube-system\n            {{- range .Values.additionalIgnoredNamespaces }}\n            - {{ . }}\n            {{- end }}\n",
    );
    expect(text).toContain(
      '({{ if eq .Values.defaultAnnouncer "PureLB" }}!has(object.spec.loadBalancerClass){{ else }}false{{ end }} || object.spec.loadBalancerClass in',
    );
    expect(text).toContain(
      '({{ if eq .Values.defaultAnnouncer "PureLB" }}!has(oldObject.spec.loadBalancerClass){{ else }}false{{ end }} || oldObject.spec.loadBalancerClass in',
    );
    // the "10"s of the CA bundle and the path stay as they are
    expect(text).toContain("caBundle: Q0ExMA==\n");
    expect(text).toContain("path: /validate/ab10cd\n");
  });
});
