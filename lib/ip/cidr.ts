import { Address, Family, familyBits, formatAddress, maxValue, parseAddress } from "./address";

/** A network: its first address and prefix length. */
export interface Cidr {
  family: Family;
  network: bigint;
  prefix: number;
}

export function hostMask(family: Family, prefix: number): bigint {
  return maxValue(family) >> BigInt(prefix);
}

/**
 * Parses "a/len". Host bits are allowed and dropped, as Go's net.ParseCIDR does, so
 * "fd00:1::4/64" means the /64 that holds it; `hostBitsSet` lets a validator warn.
 */
export function parseCidr(text: string): (Cidr & { hostBitsSet: boolean }) | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const addr = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!addr || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > familyBits(addr.family)) return undefined;
  const mask = hostMask(addr.family, prefix);
  return {
    family: addr.family,
    network: addr.value & ~mask & maxValue(addr.family),
    prefix,
    hostBitsSet: (addr.value & mask) !== 0n,
  };
}

export const cidrFirst = (c: Cidr): bigint => c.network;
export const cidrLast = (c: Cidr): bigint => c.network | hostMask(c.family, c.prefix);

export function cidrContains(c: Cidr, a: Address): boolean {
  return c.family === a.family && a.value >= cidrFirst(c) && a.value <= cidrLast(c);
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress({ family: c.family, value: c.network })}/${c.prefix}`;
}
