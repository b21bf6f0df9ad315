import {
  LBNodeAgentSpec,
  LocalAgentSpec,
  MIN_ADDRESS_LIFETIME_MS,
  MIN_LEASE_DURATION_MS,
  MIN_VALID_LIFETIME_SECONDS,
  garpConfigDefaults as g,
  lbNodeAgentDefaults as d,
} from "../k8s/lbnodeagent";
import { parseDuration } from "../validate/duration";

/** The node agent's settings, parsed from the LBNodeAgent resource (or defaults). */
export interface AgentConfig {
  /** Interfaces that may take local addresses; "default" = any interface on the address's subnet. */
  localInterface: RegExp | "default";
  /** More interfaces, by exact name, that may take local addresses (spec.local.interfaces). */
  interfaces: string[];
  /** The dummy interface for remote addresses (dummyInterface, or the deprecated extInterface). */
  extInterface: string;
  garp: {
    enabled: boolean;
    count: number;
    intervalMs: number;
    refreshMs: number;
    /** Wait before the first frame (garpConfig.initialDelay; 0 with the deprecated garp). */
    initialDelayMs: number;
    /** Check before each frame that this node still holds the address. */
    verifyBeforeSend: boolean;
  };
  /** Seconds; 0 = permanent. */
  validLft: number;
  preferredLft: number;
  /**
   * Local addresses get no prefix route (addressConfig.localInterface.noPrefixRoute, default
   * on): the node's own address already has the subnet's route, and a second one whose
   * source is a VIP can make the node talk from an address that moves to another node.
   */
  noPrefixRoute: boolean;
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
  const garp = parseGarp(local, dur, problems);
  const { validMs, preferredMs: preferredAsked } = lifetimes(local, dur, problems);
  let preferredMs = preferredAsked;
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
      interfaces: [...new Set((local.interfaces ?? []).map(n => n.trim()).filter(Boolean))],
      extInterface:
        (local.dummyInterface ?? local.extInterface ?? d.extInterface).trim() || d.extInterface,
      garp,
      validLft: Math.round(validMs / 1000),
      preferredLft: Math.round(preferredMs / 1000),
      noPrefixRoute: local.addressConfig?.localInterface?.noPrefixRoute ?? true,
      // Lease durations are whole seconds in the API.
      lease: { durationSeconds: Math.max(1, Math.ceil(leaseMs / 1000)), renewMs },
    },
    problems,
  };
}

type Dur = (path: string, value: string | undefined, fallback: string, min?: number) => number;

/**
 * garpConfig with the Go PureLB's defaults, else the deprecated garp with ours: an upstream
 * manifest announces as upstream does, and an old one as it did before.
 */
function parseGarp(local: LocalAgentSpec, dur: Dur, problems: string[]): AgentConfig["garp"] {
  const gc = local.garpConfig;
  const path = gc ? "spec.local.garpConfig" : "spec.local.garp";
  const old = local.garp;
  const fallbackCount = gc ? g.count : d.garp.count;
  const count = (gc ? gc.count : old?.count) ?? fallbackCount;
  const countOk = Number.isInteger(count) && count >= 1 && (!gc || count <= 10);
  if (!countOk)
    problems.push(
      `${path}.count ${count} must be an integer from 1${gc ? " to 10" : " up"}; using ${fallbackCount}`,
    );
  return {
    enabled: (gc ? gc.enabled : old?.enabled) ?? (gc ? g.enabled : d.garp.enabled),
    count: countOk ? count : fallbackCount,
    intervalMs: gc
      ? dur(`${path}.interval`, gc.interval, g.interval)
      : dur(`${path}.interval`, old?.interval, d.garp.interval),
    refreshMs: dur(`${path}.refresh`, (gc ?? old)?.refresh, d.garp.refresh),
    initialDelayMs: gc ? dur(`${path}.initialDelay`, gc.initialDelay, g.initialDelay) : 0,
    verifyBeforeSend: gc?.verifyBeforeSend ?? g.verifyBeforeSend,
  };
}

/**
 * Local address lifetimes in ms: addressConfig.localInterface (whole seconds, the Go PureLB's
 * form) when set, else the deprecated addressLifetime (durations), else 300 s.
 */
function lifetimes(
  local: LocalAgentSpec,
  dur: Dur,
  problems: string[],
): { validMs: number; preferredMs: number } {
  const c = local.addressConfig?.localInterface;
  if (c && (c.validLifetime !== undefined || c.preferredLifetime !== undefined)) {
    const path = "spec.local.addressConfig.localInterface";
    let valid = secondsOr(c.validLifetime, 300, `${path}.validLifetime`, problems);
    if (valid > 0 && valid < MIN_VALID_LIFETIME_SECONDS) {
      problems.push(
        `${path}.validLifetime ${valid} is too short to renew safely; using ${MIN_VALID_LIFETIME_SECONDS}`,
      );
      valid = MIN_VALID_LIFETIME_SECONDS;
    }
    const preferred = secondsOr(c.preferredLifetime, valid, `${path}.preferredLifetime`, problems);
    return { validMs: valid * 1000, preferredMs: preferred * 1000 };
  }
  let validMs = dur(
    "spec.local.addressLifetime.valid",
    local.addressLifetime?.valid,
    d.addressLifetime.valid,
  );
  const preferredMs = dur(
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
  return { validMs, preferredMs };
}

function secondsOr(
  value: number | undefined,
  fallback: number,
  path: string,
  problems: string[],
): number {
  if (value === undefined) return fallback;
  if (Number.isInteger(value) && value >= 0) return value;
  problems.push(`${path} ${value} is not a whole number of seconds; using ${fallback}`);
  return fallback;
}
