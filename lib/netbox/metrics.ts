import { Counter, Histogram } from "prom-client";
import { registry } from "../metrics/registry";

// PureLB's own: upstream has no Netbox metrics (its external-IPAM sidecar RPC metrics do not
// apply), and a slow or failing Netbox is the first thing to rule out when Services wait.

export const netboxRequests = new Counter({
  name: "purelb_netbox_requests_total",
  help: "Requests to Netbox by HTTP method and outcome (ok, unreachable, timeout, status, body)",
  labelNames: ["method", "outcome"],
  registers: [registry],
});

export const netboxDuration = new Histogram({
  name: "purelb_netbox_request_duration_seconds",
  help: "Time Netbox took to answer a request (or to fail), by HTTP method",
  labelNames: ["method"],
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
