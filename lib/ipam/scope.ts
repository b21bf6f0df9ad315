import { DEFAULT_GROUP } from "../k8s/annotations";
import { GroupModel } from "./group";

/**
 * Namespace scoping of ServiceGroups as the Go PureLB v0.17 documents it:
 *  - spec.namespaces makes a group eligible for (and, alone, the default of) those namespaces;
 *    an empty list serves every namespace.
 *  - where several groups list a namespace, the one marked namespaceDefault is its default;
 *    none or more than one marked is ambiguous: unannotated Services fall back to "default"
 *    with a warning, or are refused when the namespace enforces.
 *  - enforceNamespaces on any group listing a namespace fences that namespace both ways: its
 *    Services may use only the groups that list it, and those groups refuse outsiders.
 * An annotation names any group the fence allows. Nothing here revokes an address already held.
 */
export type Via = "annotation" | "namespace" | "default" | "default (ambiguous binding)";

export type Resolution =
  | { ok: true; name: string; via: Via; warning?: string }
  | { ok: false; reason: "namespace-denied"; message: string };

interface Binding {
  /** Groups that list the namespace, by name. */
  eligible: string[];
  /** Some group listing the namespace enforces. */
  enforce: boolean;
  /** Its default, when exactly one can be chosen. */
  chosen?: string;
  /** Why none could, for the warning or the refusal. */
  ambiguity?: string;
}

const serves = (g: GroupModel, namespace: string): boolean =>
  g.namespaces.length === 0 || g.namespaces.includes(namespace);

function bindingOf(namespace: string, groups: GroupModel[]): Binding | undefined {
  const listing = groups
    .filter(g => g.namespaces.includes(namespace))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (!listing.length) return undefined;
  const eligible = listing.map(g => g.name);
  const enforce = listing.some(g => g.enforceNamespaces);
  if (listing.length === 1) return { eligible, enforce, chosen: eligible[0] };
  const marked = listing.filter(g => g.namespaceDefault).map(g => g.name);
  if (marked.length === 1) return { eligible, enforce, chosen: marked[0] };
  const ambiguity = `ServiceGroups ${eligible.join(", ")} all list namespace ${namespace} and ${
    marked.length === 0
      ? "none is marked namespaceDefault"
      : `${marked.join(" and ")} are all marked namespaceDefault`
  }; set namespaceDefault: true on exactly one, or name one with purelb.io/service-group`;
  return { eligible, enforce, ambiguity };
}

/** Whether some namespace `g` lists is fenced: then `g` refuses Services from outside its list. */
const confined = (g: GroupModel, groups: GroupModel[]): boolean =>
  g.namespaces.some(ns => bindingOf(ns, groups)?.enforce === true);

/**
 * The group a Service in `namespace` allocates from, given its purelb.io/service-group
 * annotation (undefined when unset) and the valid groups of PureLB's namespace. A name that
 * is no valid group is returned as is, so the caller reports it missing or invalid as before.
 */
export function resolveGroup(
  namespace: string,
  annotated: string | undefined,
  groups: GroupModel[],
): Resolution {
  const binding = bindingOf(namespace, groups);
  const checked = (name: string, via: Via, warning?: string): Resolution => {
    const g = groups.find(x => x.name === name);
    if (g && !serves(g, namespace) && confined(g, groups)) {
      return {
        ok: false,
        reason: "namespace-denied",
        message: `ServiceGroup ${name} serves only namespaces ${g.namespaces.join(", ")}, and one of them enforces (enforceNamespaces), so it refuses Services from namespace ${namespace}; use a ServiceGroup that serves ${namespace}, or add ${namespace} to spec.namespaces of ${name}`,
      };
    }
    if (binding?.enforce && !binding.eligible.includes(name)) {
      return {
        ok: false,
        reason: "namespace-denied",
        message: `namespace ${namespace} is confined (enforceNamespaces) to ServiceGroups ${binding.eligible.join(", ")}, not ${name}; set purelb.io/service-group to one of those`,
      };
    }
    return { ok: true, name, via, ...(warning ? { warning } : {}) };
  };

  if (annotated !== undefined) return checked(annotated, "annotation");
  if (binding?.chosen) return checked(binding.chosen, "namespace");
  if (binding?.enforce) {
    return {
      ok: false,
      reason: "namespace-denied",
      message: `${binding.ambiguity}; namespace ${namespace} enforces, so it does not fall back to ServiceGroup ${DEFAULT_GROUP}`,
    };
  }
  if (binding) {
    return checked(
      DEFAULT_GROUP,
      "default (ambiguous binding)",
      `${binding.ambiguity}; this Service uses ServiceGroup ${DEFAULT_GROUP} meanwhile`,
    );
  }
  return checked(DEFAULT_GROUP, "default");
}

/**
 * Warnings for a group about to be stored: namespaces it lists where unannotated Services
 * would have no unambiguous default. `others` are the other valid groups of its namespace.
 */
export function ambiguityWarnings(group: GroupModel, others: GroupModel[]): string[] {
  const all = [...others.filter(o => o.name !== group.name), group];
  const out: string[] = [];
  for (const ns of group.namespaces) {
    const b = bindingOf(ns, all);
    if (!b?.ambiguity) continue;
    out.push(
      `${b.ambiguity}. Until then unannotated Services in ${ns} ${b.enforce ? "are refused (the namespace enforces)" : `get ServiceGroup ${DEFAULT_GROUP}`}.`,
    );
  }
  return out;
}
