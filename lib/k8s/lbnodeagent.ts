/** The LBNodeAgent resource (purelb.io/v2): how the node agent announces addresses. */
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

export interface AddressLifetimeSpec {
  /** Valid lifetime of local addresses; "0s" means permanent. */
  valid?: string;
  /** Preferred lifetime; "0s" means permanent; never longer than valid. */
  preferred?: string;
}

export interface LocalAgentSpec {
  /** Regular expression for the interface that takes local addresses, or "default" (the default route's). */
  localInterface?: string;
  /** Interface for remote addresses. */
  extInterface?: string;
  garp?: GarpSpec;
  addressLifetime?: AddressLifetimeSpec;
}

/** Timing of the node Lease that shows the agent is alive and takes part in elections. */
export interface LeaseSpec {
  duration?: string;
  renew?: string;
}

export interface LBNodeAgentSpec {
  local?: LocalAgentSpec;
  lease?: LeaseSpec;
}

export interface LBNodeAgent {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number };
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

/** Shorter lifetimes cannot be renewed safely on a busy node; 0 (permanent) is fine. */
export const MIN_ADDRESS_LIFETIME_MS = 10_000;
/** A Lease counts whole seconds. */
export const MIN_LEASE_DURATION_MS = 1_000;
