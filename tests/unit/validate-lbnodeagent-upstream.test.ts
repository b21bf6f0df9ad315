// The Go PureLB v0.17's LBNodeAgent fields are accepted with its bounds; our earlier names keep
// working for a release, with a warning that names the field to write instead.
import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { LBNodeAgent, LBNodeAgentSpec } from "../../lib/k8s/lbnodeagent";
import { validateLBNodeAgent } from "../../lib/validate/lbnodeagent";
import { step } from "./validate-story";

const agent = (spec: unknown): LBNodeAgent => ({
  metadata: { name: "default", namespace: "purelb-system" },
  spec: spec as LBNodeAgentSpec,
});
const verdict = (spec: unknown) => validateLBNodeAgent(agent(spec));
const denial = (spec: unknown) => formatProblems(verdict(spec).problems);

describe("LBNodeAgent fields of the Go PureLB v0.17", () => {
  it("upstream's complete example passes without a warning; a flag this PureLB cannot apply warns", () => {
    const v = verdict({
      nodeSelector: { matchLabels: { "example.com/dual-homed": "true" } },
      local: {
        localInterface: "default",
        dummyInterface: "kube-lb0",
        interfaces: ["eth1"],
        garpConfig: {
          enabled: true,
          initialDelay: "100ms",
          count: 3,
          interval: "500ms",
          verifyBeforeSend: true,
        },
        addressConfig: {
          localInterface: { validLifetime: 300, noPrefixRoute: true },
          dummyInterface: { validLifetime: 0, noPrefixRoute: false },
        },
      },
    });
    expect(v.problems).toEqual([]);
    // Both noPrefixRoute values are what the agent does: no warning.
    expect(v.warnings).toEqual([]);
    expect(
      verdict({
        local: { addressConfig: { dummyInterface: { validLifetime: 0, noPrefixRoute: true } } },
      }).warnings,
    ).toEqual([
      "spec.local.addressConfig.dummyInterface.noPrefixRoute is accepted but not applied: addresses on the dummy interface keep the kernel's prefix route (as noPrefixRoute: false).",
    ]);
  });

  it("garpConfig.count is 1 to 10 and its durations parse", () => {
    expect(denial({ local: { garpConfig: { count: 11 } } })).toBe(
      "spec.local.garpConfig.count: 11 is out of range; use a value from 1 to 10",
    );
    expect(denial({ local: { garpConfig: { initialDelay: "soon" } } })).toBe(
      'spec.local.garpConfig.initialDelay: "soon" is not a duration; write it like 300s, 1m30s or 1.5s',
    );
  });

  it("addressConfig lifetimes are whole seconds: 0 or at least 60, preferred at most valid", () => {
    step("59 seconds is too short", () => {
      expect(denial({ local: { addressConfig: { localInterface: { validLifetime: 59 } } } })).toBe(
        "spec.local.addressConfig.localInterface.validLifetime: 59 is too short to renew safely; use 0 (permanent) or at least 60 seconds",
      );
    });
    step("preferred longer than valid is refused", () => {
      expect(
        denial({
          local: {
            addressConfig: { localInterface: { validLifetime: 60, preferredLifetime: 90 } },
          },
        }),
      ).toBe(
        "spec.local.addressConfig.localInterface.preferredLifetime: 90 outlives validLifetime 60; the kernel needs preferred <= valid: use 60 or less, or leave it unset",
      );
    });
    step("a negative lifetime is refused by the schema", () => {
      expect(denial({ local: { addressConfig: { dummyInterface: { validLifetime: -1 } } } })).toBe(
        "spec.local.addressConfig.dummyInterface.validLifetime: -1 is out of range; use a value at least 0",
      );
    });
    step("a finite lifetime on the dummy interface is accepted with a warning", () => {
      expect(
        verdict({ local: { addressConfig: { dummyInterface: { validLifetime: 600 } } } }),
      ).toEqual({
        problems: [],
        warnings: [
          "spec.local.addressConfig.dummyInterface.validLifetime 600 is not supported here: addresses on the dummy interface stay permanent (0), as by default.",
        ],
      });
    });
  });

  it("nodeSelector is a label selector whose expressions can match", () => {
    expect(denial({ nodeSelector: { matchExpressions: [{ key: "zone", operator: "In" }] } })).toBe(
      "spec.nodeSelector.matchExpressions[0].values: In needs at least one value; list the label values to match",
    );
    expect(denial({ nodeSelector: { matchLabels: { zone: "a" } } })).toBe("");
  });

  it("interfaces are exact Linux interface names", () => {
    expect(denial({ local: { interfaces: ["eth1", "bond0:1"] } })).toBe(
      "spec.local.interfaces[1]: \"bond0:1\" is not a Linux interface name (1 to 15 characters, no '/', ':' or whitespace); give the exact name, e.g. eth1",
    );
  });

  it("our earlier names still work, with a warning naming the new field", () => {
    step("extInterface -> dummyInterface", () => {
      expect(verdict({ local: { extInterface: "kube-lb1" } })).toEqual({
        problems: [],
        warnings: [
          "spec.local.extInterface is deprecated and goes in the next release; write spec.local.dummyInterface: kube-lb1 instead (same meaning).",
        ],
      });
    });
    step("garp -> garpConfig", () => {
      expect(verdict({ local: { garp: { count: 2 } } }).warnings).toEqual([
        "spec.local.garp is deprecated and goes in the next release; write spec.local.garpConfig instead (enabled, count and interval mean the same; refresh moves to garpConfig.refresh). Without garpConfig the agent keeps the old defaults.",
      ]);
    });
    step("addressLifetime -> addressConfig.localInterface, in seconds", () => {
      expect(verdict({ local: { addressLifetime: { valid: "10m", preferred: "5m" } } })).toEqual({
        problems: [],
        warnings: [
          "spec.local.addressLifetime is deprecated and goes in the next release; write spec.local.addressConfig.localInterface with validLifetime: 600 and preferredLifetime: 300 (whole seconds) instead.",
        ],
      });
    });
    step("old and new names for one thing, disagreeing, are refused", () => {
      expect(denial({ local: { extInterface: "kube-lb1", dummyInterface: "kube-lb0" } })).toBe(
        'spec.local.extInterface: "kube-lb1" contradicts spec.local.dummyInterface "kube-lb0"; extInterface is the deprecated name of dummyInterface: remove it',
      );
      expect(denial({ local: { garp: {}, garpConfig: {} } })).toBe(
        "spec.local.garp: is the deprecated form of spec.local.garpConfig, which is set too; move what you need into garpConfig (refresh included) and remove garp",
      );
      expect(
        denial({
          local: { addressLifetime: {}, addressConfig: { localInterface: { validLifetime: 300 } } },
        }),
      ).toBe(
        "spec.local.addressLifetime: is the deprecated form of spec.local.addressConfig.localInterface, which is set too; keep only addressConfig.localInterface (lifetimes in seconds)",
      );
    });
  });
});
