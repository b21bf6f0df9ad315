/**
 * A set of bigints kept as sorted, maximal, disjoint intervals. The lowest free value of a
 * range is found by one binary search, so the cost of allocating does not depend on how
 * large the pool is, and a run of consecutive allocations is stored as one interval.
 */
export class IntervalSet {
  private starts: bigint[] = [];
  private ends: bigint[] = [];

  get intervalCount(): number {
    return this.starts.length;
  }

  has(x: bigint): boolean {
    const i = this.indexAtOrBefore(x);
    return i >= 0 && x <= this.ends[i];
  }

  /** Adds x; false when it was already present. */
  add(x: bigint): boolean {
    const i = this.indexAtOrBefore(x);
    if (i >= 0 && x <= this.ends[i]) return false;
    const joinsLeft = i >= 0 && this.ends[i] + 1n === x;
    const joinsRight = i + 1 < this.starts.length && this.starts[i + 1] - 1n === x;
    if (joinsLeft && joinsRight) {
      this.ends[i] = this.ends[i + 1];
      this.starts.splice(i + 1, 1);
      this.ends.splice(i + 1, 1);
    } else if (joinsLeft) {
      this.ends[i] = x;
    } else if (joinsRight) {
      this.starts[i + 1] = x;
    } else {
      this.starts.splice(i + 1, 0, x);
      this.ends.splice(i + 1, 0, x);
    }
    return true;
  }

  /** Removes x; false when it was not present. */
  delete(x: bigint): boolean {
    const i = this.indexAtOrBefore(x);
    if (i < 0 || x > this.ends[i]) return false;
    const start = this.starts[i];
    const end = this.ends[i];
    if (start === end) {
      this.starts.splice(i, 1);
      this.ends.splice(i, 1);
    } else if (x === start) {
      this.starts[i] = x + 1n;
    } else if (x === end) {
      this.ends[i] = x - 1n;
    } else {
      this.ends[i] = x - 1n;
      this.starts.splice(i + 1, 0, x + 1n);
      this.ends.splice(i + 1, 0, end);
    }
    return true;
  }

  /** The lowest value in [lo, hi] not in the set, or undefined when all are taken. */
  firstFree(lo: bigint, hi: bigint): bigint | undefined {
    if (lo > hi) return undefined;
    const i = this.indexAtOrBefore(lo);
    if (i < 0 || lo > this.ends[i]) return lo;
    const next = this.ends[i] + 1n;
    return next <= hi ? next : undefined;
  }

  /** How many values of [lo, hi] are in the set (exact, however large). */
  countIn(lo: bigint, hi: bigint): bigint {
    let i = Math.max(this.indexAtOrBefore(lo), 0);
    let total = 0n;
    for (; i < this.starts.length && this.starts[i] <= hi; i++) {
      const s = this.starts[i] > lo ? this.starts[i] : lo;
      const e = this.ends[i] < hi ? this.ends[i] : hi;
      if (e >= s) total += e - s + 1n;
    }
    return total;
  }

  /** Index of the last interval whose start is <= x, or -1. */
  private indexAtOrBefore(x: bigint): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] <= x) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
