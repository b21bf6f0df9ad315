// The admission webhook configurations PureLB ships, made from the ones `pepr build` writes.
//
// Pepr 1.1.4 writes one webhook per configuration for every kind the module binds, with the
// module's failurePolicy. PureLB binds Services, so every Service write in the cluster waited on
// PureLB's admission pods, and failed while they were down. This splits each configuration:
//   - PureLB's own kinds keep Pepr's webhook (`<module>.pepr.dev`, Pepr's admission.failurePolicy,
//     Fail by default): a ServiceGroup PureLB has not checked is never stored;
//   - Services get a webhook of their own (`<module>-services.pepr.dev`) that the apiserver calls
//     only for Services PureLB serves (matchConditions, CEL), with a failurePolicy of its own.
// Both call the same URL: Pepr's server checks the path's secret, then runs every binding whose
// kind matches the request, whichever webhook sent it.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isMap, parseDocument, stringify } from "yaml";
import { DEFAULT_ANNOUNCER, LB_CLASSES } from "../lib/k8s/lb-class";

export type FailurePolicy = "Fail" | "Ignore";

/**
 * While the admission pods are down, a PureLB LoadBalancer Service is still stored: the
 * allocator reports a malformed annotation with a Warning Event and resets externalTrafficPolicy
 * itself, so deploys keep going and little is lost (README, "Admission and failurePolicy").
 */
export const DEFAULT_SERVICE_FAILURE_POLICY: FailurePolicy = "Ignore";

// `object` is null on DELETE and `oldObject` on CREATE; && and || absorb the errors of the
// side they do not need, so a null never makes the condition fail (which would apply the
// failurePolicy instead of skipping the call).
const servedBy = (o: "object" | "oldObject") =>
  `${o} != null && has(${o}.spec) && has(${o}.spec.type) && ${o}.spec.type == 'LoadBalancer' && ` +
  `(!has(${o}.spec.loadBalancerClass) || ${o}.spec.loadBalancerClass in [${LB_CLASSES.map(c => `'${c}'`).join(", ")}])`;

/**
 * The Service is PureLB's (lib/k8s/lb-class.ts, with the default defaultAnnouncer), or was before
 * this update (so a Service leaving LoadBalancer is seen).
 */
export const SERVICE_MATCH_CONDITIONS = [
  {
    name: "purelb-serves-service",
    expression: `(${servedBy("object")}) || (${servedBy("oldObject")})`,
  },
];

export const serviceWebhookName = (configName: string): string => `${configName}-services.pepr.dev`;

interface Rule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
}
export interface Webhook {
  name: string;
  failurePolicy?: string;
  timeoutSeconds?: number;
  rules?: Rule[];
  clientConfig?: { service?: { name: string } & Record<string, unknown> } & Record<string, unknown>;
  namespaceSelector?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  matchConditions?: { name: string; expression: string }[];
  [key: string]: unknown;
}
export interface WebhookConfiguration {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
  webhooks?: Webhook[];
}

export const isWebhookConfiguration = (o: { apiVersion?: string; kind?: string }): boolean =>
  o.apiVersion === "admissionregistration.k8s.io/v1" &&
  (o.kind === "MutatingWebhookConfiguration" || o.kind === "ValidatingWebhookConfiguration");

const isServiceRule = (r: Rule): boolean => (r.resources ?? []).includes("services");

/**
 * Pepr's configuration with its one webhook split into PureLB's kinds and Services. Fails on
 * any other shape: a changed Pepr must be looked at, not shipped half-split.
 */
export function splitServiceWebhook(
  cfg: WebhookConfiguration,
  serviceFailurePolicy: FailurePolicy,
): WebhookConfiguration {
  const name = cfg.metadata.name;
  const where = `${cfg.kind} ${name}`;
  const [hook, ...more] = cfg.webhooks ?? [];
  if (!hook || more.length || hook.name !== `${name}.pepr.dev`)
    throw new Error(
      `${where}: expected Pepr's one webhook ${name}.pepr.dev, found ${JSON.stringify((cfg.webhooks ?? []).map(w => w.name))}; Pepr's output changed, update hack/webhooks.ts`,
    );
  const rules = hook.rules ?? [];
  for (const r of rules.filter(isServiceRule)) {
    if (JSON.stringify(r.apiGroups) !== '[""]' || JSON.stringify(r.resources) !== '["services"]')
      throw new Error(
        `${where}: a rule mixes Services with other resources (${JSON.stringify(r)}); update hack/webhooks.ts`,
      );
  }
  const services = rules.filter(isServiceRule);
  const others = rules.filter(r => !isServiceRule(r));
  const webhooks: Webhook[] = [];
  // Copies, so that YAML writes each webhook out in full rather than as an alias of the other.
  if (others.length) webhooks.push({ ...structuredClone(hook), rules: others });
  if (services.length)
    webhooks.push({
      ...structuredClone(hook),
      name: serviceWebhookName(name),
      failurePolicy: serviceFailurePolicy,
      rules: services,
      matchConditions: SERVICE_MATCH_CONDITIONS,
    });
  return { ...cfg, webhooks };
}

// Placeholders that YAML leaves unquoted, replaced by Helm expressions after stringify.
const T = {
  name: "PURELB_TEMPLATE_UUID",
  failurePolicy: "PURELB_TEMPLATE_FAILURE_POLICY",
  serviceFailurePolicy: "PURELB_TEMPLATE_SERVICE_FAILURE_POLICY",
  timeout: "PURELB_TEMPLATE_TIMEOUT",
  ignored: "PURELB_TEMPLATE_IGNORED_NAMESPACES",
};

/**
 * The chart template of a split configuration, templated where Pepr's own template is: the
 * module name, both failure policies, the timeout and the extra ignored namespaces; and
 * Services without a class match only while defaultAnnouncer is PureLB's. Made
 * from the object, not by search and replace over Pepr's text, which rewrites every "10"
 * (the default timeout), including those inside the CA bundle and the webhook path.
 */
export function webhookTemplate(cfg: WebhookConfiguration): string {
  const name = cfg.metadata.name;
  const t: WebhookConfiguration = {
    ...cfg,
    metadata: { ...cfg.metadata, name: T.name },
    webhooks: (cfg.webhooks ?? []).map(w => {
      const isServices = w.name === serviceWebhookName(name);
      const service = w.clientConfig?.service;
      if (!service || service.name !== name)
        throw new Error(
          `${cfg.kind} ${name}: webhook ${w.name} does not call Service ${name}; update hack/webhooks.ts`,
        );
      return {
        ...w,
        name: isServices ? serviceWebhookName(T.name) : `${T.name}.pepr.dev`,
        clientConfig: { ...w.clientConfig, service: { ...service, name: T.name } },
        failurePolicy: isServices ? T.serviceFailurePolicy : T.failurePolicy,
        timeoutSeconds: T.timeout as unknown as number,
        namespaceSelector: {
          ...w.namespaceSelector,
          matchExpressions: (w.namespaceSelector?.matchExpressions ?? []).map(e =>
            e.key === "kubernetes.io/metadata.name" && e.operator === "NotIn"
              ? { ...e, values: [...(e.values ?? []), T.ignored] }
              : e,
          ),
        },
      };
    }),
  };
  const text = stringify(t, { lineWidth: 0 })
    .replaceAll(T.name, "{{ .Values.uuid }}")
    .replaceAll(T.serviceFailurePolicy, "{{ .Values.admission.serviceFailurePolicy }}")
    .replaceAll(T.failurePolicy, "{{ .Values.admission.failurePolicy }}")
    .replaceAll(T.timeout, "{{ .Values.admission.webhookTimeout }}")
    .replace(
      /!has\((object|oldObject)\.spec\.loadBalancerClass\)/g,
      `{{ if eq .Values.defaultAnnouncer "${DEFAULT_ANNOUNCER}" }}$&{{ else }}false{{ end }}`,
    )
    .replace(
      new RegExp(`^( *)- ${T.ignored}\n`, "gm"),
      "$1{{- range .Values.additionalIgnoredNamespaces }}\n$1- {{ . }}\n$1{{- end }}\n",
    );
  if (/PURELB_TEMPLATE_/.test(text))
    throw new Error(`${cfg.kind} ${name}: a template placeholder was left over`);
  return text;
}

/** Where Pepr writes each configuration in its chart. */
const CHART_TEMPLATE: Record<string, string> = {
  MutatingWebhookConfiguration: "mutation-webhook.yaml",
  ValidatingWebhookConfiguration: "validation-webhook.yaml",
};

const SERVICE_FAILURE_POLICY_COMMENT = ` failurePolicy of the Service webhooks (<uuid>-services.pepr.dev), which the apiserver
 calls only for LoadBalancer Services of no class or PureLB's. Ignore: while the admission pods
 are down such Services are stored unchecked, and the allocator reports a bad annotation with a
 Warning Event. Fail: they are refused until the pods are back. failurePolicy above applies to
 ServiceGroups, LBNodeAgents and BGPConfigurations.`;

/**
 * Writes the split configurations into the chart: its two webhook templates, the value
 * admission.serviceFailurePolicy in values.yaml (after Pepr's failurePolicy) and its schema.
 */
export function writeChartWebhooks(chartDir: string, configs: WebhookConfiguration[]): void {
  for (const cfg of configs) {
    const file = path.join(chartDir, "templates", CHART_TEMPLATE[cfg.kind]);
    // Pepr wrote it; a file missing here means its layout changed.
    readFileSync(file);
    writeFileSync(file, webhookTemplate(cfg));
  }

  const valuesPath = path.join(chartDir, "values.yaml");
  const doc = parseDocument(readFileSync(valuesPath, "utf8"));
  const admission = doc.get("admission", true);
  if (!isMap(admission) || !admission.has("failurePolicy"))
    throw new Error(`${valuesPath}: no admission.failurePolicy; update hack/webhooks.ts`);
  const at = admission.items.findIndex(p => String(p.key) === "failurePolicy");
  const pair = doc.createPair("serviceFailurePolicy", DEFAULT_SERVICE_FAILURE_POLICY);
  (pair.key as { commentBefore?: string }).commentBefore = SERVICE_FAILURE_POLICY_COMMENT;
  admission.items.splice(at + 1, 0, pair);
  writeFileSync(valuesPath, doc.toString({ lineWidth: 0 }));

  const schemaPath = path.join(chartDir, "values.schema.json");
  const schema = JSON.parse(readFileSync(schemaPath, "utf8")) as {
    definitions: Record<string, { properties: Record<string, unknown>; required?: string[] }>;
  };
  const policy = { type: "string", enum: ["Fail", "Ignore"] };
  const props = schema.definitions.Admission.properties;
  props.failurePolicy = policy;
  props.serviceFailurePolicy = policy;
  writeFileSync(schemaPath, JSON.stringify(schema, null, 2) + "\n");
}
