import { LBNodeAgentSpec, lbNodeAgentDefaults as d } from "../k8s/lbnodeagent";
import { parseDuration } from "../validate/duration";

/** The node agent's settings, parsed from the LBNodeAgent resource (or defaults). */
export interface AgentConfig {
  /** Interfaces that may take local addresses; "default" = any interface on the address's subnet. */
  localInterface: RegExp | "default";
  extInterface: string;
  garp: { enabled: boolean; count: number; intervalMs: number; refreshMs: number };
  /** Seconds; 0 = permanent. */
  validLft: number;
  preferredLft: number;
  lease: { durationSeconds: number; renewMs: number };
}

/**
 * Lease timing when the LBNodeAgent does not set it: a node that dies loses its addresses
 * within 5 s, renewed every 1.5 s so that two lost renewals do not yet count as death.
 */
export const LEASE_DEFAULTS = { duration: "5s", renew: "1.5s" } as const;

export interface ConfigParse {
  config: AgentConfig;
  problems: string[];
}

/** Reads an LBNodeAgent spec; a bad field falls back to its default and is reported. */
export function parseAgentConfig(spec: LBNodeAgentSpec | undefined): ConfigParse {
  const problems: string[] = [];
  const local = spec?.local ?? {};
  const dur = (path: string, value: string | undefined, fallback: string, min = 0): number => {
    const ms = parseDuration(value ?? fallback);
    if (ms === undefined || ms < min) {
      problems.push(`${path} "${value}" is not a duration of at least ${min} ms; using ${fallback}`);
      return parseDuration(fallback)!;
    }
    return ms;
  };

  let localInterface: RegExp | "default" = "default";
  const li = (local.localInterface ?? d.localInterface).trim();
  if (li && li !== "default") {
    try {
      localInterface = new RegExp(li);
    } catch (err) {
      problems.push(`spec.local.localInterface "${li}" is not a regular expression (${(err as Error).message}); using default`);
    }
  }
  const count = local.garp?.count ?? d.garp.count;
  if (!Number.isInteger(count) || count < 1) problems.push(`spec.local.garp.count ${count} must be an integer of at least 1; using ${d.garp.count}`);

  let validMs = dur("spec.local.addressLifetime.valid", local.addressLifetime?.valid, d.addressLifetime.valid);
  let preferredMs = dur("spec.local.addressLifetime.preferred", local.addressLifetime?.preferred, local.addressLifetime?.valid ?? d.addressLifetime.preferred);
  if (validMs > 0 && validMs < 10_000) {
    problems.push(`spec.local.addressLifetime.valid ${local.addressLifetime?.valid} is too short to renew safely; using 10s`);
    validMs = 10_000;
  }
  if (validMs > 0 && (preferredMs === 0 || preferredMs > validMs)) preferredMs = validMs;
  if (validMs === 0) preferredMs = 0;

  const leaseMs = dur("spec.lease.duration", spec?.lease?.duration, LEASE_DEFAULTS.duration, 1000);
  let renewMs = dur("spec.lease.renew", spec?.lease?.renew, LEASE_DEFAULTS.renew, 100);
  if (renewMs >= leaseMs) {
    problems.push(`spec.lease.renew must be shorter than spec.lease.duration; renewing every ${leaseMs / 3} ms`);
    renewMs = leaseMs / 3;
  }
  return {
    config: {
      localInterface,
      extInterface: (local.extInterface ?? d.extInterface).trim() || d.extInterface,
      garp: {
        enabled: local.garp?.enabled ?? d.garp.enabled,
        count: Number.isInteger(count) && count >= 1 ? count : d.garp.count,
        intervalMs: dur("spec.local.garp.interval", local.garp?.interval, d.garp.interval),
        refreshMs: dur("spec.local.garp.refresh", local.garp?.refresh, d.garp.refresh),
      },
      validLft: Math.round(validMs / 1000),
      preferredLft: Math.round(preferredMs / 1000),
      // Lease durations are whole seconds in the API.
      lease: { durationSeconds: Math.max(1, Math.ceil(leaseMs / 1000)), renewMs },
    },
    problems,
  };
}
