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

/**
 * Strict parse: four-part decimal IPv4 only (no "1.2.3" or octal-looking "01.2.3.4", which
 * people mistype) and IPv6 without a zone, because a LoadBalancer address is global.
 */
export function parseAddress(text: string): Address | undefined {
  const s = text.trim();
  if (s !== text || s === "") return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
    return { family: 4, value: bytesToBigint(ipaddr.IPv4.parse(s).toByteArray()) };
  }
  if (s.includes(":") && !s.includes("%") && ipaddr.IPv6.isValid(s)) {
    return { family: 6, value: bytesToBigint(ipaddr.IPv6.parse(s).toByteArray()) };
  }
  return undefined;
}

/** Canonical text (RFC 5952 for IPv6), the form written to Service status and used as map key. */
export function formatAddress(a: Address): string {
  const bytes: number[] = [];
  let v = a.value;
  for (let i = 0; i < familyBits(a.family) / 8; i++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
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
