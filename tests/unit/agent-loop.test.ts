// The node agent's loop over an in-memory kernel and a clock the test moves: when it reacts.
import { describe, expect, it } from "vitest";
import { AgentApi, Announce, Kernel, NodeAgent } from "../../lib/agent/agent";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { ServiceModel } from "../../lib/k8s/service";
import { AddressSpec, KernelAddress, KernelLink } from "../../lib/netlink/messages";
import { kernelAddress } from "./fixtures/kernel-address";

class MemoryKernel implements Kernel {
  readonly addrs: KernelAddress[] = [kernelAddress(2, "192.0.2.11", 24)];
  async links(): Promise<KernelLink[]> {
    return [
      { index: 2, name: "eth0", up: true, loopback: false, mac: Buffer.alloc(6, 1) },
      { index: 3, name: "kube-lb0", up: true, loopback: false, mac: Buffer.alloc(0) },
    ];
  }
  async addresses(): Promise<KernelAddress[]> {
    return this.addrs.map(a => ({ ...a }));
  }
  async addAddress(s: AddressSpec): Promise<void> {
    const i = this.addrs.findIndex(a => a.address === s.address);
    if (i >= 0) this.addrs.splice(i, 1);
    this.addrs.push(
      kernelAddress(s.ifindex, s.address, s.prefix, {
        validLft: s.validLft || undefined,
        preferredLft: s.preferredLft || undefined,
        proto: 0x50,
      }),
    );
  }
  async deleteAddress(_i: number, address: string): Promise<void> {
    const i = this.addrs.findIndex(a => a.address === address);
    if (i >= 0) this.addrs.splice(i, 1);
  }
  async createLink(): Promise<void> {}
  async setLinkUp(): Promise<void> {}
  has(address: string): boolean {
    return this.addrs.some(a => a.address === address);
  }
}

const quietAnnouncer: Announce = { announce: async () => {} };
const quietApi: AgentApi = { annotate: async () => {}, event: () => {} };
const SUBNETS = parseSubnets("192.0.2.0/24");
const member = (node: string, expires: number): Member => ({ node, subnets: SUBNETS, expires });

/** An address that n3 wins among all three nodes and n1 wins once n3 is gone. */
function contested(now: number): string {
  for (let i = 1; i < 255; i++) {
    const ip = `192.0.2.${i}`;
    const all = ["n1", "n2", "n3"].map(n => member(n, now + 1e6));
    if (electWinner(ip, all, now) === "n3" && electWinner(ip, all.slice(0, 2), now) === "n1")
      return ip;
  }
  throw new Error("no contested address");
}

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

describe("node agent loop", () => {
  it("takes over from a node whose Lease lapsed even when a renewal of another lands first", async () => {
    let clock = 1_000_000;
    const kernel = new MemoryKernel();
    const agent = new NodeAgent({
      node: "n1",
      kernel,
      announcer: quietAnnouncer,
      api: quietApi,
      now: () => clock,
    });
    agent.upsertGroup("local", {
      local: { v4pools: [{ pool: "192.0.2.128/25", subnet: "192.0.2.0/24" }] },
    });
    const ip = contested(clock);
    agent.upsertMember("ns/purelb-node-n1", member("n1", clock + 5_000));
    agent.upsertMember("ns/purelb-node-n2", member("n2", clock + 5_000));
    agent.upsertMember("ns/purelb-node-n3", member("n3", clock + 3_000));
    agent.upsertService(service(ip));
    agent.markSynced();
    await agent.idle();
    expect(kernel.has(ip)).toBe(false);

    // n3's Lease lapses; before the agent's expiry timer fires, n1's renewal arrives. The
    // renewal changes no election by itself, but n3's lapse does.
    clock += 3_001;
    agent.upsertMember("ns/purelb-node-n1", member("n1", clock + 5_000));
    await new Promise(r => setImmediate(r));
    await agent.idle();
    expect(kernel.has(ip)).toBe(true);
    await agent.withdrawAll();
  });
});
