import { Problem } from "../ipam/problem";

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go-style duration ("300s", "1m30s", "1.5s", "-2h", "0") into milliseconds, the way
 * Go's time.ParseDuration reads it, so the agent and the Go tools agree on what a value means.
 * Returns undefined for anything else, including a bare number other than 0.
 */
export function parseDuration(text: string): number | undefined {
  if (typeof text !== "string") return undefined;
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s.startsWith("-") ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  while (s !== "") {
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * unitMs[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/**
 * A duration at `path` that must be 0 or longer, in milliseconds; a problem (with `example`,
 * a typical value for the field, in the hint) and undefined otherwise.
 */
export function nonNegativeDuration(
  path: string,
  text: string,
  problems: Problem[],
  example: string,
): number | undefined {
  const ms = parseDuration(text);
  if (ms === undefined) {
    problems.push({
      path,
      message: `"${text}" is not a duration; write it like ${example}, 1m30s or 1.5s`,
    });
    return undefined;
  }
  if (ms < 0) {
    problems.push({ path, message: `"${text}" is negative; durations here are 0s or longer` });
    return undefined;
  }
  return ms;
}
