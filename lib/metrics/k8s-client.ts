import { Counter, Gauge } from "prom-client";
import { registry } from "./registry";

// Upstream's k8s_client metrics, served by the allocator and the node agent alike, so that
// dashboards and alerts written for the Go PureLB keep working.

/** What an update was: a Service event, the first full list, a group status write, configuration. */
export type UpdateKind = "service" | "cache_sync" | "pool_status" | "config";

export const k8sUpdates = new Counter({
  name: "purelb_k8s_client_updates_total",
  help: "Number of k8s object updates that have been processed.",
  labelNames: ["kind"],
  registers: [registry],
});

export const k8sUpdateErrors = new Counter({
  name: "purelb_k8s_client_update_errors_total",
  help: "Number of k8s object updates that failed for some reason.",
  labelNames: ["kind"],
  registers: [registry],
});

export const configLoaded = new Gauge({
  name: "purelb_k8s_client_config_loaded_bool",
  help: "1 if the PureLB configuration was successfully loaded at least once.",
  registers: [registry],
});

export const updated = (kind: UpdateKind): void => k8sUpdates.inc({ kind });
export const updateFailed = (kind: UpdateKind): void => k8sUpdateErrors.inc({ kind });
