// The chart's monitoring parts, kept out of post-build.ts: metrics Services for the allocator
// and the node agents, optional ServiceMonitors and PrometheusRules (the rules of
// monitoring/purelb-alerts.yaml), an optional Grafana dashboard ConfigMap, extraObjects and
// NOTES.txt. Values follow the Go PureLB chart's `Prometheus:` layout, so an operator's
// values file carries over.
import { readFileSync } from "node:fs";
import path from "node:path";

export interface MonitoringNames {
  purelbNamespace: string;
  peprNamespace: string;
  uuid: string;
  agentLabels: Record<string, string>;
}

const PART_OF = { "app.kubernetes.io/part-of": "purelb" };
export const ALLOCATOR_METRICS_SERVICE = "purelb-allocator-metrics";
export const AGENT_METRICS_SERVICE = "purelb-lbnodeagent-metrics";
/** Where the chart keeps the files its templates read with .Files.Get. */
export const ALERTS_FILE = "files/purelb-alerts.yaml";
export const DASHBOARD_FILE = "files/purelb-dashboard.json";

const scrape = () => ({
  Metrics: { enabled: true },
  serviceMonitor: {
    enabled: false,
    extraLabels: {} as Record<string, string>,
    // Empty: scrape the Service's "metrics" port every 30 s.
    endpoints: [] as Record<string, unknown>[],
  },
  prometheusRules: {
    enabled: false,
    namespace: "",
    extraLabels: {} as Record<string, string>,
    // PureLB's alerts (monitoring/purelb-alerts.yaml); rules are added to them.
    defaultRules: true,
    rules: [] as Record<string, unknown>[],
  },
});

export function monitoringDefaults() {
  return {
    Prometheus: {
      allocator: { port: 7472, ...scrape() },
      lbnodeagent: scrape(),
    },
    grafanaDashboard: {
      enabled: false,
      namespace: "",
      labels: { grafana_dashboard: "1" } as Record<string, string>,
    },
    extraObjects: [] as unknown[],
  };
}
export type MonitoringValues = ReturnType<typeof monitoringDefaults>;

type JsonSchema = Record<string, unknown>;
const obj = (properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema => ({
  type: "object",
  additionalProperties: false,
  properties,
  ...extra,
});
const map: JsonSchema = { type: "object", additionalProperties: { type: "string" } };
const bool: JsonSchema = { type: "boolean" };
const objects: JsonSchema = { type: "array", items: { type: "object" } };

export function monitoringSchema(): Record<string, JsonSchema> {
  const part = (extra: Record<string, JsonSchema> = {}) =>
    obj({
      ...extra,
      Metrics: obj({ enabled: bool }, { required: ["enabled"] }),
      serviceMonitor: obj(
        { enabled: bool, extraLabels: map, endpoints: objects },
        { required: ["enabled"] },
      ),
      prometheusRules: obj(
        {
          enabled: bool,
          namespace: { type: "string" },
          extraLabels: map,
          defaultRules: bool,
          rules: objects,
        },
        { required: ["enabled"] },
      ),
    });
  return {
    Prometheus: obj({
      allocator: part({ port: { type: "integer", minimum: 1, maximum: 65535 } }),
      lbnodeagent: part(),
    }),
    grafanaDashboard: obj(
      { enabled: bool, namespace: { type: "string" }, labels: map },
      { required: ["enabled"] },
    ),
    extraObjects: { type: "array", items: { type: ["object", "string"] } },
  };
}

export const MONITORING_COMMENTS: Record<string, string> = {
  Prometheus:
    " Metrics on upstream's port 7472 (the agent's is agent.metricsPort): Services to scrape, and, with the\n Prometheus Operator, ServiceMonitors and PrometheusRules (PureLB's alerts, plus your rules).",
  grafanaDashboard:
    " A ConfigMap with PureLB's Grafana dashboard (monitoring/purelb-dashboard.json), labelled for Grafana's sidecar.",
  extraObjects: " More objects to create with the release: maps, or strings run through tpl.",
};

/** The metrics Services for values `v`, as the templates render them (for the module YAML). */
export function monitoringObjects(
  v: MonitoringValues & { agent: { enabled: boolean; metricsPort: number } },
  n: MonitoringNames,
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (v.Prometheus.allocator.Metrics.enabled)
    out.push(
      service(
        ALLOCATOR_METRICS_SERVICE,
        n.peprNamespace,
        "allocator",
        { app: `pepr-${n.uuid}-watcher`, "pepr.dev/controller": "watcher" },
        v.Prometheus.allocator.port,
      ),
    );
  if (v.agent.enabled && v.Prometheus.lbnodeagent.Metrics.enabled)
    out.push(
      service(
        AGENT_METRICS_SERVICE,
        n.purelbNamespace,
        "lbnodeagent",
        n.agentLabels,
        v.agent.metricsPort,
      ),
    );
  return out;
}

function service(
  name: string,
  namespace: string,
  component: string,
  selector: Record<string, string>,
  port: number,
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace,
      labels: { ...PART_OF, "app.kubernetes.io/component": component, "purelb.io/metrics": "true" },
    },
    spec: {
      // Headless: Prometheus scrapes every pod (every node's agent), never a load-balanced one.
      clusterIP: "None",
      selector,
      ports: [{ name: "metrics", port, targetPort: "metrics", protocol: "TCP" }],
    },
  };
}

const serviceTemplate = (
  cond: string,
  name: string,
  namespace: string,
  component: string,
  selector: string,
  port: string,
) => `{{- if ${cond} }}
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: purelb
    app.kubernetes.io/component: ${component}
    purelb.io/metrics: "true"
spec:
  # Headless: Prometheus scrapes every pod (every node's agent), never a load-balanced one.
  clusterIP: None
  selector:
${selector}
  ports:
    - name: metrics
      port: ${port}
      targetPort: metrics
      protocol: TCP
{{- end }}
`;

const serviceMonitorTemplate = (
  part: "allocator" | "lbnodeagent",
  name: string,
  namespace: string,
  cond: string,
  relabel: string,
) => `{{- $sm := .Values.Prometheus.${part}.serviceMonitor }}
{{- if and ${cond} $sm.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: purelb
    {{- with $sm.extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  namespaceSelector:
    matchNames:
      - ${namespace}
  selector:
    matchLabels:
      app.kubernetes.io/component: ${part}
      purelb.io/metrics: "true"
  endpoints:
    {{- if $sm.endpoints }}
    {{- toYaml $sm.endpoints | nindent 4 }}
    {{- else }}
    - port: metrics
      path: /metrics
      interval: 30s
${relabel}    {{- end }}
{{- end }}
`;

const ruleTemplate = (
  part: "allocator" | "lbnodeagent",
  group: string,
  defaultNamespace: string,
  cond: string,
) => `{{- $pr := .Values.Prometheus.${part}.prometheusRules }}
{{- if and ${cond} $pr.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: purelb-${part}
  namespace: {{ $pr.namespace | default "${defaultNamespace}" }}
  labels:
    app.kubernetes.io/part-of: purelb
    {{- with $pr.extraLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    {{- if $pr.defaultRules }}
    {{- range (.Files.Get "${ALERTS_FILE}" | fromYaml).groups }}
    {{- if eq .name "${group}" }}
    - {{ toYaml . | nindent 6 | trim }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- with $pr.rules }}
    - name: ${group}-custom
      rules:
        {{- tpl (toYaml .) $ | nindent 8 }}
    {{- end }}
{{- end }}
`;

const NOTES = (n: MonitoringNames) => `PureLB is installed.

Next:
  1. Wait for the allocator, the admission webhook and one agent per node:
       kubectl -n ${n.peprNamespace} rollout status deploy/{{ .Values.uuid }} deploy/{{ .Values.uuid }}-watcher
       kubectl -n ${n.purelbNamespace} rollout status daemonset/purelb-lbnodeagent
{{- if not .Values.serviceGroup.default.create }}
  2. Create a ServiceGroup named "default" in ${n.purelbNamespace} with addresses to hand out
     (or install with serviceGroup.default.create=true), e.g.:
       kubectl apply -f - <<EOF
       apiVersion: purelb.io/v2
       kind: ServiceGroup
       metadata: { name: default, namespace: ${n.purelbNamespace} }
       spec:
         local:
           v4pools: [{ subnet: 192.168.1.0/24, pool: 192.168.1.240-192.168.1.250, aggregation: default }]
       EOF
{{- else }}
  2. The ServiceGroup "default" hands out addresses to Services of type LoadBalancer.
{{- end }}
  3. Check everything with the kubectl plugin (kubectl purelb status, then validate):
       kubectl purelb status
       kubectl purelb validate
     and, for a Service, kubectl purelb inspect NAMESPACE/NAME.

Metrics (Prometheus format, path /metrics):
{{- if .Values.Prometheus.allocator.Metrics.enabled }}
  allocator:   Service ${ALLOCATOR_METRICS_SERVICE}.${n.peprNamespace}, port {{ .Values.Prometheus.allocator.port }}
{{- end }}
{{- if and .Values.agent.enabled .Values.Prometheus.lbnodeagent.Metrics.enabled }}
  node agents: Service ${AGENT_METRICS_SERVICE}.${n.purelbNamespace}, port {{ .Values.agent.metricsPort }} on every node
{{- end }}
{{- if or .Values.Prometheus.allocator.serviceMonitor.enabled .Values.Prometheus.lbnodeagent.serviceMonitor.enabled }}
  ServiceMonitors are installed: your Prometheus Operator must select them (extraLabels).
{{- else }}
  With the Prometheus Operator, set Prometheus.allocator.serviceMonitor.enabled and
  Prometheus.lbnodeagent.serviceMonitor.enabled (and prometheusRules.enabled for PureLB's alerts).
{{- end }}
`;

/** The chart templates (file name to text) and the chart files they read. */
export function monitoringTemplates(n: MonitoringNames): Record<string, string> {
  const indent = (o: Record<string, string>, by: number) =>
    Object.entries(o)
      .map(([k, v]) => `${" ".repeat(by)}${k}: ${v}`)
      .join("\n");
  const allocatorOn = ".Values.Prometheus.allocator.Metrics.enabled";
  const agentOn = "(and .Values.agent.enabled .Values.Prometheus.lbnodeagent.Metrics.enabled)";
  const nodeRelabel = `      relabelings:
        # The agents share their node's network: name the node, not the pod.
        - sourceLabels: [__meta_kubernetes_pod_node_name]
          targetLabel: node
`;
  return {
    "purelb-metrics-services.yaml":
      serviceTemplate(
        allocatorOn,
        ALLOCATOR_METRICS_SERVICE,
        n.peprNamespace,
        "allocator",
        indent({ app: `{{ .Values.uuid }}-watcher`, "pepr.dev/controller": "watcher" }, 4),
        "{{ .Values.Prometheus.allocator.port }}",
      ) +
      serviceTemplate(
        agentOn,
        AGENT_METRICS_SERVICE,
        n.purelbNamespace,
        "lbnodeagent",
        indent(n.agentLabels, 4),
        "{{ .Values.agent.metricsPort }}",
      ),
    "purelb-servicemonitors.yaml":
      serviceMonitorTemplate(
        "allocator",
        ALLOCATOR_METRICS_SERVICE,
        n.peprNamespace,
        allocatorOn,
        "",
      ) +
      serviceMonitorTemplate(
        "lbnodeagent",
        AGENT_METRICS_SERVICE,
        n.purelbNamespace,
        agentOn,
        nodeRelabel,
      ),
    "purelb-prometheusrules.yaml":
      ruleTemplate("allocator", "purelb-allocator", n.peprNamespace, "true") +
      ruleTemplate("lbnodeagent", "purelb-lbnodeagent", n.purelbNamespace, ".Values.agent.enabled"),
    "purelb-grafana-dashboard.yaml": `{{- with .Values.grafanaDashboard }}
{{- if .enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: purelb-grafana-dashboard
  namespace: {{ .namespace | default "${n.purelbNamespace}" }}
  labels:
    app.kubernetes.io/part-of: purelb
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
data:
  purelb.json: |-
    {{- $.Files.Get "${DASHBOARD_FILE}" | nindent 4 }}
{{- end }}
{{- end }}
`,
    "purelb-extra-objects.yaml": `{{- range .Values.extraObjects }}
---
{{- if typeIs "string" . }}
{{ tpl . $ }}
{{- else }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}
`,
    "NOTES.txt": NOTES(n),
  };
}

/** The chart's files/ (read by the templates), from monitoring/ in the repository. */
export function monitoringFiles(root: string): Record<string, string> {
  const m = (f: string) => readFileSync(path.join(root, "monitoring", f), "utf8");
  return { [ALERTS_FILE]: m("purelb-alerts.yaml"), [DASHBOARD_FILE]: m("purelb-dashboard.json") };
}
