import { parseAddress } from "../ip/address";
import { rangeContains } from "../ip/range";
import { GroupModel, describeRange, overlapsBetween, parseGroup } from "../ipam/group";
import { Problem } from "../ipam/problem";
import { ambiguityWarnings } from "../ipam/scope";
import { Annotation } from "../k8s/annotations";
import { schemaOf } from "../k8s/crds/schema";
import { serviceGroupCrd } from "../k8s/crds/servicegroup";
import { ServiceModel } from "../k8s/service";
import { ServiceGroup } from "../k8s/servicegroup";
import { Verdict } from "./result";
import { schemaProblems } from "./schema";

const specSchema = schemaOf(serviceGroupCrd).properties!.spec;

/**
 * Everything wrong with a ServiceGroup, given the other groups of its namespace (an
 * address must belong to one group only, or two Services could be given it).
 */
export function validateServiceGroup(
  sg: ServiceGroup,
  others: ServiceGroup[],
): Verdict & { group?: GroupModel } {
  const namespace = sg?.metadata?.namespace ?? "";
  const name = sg?.metadata?.name ?? "";
  const shape = schemaProblems(specSchema, sg?.spec, "spec");
  if (shape.length) return { problems: shape, warnings: [] };

  const { group, problems } = parseGroup(namespace, name, sg?.spec);
  if (!group) return { problems, warnings: [] };

  const siblings: GroupModel[] = [];
  for (const other of others) {
    const otherNs = other?.metadata?.namespace ?? "";
    const otherName = other?.metadata?.name ?? "";
    if (otherNs !== namespace || otherName === name) continue;
    if (schemaProblems(specSchema, other.spec, "spec").length) continue;
    const theirs = parseGroup(otherNs, otherName, other.spec).group;
    if (!theirs) continue;
    siblings.push(theirs);
    problems.push(
      ...overlapsBetween(group, theirs).map(o =>
        overlapProblem(
          o.mine.path,
          describeRange(o.mine),
          otherName,
          o.theirs.path,
          describeRange(o.theirs),
        ),
      ),
    );
  }

  const warnings: string[] = ambiguityWarnings(group, siblings);
  if (group.type === "netbox" && !group.netbox?.secretName) {
    warnings.push(
      "spec.netbox.secretName is not set, so PureLB calls Netbox without a token; most Netbox servers refuse that. Create a Secret with key user-token and name it here.",
    );
  }
  return problems.length ? { problems, warnings } : { problems, warnings, group };
}

function overlapProblem(
  path: string,
  mine: string,
  other: string,
  theirPath: string,
  theirs: string,
): Problem {
  return {
    path: `${path}.pool`,
    message: `${mine} overlaps ServiceGroup ${other} (${theirPath}.pool ${theirs}); an address must belong to one ServiceGroup only: shrink or move one of the pools`,
  };
}

export interface Stranded {
  service: string;
  addresses: string[];
}

type ServiceLike = Pick<ServiceModel, "namespace" | "name" | "annotations" | "ingress">;

/**
 * Services allocated from `group` whose addresses the changed group no longer contains. They
 * keep them (a group change never moves a Service), so admission only warns.
 */
export function strandedServices(group: GroupModel, services: ServiceLike[]): Stranded[] {
  if (group.type === "netbox") return [];
  const out: Stranded[] = [];
  for (const svc of services) {
    if (svc.annotations[Annotation.allocatedFrom] !== group.name) continue;
    const outside = svc.ingress.filter(text => {
      const a = parseAddress(text);
      return a !== undefined && !group.ranges.some(r => rangeContains(r.range, a));
    });
    if (outside.length) out.push({ service: `${svc.namespace}/${svc.name}`, addresses: outside });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

const SHOWN = 5;

export function strandedWarning(stranded: Stranded[]): string | undefined {
  const n = stranded.length;
  if (n === 0) return undefined;
  const listed = stranded.slice(0, SHOWN).map(s => `${s.service} (${s.addresses.join(", ")})`);
  if (n > SHOWN) listed.push(`and ${n - SHOWN} more`);
  return `${n} ${n === 1 ? "Service keeps" : "Services keep"} addresses outside the new pools: ${listed.join(", ")}. They keep them and keep working; to move one into the new pools, create a replacement Service, move traffic to it, then delete the old one.`;
}
