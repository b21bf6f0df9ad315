import { LabelSelector } from "./bgp";

/** The LBNodeAgent resource (purelb.io/v2): how the node agent announces addresses. */

/** Deprecated: our earlier name for garpConfig, kept working for one release. */
export interface GarpSpec {
  /** Send gratuitous ARP (IPv4) and unsolicited NA (IPv6) when a node starts announcing. */
  enabled?: boolean;
  /** Frames per announcement, at least 1. */
  count?: number;
  /** Time between the frames of one announcement. */
  interval?: string;
  /** Re-announce every address this often so switches relearn after a partition; "0s" turns it off. */
  refresh?: string;
}

/** The Go PureLB's GARP settings (GARP for IPv4, unsolicited NA for IPv6). */
export interface GarpConfigSpec {
  enabled?: boolean;
  /** Wait after adding an address before the first frame. */
  initialDelay?: string;
  /** Frames per announcement, 1 to 10. */
  count?: number;
  interval?: string;
  /** Check before each frame that this node still holds the address. */
  verifyBeforeSend?: boolean;
  /** PureLB's addition: re-announce held addresses this often; "0s" turns it off. */
  refresh?: string;
}

/** Lifetimes (whole seconds, 0 = permanent) and flags of addresses on one kind of interface. */
export interface InterfaceAddressConfig {
  validLifetime?: number;
  preferredLifetime?: number;
  noPrefixRoute?: boolean;
}

export interface AddressConfigSpec {
  localInterface?: InterfaceAddressConfig;
  dummyInterface?: InterfaceAddressConfig;
}

/** Deprecated: our earlier form of addressConfig.localInterface, kept working for one release. */
export interface AddressLifetimeSpec {
  /** Valid lifetime of local addresses; "0s" means permanent. */
  valid?: string;
  /** Preferred lifetime; "0s" means permanent; never longer than valid. */
  preferred?: string;
}

export interface LocalAgentSpec {
  /** Regular expression for the interface that takes local addresses, or "default" (the default route's). */
  localInterface?: string;
  /** Interface for remote addresses (created as a dummy when missing). */
  dummyInterface?: string;
  /** More interfaces, by exact name, that may take local addresses and whose subnets count. */
  interfaces?: string[];
  garpConfig?: GarpConfigSpec;
  addressConfig?: AddressConfigSpec;
  /** Deprecated name of dummyInterface. */
  extInterface?: string;
  /** Deprecated name of garpConfig. */
  garp?: GarpSpec;
  /** Deprecated form of addressConfig.localInterface. */
  addressLifetime?: AddressLifetimeSpec;
}

/** Timing of the node Lease that shows the agent is alive and takes part in elections. */
export interface LeaseSpec {
  duration?: string;
  renew?: string;
}

export interface LBNodeAgentSpec {
  /** Nodes this configuration applies to; unset or empty = every node (a catch-all). */
  nodeSelector?: LabelSelector;
  local?: LocalAgentSpec;
  lease?: LeaseSpec;
}

export interface LBNodeAgent {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number; uid?: string };
  spec?: LBNodeAgentSpec;
}

/**
 * What the agent uses for a field nobody set. The CRD schema applies the same values as
 * defaults, so stored objects and an absent LBNodeAgent behave alike; the exception is
 * addressLifetime.preferred, which follows valid when unset. A node that dies loses its
 * addresses within lease.duration; renewing at under a third of it survives two lost renewals.
 */
export const lbNodeAgentDefaults = {
  localInterface: "default",
  extInterface: "kube-lb0",
  garp: { enabled: true, count: 1, interval: "1s", refresh: "60s" },
  addressLifetime: { valid: "300s", preferred: "300s" },
  lease: { duration: "5s", renew: "1.5s" },
} as const;

/**
 * The Go PureLB's defaults inside garpConfig (its CRD applies them when garpConfig is present):
 * three frames 500 ms apart after 100 ms. Without garpConfig the agent keeps ours (above).
 */
export const garpConfigDefaults = {
  enabled: true,
  initialDelay: "100ms",
  count: 3,
  interval: "500ms",
  verifyBeforeSend: true,
} as const;

/** The Go PureLB's bounds: a finite validLifetime is at least 60 s. */
export const MIN_VALID_LIFETIME_SECONDS = 60;

/** Shorter lifetimes cannot be renewed safely on a busy node; 0 (permanent) is fine. */
export const MIN_ADDRESS_LIFETIME_MS = 10_000;
/** A Lease counts whole seconds. */
export const MIN_LEASE_DURATION_MS = 1_000;

/** The local section the chart writes: our defaults, spelled with the Go PureLB's field names. */
export const chartLocalSpec = {
  localInterface: lbNodeAgentDefaults.localInterface,
  dummyInterface: lbNodeAgentDefaults.extInterface,
  garpConfig: {
    enabled: lbNodeAgentDefaults.garp.enabled,
    initialDelay: "0s",
    count: lbNodeAgentDefaults.garp.count,
    interval: lbNodeAgentDefaults.garp.interval,
    verifyBeforeSend: true,
    refresh: lbNodeAgentDefaults.garp.refresh,
  },
  addressConfig: { localInterface: { validLifetime: 300 } },
} as const satisfies LocalAgentSpec;
