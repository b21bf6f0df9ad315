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

export interface ServiceGroupSpec {
  local?: PoolSetSpec;
  remote?: PoolSetSpec;
  netbox?: NetboxSpec;
}

export interface FamilyUsage {
  size: string;
  inUse: number;
}

export interface ServiceGroupStatus {
  poolType?: "local" | "remote" | "netbox";
  /** The ranges, comma-separated, or the Netbox URL: for `kubectl get sg`. */
  pools?: string;
  v4?: FamilyUsage;
  v6?: FamilyUsage;
  observedGeneration?: number;
}

export interface ServiceGroup {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number; resourceVersion?: string };
  spec?: ServiceGroupSpec;
  status?: ServiceGroupStatus;
}
