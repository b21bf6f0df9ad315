import { Schema } from "../k8s/crds/schema";
import { Problem } from "../ipam/problem";

/**
 * Checks a value against a CRD schema the way the apiserver would (types, required, enums,
 * bounds, unknown fields), with words that say what to write instead. Admission never
 * needs it, since the apiserver checks first; `kubectl purelb validate` and the allocator
 * need it before the semantic checks can safely read the object.
 */
export function schemaProblems(schema: Schema, value: unknown, path: string): Problem[] {
  const problems: Problem[] = [];
  walk(schema, value, path, problems);
  return problems;
}

function walk(s: Schema, v: unknown, path: string, out: Problem[]): void {
  const what = s.description ?? "";
  if (v === undefined || v === null) return;
  const found = typeName(v);
  const expected = s.type === "integer" ? "integer" : s.type;
  if (
    found !== expected &&
    !(expected === "integer" && found === "number" && Number.isInteger(v))
  ) {
    out.push({ path, message: `is ${article(found)}, it must be ${article(expected)}: ${what}` });
    return;
  }
  switch (s.type) {
    case "object":
      return walkObject(s, v as Record<string, unknown>, path, out);
    case "array":
      if (s.maxItems !== undefined && (v as unknown[]).length > s.maxItems)
        out.push({
          path,
          message: `has ${(v as unknown[]).length} items; at most ${s.maxItems} are allowed`,
        });
      (v as unknown[]).forEach((item, i) => s.items && walk(s.items, item, `${path}[${i}]`, out));
      return;
    case "string":
      return checkString(s, v as string, path, out);
    case "integer":
      return checkInteger(s, v as number, path, out);
  }
}

function walkObject(s: Schema, o: Record<string, unknown>, path: string, out: Problem[]): void {
  for (const key of s.required ?? []) {
    if (o[key] === undefined || o[key] === null) {
      out.push({
        path: `${path}.${key}`,
        message: `is required: ${s.properties?.[key]?.description ?? ""}`,
      });
    }
  }
  for (const [key, child] of Object.entries(o)) {
    const p = `${path}.${key}`;
    const known =
      (s.properties && Object.hasOwn(s.properties, key) ? s.properties[key] : undefined) ??
      s.additionalProperties;
    if (known) walk(known, child, p, out);
    else if (s.properties) {
      const guess = closest(key, Object.keys(s.properties));
      out.push({
        path: p,
        message: `is not a field here${guess ? `; did you mean ${guess}?` : ""} (known: ${Object.keys(s.properties).join(", ")})`,
      });
    }
  }
}

function checkString(s: Schema, v: string, path: string, out: Problem[]): void {
  if (s.enum && !s.enum.includes(v)) {
    out.push({ path, message: `"${v}" is not one of ${s.enum.join(", ")}` });
  }
  if (s.minLength !== undefined && v.length < s.minLength) {
    out.push({
      path,
      message: `must be at least ${s.minLength} character${s.minLength === 1 ? "" : "s"} long: ${s.description ?? ""}`,
    });
  }
  if (s.maxLength !== undefined && v.length > s.maxLength) {
    out.push({ path, message: `"${v}" is longer than ${s.maxLength} characters` });
  }
  if (s.pattern && !new RegExp(s.pattern).test(v)) {
    out.push({ path, message: `"${v}" does not match ${s.pattern}: ${s.description ?? ""}` });
  }
}

function checkInteger(s: Schema, v: number, path: string, out: Problem[]): void {
  const lo = s.minimum;
  const hi = s.maximum;
  if ((lo !== undefined && v < lo) || (hi !== undefined && v > hi)) {
    const range =
      hi === undefined
        ? `at least ${lo}`
        : lo === undefined
          ? `at most ${hi}`
          : `from ${lo} to ${hi}`;
    out.push({ path, message: `${v} is out of range; use a value ${range}` });
  }
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

const article = (t: string): string => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);

/** The known name nearest to a typo, when it is near enough to be a typo. */
function closest(word: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const n of names) {
    const d = distance(word.toLowerCase(), n.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [n, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
