import { matchesSelector } from "../bgp/config";
import { LBNodeAgentSpec } from "../k8s/lbnodeagent";
import { isCatchAll, selectorProblems } from "../validate/selector";

export interface NamedAgentSpec {
  namespace: string;
  name: string;
  spec: LBNodeAgentSpec | undefined;
}

export interface AgentChoice {
  /** The configuration this node uses; undefined when none matches (defaults apply). */
  chosen?: NamedAgentSpec;
  /** Matching configurations that lost to `chosen`: worth a Warning Event each. */
  ignored: NamedAgentSpec[];
  /** Configurations whose selector cannot match anything, with why. */
  invalid: { agent: NamedAgentSpec; reason: string }[];
}

const byName = (a: NamedAgentSpec, b: NamedAgentSpec): number =>
  a.namespace === b.namespace
    ? a.name.localeCompare(b.name)
    : a.namespace.localeCompare(b.namespace);

/**
 * Which LBNodeAgent a node follows, with the Go PureLB's precedence: a matching non-empty
 * nodeSelector beats a catch-all (absent or empty selector), then the first by namespace/name.
 */
export function chooseAgentConfig(
  agents: NamedAgentSpec[],
  nodeLabels: Record<string, string>,
): AgentChoice {
  const specific: NamedAgentSpec[] = [];
  const catchAll: NamedAgentSpec[] = [];
  const invalid: AgentChoice["invalid"] = [];
  for (const a of agents) {
    const sel = a.spec?.nodeSelector;
    if (isCatchAll(sel)) {
      catchAll.push(a);
      continue;
    }
    const bad = selectorProblems(sel, "spec.nodeSelector");
    if (bad.length) {
      invalid.push({ agent: a, reason: bad.map(p => `${p.path}: ${p.message}`).join("; ") });
      continue;
    }
    if (matchesSelector(sel, nodeLabels)) specific.push(a);
  }
  const ordered = [...specific.sort(byName), ...catchAll.sort(byName)];
  return { chosen: ordered[0], ignored: ordered.slice(1), invalid };
}
