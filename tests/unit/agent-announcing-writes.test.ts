// Two node agents on different subnets announce the two IPv4 addresses of one multiPool
// Service and write the announcing annotation through one in-memory apiserver: each writes
// its own slot once and then both leave the Service alone (with one value per family they
// overwrote each other on every new resourceVersion, forever).
import { afterEach, describe, expect, it } from "vitest";
import { AgentApi, NodeAgent } from "../../lib/agent/agent";
import { parseSubnets } from "../../lib/election/lease";
import { ServiceModel } from "../../lib/k8s/service";
import { kernelAddress } from "./fixtures/kernel-address";
import { MemoryKernel, RecordingAnnouncer } from "./fixtures/memory-kernel";
import { step } from "./validate-story";

const A = "192.0.2.150";
const B = "198.51.100.150";
const LIVE = 1e8;

/** The Service as the apiserver holds it: every write makes a new version for every watcher. */
class ServiceStore {
  writes: Record<string, string>[] = [];
  svc: ServiceModel = {
    namespace: "app",
    name: "multi",
    uid: "uid-multi",
    resourceVersion: "1",
    creationTimestamp: "",
    type: "LoadBalancer",
    annotations: { "purelb.io/pool-type": "local", "purelb.io/allocated-from": "multi" },
    ipFamilies: ["IPv4"],
    ports: [],
    ingress: [A, B],
  };
  readonly watchers: NodeAgent[] = [];
  api(): AgentApi {
    return {
      annotate: async (_s, ann) => {
        this.writes.push(ann);
        this.svc = {
          ...this.svc,
          resourceVersion: String(Number(this.svc.resourceVersion) + 1),
          annotations: { ...this.svc.annotations, ...ann },
        };
        const now = this.svc;
        setImmediate(() => this.watchers.forEach(w => w.upsertService(now)));
      },
      event: () => {},
    };
  }
}

describe("the announcing annotation with two announcers", () => {
  const agents: NodeAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map(a => a.withdrawAll()));
  });

  it("settles after one write per node", async () => {
    const store = new ServiceStore();
    const n1kernel = new MemoryKernel();
    const n2kernel = new MemoryKernel();
    // n2's eth0 is on the other subnet.
    n2kernel.addrs.splice(0, n2kernel.addrs.length, kernelAddress(2, "198.51.100.12", 24));
    for (const [node, kernel] of [
      ["n1", n1kernel],
      ["n2", n2kernel],
    ] as const) {
      const a = new NodeAgent({
        node,
        kernel,
        announcer: new RecordingAnnouncer(),
        api: store.api(),
        now: () => 1_000_000,
      });
      agents.push(a);
      store.watchers.push(a);
      a.upsertGroup("multi", {
        local: {
          multiPool: true,
          v4pools: [
            { pool: "192.0.2.128/25", subnet: "192.0.2.0/24" },
            { pool: "198.51.100.128/25", subnet: "198.51.100.0/24" },
          ],
        },
      });
      a.upsertMember("ns/purelb-node-n1", {
        node: "n1",
        subnets: parseSubnets("192.0.2.0/24"),
        expires: LIVE,
      });
      a.upsertMember("ns/purelb-node-n2", {
        node: "n2",
        subnets: parseSubnets("198.51.100.0/24"),
        expires: LIVE,
      });
      a.upsertService(store.svc);
      a.markSynced();
    }
    // Let versions travel between the agents until nothing moves (or clearly never stops).
    for (let round = 0; round < 30; round++) {
      await new Promise(r => setImmediate(r));
      await Promise.all(agents.map(a => a.idle()));
    }
    step("each node holds the address of its subnet", () => {
      expect([n1kernel.has(A), n1kernel.has(B)]).toEqual([true, false]);
      expect([n2kernel.has(A), n2kernel.has(B)]).toEqual([false, true]);
    });
    step("the annotation names both announcers, one slot per address", () => {
      expect(store.svc.annotations["purelb.io/announcing-IPv4"]).toBe(`n1,eth0,${A} n2,eth0,${B}`);
    });
    step("and it took at most one write per node (two if both wrote the same version)", () => {
      expect(store.writes.length).toBeGreaterThanOrEqual(2);
      expect(store.writes.length).toBeLessThanOrEqual(3);
    });
  });
});
