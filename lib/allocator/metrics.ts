import { Counter, Gauge } from "prom-client";
import { Failure, FailureReason } from "../ipam/failure";
import { registry } from "../metrics/registry";

// Upstream's allocator metrics first, with its names, types and labels (a ServiceGroup is
// upstream's "pool"); then PureLB's own, which add what upstream's cannot say.

export const poolSize = new Gauge({
  name: "purelb_address_pool_size",
  help: "Number of addresses in the pool",
  labelNames: ["pool"],
  registers: [registry],
});

export const poolInUse = new Gauge({
  name: "purelb_address_pool_addresses_in_use",
  help: "Number of addresses allocated from the pool",
  labelNames: ["pool"],
  registers: [registry],
});

export const allocationRejected = new Counter({
  name: "purelb_address_pool_allocation_rejected_total",
  help: "Allocation requests rejected, by reason (exhausted, port_conflict, sharing_key_conflict, multipool_refused, multipool_pool_mismatch)",
  labelNames: ["pool", "reason"],
  registers: [registry],
});

export const outOfScope = new Gauge({
  name: "purelb_servicegroups_out_of_scope",
  help: "ServiceGroups ignored because they are not in the PureLB install namespace",
  labelNames: ["namespace", "name", "type"],
  registers: [registry],
});

export const multipoolAllocations = new Counter({
  name: "purelb_address_pool_multipool_allocations_total",
  help: "Multi-pool allocations performed",
  labelNames: ["pool"],
  registers: [registry],
});

export const multipoolPartial = new Counter({
  name: "purelb_address_pool_multipool_partial_total",
  help: "Multi-pool allocations where some ranges were exhausted or had no active nodes",
  labelNames: ["pool"],
  registers: [registry],
});

export const balancePoolsAllocations = new Counter({
  name: "purelb_address_pool_balance_pools_allocations_total",
  help: "Balanced allocation (balancePools) allocations performed",
  labelNames: ["pool"],
  registers: [registry],
});

export const statusWrites = new Counter({
  name: "purelb_allocator_sg_status_writes_total",
  help: "ServiceGroup status writes, by outcome (success, error)",
  labelNames: ["outcome"],
  registers: [registry],
});

// ---- PureLB's own --------------------------------------------------------------------

export const familySize = new Gauge({
  name: "purelb_address_pool_family_size",
  help: "Addresses in a ServiceGroup's pools of one family (a float: see purelb_address_pool_size_info for the exact figure)",
  labelNames: ["pool", "family"],
  registers: [registry],
});

export const familyInUse = new Gauge({
  name: "purelb_address_pool_family_addresses_in_use",
  help: "Addresses of one family of a ServiceGroup's pools held by Services",
  labelNames: ["pool", "family"],
  registers: [registry],
});

// A float64 loses exactness above 2^53 (any IPv6 range larger than a /75): the exact size
// travels as a label, so `kubectl purelb pools` and dashboards can show it digit for digit.
export const sizeInfo = new Gauge({
  name: "purelb_address_pool_size_info",
  help: "Always 1; the size label is the exact number of addresses of the pool's family",
  labelNames: ["pool", "family", "size"],
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

/** Upstream's rejection reasons; failures that are not rejections by a pool have none. */
export type Rejection =
  | "exhausted"
  | "port_conflict"
  | "sharing_key_conflict"
  | "multipool_refused";

const REJECTION: Partial<Record<FailureReason, Rejection>> = {
  "pool-exhausted": "exhausted",
  "address-in-use": "sharing_key_conflict",
  "sharing-conflict": "sharing_key_conflict",
  "no-live-node": "multipool_refused",
};

/** Counts a failed allocation: always in ours, and in upstream's when a pool refused it. */
export function recordFailure(pool: string | undefined, f: Failure): void {
  allocationFailures.inc({ reason: f.reason });
  const reason = f.rejection ?? REJECTION[f.reason];
  if (pool && reason) allocationRejected.inc({ pool, reason });
}

/** Counts a successful allocation that added addresses, by how the group allocates. */
export function recordAllocation(
  pool: string,
  o: { multiPool: boolean; balancePools: boolean; ranges: number; held: number; added: number },
): void {
  if (o.added === 0) return;
  allocations.inc(o.added);
  if (o.multiPool) {
    multipoolAllocations.inc({ pool });
    if (o.held < o.ranges) multipoolPartial.inc({ pool });
  } else if (o.balancePools) balancePoolsAllocations.inc({ pool });
}

/** The family series set per group, so that they can be removed (prom-client removes exact label sets only). */
const familySeries = new Map<string, { family: string; size: string }[]>();

/** Sets the size and use gauges of a group from exact per-family figures. */
export function recordPool(
  pool: string,
  families: { family: string; size: bigint; inUse: bigint }[],
): void {
  forgetFamilies(pool);
  let size = 0n;
  let inUse = 0n;
  for (const f of families) {
    size += f.size;
    inUse += f.inUse;
    familySize.set({ pool, family: f.family }, Number(f.size));
    familyInUse.set({ pool, family: f.family }, Number(f.inUse));
    sizeInfo.set({ pool, family: f.family, size: f.size.toString() }, 1);
  }
  familySeries.set(
    pool,
    families.map(f => ({ family: f.family, size: f.size.toString() })),
  );
  poolSize.set({ pool }, Number(size));
  poolInUse.set({ pool }, Number(inUse));
}

function forgetFamilies(pool: string): void {
  for (const { family, size } of familySeries.get(pool) ?? []) {
    familySize.remove({ pool, family });
    familyInUse.remove({ pool, family });
    sizeInfo.remove({ pool, family, size });
  }
  familySeries.delete(pool);
}

/** Drops a deleted group's series, so a dashboard does not show it as a full pool forever. */
export function forgetPool(pool: string): void {
  poolSize.remove({ pool });
  poolInUse.remove({ pool });
  forgetFamilies(pool);
}
