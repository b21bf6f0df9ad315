// The agent honours the Go PureLB's LBNodeAgent names, and picks its configuration by
// nodeSelector with upstream's precedence.
import { describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../lib/agent/config";
import { NamedAgentSpec, chooseAgentConfig } from "../../lib/agent/node-select";
import { LBNodeAgentSpec } from "../../lib/k8s/lbnodeagent";

describe("agent configuration from upstream's field names", () => {
  it("dummyInterface, interfaces, garpConfig and addressConfig reach the agent", () => {
    const { config, problems } = parseAgentConfig({
      local: {
        dummyInterface: "purelb0",
        interfaces: ["eth1", "bond0", "eth1"],
        garpConfig: { count: 4, verifyBeforeSend: false },
        addressConfig: { localInterface: { validLifetime: 120, preferredLifetime: 60 } },
      },
    });
    expect(problems).toEqual([]);
    expect(config.extInterface).toBe("purelb0");
    expect(config.interfaces).toEqual(["eth1", "bond0"]);
    // what garpConfig leaves out takes upstream's defaults, not ours
    expect(config.garp).toEqual({
      enabled: true,
      count: 4,
      intervalMs: 500,
      initialDelayMs: 100,
      verifyBeforeSend: false,
      refreshMs: 60_000,
    });
    expect([config.validLft, config.preferredLft]).toEqual([120, 60]);
  });

  it("the deprecated names still configure the agent, with our defaults", () => {
    const { config } = parseAgentConfig({
      local: { extInterface: "kube-lb1", garp: { count: 2 }, addressLifetime: { valid: "10m" } },
    });
    expect(config.extInterface).toBe("kube-lb1");
    expect(config.garp).toMatchObject({ count: 2, intervalMs: 1000, initialDelayMs: 0 });
    expect([config.validLft, config.preferredLft]).toEqual([600, 600]);
  });

  it("validLifetime 0 makes local addresses permanent; too short is raised to 60", () => {
    const permanent = parseAgentConfig({
      local: { addressConfig: { localInterface: { validLifetime: 0 } } },
    });
    expect([permanent.config.validLft, permanent.config.preferredLft]).toEqual([0, 0]);
    const short = parseAgentConfig({
      local: { addressConfig: { localInterface: { validLifetime: 20 } } },
    });
    expect(short.config.validLft).toBe(60);
    expect(short.problems).toEqual([
      "spec.local.addressConfig.localInterface.validLifetime 20 is too short to renew safely; using 60",
    ]);
  });
});

describe("which LBNodeAgent a node follows", () => {
  const a = (name: string, spec: LBNodeAgentSpec = {}, namespace = "purelb-system") =>
    ({ namespace, name, spec }) as NamedAgentSpec;
  const labels = { "example.com/dual-homed": "true", zone: "a" };

  it("a matching selector beats a catch-all, whatever the names", () => {
    const choice = chooseAgentConfig(
      [
        a("aaa-default"),
        a("dual-homed", { nodeSelector: { matchLabels: { "example.com/dual-homed": "true" } } }),
      ],
      labels,
    );
    expect(choice.chosen?.name).toBe("dual-homed");
    expect(choice.ignored.map(i => i.name)).toEqual(["aaa-default"]);
  });

  it("an empty selector is a catch-all; ties go to the first by namespace/name", () => {
    const choice = chooseAgentConfig([a("b", { nodeSelector: {} }), a("a")], labels);
    expect(choice.chosen?.name).toBe("a");
    expect(choice.ignored.map(i => i.name)).toEqual(["b"]);
  });

  it("a selector that does not match, or cannot, leaves the node to the catch-all", () => {
    const choice = chooseAgentConfig(
      [
        a("default"),
        a("zone-b", { nodeSelector: { matchLabels: { zone: "b" } } }),
        a("broken", { nodeSelector: { matchExpressions: [{ key: "zone", operator: "In" }] } }),
      ],
      labels,
    );
    expect(choice.chosen?.name).toBe("default");
    expect(choice.ignored).toEqual([]);
    expect(choice.invalid.map(i => i.agent.name)).toEqual(["broken"]);
    expect(choice.invalid[0].reason).toContain("In needs at least one value");
  });

  it("no configuration at all: none chosen, the agent's defaults apply", () => {
    expect(chooseAgentConfig([], labels)).toEqual({ chosen: undefined, ignored: [], invalid: [] });
  });
});
