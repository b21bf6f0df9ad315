/** Every purelb.io annotation a user or PureLB writes on a Service. */
export const Annotation = {
  serviceGroup: "purelb.io/service-group",
  addresses: "purelb.io/addresses",
  allowSharedIP: "purelb.io/allow-shared-ip",
  multiPool: "purelb.io/multi-pool",
  reEvaluate: "purelb.io/re-evaluate",
  allocatedBy: "purelb.io/allocated-by",
  allocatedFrom: "purelb.io/allocated-from",
  poolType: "purelb.io/pool-type",
  /** "true" on Services of skipIPv6DAD groups, as the Go PureLB writes it (informational). */
  skipIPv6DAD: "purelb.io/skip-ipv6-dad",
  announcingIPv4: "purelb.io/announcing-IPv4",
  announcingIPv6: "purelb.io/announcing-IPv6",
  /** On node Leases: the node's subnets, comma-separated CIDRs. */
  subnets: "purelb.io/subnets",
  /** On node Leases: the addresses the node's agent sends and takes heartbeats on. */
  heartbeatAddresses: "purelb.io/heartbeat-addresses",
  /** On node Leases: the nodes whose heartbeats the agent heard at its last renewal. */
  hears: "purelb.io/hears",
} as const;

export const ALLOCATED_BY = "PureLB";
export const LB_CLASS = "purelb.io/purelb";
export const DEFAULT_GROUP = "default";
export const DEFAULT_NAMESPACE = "purelb-system";
export const NODE_LEASE_PREFIX = "purelb-node-";
