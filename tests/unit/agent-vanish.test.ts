import { describe, expect, it } from "vitest";
import { VanishBackoff } from "../../lib/agent/vanish";

const A = "2001:db8::5";

describe("back-off for local addresses the kernel removes again", () => {
  it("doubles the pause each time the address vanishes soon after an add, up to the cap", () => {
    const b = new VanishBackoff(1_000, 8_000, 30_000);
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      b.added(A, now);
      now += 300; // DAD fails a moment after the add
      expect(b.vanished(A, now)).toBe(i + 1);
      waits.push(b.wait(A, now));
      now += b.wait(A, now);
      expect(b.wait(A, now)).toBe(0);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it("re-adds at once what vanishes long after it was added (expired, removed by hand)", () => {
    const b = new VanishBackoff(1_000, 60_000, 30_000);
    b.added(A, 0);
    expect(b.vanished(A, 45_000)).toBe(0);
    expect(b.wait(A, 45_000)).toBe(0);
    expect(b.size).toBe(0);
  });

  it("starts over once the address has stayed, and forgets addresses no longer wanted", () => {
    const b = new VanishBackoff(1_000, 60_000, 30_000);
    b.added(A, 0);
    b.vanished(A, 100);
    b.added(A, 1_100);
    b.present(A, 20_000);
    expect(b.size).toBe(1);
    b.present(A, 31_100);
    expect(b.size).toBe(0);
    b.added(A, 40_000);
    expect(b.vanished(A, 40_200)).toBe(1);
    b.prune(new Set(["2001:db8::6"]));
    expect(b.wait(A, 40_300)).toBe(0);
    expect(b.size).toBe(0);
  });
});
