import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { LBNodeAgent, LBNodeAgentSpec } from "../../lib/k8s/lbnodeagent";
import { validateLBNodeAgent } from "../../lib/validate/lbnodeagent";
import { step } from "./validate-story";

const agent = (spec: unknown): LBNodeAgent => ({
  metadata: { name: "default", namespace: "purelb-system" },
  spec: spec as LBNodeAgentSpec,
});
const denial = (spec: unknown) => formatProblems(validateLBNodeAgent(agent(spec)).problems);

describe("LBNodeAgent validation, one story per rule", () => {
  it("an empty spec is fine: every field has a default", () => {
    expect(validateLBNodeAgent(agent({}))).toEqual({ problems: [], warnings: [] });
    expect(validateLBNodeAgent(agent(undefined))).toEqual({ problems: [], warnings: [] });
  });

  it("localInterface is a regular expression or default", () => {
    step("an unbalanced group is refused with the engine's reason and an example", () => {
      expect(denial({ local: { localInterface: "enp(1s0" } })).toMatch(
        /^spec\.local\.localInterface: "enp\(1s0" is not a regular expression \(.*\); use "default" or a pattern such as \^enp\[0-9\]\+s0\$$/,
      );
    });
    step("default and a valid pattern pass", () => {
      expect(denial({ local: { localInterface: "default" } })).toBe("");
      expect(denial({ local: { localInterface: "^(eth|enp)[0-9]+" } })).toBe("");
    });
  });

  it("extInterface is a Linux interface name", () => {
    expect(denial({ local: { extInterface: "kube-lb0-is-far-too-long" } })).toBe(
      'spec.local.extInterface: "kube-lb0-is-far-too-long" is not a Linux interface name (1 to 15 characters, no \'/\', \':\' or whitespace, not "." or ".."); e.g. kube-lb0',
    );
  });

  it("durations parse and are not negative", () => {
    step("a bare number is refused with how to write it", () => {
      expect(denial({ local: { garp: { interval: "5" } } })).toBe(
        'spec.local.garp.interval: "5" is not a duration; write it like 300s, 1m30s or 1.5s',
      );
    });
    step("a negative refresh is refused", () => {
      expect(denial({ local: { garp: { refresh: "-1m" } } })).toBe(
        'spec.local.garp.refresh: "-1m" is negative; durations here are 0s or longer',
      );
    });
    step("0s turns refresh off", () => {
      expect(denial({ local: { garp: { refresh: "0s" } } })).toBe("");
    });
  });

  it("the GARP count is positive", () => {
    expect(denial({ local: { garp: { count: 0 } } })).toBe(
      "spec.local.garp.count: 0 is out of range; use a value at least 1",
    );
  });

  it("address lifetimes can be renewed and the preferred one never outlives the valid one", () => {
    step("preferred longer than valid is refused", () => {
      expect(denial({ local: { addressLifetime: { valid: "300s", preferred: "10m" } } })).toBe(
        "spec.local.addressLifetime.preferred: 10m outlives the valid lifetime 300s; the kernel needs preferred <= valid: set preferred to 300s or less, or leave it unset",
      );
    });
    step("a permanent preferred with a finite valid is refused too", () => {
      expect(denial({ local: { addressLifetime: { valid: "300s", preferred: "0s" } } })).toMatch(
        /^spec\.local\.addressLifetime\.preferred: 0s outlives/,
      );
    });
    step("a shorter valid alone is fine: preferred follows it", () => {
      expect(denial({ local: { addressLifetime: { valid: "60s" } } })).toBe("");
    });
    step("both permanent pass", () => {
      expect(denial({ local: { addressLifetime: { valid: "0s", preferred: "0s" } } })).toBe("");
    });
    step("a lifetime too short to renew is refused with the minimum", () => {
      expect(denial({ local: { addressLifetime: { valid: "5s" } } })).toBe(
        "spec.local.addressLifetime.valid: 5s is too short to renew safely on a busy node; use at least 10s, or 0s for permanent addresses",
      );
    });
  });

  it("a Lease is renewed before it lapses", () => {
    step("renew not shorter than duration is refused", () => {
      expect(denial({ lease: { duration: "10s", renew: "10s" } })).toBe(
        "spec.lease.renew: 10s must be shorter than spec.lease.duration (10s), or the Lease lapses between renewals and the node's addresses move; renew at most a third of duration",
      );
    });
    step(
      "the defaults take part: a short duration alone is compared with the default renew",
      () => {
        expect(denial({ lease: { duration: "1s" } })).toMatch(
          /^spec\.lease\.renew: 1\.5s must be shorter than spec\.lease\.duration \(1s\)/,
        );
      },
    );
    step("under a second is refused: a Lease counts whole seconds", () => {
      expect(denial({ lease: { duration: "500ms", renew: "100ms" } })).toBe(
        "spec.lease.duration: 500ms is shorter than the 1s a Lease can express; use e.g. 5s",
      );
    });
    step("a zero renew is refused", () => {
      expect(denial({ lease: { renew: "0s" } })).toBe(
        "spec.lease.renew: 0s must be longer than 0, e.g. 1.5s",
      );
    });
  });

  it("never crashes on any shape, and every problem has a spec path", () => {
    const dur = fc.oneof(fc.constantFrom("1s", "0s", "-1s", "300s", "x", "5"), fc.anything());
    const spec = fc.oneof(
      fc.record(
        {
          local: fc.record(
            {
              localInterface: fc.oneof(fc.string(), fc.anything()),
              extInterface: fc.string(),
              garp: fc.record(
                { enabled: fc.anything(), count: fc.integer(), interval: dur, refresh: dur },
                { requiredKeys: [] },
              ),
              addressLifetime: fc.record({ valid: dur, preferred: dur }, { requiredKeys: [] }),
            },
            { requiredKeys: [] },
          ),
          lease: fc.record({ duration: dur, renew: dur }, { requiredKeys: [] }),
        },
        { requiredKeys: [] },
      ),
      fc.anything(),
    );
    fc.assert(
      fc.property(spec, s => {
        for (const p of validateLBNodeAgent(agent(s)).problems)
          expect(p.path).toMatch(/^spec(\.|$)/);
      }),
      { numRuns: 1000 },
    );
  });
});
