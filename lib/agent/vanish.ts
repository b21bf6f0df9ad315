/**
 * Back-off for local addresses that disappear right after this node adds them. The kernel
 * deletes an IPv6 address whose duplicate address detection fails, that is when another host
 * already answers for it (such as a node whose agent was killed and whose copy has not
 * expired yet); adding it again at once would repeat that several times a second. Each such
 * disappearance doubles the wait before the next add, up to `maxMs`. The cap is short on
 * purpose: once the other copy is gone (a killed node's expires), the address is served by
 * nobody until the next try. An address that stays `stableMs`, or vanishes long after it was
 * added (expired, removed by hand), starts over.
 */
export class VanishBackoff {
  private readonly entries = new Map<string, { addedAt: number; strikes: number; until: number }>();

  constructor(
    private readonly baseMs = 1_000,
    private readonly maxMs = 2_000,
    private readonly stableMs = 30_000,
  ) {}

  /** This node has just added the address. */
  added(address: string, now: number): void {
    const e = this.entries.get(address);
    if (e) e.addedAt = now;
    else this.entries.set(address, { addedAt: now, strikes: 0, until: 0 });
  }

  /** The address is still there: once it has stayed `stableMs`, its history is dropped. */
  present(address: string, now: number): void {
    const e = this.entries.get(address);
    if (e && now - e.addedAt >= this.stableMs) this.entries.delete(address);
  }

  /**
   * The address is gone and this node did not remove it. Returns how many times in a row it
   * vanished soon after an add (0: not soon after, re-add at once).
   */
  vanished(address: string, now: number): number {
    const e = this.entries.get(address);
    if (!e || now - e.addedAt >= this.stableMs) {
      this.entries.delete(address);
      return 0;
    }
    e.strikes++;
    e.until = now + Math.min(this.maxMs, this.baseMs * 2 ** (e.strikes - 1));
    return e.strikes;
  }

  /** Milliseconds before the address may be added again; 0 when it may now. */
  wait(address: string, now: number): number {
    const e = this.entries.get(address);
    return e ? Math.max(0, e.until - now) : 0;
  }

  /** Drops the history of addresses no longer wanted on this node. */
  prune(wanted: { has(address: string): boolean }): void {
    for (const a of this.entries.keys()) if (!wanted.has(a)) this.entries.delete(a);
  }

  get size(): number {
    return this.entries.size;
  }
}
