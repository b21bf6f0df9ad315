// The agent's loop with heartbeats as a second signal, over an in-memory kernel and a clock the
// test moves: what the kernel holds and which Events the node gets when the API goes away.
import { describe, expect, it } from "vitest";
import { AgentApi, Announce, NodeAgent } from "../../lib/agent/agent";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { ServiceModel } from "../../lib/k8s/service";
import { MemoryKernel } from "./fixtures/memory-kernel";

const SUBNETS = parseSubnets("192.0.2.0/24");
const NODES = ["n1", "n2", "n3"];
const quiet: Announce = { announce: async () => {} };

function service(ip: string): ServiceModel {
  return {
    namespace: "app",
    name: "web",
    uid: "uid-web",
    resourceVersion: "1",
    creationTimestamp: "",
    type: "LoadBalancer",
    annotations: { "purelb.io/pool-type": "local", "purelb.io/allocated-from": "local" },
    ipFamilies: [],
    ports: [],
    ingress: [ip],
  };
}

/** An address n1 wins among all three nodes. */
function wonByN1(): string {
  const all = NODES.map(node => ({ node, subnets: SUBNETS, expires: Infinity }));
  for (let i = 128; i < 255; i++)
    if (electWinner(`192.0.2.${i}`, all, 0) === "n1") return `192.0.2.${i}`;
  throw new Error("no address for n1");
}

async function lab(heartbeats: boolean) {
  let clock = 1_000_000;
  const kernel = new MemoryKernel();
  const events: { reason: string; message: string }[] = [];
  const api: AgentApi = {
    annotate: async () => {},
    event: () => {},
    nodeEvent: (_t, reason, message) => events.push({ reason, message }),
  };
  const heard = new Map<string, number>();
  const agent = new NodeAgent({
    node: "n1",
    kernel,
    announcer: quiet,
    api,
    now: () => clock,
    peers: heartbeats ? () => ({ heard, timeoutMs: 5_000, since: 0 }) : undefined,
  });
  agent.upsertGroup("local", {
    local: { v4pools: [{ pool: "192.0.2.128/25", subnet: "192.0.2.0/24" }] },
  });
  const member = (node: string, expires: number): Member => ({
    node,
    subnets: SUBNETS,
    expires,
    addresses: [`192.0.2.${10 + Number(node.slice(1))}`],
    hears: NODES.filter(n => n !== node),
  });
  const renew = () =>
    NODES.forEach(n => agent.upsertMember(`ns/purelb-node-${n}`, member(n, clock + 5_000)));
  const hear = (nodes: string[]) => nodes.forEach(n => heard.set(n, clock));
  const pass = async (ms: number, each: () => void) => {
    for (let t = 0; t < ms; t += 1_000) {
      clock += 1_000;
      each();
      agent.trigger();
      await agent.idle();
    }
  };
  const ip = wonByN1();
  renew();
  hear(["n2", "n3"]);
  agent.upsertService(service(ip));
  agent.markSynced();
  await agent.idle();
  return { agent, kernel, events, ip, renew, hear, pass };
}

describe("node agent with heartbeats", () => {
  it("keeps and renews its address while every Lease is stale but the peers are heard, and says so", async () => {
    const l = await lab(true);
    expect(l.kernel.has(l.ip)).toBe(true);
    await l.pass(20_000, () => l.hear(["n2", "n3"]));
    expect(l.kernel.has(l.ip)).toBe(true);
    expect(l.agent.membership).toMatchObject({ apiLive: false, serving: true });
    expect(l.events.map(e => e.reason)).toEqual(
      expect.arrayContaining(["APILost", "PeerLeaseLapsed"]),
    );
    // The API is back: nothing moves, and the node says how long it was without it.
    l.renew();
    await l.pass(2_000, () => {
      l.hear(["n2", "n3"]);
      l.renew();
    });
    expect(l.kernel.has(l.ip)).toBe(true);
    expect(l.events.find(e => e.reason === "APIFound")?.message).toMatch(/after \d+ s/);
    await l.agent.withdrawAll();
  });

  it("withdraws when it hears nobody while the API shows the others alive", async () => {
    const l = await lab(true);
    await l.pass(6_000, () => l.renew());
    expect(l.kernel.has(l.ip)).toBe(false);
    expect(l.events.map(e => e.reason)).toContain("NotServing");
    // Heard again: it takes part and takes its address back.
    await l.pass(1_000, () => {
      l.renew();
      l.hear(["n2", "n3"]);
    });
    expect(l.kernel.has(l.ip)).toBe(true);
    expect(l.events.map(e => e.reason)).toContain("Serving");
    await l.agent.withdrawAll();
  });

  it("without heartbeats, withdraws when its own Lease lapses, as before", async () => {
    const l = await lab(false);
    expect(l.kernel.has(l.ip)).toBe(true);
    await l.pass(6_000, () => {});
    expect(l.kernel.has(l.ip)).toBe(false);
    await l.agent.withdrawAll();
  });
});
