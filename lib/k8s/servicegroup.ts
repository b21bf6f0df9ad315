/** The ServiceGroup resource (purelb.io/v2) as stored in the API. */
export interface AddressPoolSpec {
  pool?: string;
  subnet?: string;
  aggregation?: string;
}

export interface PoolSetSpec {
  v4pool?: AddressPoolSpec;
  v6pool?: AddressPoolSpec;
  v4pools?: AddressPoolSpec[];
  v6pools?: AddressPoolSpec[];
  multiPool?: boolean;
  balancePools?: boolean;
  skipIPv6DAD?: boolean;
}

export interface NetboxSpec {
  url?: string;
  tenant?: string;
  prefix?: string;
  role?: string;
  tag?: string;
  aggregation?: string;
  poolType?: "local" | "remote";
  secretName?: string;
}

/** Addresses from an external IPAM sidecar (the Go PureLB v0.17's spec.external). */
export interface ExternalSpec {
  /** Display name, shown in status.ipam. */
  provider?: string;
  /** Absolute path of the sidecar's unix socket in the allocator Pod. */
  socket?: string;
  announce?: "local" | "remote";
}

export interface ServiceGroupSpec {
  local?: PoolSetSpec;
  remote?: PoolSetSpec;
  external?: ExternalSpec;
  netbox?: NetboxSpec;
  /** Namespaces served; empty or unset = every namespace. */
  namespaces?: string[];
  /** Turns namespaces from a default into a boundary, for every namespace listed. */
  enforceNamespaces?: boolean;
  /** Where several groups list a namespace, the one unannotated Services get. */
  namespaceDefault?: boolean;
}

export interface FamilyUsage {
  size: string;
  inUse: number;
}

export interface ServiceGroupStatus {
  /** The Go PureLB's fields: "Local" or "Remote". */
  announce?: "Local" | "Remote";
  /** "Cluster", "Netbox" or the external provider. */
  ipam?: string;
  addresses?: string[];
  allocatedIPv4?: number;
  allocatedIPv6?: number;
  /** Absent when the capacity is not known here (Netbox, external IPAM). */
  availableIPv4?: number;
  availableIPv6?: number;
  boundNamespaces?: string[];
  poolType?: "local" | "remote" | "external" | "netbox";
  /** The ranges, comma-separated, or the Netbox URL: for `kubectl get sg`. */
  pools?: string;
  v4?: FamilyUsage;
  v6?: FamilyUsage;
}

export interface ServiceGroup {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  spec?: ServiceGroupSpec;
  status?: ServiceGroupStatus;
}
