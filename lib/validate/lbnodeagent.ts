import { Problem } from "../ipam/problem";
import { lbNodeAgentCrd } from "../k8s/crds/lbnodeagent";
import { schemaOf } from "../k8s/crds/schema";
import {
  LBNodeAgent,
  MIN_ADDRESS_LIFETIME_MS,
  MIN_LEASE_DURATION_MS,
  lbNodeAgentDefaults as defaults,
} from "../k8s/lbnodeagent";
import { nonNegativeDuration } from "./duration";
import { Verdict } from "./result";
import { schemaProblems } from "./schema";

const specSchema = schemaOf(lbNodeAgentCrd).properties!.spec;

export function validateLBNodeAgent(agent: LBNodeAgent): Verdict {
  const problems = schemaProblems(specSchema, agent?.spec, "spec");
  if (problems.length) return { problems, warnings: [] };
  const local = agent.spec?.local ?? {};

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
  const ext = local.extInterface;
  if (ext !== undefined && !isInterfaceName(ext)) {
    problems.push({
      path: "spec.local.extInterface",
      message: `"${ext}" is not a Linux interface name (1 to 15 characters, no '/', ':' or whitespace, not "." or ".."); e.g. ${defaults.extInterface}`,
    });
  }

  const d = (path: string, text: string | undefined) =>
    text === undefined ? undefined : nonNegative(path, text, problems);
  d("spec.local.garp.interval", local.garp?.interval);
  d("spec.local.garp.refresh", local.garp?.refresh);

  const lifetime = local.addressLifetime ?? {};
  const validText = lifetime.valid ?? defaults.addressLifetime.valid;
  const valid = d("spec.local.addressLifetime.valid", validText);
  const preferred = d("spec.local.addressLifetime.preferred", lifetime.preferred);
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

  checkLease(agent.spec?.lease ?? {}, problems);
  return { problems, warnings: [] };
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
