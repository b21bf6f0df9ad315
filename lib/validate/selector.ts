import { Problem } from "../ipam/problem";
import { LabelSelector } from "../k8s/bgp";

/**
 * What the apiserver's own selector parser refuses and the CRD schema cannot say: In and NotIn
 * need values, Exists and DoesNotExist take none. A selector the agent cannot parse would
 * otherwise match no node and the configuration would be ignored in silence.
 */
export function selectorProblems(sel: LabelSelector | undefined, path: string): Problem[] {
  const problems: Problem[] = [];
  (sel?.matchExpressions ?? []).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const values = e.values ?? [];
    if ((e.operator === "In" || e.operator === "NotIn") && values.length === 0) {
      problems.push({
        path: `${p}.values`,
        message: `${e.operator} needs at least one value; list the label values to match`,
      });
    }
    if ((e.operator === "Exists" || e.operator === "DoesNotExist") && values.length > 0) {
      problems.push({
        path: `${p}.values`,
        message: `${e.operator} takes no values; remove them or use In/NotIn`,
      });
    }
  });
  return problems;
}

/** An absent selector, or one with neither matchLabels nor matchExpressions, matches every node. */
export const isCatchAll = (sel: LabelSelector | undefined): boolean =>
  !sel ||
  (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0);
