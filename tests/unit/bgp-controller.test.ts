// The BGP controller against an in-memory gobgpd: what it asks of gobgpd, and when.
import { afterEach, describe, expect, it } from "vitest";
import { kernelAddress } from "./fixtures/kernel-address";
import { BgpController, BgpKernel } from "../../lib/bgp/controller";
import { AnyMessage, ApiGlobal, ApiPath, ApiPeer, GobgpApi } from "../../lib/bgp/gobgp";
import { NodeStatus } from "../../lib/bgp/status";
import { BGPConfiguration, BGPConfigurationSpec } from "../../lib/k8s/bgp";
import { registry } from "../../lib/metrics/registry";
import { KernelAddress, KernelLink } from "../../lib/netlink/messages";

const UNAVAILABLE = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:50051"), {
  code: 14,
  details: "No connection established",
});

/** gobgpd's behaviour as far as the controller can tell: global state, peers, local paths. */
class FakeGobgp implements GobgpApi {
  down = false;
  global: ApiGlobal = { asn: 0, router_id: "", listen_port: 0 };
  readonly peers = new Map<string, ApiPeer>();
  readonly paths = new Map<string, ApiPath>();
  readonly calls: string[] = [];
  private watchers: { onPeer: (p: ApiPeer) => void; onEnd: (err?: Error) => void }[] = [];

  private async op<T>(name: string, fn: () => T): Promise<T> {
    this.calls.push(name);
    await Promise.resolve();
    if (this.down) throw UNAVAILABLE;
    return fn();
  }

  /** gobgpd dies: open streams end, and a new one starts empty. */
  crash(): void {
    this.down = true;
    this.global = { asn: 0, router_id: "", listen_port: 0 };
    this.peers.clear();
    this.paths.clear();
    for (const w of this.watchers.splice(0)) w.onEnd(UNAVAILABLE);
  }

  setState(address: string, state: string): void {
    const p = this.peers.get(address)!;
    p.state = { ...p.state, session_state: state };
    for (const w of this.watchers)
      w.onPeer({
        conf: { neighbor_address: address },
        state: { neighbor_address: address, session_state: state },
      });
  }

  getBgp = () => this.op("GetBgp", () => ({ ...this.global }));
  failStart = "";
  startBgp = (g: ApiGlobal) =>
    this.op("StartBgp", () => {
      if (this.failStart) throw new Error(this.failStart);
      if (this.global.asn) throw new Error("gobgp is already started");
      this.global = { ...g };
    });
  stopBgp = () =>
    this.op("StopBgp", () => {
      this.global = { asn: 0, router_id: "", listen_port: 0 };
      this.peers.clear();
      this.paths.clear();
    });
  addPeer = (p: ApiPeer) =>
    this.op("AddPeer", () => {
      const a = p.conf!.neighbor_address!;
      if (this.peers.has(a)) throw new Error(`can't overwrite the existing peer: ${a}`);
      this.peers.set(a, {
        ...structuredClone(p),
        state: { neighbor_address: a, session_state: "ACTIVE" },
      });
    });
  updatePeer = (p: ApiPeer) =>
    this.op("UpdatePeer", () => {
      const a = p.conf!.neighbor_address!;
      this.peers.set(a, { ...structuredClone(p), state: this.peers.get(a)!.state });
    });
  deletePeer = (a: string) => this.op("DeletePeer", () => void this.peers.delete(a));
  listPeers = () =>
    this.op("ListPeer", () => [...this.peers.values()].map(p => structuredClone(p)));
  addPath = (p: ApiPath) =>
    this.op("AddPath", () => {
      if (!this.global.asn) throw new Error("bgp server hasn't started yet");
      if (this.refuse.has(key(p))) throw new Error(`invalid path ${key(p)}`);
      this.paths.set(key(p), structuredClone(p));
    });
  deletePath = (p: ApiPath) => this.op("DeletePath", () => void this.paths.delete(key(p)));
  /** Like gobgpd: applies in order and stops at the first path it refuses. */
  streamPaths = (ps: ApiPath[]) =>
    this.op("AddPathStream", () => {
      for (const p of ps) {
        if (p.is_withdraw) this.paths.delete(key(p));
        else if (!this.global.asn) throw new Error("bgp server hasn't started yet");
        else if (this.refuse.has(key(p))) throw new Error(`invalid path ${key(p)}`);
        else this.paths.set(key(p), structuredClone(p));
      }
    });
  readonly refuse = new Set<string>();
  deleteAllPaths = (f: 4 | 6) =>
    this.op("DeletePath", () =>
      [...this.paths.keys()]
        .filter(k => k.includes(":") === (f === 6))
        .forEach(k => this.paths.delete(k)),
    );
  listLocalPaths = (f: 4 | 6) =>
    this.op("ListPath", () =>
      [...this.paths.entries()]
        .filter(([k]) => k.includes(":") === (f === 6))
        .map(([, p]) => structuredClone(p)),
    );
  watchPeers(onPeer: (p: ApiPeer) => void, onEnd: (err?: Error) => void): () => void {
    const w = { onPeer, onEnd };
    this.watchers.push(w);
    return () => (this.watchers = this.watchers.filter(x => x !== w));
  }
  close(): void {}
}

const key = (p: ApiPath): string =>
  `${(p.nlri as AnyMessage).prefix}/${(p.nlri as AnyMessage).prefix_len}`;

class FakeKernel implements BgpKernel {
  reads = 0;
  readonly addrs: KernelAddress[] = [
    kernelAddress(2, "192.0.2.11", 24),
    kernelAddress(2, "2001:db8::11", 64),
  ];
  add(address: string, prefix: number): void {
    this.addrs.push(kernelAddress(3, address, prefix));
  }
  remove(address: string): void {
    this.addrs.splice(
      this.addrs.findIndex(a => a.address === address),
      1,
    );
  }
  async links(): Promise<KernelLink[]> {
    return [
      { index: 1, name: "lo", up: true, loopback: true, mac: Buffer.alloc(0) },
      { index: 2, name: "eth0", up: true, loopback: false, mac: Buffer.alloc(6) },
      { index: 3, name: "kube-lb0", up: true, loopback: false, mac: Buffer.alloc(6) },
    ];
  }
  async addresses(): Promise<KernelAddress[]> {
    this.reads++;
    return this.addrs.map(a => ({ ...a }));
  }
}

const conf = (spec: BGPConfigurationSpec): BGPConfiguration => ({
  metadata: { name: "default", namespace: "purelb-system" },
  spec,
});
const BASE: BGPConfigurationSpec = {
  global: { asn: 64513, routerID: "${NODE_IP}" },
  neighbors: [{ address: "192.0.2.1", peerASN: 64512 }],
};

async function until(what: string, fn: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 5));
  }
}

const running: BgpController[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map(c => c.stop(100)));
});

function setup(
  opts: { gobgp?: FakeGobgp; heartbeatMs?: number; secrets?: Record<string, string> } = {},
) {
  const gobgp = opts.gobgp ?? new FakeGobgp();
  const kernel = new FakeKernel();
  const statuses: NodeStatus[] = [];
  const events: string[] = [];
  const ctl = new BgpController({
    node: "n1",
    address: "127.0.0.1:50051",
    gobgp,
    kernel,
    heartbeatMs: opts.heartbeatMs ?? 60_000,
    retryMinMs: 10,
    retryMaxMs: 40,
    writeStatus: async s => void statuses.push(structuredClone(s)),
    readSecret: async r => {
      const v = opts.secrets?.[`${r.name}/${r.key}`];
      if (v === undefined)
        throw Object.assign(new Error(`Secret purelb-system/${r.name} not found`), {
          missing: true,
        });
      return v;
    },
    event: (type, reason, message) => events.push(`${type} ${reason}: ${message}`),
  });
  running.push(ctl);
  return { gobgp, kernel, ctl, statuses, events, last: () => statuses[statuses.length - 1] };
}

describe("BgpController", () => {
  it("changes nothing in gobgpd before it has read the configuration and the Node", async () => {
    const gobgp = new FakeGobgp();
    gobgp.global = { asn: 64513, router_id: "192.0.2.11", listen_port: 179 };
    const { ctl } = setup({ gobgp });
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    await new Promise(r => setTimeout(r, 30));
    expect(gobgp.calls.filter(c => c !== "GetBgp")).toEqual([]);
    // Once it knows there is no configuration, it stops BGP.
    ctl.setConfig(undefined);
    await until("StopBgp", () => gobgp.calls.includes("StopBgp"));
  });

  it("starts BGP, adds the peer and advertises kube-lb0, then follows the kernel with path calls only", async () => {
    const { gobgp, kernel, ctl, last } = setup();
    kernel.add("203.0.113.10", 32);
    kernel.add("2001:db8:ff::10", 128);
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("paths", () => gobgp.paths.size === 2);
    expect(gobgp.global).toEqual({ asn: 64513, router_id: "192.0.2.11", listen_port: 179 });
    expect([...gobgp.peers.keys()]).toEqual(["192.0.2.1"]);
    // IPv6 routes over the IPv4 session carry the node's IPv6 address as next hop.
    const v6 = gobgp.paths.get("2001:db8:ff::10/128")!;
    expect(v6.pattrs[1]).toMatchObject({ next_hops: ["2001:db8::11"] });

    gobgp.setState("192.0.2.1", "ESTABLISHED");
    await until("status Established", () => last()?.neighbors?.[0]?.state === "Established");
    expect(last()).toMatchObject({
      routerID: "192.0.2.11",
      routerIDSource: "template (interface eth0)",
      asn: 64513,
      advertised: ["2001:db8:ff::10/128", "203.0.113.10/32"],
    });
    expect(await registry.getSingleMetricAsString("purelb_bgp_session_up")).toContain(
      'purelb_bgp_session_up{peer="192.0.2.1"} 1',
    );
    expect(await registry.getSingleMetricAsString("purelb_bgp_advertised_prefixes")).toMatch(
      /purelb_bgp_advertised_prefixes 2/,
    );

    await ctl.idle();
    gobgp.calls.length = 0;
    kernel.remove("203.0.113.10");
    kernel.add("203.0.113.11", 32);
    ctl.kernelChanged();
    await until(
      "path moved",
      () => gobgp.paths.has("203.0.113.11/32") && !gobgp.paths.has("203.0.113.10/32"),
    );
    await ctl.idle();
    expect(gobgp.calls).toEqual(["AddPathStream"]);
  });

  it("retries while gobgpd is away, says so in the status, and sets everything up when it comes", async () => {
    const gobgp = new FakeGobgp();
    gobgp.down = true;
    const { kernel, ctl, last } = setup({ gobgp });
    kernel.add("203.0.113.10", 32);
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("unreachable status", () =>
      /does not answer/.test(last()?.neighbors?.[0]?.lastError ?? ""),
    );
    expect(last()?.neighbors?.[0]).toMatchObject({ address: "192.0.2.1", state: "Unknown" });
    expect(last()?.speaker).toMatchObject({ state: "Unreachable" });
    const tries = gobgp.calls.length;
    await until("more tries", () => gobgp.calls.length >= tries + 2);
    gobgp.down = false;
    await until("set up", () => gobgp.paths.size === 1 && gobgp.peers.size === 1);
    await until("running status", () => last()?.speaker?.state === "Running");

    // It dies and comes back empty: all of it again.
    gobgp.crash();
    await until("unreachable again", () => last()?.speaker?.state === "Unreachable");
    gobgp.down = false;
    await until(
      "set up again",
      () => gobgp.global.asn === 64513 && gobgp.paths.size === 1 && gobgp.peers.size === 1,
    );
  });

  it("applies peer changes with the least disruption: update, delete+add for multihop, delete for gone", async () => {
    const { gobgp, ctl } = setup();
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("peer", () => gobgp.peers.size === 1);
    await ctl.idle();

    gobgp.calls.length = 0;
    ctl.setConfig(
      conf({ ...BASE, neighbors: [{ address: "192.0.2.1", peerASN: 64512, holdTime: "9s" }] }),
    );
    await until("hold time", () => gobgp.peers.get("192.0.2.1")?.timers?.config?.hold_time === 9);
    await ctl.idle();
    expect(gobgp.calls.filter(c => /Peer$/.test(c) && c !== "ListPeer")).toEqual(["UpdatePeer"]);

    gobgp.calls.length = 0;
    ctl.setConfig(
      conf({
        ...BASE,
        neighbors: [{ address: "192.0.2.1", peerASN: 64512, holdTime: "9s", multihop: { ttl: 3 } }],
      }),
    );
    await until("multihop", () => gobgp.peers.get("192.0.2.1")?.ebgp_multihop?.multihop_ttl === 3);
    await ctl.idle();
    expect(gobgp.calls.filter(c => /Peer$/.test(c) && c !== "ListPeer")).toEqual([
      "DeletePeer",
      "AddPeer",
    ]);

    gobgp.calls.length = 0;
    ctl.setConfig(conf({ ...BASE, neighbors: [{ address: "192.0.2.2", peerASN: 64512 }] }));
    await until("moved", () => [...gobgp.peers.keys()].join() === "192.0.2.2");
    expect(gobgp.calls).not.toContain("StopBgp");
  });

  it("restarts BGP for a global change, re-adds peers and paths, and says so", async () => {
    const { gobgp, kernel, ctl, events } = setup();
    kernel.add("203.0.113.10", 32);
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("up", () => gobgp.paths.size === 1);
    ctl.setConfig(conf({ ...BASE, global: { asn: 64514 } }));
    await until(
      "new ASN",
      () => gobgp.global.asn === 64514 && gobgp.peers.size === 1 && gobgp.paths.size === 1,
    );
    expect(gobgp.calls.filter(c => /Bgp$/.test(c) && c !== "GetBgp")).toEqual([
      "StartBgp",
      "StopBgp",
      "StartBgp",
    ]);
    expect(events).toContainEqual(
      expect.stringMatching(
        /^Normal SpeakerRestarted: node n1: restarted BGP in gobgpd to apply ASN 64513 -> 64514/,
      ),
    );
    expect(ctl.currentStatus().speaker).toMatchObject({ lastRestartReason: "ASN 64513 -> 64514" });
    expect(gobgp.peers.get("192.0.2.1")?.conf?.local_asn).toBe(64514);
  });

  it("takes over a running gobgpd after an agent restart without touching what is already right", async () => {
    const gobgp = new FakeGobgp();
    const first = setup({ gobgp });
    first.kernel.add("203.0.113.10", 32);
    first.ctl.start();
    first.ctl.setNode({ labels: {}, own: [] });
    first.ctl.setConfig(conf(BASE));
    await until("up", () => gobgp.paths.size === 1);
    await first.ctl.idle();
    // A crash, not a stop: the paths stay in gobgpd.
    running.splice(running.indexOf(first.ctl), 1);

    gobgp.calls.length = 0;
    const second = setup({ gobgp });
    second.kernel.add("203.0.113.10", 32);
    second.kernel.add("203.0.113.20", 32);
    second.ctl.start();
    second.ctl.setNode({ labels: {}, own: [] });
    second.ctl.setConfig(conf(BASE));
    await until("new path", () => gobgp.paths.size === 2);
    await second.ctl.idle();
    const changes = gobgp.calls.filter(c => !["GetBgp", "ListPeer", "ListPath"].includes(c));
    expect(changes).toEqual(["AddPathStream"]);
    expect(gobgp.paths.size).toBe(2);
  });

  it("withdraws its routes when it stops, and keeps a session whose Secret could not be read", async () => {
    const { gobgp, kernel, ctl } = setup({ secrets: { "bgp/pw": "s3cret" } });
    kernel.add("203.0.113.10", 32);
    kernel.add("2001:db8:ff::10", 128);
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(
      conf({
        ...BASE,
        neighbors: [
          { address: "192.0.2.1", peerASN: 64512, passwordSecretRef: { name: "bgp", key: "pw" } },
        ],
      }),
    );
    await until("up", () => gobgp.paths.size === 2);
    expect(gobgp.peers.get("192.0.2.1")?.conf?.auth_password).toBe("s3cret");
    await ctl.stop();
    expect(gobgp.paths.size).toBe(0);
    expect(gobgp.peers.size).toBe(1);
  });

  it("applies the paths it can when gobgpd refuses one, and retries that one", async () => {
    const { gobgp, kernel, ctl } = setup();
    gobgp.refuse.add("203.0.113.10/32");
    kernel.add("203.0.113.10", 32);
    kernel.add("203.0.113.11", 32);
    kernel.add("203.0.113.12", 32);
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("the others", () => gobgp.paths.size === 2);
    const before = gobgp.calls.filter(c => c === "AddPath").length;
    await until("retried", () => gobgp.calls.filter(c => c === "AddPath").length > before);
    gobgp.refuse.clear();
    await until("all", () => gobgp.paths.size === 3);
    expect(ctl.advertised()).toEqual(["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32"]);
  });

  it("reports a StartBgp that gobgpd refuses, and retries it", async () => {
    const gobgp = new FakeGobgp();
    gobgp.failStart = "listen tcp 0.0.0.0:179: bind: address already in use";
    const { ctl, last } = setup({ gobgp });
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("status", () =>
      /address already in use/.test(last()?.neighbors?.[0]?.lastError ?? ""),
    );
    expect(last()?.speaker).toMatchObject({ state: "Stopped" });
    gobgp.failStart = "";
    await until("started", () => gobgp.global.asn === 64513 && gobgp.peers.size === 1);
    await until(
      "running",
      () => last()?.speaker?.state === "Running" && !last()?.neighbors?.[0]?.lastError,
    );
  });

  it("picks up a changed password at the heartbeat", async () => {
    const secrets: Record<string, string> = { "bgp/pw": "one" };
    const { gobgp, ctl } = setup({ secrets, heartbeatMs: 50 });
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(
      conf({
        ...BASE,
        neighbors: [
          { address: "192.0.2.1", peerASN: 64512, passwordSecretRef: { name: "bgp", key: "pw" } },
        ],
      }),
    );
    await until("peer", () => gobgp.peers.get("192.0.2.1")?.conf?.auth_password === "one");
    secrets["bgp/pw"] = "two";
    await until("new password", () => gobgp.peers.get("192.0.2.1")?.conf?.auth_password === "two");
    expect(gobgp.calls).toContain("UpdatePeer");
  });

  it("writes a heartbeat even when nothing changed, keeping lastUpdate", async () => {
    const { ctl, statuses } = setup({ heartbeatMs: 60 });
    ctl.start();
    ctl.setNode({ labels: {}, own: [] });
    ctl.setConfig(conf(BASE));
    await until("three writes", () => statuses.length >= 3, 4000);
    const tail = statuses.slice(-2);
    expect(tail[0].lastUpdate).toBe(tail[1].lastUpdate);
    expect(tail[0].heartbeat).not.toBe(tail[1].heartbeat);
  });
});
