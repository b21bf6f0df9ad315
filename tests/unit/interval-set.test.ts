import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IntervalSet } from "../../lib/ip/interval-set";

describe("IntervalSet", () => {
  it("finds the lowest free value, reusing a released one first", () => {
    const s = new IntervalSet();
    const lo = 100n;
    const hi = 103n;
    for (let i = 0; i < 4; i++) s.add(s.firstFree(lo, hi)!);
    expect(s.firstFree(lo, hi)).toBeUndefined(); // exhausted
    expect(s.intervalCount).toBe(1); // consecutive claims merge
    s.delete(101n);
    expect(s.firstFree(lo, hi)).toBe(101n);
    expect(s.countIn(lo, hi)).toBe(3n);
  });

  it("answers for a huge range without enumerating it", () => {
    const s = new IntervalSet();
    const lo = 1n << 64n;
    const hi = (1n << 65n) - 1n;
    s.add(lo);
    expect(s.firstFree(lo, hi)).toBe(lo + 1n);
    expect(s.countIn(0n, hi)).toBe(1n);
  });

  it("behaves as a plain set of numbers under any sequence of operations", () => {
    const op = fc.tuple(fc.constantFrom("add", "delete"), fc.integer({ min: 0, max: 40 }));
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        (ops, a, b) => {
          const s = new IntervalSet();
          const model = new Set<number>();
          for (const [kind, n] of ops) {
            if (kind === "add") {
              expect(s.add(BigInt(n))).toBe(!model.has(n));
              model.add(n);
            } else {
              expect(s.delete(BigInt(n))).toBe(model.has(n));
              model.delete(n);
            }
          }
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          let free: number | undefined;
          for (let i = lo; i <= hi && free === undefined; i++) if (!model.has(i)) free = i;
          expect(s.firstFree(BigInt(lo), BigInt(hi))).toBe(
            free === undefined ? undefined : BigInt(free),
          );
          const count = [...model].filter(n => n >= lo && n <= hi).length;
          expect(s.countIn(BigInt(lo), BigInt(hi))).toBe(BigInt(count));
          for (let i = 0; i <= 40; i++) expect(s.has(BigInt(i))).toBe(model.has(i));
        },
      ),
    );
  });
});
