// The node agent follows the LBNodeAgent its Node's labels select (upstream's precedence) and
// tells, once per change, which ones it ignores and why, as Events on those LBNodeAgents.
import { describe, expect, it } from "vitest";
import { AgentApi, Kernel, NodeAgent } from "../../lib/agent/agent";

const kernel: Kernel = {
  links: async () => [],
  addresses: async () => [],
  addAddress: async () => {},
  deleteAddress: async () => {},
  createLink: async () => {},
  setLinkUp: async () => {},
};

describe("LBNodeAgent selection on a node", () => {
  it("a matching nodeSelector wins; the catch-all it beats gets one ConfigIgnored Event", async () => {
    const events: string[] = [];
    const api: AgentApi = {
      annotate: async () => {},
      event: () => {},
      configEvent: (name, uid, reason, message) =>
        events.push(`${name} ${uid} ${reason}: ${message}`),
    };
    const agent = new NodeAgent({
      node: "n1",
      kernel,
      announcer: { announce: async () => {} },
      api,
    });
    agent.upsertAgentConfig("a-default", { local: { garpConfig: { count: 2 } } }, "uid-a");
    expect(agent.config.garp.count).toBe(2);
    agent.upsertAgentConfig(
      "b-dual-homed",
      { nodeSelector: { matchLabels: { zone: "a" } }, local: { garpConfig: { count: 7 } } },
      "uid-b",
    );
    expect(agent.config.garp.count).toBe(2);
    agent.setNodeLabels({ zone: "a" });
    expect(agent.config.garp.count).toBe(7);
    agent.setNodeLabels({ zone: "a" });
    expect(events).toEqual([
      "a-default uid-a ConfigIgnored: node n1 also matches this LBNodeAgent but follows b-dual-homed: a non-empty nodeSelector wins over a catch-all, then the first by name",
    ]);
    agent.setNodeLabels({ zone: "b" });
    expect(agent.config.garp.count).toBe(2);
    await agent.withdrawAll();
  });

  it("an invalid selector is reported once and the node keeps the catch-all", async () => {
    const events: string[] = [];
    const api: AgentApi = {
      annotate: async () => {},
      event: () => {},
      configEvent: (name, _uid, reason, message) => events.push(`${name} ${reason}: ${message}`),
    };
    const agent = new NodeAgent({
      node: "n1",
      kernel,
      announcer: { announce: async () => {} },
      api,
    });
    agent.upsertAgentConfig("default", { local: { dummyInterface: "purelb0" } });
    agent.upsertAgentConfig("broken", {
      nodeSelector: { matchExpressions: [{ key: "zone", operator: "In" }] },
    });
    agent.setNodeLabels({ zone: "a" });
    expect(agent.config.extInterface).toBe("purelb0");
    expect(events).toEqual([
      "broken InvalidSelector: node n1 cannot use this LBNodeAgent: spec.nodeSelector.matchExpressions[0].values: In needs at least one value; list the label values to match",
    ]);
    await agent.withdrawAll();
  });
});
