// When the node agent announces a local address, told as the stories of a node that takes
// addresses, loses them, restarts and loses its link, over an in-memory kernel.
import { afterEach, describe, expect, it } from "vitest";
import { AgentApi, NodeAgent } from "../../lib/agent/agent";
import { planAnnouncements } from "../../lib/agent/announcing";
import { DesiredAddress, HeldAddress } from "../../lib/agent/desired";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { ServiceModel } from "../../lib/k8s/service";
import { kernelAddress } from "./fixtures/kernel-address";
import { MemoryKernel, RecordingAnnouncer } from "./fixtures/memory-kernel";
import { step } from "./validate-story";

const quietApi: AgentApi = { annotate: async () => {}, event: () => {} };
const SUBNETS = parseSubnets("192.0.2.0/24,2001:db8::/64");
const LIVE = 1e8;
const member = (node: string, expires = LIVE): Member => ({ node, subnets: SUBNETS, expires });

/** The first address of `candidates` that the election gives to `want` among `nodes`. */
function wonBy(want: string, nodes: string[], candidates: string[], skip: string[] = []): string {
  const ip = candidates.find(
    c =>
      !skip.includes(c) &&
      electWinner(
        c,
        nodes.map(n => member(n)),
        0,
      ) === want,
  );
  if (!ip) throw new Error(`no address for ${want}`);
  return ip;
}
const v4 = Array.from({ length: 100 }, (_, i) => `192.0.2.${150 + i}`);
const v6 = Array.from({ length: 100 }, (_, i) => `2001:db8::1:${(i + 16).toString(16)}`);
const v6nodad = Array.from({ length: 100 }, (_, i) => `2001:db8::2:${(i + 16).toString(16)}`);

function service(name: string, ip: string, group = "local"): ServiceModel {
  return {
    namespace: "app",
    name,
    uid: `uid-${name}`,
    resourceVersion: "1",
    creationTimestamp: "",
    type: "LoadBalancer",
    annotations: { "purelb.io/pool-type": "local", "purelb.io/allocated-from": group },
    ipFamilies: [],
    ports: [],
    ingress: [ip],
  };
}

describe("announcing local addresses", () => {
  const clock = { t: 1_000_000 };
  const agents: NodeAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map(a => a.withdrawAll()));
  });

  /** An agent for n1 over `kernel`, with n1 and n2 live and the given Services. */
  function start(
    kernel: MemoryKernel,
    announcer: RecordingAnnouncer,
    services: ServiceModel[],
  ): NodeAgent {
    const a = new NodeAgent({ node: "n1", kernel, announcer, api: quietApi, now: () => clock.t });
    agents.push(a);
    a.upsertGroup("local", {
      local: {
        v4pools: [{ pool: "192.0.2.128/25", subnet: "192.0.2.0/24" }],
        v6pools: [{ pool: "2001:db8::1:0/112", subnet: "2001:db8::/64" }],
      },
    });
    a.upsertGroup("nodad", {
      local: {
        skipIPv6DAD: true,
        v6pools: [{ pool: "2001:db8::2:0/112", subnet: "2001:db8::/64" }],
      },
    });
    a.upsertMember("ns/purelb-node-n1", member("n1"));
    a.upsertMember("ns/purelb-node-n2", member("n2"));
    for (const s of services) a.upsertService(s);
    a.markSynced();
    return a;
  }
  /** What a kernel notification or an informer event does: one more reconcile. */
  const settle = async (a: NodeAgent): Promise<void> => {
    a.trigger();
    await new Promise(r => setImmediate(r));
    await a.idle();
  };

  it("an IPv4 address is announced whenever this node becomes its announcer, held or not", async () => {
    const kernel = new MemoryKernel();
    const announcer = new RecordingAnnouncer();
    const mine = wonBy("n1", ["n1", "n2"], v4);
    const theirs = wonBy("n2", ["n1", "n2"], v4);
    let a = start(kernel, announcer, [service("mine", mine), service("theirs", theirs)]);
    await settle(a);

    step("n1 wins an address and adds it: announced once", () => {
      expect(kernel.has(mine)).toBe(true);
      expect(kernel.has(theirs)).toBe(false);
      expect(announcer.take()).toEqual([mine]);
    });

    kernel.addrs.find(x => x.address === mine)!.validLft = 100;
    await settle(a);
    step("renewing it and reconciling again announce nothing", () => {
      expect(kernel.addrs.find(x => x.address === mine)!.validLft).toBe(300);
      expect(announcer.take()).toEqual([]);
    });

    kernel.linkDown();
    await settle(a);
    step("its link goes down: nothing is sent, the kernel keeps the IPv4 copy", () => {
      expect(kernel.has(mine)).toBe(true);
      expect(announcer.take()).toEqual([]);
    });
    kernel.linkUp();
    await settle(a);
    step("the link comes back: announced again, though the kernel held it all along", () => {
      expect(announcer.take()).toEqual([mine]);
    });

    // A killed agent leaves its addresses in the kernel: stop this one, put the address back.
    await a.withdrawAll();
    agents.splice(agents.indexOf(a), 1);
    await kernel.addAddress({
      ifindex: 2,
      address: mine,
      prefix: 24,
      validLft: 300,
      preferredLft: 300,
      nodad: false,
    });
    a = start(kernel, announcer, [service("mine", mine), service("theirs", theirs)]);
    await settle(a);
    step(
      "the agent restarts over a kernel that kept the address: the new agent announces it",
      () => {
        expect(announcer.take()).toEqual([mine]);
      },
    );

    clock.t += 1_000;
    a.upsertMember("ns/purelb-node-n2", member("n2", clock.t - 1));
    await settle(a);
    step("n2's Lease lapses: n1 takes over its address and announces it", () => {
      expect(kernel.has(theirs)).toBe(true);
      expect(announcer.take()).toEqual([theirs]);
    });
    a.upsertMember("ns/purelb-node-n2", member("n2"));
    await settle(a);
    step("n2 is back: n1 withdraws that address and announces nothing", () => {
      expect(kernel.has(theirs)).toBe(false);
      expect(announcer.take()).toEqual([]);
    });
    clock.t += 1_000;
    a.upsertMember("ns/purelb-node-n2", member("n2", clock.t - 1));
    await settle(a);
    step("n2 lapses again: n1 announces the address again", () => {
      expect(announcer.take()).toEqual([theirs]);
    });
  });

  it("an IPv6 address with DAD is announced once DAD is over, never while it fails", async () => {
    const kernel = new MemoryKernel();
    const announcer = new RecordingAnnouncer();
    const ip = wonBy("n1", ["n1", "n2"], v6);
    const a = start(kernel, announcer, [service("six", ip)]);
    await settle(a);
    step("n1 adds the address: no NA while the copy is tentative", () => {
      expect(kernel.addrs.find(x => x.address === ip)?.tentative).toBe(true);
      expect(announcer.take()).toEqual([]);
    });
    kernel.dadDone(ip);
    await settle(a);
    step("DAD ends (the kernel says so): one NA", () => {
      expect(announcer.take()).toEqual([ip]);
    });
    await settle(a);
    step("and no more while nothing changes", () => expect(announcer.take()).toEqual([]));

    const taken = wonBy("n1", ["n1", "n2"], v6, [ip]);
    a.upsertService(service("dup", taken));
    await settle(a);
    for (let i = 0; i < 3; i++) {
      kernel.dadFail(taken);
      await settle(a);
      clock.t += 2_100;
      await settle(a);
      step(`another host holds ${taken}: copy ${i + 1} fails DAD and is never announced`, () => {
        expect(kernel.addrs.find(x => x.address === taken)?.tentative).toBe(true);
        expect(announcer.take()).toEqual([]);
      });
    }
    kernel.dadDone(taken);
    await settle(a);
    step("the other host lets go: the next copy passes DAD and is announced", () => {
      expect(announcer.take()).toEqual([taken]);
    });

    kernel.linkDown();
    await settle(a);
    clock.t += 2_100;
    await settle(a);
    step("the link goes down: the kernel flushes the copies, nothing is announced", () => {
      expect(announcer.take()).toEqual([]);
    });
    kernel.linkUp();
    await settle(a);
    step("the link is up: the new copies are in DAD, still nothing", () => {
      expect(kernel.addrs.find(x => x.address === ip)?.tentative).toBe(true);
      expect(announcer.take()).toEqual([]);
    });
    kernel.dadDone(ip);
    kernel.dadDone(taken);
    await settle(a);
    step("DAD ends: both are announced", () => {
      expect(announcer.take().sort()).toEqual([ip, taken].sort());
    });
  });

  it("an IPv6 address without DAD is announced at once", async () => {
    const kernel = new MemoryKernel();
    const announcer = new RecordingAnnouncer();
    const ip = wonBy("n1", ["n1", "n2"], v6nodad);
    const a = start(kernel, announcer, [service("nodad", ip, "nodad")]);
    await settle(a);
    expect(kernel.addrs.find(x => x.address === ip)?.nodad).toBe(true);
    expect(announcer.take()).toEqual([ip]);
  });
});

describe("planAnnouncements", () => {
  const d = (address: string, o: Partial<DesiredAddress> = {}): DesiredAddress => ({
    address,
    family: address.includes(":") ? 6 : 4,
    prefix: 24,
    ifname: "eth0",
    kind: "local",
    validLft: 300,
    preferredLft: 300,
    nodad: false,
    services: ["a/b"],
    ...o,
  });
  const h = (address: string, o: Partial<HeldAddress> = {}): HeldAddress => ({
    ...kernelAddress(2, address, 24, { validLft: 290, proto: 0x50 }),
    ifname: "eth0",
    ...o,
  });
  const plan = (
    placed: DesiredAddress[],
    held: HeldAddress[],
    o: { fresh?: string[]; announced?: string[]; down?: string[] } = {},
  ) => {
    const p = planAnnouncements({
      placed,
      held: new Map(held.map(x => [x.address, x])),
      fresh: new Set(o.fresh ?? []),
      linkUp: i => !(o.down ?? []).includes(i),
      announced: new Set(o.announced ?? []),
    });
    return {
      now: p.now.map(x => x.address),
      tentative: p.tentative.map(x => x.address),
      announced: [...p.announced].sort(),
    };
  };

  it("announces what was not announced since it was gained, once", () => {
    expect(plan([d("192.0.2.1")], [h("192.0.2.1")])).toEqual({
      now: ["192.0.2.1"],
      tentative: [],
      announced: ["192.0.2.1"],
    });
    expect(plan([d("192.0.2.1")], [h("192.0.2.1")], { announced: ["192.0.2.1"] }).now).toEqual([]);
    expect(
      plan([d("192.0.2.1")], [], { fresh: ["192.0.2.1"], announced: ["192.0.2.1"] }).now,
    ).toEqual(["192.0.2.1"]);
  });

  it("forgets what this node no longer places or cannot send on", () => {
    expect(plan([], [h("192.0.2.1")], { announced: ["192.0.2.1"] }).announced).toEqual([]);
    expect(
      plan([d("192.0.2.1")], [h("192.0.2.1")], { announced: ["192.0.2.1"], down: ["eth0"] }),
    ).toEqual({ now: [], tentative: [], announced: [] });
  });

  it("waits for DAD and skips copies that failed it", () => {
    const six = "2001:db8::1";
    expect(plan([d(six)], [], { fresh: [six] }).tentative).toEqual([six]);
    expect(plan([d(six, { nodad: true })], [], { fresh: [six] }).now).toEqual([six]);
    expect(plan([d(six)], [h(six, { tentative: true })]).tentative).toEqual([six]);
    expect(plan([d(six)], [h(six, { dadfailed: true })], { announced: [six] })).toEqual({
      now: [],
      tentative: [],
      announced: [],
    });
    expect(plan([d(six)], [h(six)]).now).toEqual([six]);
  });
});
