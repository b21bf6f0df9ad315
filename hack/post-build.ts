// Runs after `pepr build` (`npm run build`): adds to Pepr's output what Pepr has no hook
// for. Usage: node --import tsx hack/post-build.ts [outputDir]   (default: dist)
//
// Pepr writes <out>/pepr-module-<uuid>.yaml and a Helm chart <out>/<uuid>-chart. This adds:
//   - the CRDs (PureLB's and Pepr's own PeprStore) to the chart's crds/ and to the module YAML;
//   - the purelb-system namespace, the node agent DaemonSet (the same module bundle run with
//     PURELB_MODE=agent), its ServiceAccount and least-privilege RBAC, the optional gobgpd
//     sidecar, a default LBNodeAgent and an optional default ServiceGroup;
//   - a Role letting the Pepr controller read the named Netbox token Secrets, and read access
//     to the kube-system namespace (its uid names this cluster in Netbox);
//   - hardening of Pepr's admission and watcher pods (read-only root filesystem, UID 65534,
//     seccomp RuntimeDefault): Pepr's controller.js unpacks the module next to
//     /app/node_modules, which a read-only root forbids, so a small launcher (added to the
//     module Secret) unpacks it to an emptyDir at /app/run after the same sha256 check and runs
//     it in-process (so SIGTERM reaches the module: the agent deletes its Lease on shutdown).
//     With the PeprStore CRD shipped in crds/, the controller needs no rights on CRDs at all;
//   - Pepr's webhooks split so that only Services PureLB serves reach its admission pods
//     (hack/webhooks.ts), with the chart value admission.serviceFailurePolicy.
// It also writes <out>/purelb-crds.yaml (CRDs only) and <out>/purelb-system.yaml (everything
// PureLB adds, for `npx pepr deploy` users: that command applies only Pepr's own resources).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Document, parse, parseAllDocuments, stringify } from "yaml";
import { lbNodeAgentCrd, serviceGroupCrd } from "../lib/k8s/crds";
import { Schema, schemaOf } from "../lib/k8s/crds/schema";
import { DEFAULT_ANNOUNCER, DEFAULT_ANNOUNCER_ENV, LB_CLASSES } from "../lib/k8s/lb-class";
import { chartLocalSpec, lbNodeAgentDefaults } from "../lib/k8s/lbnodeagent";
import { AGENT_NODE_FLAGS } from "../lib/agent/node-flags";
import {
  DEFAULT_HEARTBEAT_PORT,
  DEFAULT_KEY_FILE,
  HEARTBEAT_KEY_DIR,
  HEARTBEAT_SECRET,
} from "../lib/heartbeat/defaults";
import {
  MONITORING_COMMENTS,
  MonitoringNames,
  monitoringDefaults,
  monitoringFiles,
  monitoringObjects,
  monitoringSchema,
  monitoringTemplates,
} from "./chart-monitoring";
import {
  DEFAULT_SERVICE_FAILURE_POLICY,
  WebhookConfiguration,
  isWebhookConfiguration,
  splitServiceWebhook,
  writeChartWebhooks,
} from "./webhooks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Where PureLB's own objects live (ServiceGroups, LBNodeAgents, node Leases, the agent). */
export const PURELB_NAMESPACE = "purelb-system";
/** Pepr hard-codes the namespace of its controller. */
const PEPR_NAMESPACE = "pepr-system";
export const AGENT_NAME = "purelb-lbnodeagent";
const AGENT_LAUNCHER = `${AGENT_NAME}-launcher`;
/** The agent's right to read the module Secret in Pepr's namespace. */
const AGENT_MODULE_ROLE = `${AGENT_NAME}-module`;
const CLUSTER_ID_ROLE = "purelb-allocator-cluster-id";
const NETBOX_ROLE = "purelb-netbox-secrets";
/** Debian's golang-github-osrg-gobgp-dev puts gobgp's .proto files here; the agent image copies them to the same place. */
const GOBGP_PROTO_DIR = "/usr/share/gocode/src/github.com/osrg/gobgp/api";
/** Non-root user of the allocator and admission pods (the seeds' security table: nobody). */
const CONTROLLER_UID = 65534;
const LAUNCHER_KEY = "launch.cjs";
const PART_OF = { "app.kubernetes.io/part-of": "purelb" };
const AGENT_LABELS = {
  "app.kubernetes.io/name": "purelb",
  "app.kubernetes.io/component": "lbnodeagent",
};

/**
 * Runs in the controller image: unpacks the gzipped module Pepr stores in a Secret and runs it.
 * Pepr's pods mount that Secret; the agent, in another namespace, reads it through the API
 * (PURELB_MODULE_SECRET), so that the chart carries the bundle once: a Helm release must fit
 * in a 1 MiB Secret.
 */
export const LAUNCHER = `// PureLB launcher (written by hack/post-build.ts). Usage: node launch.cjs <sha256 of the module>
// Pepr's controller.js unpacks the module next to /app/node_modules, which a read-only root
// filesystem forbids. This unpacks it to a writable emptyDir instead, after the same sha256
// check, and runs it in this process so that signals reach it directly.
// The module comes from PURELB_MODULE_DIR (default /app/load, a mounted Secret) or, when
// PURELB_MODULE_SECRET=namespace/name is set, from that Secret through the API, with the
// pod's service account.
"use strict";
const { createHash, timingSafeEqual } = require("node:crypto");
const { readFileSync, rmSync, writeFileSync } = require("node:fs");
const https = require("node:https");
const { gunzipSync } = require("node:zlib");

const fail = (message, code = 1) => {
  console.error("launch.cjs: " + message);
  process.exit(code);
};

function readSecret(ref, key) {
  const [namespace, name] = ref.split("/");
  const sa = process.env.PURELB_SERVICEACCOUNT_DIR || "/var/run/secrets/kubernetes.io/serviceaccount";
  const options = {
    host: (process.env.KUBERNETES_SERVICE_HOST || "").replace(/^\\[|\\]$/g, ""),
    port: process.env.KUBERNETES_SERVICE_PORT || "443",
    path: "/api/v1/namespaces/" + encodeURIComponent(namespace) + "/secrets/" + encodeURIComponent(name),
    ca: readFileSync(sa + "/ca.crt"),
    headers: { Authorization: "Bearer " + readFileSync(sa + "/token", "utf8").trim(), Accept: "application/json" },
    timeout: 15000,
  };
  return new Promise((resolve, reject) => {
    const req = https.get(options, res => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", c => (body += c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error("GET Secret " + ref + ": " + res.statusCode + " " + body.slice(0, 300)));
        const data = (JSON.parse(body).data || {})[key];
        if (!data) return reject(new Error("Secret " + ref + " has no key " + key + "; is the module of the same build deployed?"));
        resolve(Buffer.from(data, "base64"));
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer from the API server in 15 s")));
    req.on("error", reject);
  });
}

async function main() {
  const hash = process.argv[2] || "";
  if (!/^[0-9a-f]{64}$/.test(hash)) fail("the first argument must be the module's sha256 (64 hex digits)", 2);
  const file = "module-" + hash + ".js.gz";
  const ref = process.env.PURELB_MODULE_SECRET;
  let gz;
  if (ref) {
    // The API server may be unreachable for a moment while a node boots.
    for (let attempt = 1; !gz; attempt++) {
      try {
        gz = await readSecret(ref, file);
      } catch (err) {
        if (attempt >= 6) fail("cannot read the module from Secret " + ref + ": " + err.message);
        console.error("launch.cjs: cannot read the module from Secret " + ref + " (" + err.message + "); retrying");
        await new Promise(r => setTimeout(r, 2000 * attempt));
      }
    }
  } else {
    const from = (process.env.PURELB_MODULE_DIR || "/app/load") + "/" + file;
    try {
      gz = readFileSync(from);
    } catch (err) {
      fail("cannot read the module " + from + ": " + err.message);
    }
  }
  const code = gunzipSync(gz);
  const actual = createHash("sha256").update(code).digest();
  if (!timingSafeEqual(actual, Buffer.from(hash, "hex"))) fail(file + " has sha256 " + actual.toString("hex") + ", expected " + hash);
  const to = (process.env.PURELB_RUN_DIR || "/app/run") + "/module-" + hash + ".cjs";
  // A restarted container keeps its emptyDir, and with it the read-only copy of the last run.
  rmSync(to, { force: true });
  writeFileSync(to, code, { mode: 0o444 });
  require(to);
}

main().catch(err => fail(err.stack || String(err)));
`;

// ---------------------------------------------------------------------------------------
// Values: what the chart adds to Pepr's values.yaml, with its JSON schema.

const d = lbNodeAgentDefaults;
/** Defaults of the values PureLB adds; the module YAML is rendered from exactly these. */
export function defaultValues(version: string) {
  return {
    // The Go PureLB's switch: "PureLB" serves Services without a loadBalancerClass.
    defaultAnnouncer: DEFAULT_ANNOUNCER as string,
    purelbNamespace: { create: true, labels: {} as Record<string, string> },
    agent: {
      enabled: true,
      image: `ghcr.io/purelb/pepr-purelb-agent:${version}`,
      imagePullPolicy: "IfNotPresent",
      logLevel: "info",
      metricsPort: 7472,
      // Agents heartbeat each other on this UDP port, so local addresses stay through an API
      // server outage; the key is the Secret purelb-heartbeat (generated, kept on upgrades).
      heartbeat: { enabled: true, port: DEFAULT_HEARTBEAT_PORT },
      priorityClassName: "system-node-critical",
      terminationGracePeriodSeconds: 15,
      nodeSelector: { "kubernetes.io/os": "linux" } as Record<string, string>,
      // Every node, tainted or not: a node without an agent cannot announce anything.
      tolerations: [{ operator: "Exists" }] as Record<string, unknown>[],
      resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "256Mi" } },
      podAnnotations: {} as Record<string, string>,
      bgp: {
        enabled: false,
        image: "ghcr.io/purelb/pepr-purelb-gobgp:3.10.0",
        imagePullPolicy: "IfNotPresent",
        apiPort: 50051,
        logLevel: "info",
        protoDir: GOBGP_PROTO_DIR,
        passwordSecrets: [] as string[],
        resources: { requests: { cpu: "20m", memory: "32Mi" }, limits: { memory: "128Mi" } },
      },
    },
    lbNodeAgent: {
      create: true,
      name: "default",
      spec: {
        local: {
          ...chartLocalSpec,
          garpConfig: { ...chartLocalSpec.garpConfig },
          addressConfig: { localInterface: { ...chartLocalSpec.addressConfig.localInterface } },
        },
        lease: { ...d.lease },
      },
    },
    serviceGroup: { default: { create: false, spec: {} as Record<string, unknown> } },
    netbox: { secretNames: [] as string[] },
    ...monitoringDefaults(),
  };
}
export type PureLBValues = ReturnType<typeof defaultValues>;

type JsonSchema = Record<string, unknown>;
const s = {
  obj: (properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema => ({
    type: "object",
    additionalProperties: false,
    properties,
    ...extra,
  }),
  str: (extra: JsonSchema = {}): JsonSchema => ({ type: "string", ...extra }),
  int: (extra: JsonSchema = {}): JsonSchema => ({ type: "integer", ...extra }),
  bool: { type: "boolean" } as JsonSchema,
  map: { type: "object", additionalProperties: { type: "string" } } as JsonSchema,
  open: { type: "object" } as JsonSchema,
};
const dnsName = s.str({
  minLength: 1,
  maxLength: 253,
  pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
});
const port = s.int({ minimum: 1, maximum: 65535 });
const pullPolicy = s.str({ enum: ["Always", "IfNotPresent", "Never"] });
const logLevel = s.str({ enum: ["trace", "debug", "info", "warn", "error", "fatal"] });
const resources = s.obj({ requests: s.map, limits: s.map });

/** A CRD field schema as JSON schema: typos in values fail at install, not silently pruned. */
function fromCrd(schema: Schema): JsonSchema {
  const out: JsonSchema = { type: schema.type };
  if (schema.description) out.description = schema.description;
  if (schema.enum) out.enum = schema.enum;
  if (schema.minimum !== undefined) out.minimum = schema.minimum;
  if (schema.maximum !== undefined) out.maximum = schema.maximum;
  if (schema.pattern) out.pattern = schema.pattern;
  for (const k of ["minLength", "maxLength", "maxItems"] as const)
    if (schema[k] !== undefined) out[k] = schema[k];
  if (schema.required) out.required = schema.required;
  if (schema.items) out.items = fromCrd(schema.items);
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, v]) => [k, fromCrd(v)]),
    );
    out.additionalProperties = schema.additionalProperties
      ? fromCrd(schema.additionalProperties)
      : false;
  } else if (schema.additionalProperties) {
    out.additionalProperties = fromCrd(schema.additionalProperties);
  }
  return out;
}

function valuesSchema(): Record<string, JsonSchema> {
  const crdSpec = (schema: Schema): JsonSchema => fromCrd(schema.properties!.spec);
  return {
    defaultAnnouncer: s.str(),
    purelbNamespace: s.obj({ create: s.bool, labels: s.map }, { required: ["create"] }),
    agent: s.obj(
      {
        enabled: s.bool,
        image: s.str({ minLength: 1 }),
        imagePullPolicy: pullPolicy,
        logLevel,
        metricsPort: port,
        heartbeat: s.obj({ enabled: s.bool, port }, { required: ["enabled", "port"] }),
        priorityClassName: s.str(),
        terminationGracePeriodSeconds: s.int({ minimum: 0 }),
        nodeSelector: s.map,
        tolerations: { type: "array", items: s.open },
        resources,
        podAnnotations: s.map,
        bgp: s.obj(
          {
            enabled: s.bool,
            image: s.str({ minLength: 1 }),
            imagePullPolicy: pullPolicy,
            apiPort: port,
            logLevel: s.str({
              enum: ["panic", "fatal", "error", "warn", "info", "debug", "trace"],
            }),
            protoDir: s.str({ minLength: 1 }),
            passwordSecrets: { type: "array", items: dnsName, uniqueItems: true },
            resources,
          },
          { required: ["enabled", "image", "apiPort", "protoDir", "passwordSecrets"] },
        ),
      },
      { required: ["enabled", "image", "metricsPort", "bgp"] },
    ),
    lbNodeAgent: s.obj(
      { create: s.bool, name: dnsName, spec: crdSpec(schemaOf(lbNodeAgentCrd)) },
      { required: ["create", "name"] },
    ),
    serviceGroup: s.obj({
      default: s.obj(
        { create: s.bool, spec: crdSpec(schemaOf(serviceGroupCrd)) },
        { required: ["create"] },
      ),
    }),
    netbox: s.obj(
      { secretNames: { type: "array", items: dnsName, uniqueItems: true } },
      { required: ["secretNames"] },
    ),
    ...monitoringSchema(),
  };
}

const VALUE_COMMENTS: Record<string, string> = {
  defaultAnnouncer: ` As in the Go PureLB: "${DEFAULT_ANNOUNCER}" serves LoadBalancer Services without spec.loadBalancerClass;\n anything else serves only those of class ${LB_CLASSES.join(" or ")}.`,
  purelbNamespace: ` PureLB's namespace (${PURELB_NAMESPACE}): ServiceGroups, LBNodeAgents, node Leases and the node agent.\n Set create: false when it exists already; it needs the privileged Pod Security level (host network, NET_ADMIN).`,
  agent:
    " The node agent DaemonSet: the module bundle run with PURELB_MODE=agent on every node (host network,\n root with NET_ADMIN and NET_RAW only). Its image is the Pepr controller image plus native packages (Dockerfile.agent).",
  lbNodeAgent:
    " The LBNodeAgent the chart creates (the agents use the first by name): interfaces, GARP, address lifetimes, Lease timing.",
  serviceGroup: ` An optional ServiceGroup named "default" in ${PURELB_NAMESPACE}, used by Services without purelb.io/service-group.\n spec is a ServiceGroup spec: exactly one of local, remote, external or netbox.`,
  netbox: ` Names of Secrets in ${PURELB_NAMESPACE} holding Netbox API tokens (key user-token) that the allocator may read; no other Secret.`,
};

// ---------------------------------------------------------------------------------------
// PureLB's objects for the module YAML (rendered from defaultValues). The chart templates
// below render the same objects from values; tests/integration/chart.test.ts compares them.

interface Ctx {
  uuid: string;
  hash: string;
  imagePullSecrets: string[];
}

type K8sObject = { apiVersion: string; kind: string; metadata: Record<string, unknown> } & Record<
  string,
  unknown
>;

const rule = (
  apiGroups: string[],
  resources: string[],
  verbs: string[],
  resourceNames?: string[],
) => ({
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
  verbs,
});

/** Everything the agent calls: nothing more (tests assert no wildcard anywhere). */
function agentClusterRules() {
  return [
    rule([""], ["services"], ["get", "list", "watch", "patch"]),
    rule([""], ["events"], ["create", "patch"]),
    rule(["discovery.k8s.io"], ["endpointslices"], ["list", "watch"]),
    // BGPConfiguration neighbors select nodes by label: the agent watches its own Node
    // (a field selector, which RBAC cannot narrow to one name).
    rule([""], ["nodes"], ["get", "list", "watch"]),
    rule(["bgp.purelb.io"], ["bgpnodestatuses"], ["create", "get", "update", "patch"]),
    rule(["bgp.purelb.io"], ["bgpnodestatuses/status"], ["get", "update", "patch"]),
  ];
}

function agentNamespaceRules(passwordSecrets: string[]) {
  return [
    rule(
      ["coordination.k8s.io"],
      ["leases"],
      ["create", "get", "list", "watch", "update", "patch", "delete"],
    ),
    rule(["purelb.io"], ["servicegroups", "lbnodeagents"], ["get", "list", "watch"]),
    rule(["bgp.purelb.io"], ["bgpconfigurations"], ["get", "list", "watch"]),
    // An empty resourceNames would mean every Secret: only named ones, or no rule at all.
    ...(passwordSecrets.length ? [rule([""], ["secrets"], ["get"], passwordSecrets)] : []),
  ];
}

const meta = (name: string, namespace?: string, labels: Record<string, string> = PART_OF) => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels,
});

function agentContainerEnv(v: PureLBValues, uuid: string) {
  return [
    { name: "PURELB_MODE", value: "agent" },
    { name: "PURELB_MODULE_SECRET", value: `${PEPR_NAMESPACE}/pepr-${uuid}-module` },
    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
    { name: "PURELB_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    { name: "PURELB_METRICS_PORT", value: String(v.agent.metricsPort) },
    { name: "LOG_LEVEL", value: v.agent.logLevel },
    ...(v.agent.heartbeat.enabled
      ? [
          { name: "PURELB_HEARTBEAT_PORT", value: String(v.agent.heartbeat.port) },
          { name: "PURELB_HEARTBEAT_KEY_FILE", value: DEFAULT_KEY_FILE },
        ]
      : [{ name: "PURELB_HEARTBEAT", value: "off" }]),
    ...(v.agent.bgp.enabled
      ? [
          { name: "PURELB_BGP", value: "true" },
          { name: "PURELB_GOBGP_ADDRESS", value: `127.0.0.1:${v.agent.bgp.apiPort}` },
          { name: "PURELB_GOBGP_PROTO_DIR", value: v.agent.bgp.protoDir },
        ]
      : []),
  ];
}

export function purelbObjects(v: PureLBValues, ctx: Ctx): K8sObject[] {
  const out: K8sObject[] = [];
  const probe = { httpGet: { path: "/healthz", port: "metrics" } };
  if (v.purelbNamespace.create) {
    out.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: meta(PURELB_NAMESPACE, undefined, {
        ...PART_OF,
        "pod-security.kubernetes.io/enforce": "privileged",
        ...v.purelbNamespace.labels,
      }),
    });
  }
  if (v.agent.enabled) {
    out.push(
      { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(AGENT_NAME, PURELB_NAMESPACE) },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: meta(AGENT_NAME),
        rules: agentClusterRules(),
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: meta(AGENT_NAME),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: AGENT_NAME },
        subjects: [{ kind: "ServiceAccount", name: AGENT_NAME, namespace: PURELB_NAMESPACE }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta(AGENT_NAME, PURELB_NAMESPACE),
        rules: agentNamespaceRules(v.agent.bgp.passwordSecrets),
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta(AGENT_NAME, PURELB_NAMESPACE),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: AGENT_NAME },
        subjects: [{ kind: "ServiceAccount", name: AGENT_NAME, namespace: PURELB_NAMESPACE }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta(AGENT_MODULE_ROLE, PEPR_NAMESPACE),
        rules: [rule([""], ["secrets"], ["get"], [`pepr-${ctx.uuid}-module`])],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta(AGENT_MODULE_ROLE, PEPR_NAMESPACE),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: AGENT_MODULE_ROLE },
        subjects: [{ kind: "ServiceAccount", name: AGENT_NAME, namespace: PURELB_NAMESPACE }],
      },
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: meta(AGENT_LAUNCHER, PURELB_NAMESPACE),
        data: { [LAUNCHER_KEY]: LAUNCHER },
      },
    );
    const containers: Record<string, unknown>[] = [
      {
        name: "lbnodeagent",
        image: v.agent.image,
        imagePullPolicy: v.agent.imagePullPolicy,
        args: [...AGENT_NODE_FLAGS, `/app/launcher/${LAUNCHER_KEY}`, ctx.hash],
        env: agentContainerEnv(v, ctx.uuid),
        ports: [
          { name: "metrics", containerPort: v.agent.metricsPort, protocol: "TCP" },
          ...(v.agent.heartbeat.enabled
            ? [{ name: "heartbeat", containerPort: v.agent.heartbeat.port, protocol: "UDP" }]
            : []),
        ],
        readinessProbe: { ...probe, periodSeconds: 10 },
        livenessProbe: {
          ...probe,
          initialDelaySeconds: 15,
          periodSeconds: 20,
          failureThreshold: 6,
        },
        resources: v.agent.resources,
        securityContext: {
          runAsUser: 0,
          runAsGroup: 0,
          runAsNonRoot: false,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW"] },
        },
        volumeMounts: [
          { name: "launcher", mountPath: "/app/launcher", readOnly: true },
          { name: "run", mountPath: "/app/run" },
          ...(v.agent.heartbeat.enabled
            ? [{ name: "heartbeat-key", mountPath: HEARTBEAT_KEY_DIR, readOnly: true }]
            : []),
        ],
      },
    ];
    if (v.agent.bgp.enabled) {
      containers.push({
        name: "gobgpd",
        image: v.agent.bgp.image,
        imagePullPolicy: v.agent.bgp.imagePullPolicy,
        // The gRPC API has no authentication: loopback only (the pod shares the host's network).
        args: [
          `--api-hosts=127.0.0.1:${v.agent.bgp.apiPort}`,
          "--pprof-disable",
          `--log-level=${v.agent.bgp.logLevel}`,
        ],
        resources: v.agent.bgp.resources,
        securityContext: {
          runAsUser: 0,
          runAsGroup: 0,
          runAsNonRoot: false,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"] },
        },
      });
    }
    out.push({
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: meta(AGENT_NAME, PURELB_NAMESPACE, { ...PART_OF, ...AGENT_LABELS }),
      spec: {
        selector: { matchLabels: AGENT_LABELS },
        updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
        template: {
          metadata: {
            labels: { ...PART_OF, ...AGENT_LABELS },
            ...(Object.keys(v.agent.podAnnotations).length
              ? { annotations: v.agent.podAnnotations }
              : {}),
          },
          spec: {
            serviceAccountName: AGENT_NAME,
            hostNetwork: true,
            dnsPolicy: "ClusterFirstWithHostNet",
            ...(v.agent.priorityClassName ? { priorityClassName: v.agent.priorityClassName } : {}),
            terminationGracePeriodSeconds: v.agent.terminationGracePeriodSeconds,
            nodeSelector: v.agent.nodeSelector,
            tolerations: v.agent.tolerations,
            ...(ctx.imagePullSecrets.length
              ? { imagePullSecrets: ctx.imagePullSecrets.map(name => ({ name })) }
              : {}),
            containers,
            volumes: [
              { name: "launcher", configMap: { name: AGENT_LAUNCHER } },
              { name: "run", emptyDir: { sizeLimit: "32Mi" } },
              // Optional: without the Secret the agents run on Leases alone (and say so). The
              // chart creates it; the module YAML cannot carry a secret key, see docs/operating.md.
              ...(v.agent.heartbeat.enabled
                ? [
                    {
                      name: "heartbeat-key",
                      secret: { secretName: HEARTBEAT_SECRET, optional: true, defaultMode: 0o400 },
                    },
                  ]
                : []),
            ],
          },
        },
      },
    });
  }
  const controllerSubject = [
    { kind: "ServiceAccount", name: `pepr-${ctx.uuid}`, namespace: PEPR_NAMESPACE },
  ];
  out.push(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: meta(CLUSTER_ID_ROLE),
      rules: [rule([""], ["namespaces"], ["get"], ["kube-system"])],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: meta(CLUSTER_ID_ROLE),
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: CLUSTER_ID_ROLE,
      },
      subjects: controllerSubject,
    },
  );
  if (v.netbox.secretNames.length) {
    out.push(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta(NETBOX_ROLE, PURELB_NAMESPACE),
        rules: [rule([""], ["secrets"], ["get"], v.netbox.secretNames)],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta(NETBOX_ROLE, PURELB_NAMESPACE),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: NETBOX_ROLE },
        subjects: controllerSubject,
      },
    );
  }
  if (v.lbNodeAgent.create) {
    out.push({
      apiVersion: "purelb.io/v2",
      kind: "LBNodeAgent",
      metadata: meta(v.lbNodeAgent.name, PURELB_NAMESPACE),
      spec: v.lbNodeAgent.spec,
    });
  }
  if (v.serviceGroup.default.create) {
    out.push({
      apiVersion: "purelb.io/v2",
      kind: "ServiceGroup",
      metadata: meta("default", PURELB_NAMESPACE),
      spec: v.serviceGroup.default.spec,
    });
  }
  out.push(...(monitoringObjects(v, monitoringNames(ctx.uuid)) as K8sObject[]));
  return out;
}

const monitoringNames = (uuid: string): MonitoringNames => ({
  purelbNamespace: PURELB_NAMESPACE,
  peprNamespace: PEPR_NAMESPACE,
  uuid,
  agentLabels: AGENT_LABELS,
});

// ---------------------------------------------------------------------------------------
// The same objects as Helm templates.

const y = (o: unknown, indent: number): string =>
  stringify(o, { lineWidth: 0 })
    .trimEnd()
    .split("\n")
    .map(l => " ".repeat(indent) + l)
    .join("\n");

function templates(): Record<string, string> {
  const rbac = (o: unknown) => y(o, 2);
  return {
    "purelb-namespace.yaml": `{{- if .Values.purelbNamespace.create }}
apiVersion: v1
kind: Namespace
metadata:
  name: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
    # The node agent uses the host network and NET_ADMIN/NET_RAW.
    pod-security.kubernetes.io/enforce: privileged
    {{- with .Values.purelbNamespace.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
`,
    "purelb-agent-rbac.yaml": `{{- if .Values.agent.enabled }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: ${AGENT_NAME}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${AGENT_NAME}
  labels:
    app.kubernetes.io/part-of: purelb
rules:
${rbac(agentClusterRules())}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${AGENT_NAME}
  labels:
    app.kubernetes.io/part-of: purelb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${AGENT_NAME}
subjects:
  - kind: ServiceAccount
    name: ${AGENT_NAME}
    namespace: ${PURELB_NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ${AGENT_NAME}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
rules:
${rbac(agentNamespaceRules([]))}
  {{- with .Values.agent.bgp.passwordSecrets }}
  # BGP passwords (BGPConfiguration passwordSecretRef): only the Secrets named in values.
  - apiGroups:
      - ""
    resources:
      - secrets
    resourceNames:
      {{- range . }}
      - {{ . | quote }}
      {{- end }}
    verbs:
      - get
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${AGENT_NAME}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: ${AGENT_NAME}
subjects:
  - kind: ServiceAccount
    name: ${AGENT_NAME}
    namespace: ${PURELB_NAMESPACE}
{{- end }}
`,
    "purelb-agent-launcher.yaml": `{{- if .Values.agent.enabled }}
# The launcher that unpacks and runs the module bundle; the agent reads the bundle itself from
# Pepr's module Secret through the API (a pod mounts Secrets of its own namespace only).
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${AGENT_LAUNCHER}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
data:
${y({ [LAUNCHER_KEY]: LAUNCHER }, 2)}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ${AGENT_MODULE_ROLE}
  namespace: ${PEPR_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
rules:
  - apiGroups:
      - ""
    resources:
      - secrets
    resourceNames:
      - {{ .Values.uuid }}-module
    verbs:
      - get
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${AGENT_MODULE_ROLE}
  namespace: ${PEPR_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: ${AGENT_MODULE_ROLE}
subjects:
  - kind: ServiceAccount
    name: ${AGENT_NAME}
    namespace: ${PURELB_NAMESPACE}
{{- end }}
`,
    "purelb-agent-daemonset.yaml": `{{- if .Values.agent.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ${AGENT_NAME}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
    app.kubernetes.io/name: purelb
    app.kubernetes.io/component: lbnodeagent
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: purelb
      app.kubernetes.io/component: lbnodeagent
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  template:
    metadata:
      labels:
        app.kubernetes.io/part-of: purelb
        app.kubernetes.io/name: purelb
        app.kubernetes.io/component: lbnodeagent
      {{- with .Values.agent.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: ${AGENT_NAME}
      hostNetwork: true
      dnsPolicy: ClusterFirstWithHostNet
      {{- with .Values.agent.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      # The agent withdraws its addresses and deletes its Lease on SIGTERM, within 10 s.
      terminationGracePeriodSeconds: {{ .Values.agent.terminationGracePeriodSeconds }}
      nodeSelector:
        {{- toYaml .Values.agent.nodeSelector | nindent 8 }}
      tolerations:
        {{- toYaml .Values.agent.tolerations | nindent 8 }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      containers:
        - name: lbnodeagent
          image: {{ .Values.agent.image }}
          imagePullPolicy: {{ .Values.agent.imagePullPolicy }}
          # The module bundle, as Pepr's pods run it, in agent mode.
          args:
${AGENT_NODE_FLAGS.map(f => `            - ${f}\n`).join("")}            - /app/launcher/${LAUNCHER_KEY}
            - {{ .Values.hash }}
          env:
            - name: PURELB_MODE
              value: agent
            - name: PURELB_MODULE_SECRET
              value: ${PEPR_NAMESPACE}/{{ .Values.uuid }}-module
            - name: NODE_NAME
              valueFrom:
                fieldRef:
                  fieldPath: spec.nodeName
            - name: PURELB_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: PURELB_METRICS_PORT
              value: {{ .Values.agent.metricsPort | quote }}
            - name: LOG_LEVEL
              value: {{ .Values.agent.logLevel | quote }}
            {{- if .Values.agent.heartbeat.enabled }}
            - name: PURELB_HEARTBEAT_PORT
              value: {{ .Values.agent.heartbeat.port | quote }}
            - name: PURELB_HEARTBEAT_KEY_FILE
              value: ${DEFAULT_KEY_FILE}
            {{- else }}
            - name: PURELB_HEARTBEAT
              value: "off"
            {{- end }}
            {{- if .Values.agent.bgp.enabled }}
            - name: PURELB_BGP
              value: "true"
            - name: PURELB_GOBGP_ADDRESS
              value: "127.0.0.1:{{ .Values.agent.bgp.apiPort }}"
            - name: PURELB_GOBGP_PROTO_DIR
              value: {{ .Values.agent.bgp.protoDir | quote }}
            {{- end }}
          ports:
            - name: metrics
              containerPort: {{ .Values.agent.metricsPort }}
              protocol: TCP
            {{- if .Values.agent.heartbeat.enabled }}
            - name: heartbeat
              containerPort: {{ .Values.agent.heartbeat.port }}
              protocol: UDP
            {{- end }}
          readinessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: 10
          livenessProbe:
            httpGet:
              path: /healthz
              port: metrics
            initialDelaySeconds: 15
            periodSeconds: 20
            failureThreshold: 6
          resources:
            {{- toYaml .Values.agent.resources | nindent 12 }}
          securityContext:
            # Root for netlink and raw sockets, with only the two capabilities they need.
            runAsUser: 0
            runAsGroup: 0
            runAsNonRoot: false
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
              add:
                - NET_ADMIN
                - NET_RAW
          volumeMounts:
            - name: launcher
              mountPath: /app/launcher
              readOnly: true
            - name: run
              mountPath: /app/run
            {{- if .Values.agent.heartbeat.enabled }}
            - name: heartbeat-key
              mountPath: ${HEARTBEAT_KEY_DIR}
              readOnly: true
            {{- end }}
        {{- if .Values.agent.bgp.enabled }}
        - name: gobgpd
          image: {{ .Values.agent.bgp.image }}
          imagePullPolicy: {{ .Values.agent.bgp.imagePullPolicy }}
          # The gRPC API has no authentication: loopback only (the pod shares the host's network).
          args:
            - "--api-hosts=127.0.0.1:{{ .Values.agent.bgp.apiPort }}"
            - --pprof-disable
            - "--log-level={{ .Values.agent.bgp.logLevel }}"
          resources:
            {{- toYaml .Values.agent.bgp.resources | nindent 12 }}
          securityContext:
            # Root for BGP's port 179 and TCP MD5 passwords.
            runAsUser: 0
            runAsGroup: 0
            runAsNonRoot: false
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop:
                - ALL
              add:
                - NET_ADMIN
                - NET_BIND_SERVICE
                - NET_RAW
        {{- end }}
      volumes:
        - name: launcher
          configMap:
            name: ${AGENT_LAUNCHER}
        - name: run
          emptyDir:
            sizeLimit: 32Mi
        {{- if .Values.agent.heartbeat.enabled }}
        # Optional: without the Secret the agents run on Leases alone (and say so).
        - name: heartbeat-key
          secret:
            secretName: ${HEARTBEAT_SECRET}
            optional: true
            defaultMode: 256
        {{- end }}
{{- end }}
`,
    "purelb-heartbeat-secret.yaml": `{{- if and .Values.agent.enabled .Values.agent.heartbeat.enabled }}
# The key the node agents authenticate their heartbeats with: generated at install, and kept
# on upgrades (lookup reads the installed one; helm template, with no cluster, makes a new one).
{{- $old := lookup "v1" "Secret" "${PURELB_NAMESPACE}" "${HEARTBEAT_SECRET}" }}
apiVersion: v1
kind: Secret
metadata:
  name: ${HEARTBEAT_SECRET}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
type: Opaque
data:
  {{- if and $old $old.data (index $old.data "key") }}
  key: {{ index $old.data "key" }}
  {{- else }}
  key: {{ randAlphaNum 64 | b64enc }}
  {{- end }}
{{- end }}
`,
    "purelb-allocator-rbac.yaml": `# The allocator names this cluster in Netbox by kube-system's uid: read that one Namespace.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${CLUSTER_ID_ROLE}
  labels:
    app.kubernetes.io/part-of: purelb
rules:
  - apiGroups:
      - ""
    resources:
      - namespaces
    resourceNames:
      - kube-system
    verbs:
      - get
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ${CLUSTER_ID_ROLE}
  labels:
    app.kubernetes.io/part-of: purelb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ${CLUSTER_ID_ROLE}
subjects:
  - kind: ServiceAccount
    name: {{ .Values.uuid }}
    namespace: ${PEPR_NAMESPACE}
{{- with .Values.netbox.secretNames }}
---
# Netbox API tokens: the allocator may read these Secrets and no other.
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ${NETBOX_ROLE}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
rules:
  - apiGroups:
      - ""
    resources:
      - secrets
    resourceNames:
      {{- range . }}
      - {{ . | quote }}
      {{- end }}
    verbs:
      - get
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${NETBOX_ROLE}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: ${NETBOX_ROLE}
subjects:
  - kind: ServiceAccount
    name: {{ $.Values.uuid }}
    namespace: ${PEPR_NAMESPACE}
{{- end }}
`,
    // Helm creates kinds it does not know (custom resources) last, in name order: LBNodeAgent and
    // ServiceGroup come before ValidatingWebhookConfiguration, so on a first install they are
    // not sent to the webhook whose pods cannot be ready yet. The CRD schema (values.schema.json)
    // still checks them, and `kubectl purelb validate` runs the webhook's checks afterwards.
    "purelb-defaults.yaml": `{{- if .Values.lbNodeAgent.create }}
apiVersion: purelb.io/v2
kind: LBNodeAgent
metadata:
  name: {{ .Values.lbNodeAgent.name }}
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
spec:
  {{- toYaml .Values.lbNodeAgent.spec | nindent 2 }}
{{- end }}
{{- if .Values.serviceGroup.default.create }}
{{- $spec := .Values.serviceGroup.default.spec }}
{{- if not (or $spec.local $spec.remote $spec.external $spec.netbox) }}
{{- fail "serviceGroup.default.spec needs exactly one of local, remote, external or netbox" }}
{{- end }}
---
apiVersion: purelb.io/v2
kind: ServiceGroup
metadata:
  name: default
  namespace: ${PURELB_NAMESPACE}
  labels:
    app.kubernetes.io/part-of: purelb
spec:
  {{- toYaml $spec | nindent 2 }}
{{- end }}
`,
  };
}

// ---------------------------------------------------------------------------------------
// Edits to Pepr's own output.

/** Replaces `from` exactly once, or fails: a changed Pepr template must be looked at, not skipped. */
function replaceOnce(text: string, from: string, to: string, where: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(
      `${where}: expected exactly one ${JSON.stringify(from)}; Pepr's output changed, update hack/post-build.ts`,
    );
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const RUN_VOLUME = { name: "run", emptyDir: { sizeLimit: "32Mi" } };
const RUN_MOUNT = { name: "run", mountPath: "/app/run" };
const CONTROLLER_SECURITY = {
  pod: {
    runAsUser: CONTROLLER_UID,
    runAsGroup: CONTROLLER_UID,
    runAsNonRoot: true,
    fsGroup: CONTROLLER_UID,
    seccompProfile: { type: "RuntimeDefault" },
  },
  container: {
    runAsUser: CONTROLLER_UID,
    runAsGroup: CONTROLLER_UID,
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  },
};
const PEPR_CONTROLLER_ARG = "/app/node_modules/pepr/dist/controller.js";
const isCrdRule = (r: { resources?: string[] }) =>
  (r.resources ?? []).includes("customresourcedefinitions");

function editDeploymentTemplate(text: string, file: string, watcher: boolean): string {
  text = replaceOnce(text, `- ${PEPR_CONTROLLER_ARG}`, `- /app/load/${LAUNCHER_KEY}`, file);
  text = replaceOnce(
    text,
    "            - name: module\n              mountPath: /app/load\n              readOnly: true\n",
    "            - name: module\n              mountPath: /app/load\n              readOnly: true\n            - name: run\n              mountPath: /app/run\n",
    file,
  );
  text = replaceOnce(
    text,
    "      volumes:\n",
    "      volumes:\n        - name: run\n          emptyDir:\n            sizeLimit: 32Mi\n",
    file,
  );
  if (watcher) {
    // The allocator serves PureLB's metrics on a port of its own (lib/metrics/registry.ts).
    text = replaceOnce(
      text,
      "          ports:\n            - containerPort: 3000\n",
      "          ports:\n            - containerPort: 3000\n            - name: metrics\n              containerPort: {{ .Values.Prometheus.allocator.port }}\n",
      file,
    );
    text = replaceOnce(
      text,
      '            - name: PEPR_WATCH_MODE\n              value: "true"\n',
      '            - name: PEPR_WATCH_MODE\n              value: "true"\n            - name: PURELB_METRICS_PORT\n              value: {{ .Values.Prometheus.allocator.port | quote }}\n',
      file,
    );
  }
  // Both controller roles decide which Services are PureLB's: admission and the allocator.
  const mode = watcher ? "true" : "false";
  text = replaceOnce(
    text,
    `            - name: PEPR_WATCH_MODE\n              value: "${mode}"\n`,
    `            - name: PEPR_WATCH_MODE\n              value: "${mode}"\n            - name: ${DEFAULT_ANNOUNCER_ENV}\n              value: {{ .Values.defaultAnnouncer | quote }}\n`,
    file,
  );
  return text;
}

interface PodSpec {
  securityContext?: unknown;
  volumes?: unknown[];
  containers: {
    args?: string[];
    ports?: unknown[];
    env?: unknown[];
    securityContext?: unknown;
    volumeMounts?: unknown[];
  }[];
}

function editDeploymentObject(dep: K8sObject, watcher: boolean): void {
  const pod = (dep.spec as { template: { spec: PodSpec } }).template.spec;
  const c = pod.containers[0];
  if (c.args?.[0] !== PEPR_CONTROLLER_ARG)
    throw new Error(
      `${String(dep.metadata.name)}: unexpected args ${JSON.stringify(c.args)}; update hack/post-build.ts`,
    );
  c.args[0] = `/app/load/${LAUNCHER_KEY}`;
  c.volumeMounts = [...(c.volumeMounts ?? []), RUN_MOUNT];
  pod.volumes = [RUN_VOLUME, ...(pod.volumes ?? [])];
  pod.securityContext = CONTROLLER_SECURITY.pod;
  c.securityContext = CONTROLLER_SECURITY.container;
  // the module YAML is rendered from the default values
  c.env = [...(c.env ?? []), { name: DEFAULT_ANNOUNCER_ENV, value: DEFAULT_ANNOUNCER }];
  if (watcher) {
    const port = monitoringDefaults().Prometheus.allocator.port;
    c.ports = [...(c.ports ?? []), { name: "metrics", containerPort: port }];
    c.env = [...(c.env ?? []), { name: "PURELB_METRICS_PORT", value: String(port) }];
  }
}

/** PeprStore, which Pepr's controller.js would otherwise create at every start. */
export function peprStoreCrd(): K8sObject & { metadata: { name: string } } {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "peprstores.pepr.dev" },
    spec: {
      group: "pepr.dev",
      scope: "Namespaced",
      names: { plural: "peprstores", singular: "peprstore", kind: "PeprStore" },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: { data: { type: "object", additionalProperties: { type: "string" } } },
            },
          },
        },
      ],
    },
  };
}

function writeChart(
  chartDir: string,
  version: string,
  description: string,
  moduleSecretData: Record<string, string>,
): void {
  const tdir = path.join(chartDir, "templates");
  const read = (f: string) => readFileSync(path.join(tdir, f), "utf8");
  const write = (f: string, t: string) => writeFileSync(path.join(tdir, f), t);

  // Pepr writes the description unquoted, and a colon in it breaks Chart.yaml.
  writeFileSync(
    path.join(chartDir, "Chart.yaml"),
    stringify({
      apiVersion: "v2",
      name: "purelb",
      description,
      type: "application",
      version,
      appVersion: version,
      keywords: ["loadbalancer", "bare-metal", "pepr"],
    }),
  );

  // Pepr's own CRD and PureLB's: Helm installs crds/ before any template.
  const crdDir = path.join(chartDir, "crds");
  rmSync(crdDir, { recursive: true, force: true });
  mkdirSync(crdDir, { recursive: true });
  writeFileSync(path.join(crdDir, "peprstores.pepr.dev.yaml"), stringify(peprStoreCrd()));
  for (const f of crdFiles())
    writeFileSync(path.join(crdDir, path.basename(f)), readFileSync(f, "utf8"));

  write(
    "watcher-deployment.yaml",
    editDeploymentTemplate(read("watcher-deployment.yaml"), "watcher-deployment.yaml", true),
  );
  write(
    "admission-deployment.yaml",
    editDeploymentTemplate(read("admission-deployment.yaml"), "admission-deployment.yaml", false),
  );
  const secret = parse(read("module-secret.yaml")) as K8sObject;
  secret.data = moduleSecretData;
  write("module-secret.yaml", stringify(secret, { lineWidth: 0 }));
  const ours = { ...templates(), ...monitoringTemplates(monitoringNames("")) };
  for (const [f, text] of Object.entries(monitoringFiles(root))) {
    mkdirSync(path.dirname(path.join(chartDir, f)), { recursive: true });
    writeFileSync(path.join(chartDir, f), text);
  }
  // Templates of ours that an earlier build wrote and this one does not.
  for (const f of readdirSync(tdir))
    if (f.startsWith("purelb-") && !(f in ours)) rmSync(path.join(tdir, f));
  for (const [f, t] of Object.entries(ours)) write(f, t);

  // values.yaml: Pepr's values with the pods hardened and the CRD rule dropped, plus PureLB's.
  const values = parse(readFileSync(path.join(chartDir, "values.yaml"), "utf8")) as Record<
    string,
    unknown
  >;
  values.rbac = (values.rbac as { resources?: string[] }[]).filter(r => !isCrdRule(r));
  for (const part of ["admission", "watcher"]) {
    const p = values[part] as Record<string, unknown>;
    p.securityContext = CONTROLLER_SECURITY.pod;
    p.containerSecurityContext = CONTROLLER_SECURITY.container;
  }
  const added = defaultValues(version);
  const doc = new Document({ ...values, ...added });
  for (const [key, comment] of Object.entries({ ...VALUE_COMMENTS, ...MONITORING_COMMENTS })) {
    const map = doc.contents as unknown as {
      items: { key: { value?: unknown; commentBefore?: string } }[];
    };
    const pair = map.items.find(p => p.key.value === key);
    if (pair) pair.key.commentBefore = comment;
  }
  writeFileSync(path.join(chartDir, "values.yaml"), doc.toString({ lineWidth: 0 }));

  // values.schema.json has additionalProperties: false: every new key needs its schema.
  const schemaPath = path.join(chartDir, "values.schema.json");
  const schema = JSON.parse(readFileSync(schemaPath, "utf8")) as {
    definitions: Record<string, { properties: Record<string, unknown>; required?: string[] }>;
  };
  const defs = schema.definitions;
  Object.assign(defs.Values.properties, valuesSchema());
  const seccomp = {
    type: "object",
    additionalProperties: false,
    properties: { type: { type: "string" }, localhostProfile: { type: "string" } },
    required: ["type"],
  };
  defs.SecurityContext.properties.seccompProfile = seccomp;
  defs.ContainerSecurityContext.properties.readOnlyRootFilesystem = { type: "boolean" };
  defs.ContainerSecurityContext.properties.seccompProfile = seccomp;
  writeFileSync(schemaPath, JSON.stringify(schema, null, 2) + "\n");
}

const crdFiles = (): string[] =>
  readdirSync(path.join(root, "crds"))
    .filter(f => f.endsWith(".yaml"))
    .sort()
    .map(f => path.join(root, "crds", f));

function crdObjects(): K8sObject[] {
  const out: K8sObject[] = [peprStoreCrd()];
  for (const f of crdFiles())
    for (const doc of parseAllDocuments(readFileSync(f, "utf8")))
      if (doc.contents) out.push(doc.toJS() as K8sObject);
  return out;
}

function main(): void {
  const out = path.resolve(process.argv[2] ?? path.join(root, "dist"));
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    version: string;
    description: string;
    pepr: { uuid: string };
  };
  const uuid = pkg.pepr.uuid;
  const yamlPath = path.join(out, `pepr-module-${uuid}.yaml`);
  const chartDir = path.join(out, `${uuid}-chart`);
  if (!existsSync(yamlPath) || !existsSync(path.join(chartDir, "values.yaml"))) {
    // pepr build exits 0 even when tsc or esbuild failed: say so here, with a non-zero exit.
    throw new Error(
      `pepr build produced no ${path.relative(root, yamlPath)} or ${path.relative(root, chartDir)}/: look above for "error TS" or esbuild errors`,
    );
  }
  // pepr build rewrites its own files each time but leaves ours: edits apply to fresh files only.
  if (
    !readFileSync(path.join(chartDir, "templates", "watcher-deployment.yaml"), "utf8").includes(
      PEPR_CONTROLLER_ARG,
    )
  ) {
    throw new Error(
      `${path.relative(root, chartDir)} was already post-processed; run pepr build again first (npm run build does both)`,
    );
  }

  const docs = parseAllDocuments(readFileSync(yamlPath, "utf8"))
    .filter(d => d.contents)
    .map(d => d.toJS() as K8sObject);
  const moduleSecret = docs.find(
    o => o.kind === "Secret" && o.metadata.name === `pepr-${uuid}-module`,
  );
  const data = (moduleSecret?.data ?? {}) as Record<string, string>;
  const gzKey = Object.keys(data).find(k => /^module-[0-9a-f]{64}\.js\.gz$/.test(k));
  if (!moduleSecret || !gzKey)
    throw new Error(`${yamlPath}: no module Secret pepr-${uuid}-module with module-<sha256>.js.gz`);
  const hash = gzKey.slice("module-".length, -".js.gz".length);
  const chartHash = (
    parse(readFileSync(path.join(chartDir, "values.yaml"), "utf8")) as { hash?: string }
  ).hash;
  if (chartHash !== hash)
    throw new Error(
      `the chart's hash ${chartHash} is not the module YAML's ${hash}: were they built together?`,
    );
  const moduleData = {
    [gzKey]: data[gzKey],
    [LAUNCHER_KEY]: Buffer.from(LAUNCHER).toString("base64"),
  };
  moduleSecret.data = moduleData;

  const webhooks: WebhookConfiguration[] = [];
  for (const [i, o] of docs.entries()) {
    if (isWebhookConfiguration(o)) {
      const split = splitServiceWebhook(
        o as unknown as WebhookConfiguration,
        DEFAULT_SERVICE_FAILURE_POLICY,
      );
      docs[i] = split as unknown as K8sObject;
      webhooks.push(split);
    }
    if (o.kind === "Deployment")
      editDeploymentObject(o, o.metadata.name === `pepr-${uuid}-watcher`);
    if (o.kind === "ClusterRole" && o.metadata.name === `pepr-${uuid}`)
      o.rules = (o.rules as { resources?: string[] }[]).filter(r => !isCrdRule(r));
  }
  const values = defaultValues(pkg.version);
  const ctx: Ctx = { uuid, hash, imagePullSecrets: [] };
  const crds = crdObjects();
  const added = purelbObjects(values, ctx);
  // CRDs first; the custom resources last, after everything they depend on.
  const isCr = (o: K8sObject) =>
    o.apiVersion.startsWith("purelb.io/") || o.apiVersion.startsWith("bgp.purelb.io/");
  const all = [...crds, ...added.filter(o => !isCr(o)), ...docs, ...added.filter(isCr)];
  const dump = (objs: unknown[]) => objs.map(o => stringify(o, { lineWidth: 0 })).join("---\n");
  writeFileSync(yamlPath, dump(all));
  writeFileSync(path.join(out, "purelb-crds.yaml"), dump(crds));
  writeFileSync(
    path.join(out, "purelb-system.yaml"),
    dump([...crds, ...added.filter(o => !isCr(o)), ...added.filter(isCr)]),
  );

  writeChart(chartDir, pkg.version, pkg.description, moduleData);
  writeChartWebhooks(chartDir, webhooks);
  console.log(
    `post-build: added CRDs, the node agent, RBAC and defaults to ${path.relative(process.cwd(), chartDir)} and ${path.relative(process.cwd(), yamlPath)}; wrote purelb-crds.yaml and purelb-system.yaml`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    console.error(`post-build: ${(err as Error).message}`);
    process.exit(1);
  }
}
