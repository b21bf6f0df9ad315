import ipaddr from "ipaddr.js";

export type Family = 4 | 6;

/** An IP address as a number, so that ranges and offsets are plain bigint arithmetic. */
export interface Address {
  family: Family;
  value: bigint;
}

export const familyBits = (family: Family): number => (family === 4 ? 32 : 128);
export const familyName = (family: Family): "IPv4" | "IPv6" => (family === 4 ? "IPv4" : "IPv6");
export const maxValue = (family: Family): bigint => (1n << BigInt(familyBits(family))) - 1n;

const FOUR_PART_DECIMAL = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

/**
 * Strict parse: four-part decimal IPv4 only (no "1.2.3" or octal-looking "01.2.3.4", which
 * people mistype) and IPv6 without a zone, because a LoadBalancer address is global.
 */
export function parseAddress(text: string): Address | undefined {
  const s = text.trim();
  if (s !== text || s === "") return undefined;
  // Checked by pattern before any parser runs: ipaddr.js answers "not IPv4" by throwing, and
  // an exception per IPv6 address made parsing IPv6 several times slower than IPv4.
  if (FOUR_PART_DECIMAL.test(s)) {
    const octets = s.split(".").map(Number);
    if (octets.some(o => o > 255)) return undefined;
    return {
      family: 4,
      value: BigInt(((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0),
    };
  }
  if (!s.includes(":") || s.includes("%")) return undefined;
  let bytes: number[];
  try {
    bytes = ipaddr.IPv6.parse(s).toByteArray();
  } catch {
    return undefined;
  }
  return { family: 6, value: bytesToBigint(bytes) };
}

/** Canonical text (RFC 5952 for IPv6), the form written to Service status and used as map key. */
export function formatAddress(a: Address): string {
  if (a.family === 4) {
    const v = Number(a.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const digits = a.value.toString(16).padStart(32, "0");
  const groups: number[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(digits.slice(i, i + 4), 16));
  // RFC 5952: compress the longest run (the first if tied) of two or more zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map(x => x.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Canonical form of an address string, or undefined when it does not parse. */
export function canonical(text: string): string | undefined {
  const a = parseAddress(text);
  return a && formatAddress(a);
}

function bytesToBigint(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}
