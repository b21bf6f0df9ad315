import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../lib/validate/duration";

describe("Go-style durations", () => {
  it("reads what Go's time.ParseDuration reads", () => {
    const cases: [string, number][] = [
      ["300s", 300_000],
      ["1m30s", 90_000],
      ["1.5s", 1500],
      ["2h", 7_200_000],
      ["1h2m3.5s", 3_723_500],
      ["250ms", 250],
      ["1500us", 1.5],
      ["0", 0],
      ["-2s", -2000],
      [".5s", 500],
      ["1.s", 1000],
    ];
    for (const [text, ms] of cases) expect(parseDuration(text), text).toBeCloseTo(ms, 9);
  });

  it("refuses bare numbers, unknown units, spaces and empty strings", () => {
    for (const bad of ["300", "5d", "1 s", "", "s", "-", "1m30", ".s", "1e3s"])
      expect(parseDuration(bad), bad).toBeUndefined();
  });

  it("adds up its parts", () => {
    fc.assert(
      fc.property(fc.nat(99), fc.nat(59), fc.nat(59), (h, m, s) => {
        expect(parseDuration(`${h}h${m}m${s}s`)).toBe(((h * 60 + m) * 60 + s) * 1000);
      }),
    );
  });
});
