import { Problem } from "../ipam/problem";
import { lbNodeAgentCrd } from "../k8s/crds/lbnodeagent";
import { schemaOf } from "../k8s/crds/schema";
import {
  AddressLifetimeSpec,
  LBNodeAgent,
  LocalAgentSpec,
  MIN_ADDRESS_LIFETIME_MS,
  MIN_LEASE_DURATION_MS,
  MIN_VALID_LIFETIME_SECONDS,
  lbNodeAgentDefaults as defaults,
} from "../k8s/lbnodeagent";
import { nonNegativeDuration, parseDuration } from "./duration";
import { Verdict } from "./result";
import { schemaProblems } from "./schema";
import { selectorProblems } from "./selector";

const specSchema = schemaOf(lbNodeAgentCrd).properties!.spec;

export function validateLBNodeAgent(agent: LBNodeAgent): Verdict {
  const problems = schemaProblems(specSchema, agent?.spec, "spec");
  if (problems.length) return { problems, warnings: [] };
  const warnings: string[] = [];
  const local = agent.spec?.local ?? {};
  problems.push(...selectorProblems(agent.spec?.nodeSelector, "spec.nodeSelector"));

  const li = local.localInterface;
  if (li !== undefined && li !== "default") {
    try {
      new RegExp(li);
    } catch (e) {
      problems.push({
        path: "spec.local.localInterface",
        message: `"${li}" is not a regular expression (${(e as Error).message}); use "default" or a pattern such as ^enp[0-9]+s0$`,
      });
    }
  }
  checkDummyInterface(local, problems, warnings);
  (local.interfaces ?? []).forEach((name, i) => {
    if (!isInterfaceName(name))
      problems.push({
        path: `spec.local.interfaces[${i}]`,
        message: `"${name}" is not a Linux interface name (1 to 15 characters, no '/', ':' or whitespace); give the exact name, e.g. eth1`,
      });
  });

  const d = (path: string, text: string | undefined) =>
    text === undefined ? undefined : nonNegative(path, text, problems);
  if (local.garp !== undefined) {
    if (local.garpConfig !== undefined) {
      problems.push({
        path: "spec.local.garp",
        message:
          "is the deprecated form of spec.local.garpConfig, which is set too; move what you need into garpConfig (refresh included) and remove garp",
      });
    } else {
      warnings.push(
        "spec.local.garp is deprecated and goes in the next release; write spec.local.garpConfig instead (enabled, count and interval mean the same; refresh moves to garpConfig.refresh). Without garpConfig the agent keeps the old defaults.",
      );
    }
  }
  d("spec.local.garp.interval", local.garp?.interval);
  d("spec.local.garp.refresh", local.garp?.refresh);
  d("spec.local.garpConfig.initialDelay", local.garpConfig?.initialDelay);
  d("spec.local.garpConfig.interval", local.garpConfig?.interval);
  d("spec.local.garpConfig.refresh", local.garpConfig?.refresh);

  checkAddressConfig(local, problems, warnings);
  if (local.addressLifetime !== undefined) checkAddressLifetime(local.addressLifetime, problems);
  checkLease(agent.spec?.lease ?? {}, problems);
  return { problems, warnings };
}

/** dummyInterface, or its deprecated name extInterface: one interface name, said once. */
function checkDummyInterface(local: LocalAgentSpec, problems: Problem[], warnings: string[]): void {
  const { dummyInterface: dummy, extInterface: ext } = local;
  if (ext !== undefined && dummy !== undefined && ext !== dummy) {
    problems.push({
      path: "spec.local.extInterface",
      message: `"${ext}" contradicts spec.local.dummyInterface "${dummy}"; extInterface is the deprecated name of dummyInterface: remove it`,
    });
    return;
  }
  if (ext !== undefined) {
    warnings.push(
      `spec.local.extInterface is deprecated and goes in the next release; write spec.local.dummyInterface: ${ext} instead (same meaning).`,
    );
  }
  const [path, name] =
    dummy !== undefined ? ["spec.local.dummyInterface", dummy] : ["spec.local.extInterface", ext];
  if (name !== undefined && !isInterfaceName(name)) {
    problems.push({
      path,
      message: `"${name}" is not a Linux interface name (1 to 15 characters, no '/', ':' or whitespace, not "." or ".."); e.g. ${defaults.extInterface}`,
    });
  }
}

/** addressConfig as the Go PureLB bounds it: whole seconds, a finite valid lifetime of 60 s or more. */
function checkAddressConfig(local: LocalAgentSpec, problems: Problem[], warnings: string[]): void {
  if (local.addressLifetime !== undefined && local.addressConfig?.localInterface !== undefined) {
    problems.push({
      path: "spec.local.addressLifetime",
      message:
        "is the deprecated form of spec.local.addressConfig.localInterface, which is set too; keep only addressConfig.localInterface (lifetimes in seconds)",
    });
  } else if (local.addressLifetime !== undefined) {
    const { valid, preferred } = local.addressLifetime;
    const secs = (t: string | undefined) => {
      const ms = t === undefined ? undefined : parseDuration(t);
      return ms === undefined ? undefined : Math.round(ms / 1000);
    };
    const v = secs(valid ?? defaults.addressLifetime.valid);
    const p = secs(preferred);
    warnings.push(
      `spec.local.addressLifetime is deprecated and goes in the next release; write spec.local.addressConfig.localInterface with validLifetime: ${v ?? "<seconds>"}${p !== undefined ? ` and preferredLifetime: ${p}` : ""} (whole seconds) instead.`,
    );
  }
  for (const which of ["localInterface", "dummyInterface"] as const) {
    const c = local.addressConfig?.[which];
    if (!c) continue;
    const path = `spec.local.addressConfig.${which}`;
    const valid = c.validLifetime;
    if (valid !== undefined && valid > 0 && valid < MIN_VALID_LIFETIME_SECONDS) {
      problems.push({
        path: `${path}.validLifetime`,
        message: `${valid} is too short to renew safely; use 0 (permanent) or at least ${MIN_VALID_LIFETIME_SECONDS} seconds`,
      });
    }
    const preferred = c.preferredLifetime;
    if (preferred !== undefined && valid !== undefined && valid > 0 && preferred > valid) {
      problems.push({
        path: `${path}.preferredLifetime`,
        message: `${preferred} outlives validLifetime ${valid}; the kernel needs preferred <= valid: use ${valid} or less, or leave it unset`,
      });
    }
    if (which === "dummyInterface" && (valid ?? 0) > 0) {
      warnings.push(
        `${path}.validLifetime ${valid} is not supported here: addresses on the dummy interface stay permanent (0), as by default.`,
      );
    }
    // Local addresses follow noPrefixRoute; remote ones keep the route (BGP needs no more).
    if (which === "dummyInterface" && c.noPrefixRoute === true) {
      warnings.push(
        `${path}.noPrefixRoute is accepted but not applied: addresses on the dummy interface keep the kernel's prefix route (as noPrefixRoute: false).`,
      );
    }
  }
}

/** The deprecated addressLifetime, checked as before. */
function checkAddressLifetime(lifetime: AddressLifetimeSpec, problems: Problem[]): void {
  const validText = lifetime.valid ?? defaults.addressLifetime.valid;
  const valid = nonNegative("spec.local.addressLifetime.valid", validText, problems);
  const preferred =
    lifetime.preferred === undefined
      ? undefined
      : nonNegative("spec.local.addressLifetime.preferred", lifetime.preferred, problems);
  if (valid !== undefined && valid > 0 && valid < MIN_ADDRESS_LIFETIME_MS) {
    problems.push({
      path: "spec.local.addressLifetime.valid",
      message: `${validText} is too short to renew safely on a busy node; use at least ${MIN_ADDRESS_LIFETIME_MS / 1000}s, or 0s for permanent addresses`,
    });
  }
  if (
    valid !== undefined &&
    valid > 0 &&
    preferred !== undefined &&
    (preferred === 0 || preferred > valid)
  ) {
    problems.push({
      path: "spec.local.addressLifetime.preferred",
      message: `${lifetime.preferred} outlives the valid lifetime ${validText}; the kernel needs preferred <= valid: set preferred to ${validText} or less, or leave it unset`,
    });
  }
}

function checkLease(lease: { duration?: string; renew?: string }, problems: Problem[]): void {
  const durationText = lease.duration ?? defaults.lease.duration;
  const renewText = lease.renew ?? defaults.lease.renew;
  const duration = nonNegative("spec.lease.duration", durationText, problems);
  const renew = nonNegative("spec.lease.renew", renewText, problems);
  if (duration !== undefined && duration < MIN_LEASE_DURATION_MS) {
    problems.push({
      path: "spec.lease.duration",
      message: `${durationText} is shorter than the 1s a Lease can express; use e.g. ${defaults.lease.duration}`,
    });
  } else if (renew === 0) {
    problems.push({
      path: "spec.lease.renew",
      message: `${renewText} must be longer than 0, e.g. ${defaults.lease.renew}`,
    });
  } else if (duration !== undefined && renew !== undefined && renew >= duration) {
    problems.push({
      path: "spec.lease.renew",
      message: `${renewText} must be shorter than spec.lease.duration (${durationText}), or the Lease lapses between renewals and the node's addresses move; renew at most a third of duration`,
    });
  }
}

const nonNegative = (path: string, text: string, problems: Problem[]): number | undefined =>
  nonNegativeDuration(path, text, problems, "300s");

const isInterfaceName = (s: string): boolean =>
  s.length >= 1 && s.length <= 15 && s !== "." && s !== ".." && !/[/:\s]/.test(s);
