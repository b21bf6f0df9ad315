import { Family, familyName } from "../ip/address";
import { Failure, fail } from "./failure";

const byName: Record<string, Family> = { IPv4: 4, IPv6: 6 };

export interface FamilyChoice {
  ok: true;
  families: Family[];
  /** RequireDualStack: every family or none. */
  all: boolean;
}

/**
 * Which families a Service gets, from its ipFamilyPolicy and ipFamilies and what the group
 * offers. The apiserver fills both fields on create, so the defaults only matter for
 * objects written by hand in tests or by old clients.
 */
export function chooseFamilies(
  policy: string | undefined,
  ipFamilies: string[],
  offered: Set<Family>,
  group: string,
): FamilyChoice | Failure {
  const asked = ipFamilies.map(f => byName[f]).filter((f): f is Family => f !== undefined);
  const wanted: Family[] = asked.length ? asked : [offered.has(4) || !offered.has(6) ? 4 : 6];
  const offeredText = [...offered].sort().map(familyName).join(" and ") || "no address family";
  const missing = (fs: Family[]) =>
    fail(
      "family-not-in-group",
      `ServiceGroup ${group} has ${offeredText} pools but the Service needs ${fs.map(familyName).join(" and ")}; add a v${fs[0]}pools entry to the group or change spec.ipFamilies`,
    );

  if (policy === "RequireDualStack") {
    const absent = wanted.filter(f => !offered.has(f));
    return absent.length ? missing(absent) : { ok: true, families: wanted, all: true };
  }
  if (policy === "PreferDualStack") {
    const have = wanted.filter(f => offered.has(f));
    return have.length ? { ok: true, families: have, all: false } : missing(wanted);
  }
  return offered.has(wanted[0])
    ? { ok: true, families: [wanted[0]], all: true }
    : missing([wanted[0]]);
}
