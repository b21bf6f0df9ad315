import {
  LBNodeAgentSpec,
  MIN_ADDRESS_LIFETIME_MS,
  MIN_LEASE_DURATION_MS,
  lbNodeAgentDefaults as d,
} from "../k8s/lbnodeagent";
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
      problems.push(
        `${path} "${value}" is not a duration of at least ${min} ms; using ${fallback}`,
      );
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
      problems.push(
        `spec.local.localInterface "${li}" is not a regular expression (${(err as Error).message}); using default`,
      );
    }
  }
  const count = local.garp?.count ?? d.garp.count;
  if (!Number.isInteger(count) || count < 1)
    problems.push(
      `spec.local.garp.count ${count} must be an integer of at least 1; using ${d.garp.count}`,
    );

  let validMs = dur(
    "spec.local.addressLifetime.valid",
    local.addressLifetime?.valid,
    d.addressLifetime.valid,
  );
  let preferredMs = dur(
    "spec.local.addressLifetime.preferred",
    local.addressLifetime?.preferred,
    local.addressLifetime?.valid ?? d.addressLifetime.preferred,
  );
  if (validMs > 0 && validMs < MIN_ADDRESS_LIFETIME_MS) {
    problems.push(
      `spec.local.addressLifetime.valid ${local.addressLifetime?.valid} is too short to renew safely; using ${MIN_ADDRESS_LIFETIME_MS / 1000}s`,
    );
    validMs = MIN_ADDRESS_LIFETIME_MS;
  }
  if (validMs > 0 && (preferredMs === 0 || preferredMs > validMs)) preferredMs = validMs;
  if (validMs === 0) preferredMs = 0;

  const leaseMs = dur(
    "spec.lease.duration",
    spec?.lease?.duration,
    d.lease.duration,
    MIN_LEASE_DURATION_MS,
  );
  let renewMs = dur("spec.lease.renew", spec?.lease?.renew, d.lease.renew, 100);
  if (renewMs >= leaseMs) {
    problems.push(
      `spec.lease.renew must be shorter than spec.lease.duration; renewing every ${leaseMs / 3} ms`,
    );
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
