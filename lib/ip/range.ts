import { Address, Family, formatAddress, parseAddress } from "./address";
import { Cidr, cidrFirst, cidrLast, parseCidr } from "./cidr";

/** An inclusive address range; a CIDR pool becomes the range of all its addresses. */
export interface Range {
  family: Family;
  start: bigint;
  end: bigint;
}

export type RangeParse = { ok: true; range: Range } | { ok: false; error: string };

/** Parses a pool as "a-b" or as a CIDR, explaining what is wrong when it does not parse. */
export function parseRange(text: string): RangeParse {
  const s = text.trim();
  if (s.includes("/")) {
    const c = parseCidr(s);
    if (!c)
      return { ok: false, error: `"${text}" is not a valid CIDR (expected e.g. 192.0.2.0/28)` };
    return { ok: true, range: { family: c.family, start: cidrFirst(c), end: cidrLast(c) } };
  }
  const dash = s.indexOf("-");
  if (dash < 0) {
    const single = parseAddress(s);
    if (single)
      return { ok: true, range: { family: single.family, start: single.value, end: single.value } };
    return { ok: false, error: `"${text}" is neither a range "first-last" nor a CIDR` };
  }
  const first = parseAddress(s.slice(0, dash).trim());
  const last = parseAddress(s.slice(dash + 1).trim());
  if (!first || !last) {
    return {
      ok: false,
      error: `"${text}" has an address that does not parse (expected "first-last")`,
    };
  }
  if (first.family !== last.family) {
    return { ok: false, error: `"${text}" mixes IPv4 and IPv6` };
  }
  if (first.value > last.value) {
    return { ok: false, error: `"${text}" starts after it ends (first must be <= last)` };
  }
  return { ok: true, range: { family: first.family, start: first.value, end: last.value } };
}

export const rangeSize = (r: Range): bigint => r.end - r.start + 1n;

export const rangeContains = (r: Range, a: Address): boolean =>
  r.family === a.family && a.value >= r.start && a.value <= r.end;

export const rangeWithin = (r: Range, c: Cidr): boolean =>
  r.family === c.family && r.start >= cidrFirst(c) && r.end <= cidrLast(c);

export const rangesOverlap = (a: Range, b: Range): boolean =>
  a.family === b.family && a.start <= b.end && b.start <= a.end;

export function formatRange(r: Range): string {
  const first = formatAddress({ family: r.family, value: r.start });
  if (r.start === r.end) return first;
  return `${first}-${formatAddress({ family: r.family, value: r.end })}`;
}
