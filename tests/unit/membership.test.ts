// Who takes part in elections, told as the faults an operator meets: each story is three
// nodes (or one) judging each other from their Leases and heartbeats, and what they decide.
import { describe, expect, it } from "vitest";
import { Member, electWinner } from "../../lib/election/election";
import { parseSubnets } from "../../lib/election/lease";
import { Membership, membership } from "../../lib/election/membership";

const SUBNETS = parseSubnets("192.0.2.0/24");
const TIMEOUT = 5_000;
const T0 = 1_000_000;

/** A cluster as each node sees it: Lease expiries, who hears whom, and a clock. */
class Cluster {
  now = T0;
  readonly leaseExpires = new Map<string, number>();
  /** heard.get(a).get(b): when a last heard b. */
  readonly heard = new Map<string, Map<string, number>>();
  /** What each node's Lease says it hears (written at its renewals). */
  readonly hears = new Map<string, string[]>();
  heartbeats = true;
  started = T0 - 60_000;

  constructor(readonly nodes: string[]) {
    for (const n of nodes) {
      this.heard.set(n, new Map());
      this.renew(n);
    }
    this.tick();
  }

  renew(node: string): void {
    this.leaseExpires.set(node, this.now + TIMEOUT);
  }

  /** Every node that can reach `a` on the LAN hears it now; `cut` nodes neither send nor hear. */
  tick(cut: string[] = [], groups?: string[][]): void {
    for (const a of this.nodes)
      for (const b of this.nodes) {
        if (a === b || cut.includes(a) || cut.includes(b)) continue;
        if (groups && !groups.some(g => g.includes(a) && g.includes(b))) continue;
        this.heard.get(a)!.set(b, this.now);
      }
  }

  /** Time passes: heartbeats as `tick` says every second; Leases renewed for `renewing`. */
  run(ms: number, o: { renewing?: string[]; cut?: string[]; groups?: string[][] } = {}): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + 1_000);
      this.tick(o.cut, o.groups);
      for (const n of o.renewing ?? this.nodes) {
        this.renew(n);
        this.hears.set(n, this.hearing(n));
      }
    }
  }

  hearing(n: string): string[] {
    return [...this.heard.get(n)!].filter(([, t]) => this.now - t < TIMEOUT).map(([b]) => b);
  }

  /** What `self` sees: Leases as its watch last delivered them (frozen if `apiFrozenAt`). */
  view(self: string): Membership {
    const members: Member[] = this.nodes.map(node => ({
      node,
      subnets: SUBNETS,
      expires: this.leaseExpires.get(node)!,
      ...(this.heartbeats ? { addresses: ["192.0.2.1"], hears: this.hears.get(node) } : {}),
    }));
    return membership({
      self,
      members,
      now: this.now,
      peers: this.heartbeats
        ? { heard: this.heard.get(self)!, timeoutMs: TIMEOUT, since: this.started }
        : undefined,
    });
  }

  /** Who holds each of 50 addresses: every node (of `among`) that wins it in its own view. */
  holders(among = this.nodes): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (let i = 1; i <= 50; i++) {
      const ip = `192.0.2.${i}`;
      const hs: string[] = [];
      for (const n of among) if (electWinner(ip, this.view(n).members, this.now) === n) hs.push(n);
      out.set(ip, hs);
    }
    return out;
  }
}

const everyAddressHasOneHolder = (c: Cluster, among = c.nodes) =>
  [...c.holders(among).values()].every(hs => hs.length === 1);

describe("membership: Leases and heartbeats together", () => {
  it("all is well: every node takes part on both signals", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(3_000);
    for (const n of c.nodes) {
      const v = c.view(n);
      expect(v.serving).toBe(true);
      expect(v.nodes.map(s => s.signal)).toEqual(["both", "both", "both"]);
    }
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("the API server stops for everyone: every Lease goes stale, nothing moves; when it is back, nothing moves", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    const before = c.holders();
    c.run(60_000, { renewing: [] });
    for (const n of c.nodes) {
      const v = c.view(n);
      expect(v.apiLive).toBe(false);
      expect(v.serving).toBe(true);
      expect(v.nodes.every(s => s.leaseLive === false && s.live)).toBe(true);
      expect(v.nodes.filter(s => s.node !== n).map(s => s.signal)).toEqual([
        "heartbeat-only",
        "heartbeat-only",
      ]);
    }
    expect(c.holders()).toEqual(before);
    c.run(2_000);
    expect(c.holders()).toEqual(before);
  });

  it("one node loses the API only: its Lease lapses, the others still hear it, it keeps its addresses and nobody takes them", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    const before = c.holders();
    c.run(20_000, { renewing: ["n1", "n2"] });
    const n3 = c.view("n3");
    expect(n3.apiLive).toBe(false);
    expect(n3.serving).toBe(true);
    expect(c.view("n1").nodes.find(s => s.node === "n3")).toMatchObject({
      leaseLive: false,
      heard: true,
      signal: "heartbeat-only",
      live: true,
    });
    expect(c.holders()).toEqual(before);
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("one node is cut off the LAN while its Lease is renewed: the others take its addresses, it withdraws", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    const held = [...c.holders()].filter(([, hs]) => hs[0] === "n3").map(([ip]) => ip);
    expect(held.length).toBeGreaterThan(0);
    c.run(TIMEOUT, { cut: ["n3"] });
    const n3 = c.view("n3");
    expect(n3.apiLive).toBe(true);
    expect(n3.serving).toBe(false);
    expect(n3.nodes[0]).toMatchObject({ node: "n3", signal: "unheard", live: false });
    expect(c.view("n1").nodes.find(s => s.node === "n3")?.signal).toBe("unheard");
    for (const ip of held) expect(c.holders().get(ip)).not.toContain("n3");
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("a node that dies: out when its heartbeats stop, within the Lease duration, as before", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    c.run(TIMEOUT - 1_000, { cut: ["n3"], renewing: ["n1", "n2"] });
    expect(c.view("n1").nodes.find(s => s.node === "n3")?.live).toBe(true);
    c.run(1_000, { cut: ["n3"], renewing: ["n1", "n2"] });
    expect(c.view("n1").nodes.find(s => s.node === "n3")).toMatchObject({ live: false });
    expect(c.view("n1").serving).toBe(true);
    expect(everyAddressHasOneHolder(c, ["n1", "n2"])).toBe(true);
  });

  it("a node dies while the API server is down: its addresses move once its heartbeats stop", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    const held = [...c.holders()].filter(([, hs]) => hs[0] === "n3").map(([ip]) => ip);
    c.run(20_000, { renewing: [] });
    c.run(TIMEOUT, { renewing: [], cut: ["n3"] });
    for (const n of ["n1", "n2"]) expect(c.view(n)).toMatchObject({ serving: true, possible: 2 });
    for (const ip of held) expect(c.holders(["n1", "n2"]).get(ip)).toHaveLength(1);
  });

  it("a single-node cluster keeps serving through an API outage", () => {
    const c = new Cluster(["n1"]);
    c.run(60_000, { renewing: [] });
    expect(c.view("n1")).toMatchObject({ apiLive: false, serving: true });
    expect(c.view("n1").members.map(m => m.node)).toEqual(["n1"]);
  });

  it("the last node standing after two died keeps serving", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    c.run(10_000, { cut: ["n2", "n3"], renewing: ["n1"] });
    expect(c.view("n1")).toMatchObject({ serving: true, reachable: 1, possible: 1 });
  });

  it("a split between two groups with the API up: the larger group serves everything, the smaller withdraws", () => {
    const c = new Cluster(["n1", "n2", "n3", "n4", "n5"]);
    c.run(2_000);
    c.run(TIMEOUT + 1_000, {
      groups: [
        ["n1", "n2"],
        ["n3", "n4", "n5"],
      ],
    });
    expect(c.view("n1").serving).toBe(false);
    expect(c.view("n2").serving).toBe(false);
    for (const n of ["n3", "n4", "n5"]) expect(c.view(n).serving).toBe(true);
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("an even split goes to the side of the lowest node name", () => {
    const c = new Cluster(["n1", "n2", "n3", "n4"]);
    c.run(2_000);
    c.run(TIMEOUT + 1_000, {
      groups: [
        ["n1", "n4"],
        ["n2", "n3"],
      ],
    });
    expect(["n1", "n2", "n3", "n4"].map(n => c.view(n).serving)).toEqual([
      true,
      false,
      false,
      true,
    ]);
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("heartbeats blocked everywhere (a firewall, mismatched keys): nobody hears anybody, so Leases alone decide", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.run(2_000);
    c.run(TIMEOUT + 2_000, { groups: [["n1"], ["n2"], ["n3"]] });
    for (const n of c.nodes) {
      const v = c.view(n);
      expect(v.serving).toBe(true);
      expect(v.nodes.every(s => s.signal === "lease-only")).toBe(true);
    }
    expect(everyAddressHasOneHolder(c)).toBe(true);
  });

  it("right after start, nodes not heard yet count by their Lease: a restart withdraws nothing", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.heard.get("n1")!.clear();
    c.started = c.now;
    const v = c.view("n1");
    expect(v.serving).toBe(true);
    expect(v.members.map(m => m.node)).toEqual(["n1", "n2", "n3"]);
    expect(v.nextChange).toBeLessThanOrEqual(c.now + TIMEOUT);
  });

  it("without heartbeats here, Leases alone decide, as before", () => {
    const c = new Cluster(["n1", "n2", "n3"]);
    c.heartbeats = false;
    c.run(20_000, { renewing: ["n1", "n2"] });
    const v = c.view("n1");
    expect(v.members.map(m => m.node)).toEqual(["n1", "n2"]);
    c.run(6_000, { renewing: [] });
    expect(c.view("n1")).toMatchObject({ serving: false, members: [] });
  });

  it("tells when the view changes by the clock alone: the next heartbeat or Lease to lapse", () => {
    const c = new Cluster(["n1", "n2"]);
    c.run(1_000);
    const v = c.view("n1");
    expect(v.nextChange).toBe(c.now + TIMEOUT);
  });
});
