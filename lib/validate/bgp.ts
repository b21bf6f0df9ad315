import { formatAddress, parseAddress } from "../ip/address";
import { Problem } from "../ipam/problem";
import { BGPConfiguration, BGPNeighbor, ROUTER_ID_TEMPLATES } from "../k8s/bgp";
import { bgpConfigurationCrd } from "../k8s/crds/bgp";
import { UINT32_MAX, schemaOf } from "../k8s/crds/schema";
import { nonNegativeDuration } from "./duration";
import { Verdict } from "./result";
import { schemaProblems } from "./schema";
import { selectorProblems } from "./selector";

const specSchema = schemaOf(bgpConfigurationCrd).properties!.spec;

/** RFC 4271: a hold time is 0 (no keepalives) or at least 3 seconds. */
const MIN_HOLD_MS = 3000;
/** RFC 4724: the restart time field has 12 bits. */
const MAX_RESTART_MS = 4095_000;

const WELL_KNOWN_COMMUNITIES = new Set([
  "no-export",
  "no-advertise",
  "no-export-subconfed",
  "no-peer",
  "blackhole",
  "graceful-shutdown",
  "accept-own",
  "llgr-stale",
  "no-llgr",
]);

export function validateBGPConfiguration(conf: BGPConfiguration): Verdict {
  const problems = schemaProblems(specSchema, conf?.spec, "spec");
  if (problems.length) return { problems, warnings: [] };
  const spec = conf.spec ?? {};
  const routerID = spec.global?.routerID;
  if (
    routerID !== undefined &&
    !(ROUTER_ID_TEMPLATES as readonly string[]).includes(routerID) &&
    parseAddress(routerID)?.family !== 4
  ) {
    problems.push({
      path: "spec.global.routerID",
      message: `"${routerID}" is neither an IPv4 address nor a template; use an IPv4 address such as 192.0.2.1 or ${ROUTER_ID_TEMPLATES.join(", ")} for each node's IPv4 address`,
    });
  }

  const seen = new Map<string, number>();
  (spec.neighbors ?? []).forEach((n, i) =>
    checkNeighbor(n, `spec.neighbors[${i}]`, i, seen, problems),
  );

  const gr = spec.gracefulRestart;
  if (gr?.restartTime !== undefined) {
    const ms = durationAt("spec.gracefulRestart.restartTime", gr.restartTime, problems);
    if (ms !== undefined && (ms <= 0 || ms > MAX_RESTART_MS)) {
      problems.push({
        path: "spec.gracefulRestart.restartTime",
        message: `"${gr.restartTime}" is out of range; BGP carries 1s to 4095s`,
      });
    }
  }
  (spec.communities ?? []).forEach((c, i) => {
    if (!isCommunity(c)) {
      problems.push({
        path: `spec.communities[${i}]`,
        message: `"${c}" is not a BGP community; write 65000:100 (standard, two numbers up to 65535), 65000:1:2 (large, three numbers up to ${UINT32_MAX}) or a well-known name such as no-export`,
      });
    }
  });
  return { problems, warnings: [] };
}

function checkNeighbor(
  n: BGPNeighbor,
  path: string,
  index: number,
  seen: Map<string, number>,
  problems: Problem[],
): void {
  const addr = n.address === undefined ? undefined : parseAddress(n.address);
  if (n.address !== undefined && !addr) {
    problems.push({
      path: `${path}.address`,
      message: `"${n.address}" is not an IP address; give the peer's IPv4 or IPv6 address, e.g. 192.0.2.1`,
    });
  } else if (addr) {
    const key = formatAddress(addr);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        path: `${path}.address`,
        message: `${key} is already spec.neighbors[${first}]; list each peer once and merge the two entries`,
      });
    } else seen.set(key, index);
  }

  const hold =
    n.holdTime === undefined ? undefined : durationAt(`${path}.holdTime`, n.holdTime, problems);
  if (hold !== undefined && hold > 0 && hold < MIN_HOLD_MS) {
    problems.push({
      path: `${path}.holdTime`,
      message: `"${n.holdTime}" is too short; BGP allows 0s (no keepalives) or 3s and more`,
    });
  }
  const keepalive =
    n.keepaliveTime === undefined
      ? undefined
      : durationAt(`${path}.keepaliveTime`, n.keepaliveTime, problems);
  if (keepalive === 0) {
    problems.push({
      path: `${path}.keepaliveTime`,
      message: `"${n.keepaliveTime}" must be longer than 0; usually a third of holdTime`,
    });
  } else if (keepalive !== undefined && hold !== undefined && hold > 0 && keepalive >= hold) {
    problems.push({
      path: `${path}.keepaliveTime`,
      message: `"${n.keepaliveTime}" is not shorter than holdTime "${n.holdTime}", so the session would expire between keepalives; use about a third of holdTime`,
    });
  }

  const fams = n.families ?? [];
  fams.forEach((f, i) => {
    if (fams.indexOf(f) !== i)
      problems.push({
        path: `${path}.families[${i}]`,
        message: `${f} is listed twice; list each family once`,
      });
  });

  const ref = n.passwordSecretRef;
  if (ref) {
    for (const field of ["name", "key"] as const) {
      if (ref[field] !== undefined && ref[field]!.trim() === "") {
        problems.push({
          path: `${path}.passwordSecretRef.${field}`,
          message: `must not be empty; give the Secret's ${field === "name" ? "name" : "key that holds the password"}`,
        });
      }
    }
  }

  problems.push(...selectorProblems(n.nodeSelector, `${path}.nodeSelector`));
}

const durationAt = (path: string, text: string, problems: Problem[]): number | undefined =>
  nonNegativeDuration(path, text, problems, "90s");

function isCommunity(c: string): boolean {
  if (WELL_KNOWN_COMMUNITIES.has(c)) return true;
  const parts = c.split(":");
  if (!parts.every(p => /^\d{1,10}$/.test(p))) return false;
  const n = parts.map(Number);
  if (parts.length === 1) return n[0] <= UINT32_MAX;
  if (parts.length === 2) return n.every(x => x <= 65535);
  return parts.length === 3 && n.every(x => x <= UINT32_MAX);
}
