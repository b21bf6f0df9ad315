import { Family } from "../ip/address";
import { rangeSize } from "../ip/range";
import { GroupModel, announceOf } from "../ipam/group";
import { ServiceGroupStatus } from "../k8s/servicegroup";

/** JSON numbers are exact up to here; an IPv6 pool's free count is capped at it. */
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The status fields the Go PureLB v0.17 writes (announce, ipam, addresses, allocated and
 * available per family, boundNamespaces), so its dashboards and `kubectl get sg` columns work
 * unchanged. `inUse` counts the group's addresses held by Services, per family. Capacity is only
 * known for groups with pools: for Netbox and external groups available* stays absent, which
 * upstream documents as "not knowable", distinct from 0 (full).
 */
export function upstreamStatus(
  group: GroupModel,
  inUse: Record<Family, bigint>,
): Partial<ServiceGroupStatus> {
  const announce = announceOf(group) === "local" ? "Local" : "Remote";
  const ipam =
    group.type === "external"
      ? (group.external?.provider ?? "")
      : group.type === "netbox"
        ? "Netbox"
        : "Cluster";
  const addresses =
    group.type === "netbox"
      ? group.netbox?.prefix
        ? [group.netbox.prefix]
        : []
      : group.ranges.map(r => r.text);
  const status: Partial<ServiceGroupStatus> = {
    announce,
    ipam,
    addresses,
    allocatedIPv4: Number(inUse[4]),
    allocatedIPv6: Number(inUse[6]),
    boundNamespaces: group.namespaces,
  };
  if (group.type === "local" || group.type === "remote") {
    for (const family of [4, 6] as const) {
      const size = group.ranges
        .filter(r => r.family === family)
        .reduce((n, r) => n + rangeSize(r.range), 0n);
      const free = size > inUse[family] ? size - inUse[family] : 0n;
      status[family === 4 ? "availableIPv4" : "availableIPv6"] = Number(
        free > MAX_EXACT ? MAX_EXACT : free,
      );
    }
  }
  return status;
}
