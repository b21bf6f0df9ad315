import { Address, Family } from "../ip/address";
import { IntervalSet } from "../ip/interval-set";
import { Range } from "../ip/range";

export interface Port {
  protocol: string;
  port: number;
}

/** Who holds one address: one Service, or several under one sharing key. */
export interface AddressEntry {
  text: string;
  address: Address;
  group: string;
  sharingKey?: string;
  holders: Map<string, Port[]>;
}

export type ShareCheck = { ok: true } | { ok: false; holder: string; port?: Port; reason: string };

/**
 * Which address belongs to whom. The single place that enforces "one address, one owner
 * (or one sharing key)": every claim goes through here.
 */
export class AddressBook {
  private readonly used: Record<Family, IntervalSet> = {
    4: new IntervalSet(),
    6: new IntervalSet(),
  };
  private readonly entries = new Map<string, AddressEntry>();
  private readonly byService = new Map<string, string[]>();
  private readonly byKey = new Map<string, Set<string>>();

  get size(): number {
    return this.entries.size;
  }

  entry(text: string): AddressEntry | undefined {
    return this.entries.get(text);
  }

  addressesOf(service: string): readonly string[] {
    return this.byService.get(service) ?? [];
  }

  services(): IterableIterator<string> {
    return this.byService.keys();
  }

  addressesOfKey(sharingKey: string): string[] {
    return [...(this.byKey.get(sharingKey) ?? [])];
  }

  firstFree(range: Range): bigint | undefined {
    return this.used[range.family].firstFree(range.start, range.end);
  }

  countIn(range: Range): bigint {
    return this.used[range.family].countIn(range.start, range.end);
  }

  /** Whether `service` may hold `text` too, given who holds it now. */
  canShare(
    text: string,
    service: string,
    sharingKey: string | undefined,
    ports: Port[],
  ): ShareCheck {
    const e = this.entries.get(text);
    if (!e || e.holders.has(service)) return { ok: true };
    const [holder] = e.holders.keys();
    if (!sharingKey || e.sharingKey !== sharingKey) {
      const why = e.sharingKey
        ? `it is shared under key "${e.sharingKey}"`
        : "it is not shared (no purelb.io/allow-shared-ip)";
      return { ok: false, holder, reason: `${text} is in use by ${holder}; ${why}` };
    }
    for (const [other, theirs] of e.holders) {
      const clash = ports.find(p =>
        theirs.some(t => t.port === p.port && t.protocol === p.protocol),
      );
      if (clash) {
        return {
          ok: false,
          holder: other,
          port: clash,
          reason: `${text} is shared under key "${sharingKey}" and ${other} already uses ${clash.protocol}/${clash.port}`,
        };
      }
    }
    return { ok: true };
  }

  /** Records that `service` holds `text`; the caller has checked canShare. */
  claim(
    service: string,
    address: Address,
    text: string,
    group: string,
    sharingKey: string | undefined,
    ports: Port[],
  ): void {
    let e = this.entries.get(text);
    if (!e) {
      e = { text, address, group, sharingKey, holders: new Map() };
      this.entries.set(text, e);
      this.used[address.family].add(address.value);
      if (sharingKey) {
        const set = this.byKey.get(sharingKey) ?? new Set<string>();
        set.add(text);
        this.byKey.set(sharingKey, set);
      }
    }
    e.holders.set(service, ports);
    const mine = this.byService.get(service) ?? [];
    if (!mine.includes(text)) this.byService.set(service, [...mine, text]);
  }

  /** Updates the ports a holder uses (a Service edit), keeping its addresses. */
  setPorts(service: string, ports: Port[]): void {
    for (const text of this.addressesOf(service))
      this.entries.get(text)?.holders.set(service, ports);
  }

  /** Drops one address of a Service; returns true when the address became free. */
  releaseOne(service: string, text: string): boolean {
    const mine = this.byService.get(service);
    if (mine) {
      const rest = mine.filter(t => t !== text);
      if (rest.length) this.byService.set(service, rest);
      else this.byService.delete(service);
    }
    const e = this.entries.get(text);
    if (!e || !e.holders.delete(service) || e.holders.size > 0) return false;
    this.entries.delete(text);
    this.used[e.address.family].delete(e.address.value);
    if (e.sharingKey) {
      const set = this.byKey.get(e.sharingKey);
      set?.delete(text);
      if (set?.size === 0) this.byKey.delete(e.sharingKey);
    }
    return true;
  }

  /** Drops every address of a Service; returns the ones that became free. */
  release(service: string): string[] {
    return [...this.addressesOf(service)].filter(text => this.releaseOne(service, text));
  }
}
