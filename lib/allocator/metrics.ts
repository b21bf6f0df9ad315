import { Counter, Gauge } from "prom-client";
import { registry } from "../metrics/registry";

export const poolSize = new Gauge({
  name: "purelb_address_pool_size",
  help: "Addresses in a ServiceGroup's pools, per family (exact value in the ServiceGroup status)",
  labelNames: ["group", "family"],
  registers: [registry],
});

export const poolInUse = new Gauge({
  name: "purelb_address_pool_addresses_in_use",
  help: "Addresses of a ServiceGroup's pools held by Services, per family",
  labelNames: ["group", "family"],
  registers: [registry],
});

export const allocationFailures = new Counter({
  name: "purelb_allocation_failures_total",
  help: "Allocation attempts that left a Service without addresses, by reason",
  labelNames: ["reason"],
  registers: [registry],
});

export const allocations = new Counter({
  name: "purelb_addresses_assigned_total",
  help: "Addresses assigned to Services",
  registers: [registry],
});
