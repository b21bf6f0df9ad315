// The node agent on real interfaces: three nodes and a client in network namespaces on a
// bridge, one agent process per node against a real kube-apiserver. Needs root.
import { spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentLab, NS as SYSTEM_NS, labWinner, waitFor } from "../harness/agentlab";
import { ensureNamespace, eventsFor, getService, remove } from "../harness/kube";
import { netnsUnavailable, run } from "../harness/netns";

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`netns tests skipped: ${unavailable}`);

const NODES = ["n1", "n2", "n3"];
/** Opens (and drops) a TCP connection to argv[1] port 80: enough to resolve its neighbour entry. */
const TOUCH_JS = `const s = require("node:net").connect(80, process.argv[1]); const end = () => process.exit(0); s.on("connect", end); s.on("error", end); setTimeout(end, 2000);`;
const APP = "web-it";

const expectedWinner = (address: string, nodes = NODES): string => labWinner(address, nodes);

class Capture {
  private text = "";
  constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (this.text += c));
  }
  static async start(lab: AgentLab, ns: string): Promise<Capture> {
    const child = lab.lab.spawnPiped(ns, "tcpdump", [
      "-i",
      "eth0",
      "-t",
      "-n",
      "-e",
      "-l",
      "-U",
      "arp or icmp6",
    ]);
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
    const cap = new Capture(child);
    await waitFor("tcpdump listening", () => err.includes("listening on"), 10_000);
    return cap;
  }
  lines(): string[] {
    return this.text.split("\n");
  }
  stop(): void {
    this.child.kill("SIGKILL");
  }
}

describe.skipIf(!!unavailable)("node agent on real interfaces", () => {
  let L: AgentLab;
  const holders = (address: string, dev = "eth0") =>
    NODES.filter(n => L.agents.has(n) || true).filter(n =>
      L.lab.find(L.lab.node(n).ns, dev, address),
    );
  const waitHolders = (address: string, want: string[], dev = "eth0", timeoutMs = 10_000) =>
    waitFor(
      `${address} on ${want.join(",") || "no node"} (${dev})`,
      () => holders(address, dev).join() === want.join(),
      timeoutMs,
    );

  beforeAll(async () => {
    L = await AgentLab.start({ nodes: NODES });
    await ensureNamespace(L.client, APP);
    await L.agentConfig({
      local: {
        garp: { enabled: true, count: 2, interval: "200ms", refresh: "60s" },
        addressLifetime: { valid: "12s", preferred: "12s" },
      },
      lease: { duration: "5s", renew: "1.5s" },
    });
    await L.group("local", {
      local: {
        v4pools: [
          { pool: "192.0.2.200-192.0.2.239", subnet: "192.0.2.0/24", aggregation: "default" },
        ],
        v6pools: [
          { pool: "2001:db8::200-2001:db8::2ff", subnet: "2001:db8::/64", aggregation: "default" },
        ],
      },
    });
    await L.group("local-nodad", {
      local: {
        skipIPv6DAD: true,
        v6pools: [
          { pool: "2001:db8::300-2001:db8::3ff", subnet: "2001:db8::/64", aggregation: "/128" },
        ],
      },
    });
    await L.group("remote", {
      remote: {
        v4pools: [{ pool: "203.0.113.0/26", subnet: "203.0.113.0/24", aggregation: "/32" }],
        v6pools: [
          { pool: "2001:db8:ff::/112", subnet: "2001:db8:ff::/64", aggregation: "default" },
        ],
      },
    });
    await Promise.all(NODES.map(n => L.startAgent(n)));
  });

  // A failure shows what the agents said.
  afterEach(ctx => {
    if (ctx.task.result?.state !== "fail") return;
    for (const n of NODES)
      console.log(
        `--- agent ${n} (last lines) ---\n${L.agentLog(n).split("\n").slice(-25).join("\n")}`,
      );
  });

  afterAll(async () => {
    await L?.stop();
    expect(run("ip", ["netns", "list"])).not.toMatch(new RegExp(`plb-${process.pid}-`));
  });

  it("keeps a Lease per node with its subnets", async () => {
    for (const n of NODES) {
      const lease = await waitFor(`Lease of ${n}`, async () =>
        L.client.request<{
          spec: { holderIdentity: string; leaseDurationSeconds: number };
          metadata: { annotations: Record<string, string> };
        }>("GET", `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/purelb-node-${n}`),
      );
      expect(lease.spec.holderIdentity).toBe(n);
      expect(lease.spec.leaseDurationSeconds).toBe(5);
      expect(lease.metadata.annotations["purelb.io/subnets"]).toBe("192.0.2.0/24,2001:db8::/64");
    }
  });

  it("puts each local address on exactly the node the hash picks, announces it, and says so", async () => {
    const v4 = "192.0.2.200";
    const v6 = "2001:db8::200";
    const cap = await Capture.start(L, L.lab.client.ns);
    try {
      await L.service(APP, "web", { group: "local", poolType: "local", ips: [v4, v6] });
      const w4 = expectedWinner(v4);
      const w6 = expectedWinner(v6);
      await waitHolders(v4, [w4]);
      await waitHolders(v6, [w6]);
      const a4 = L.lab.find(L.lab.node(w4).ns, "eth0", v4)!;
      const a6 = L.lab.find(L.lab.node(w6).ns, "eth0", v6)!;
      expect(a4.prefixlen).toBe(24);
      expect(a6.prefixlen).toBe(64);
      expect(a4.valid_life_time).toBeGreaterThan(0);
      expect(a4.valid_life_time).toBeLessThanOrEqual(12);
      expect(a6.valid_life_time).toBeLessThanOrEqual(12);
      expect(a6.nodad ?? false).toBe(false);

      // The client sees the winner's hardware address: GARP (request and reply) and NA.
      const mac4 = L.lab.node(w4).mac;
      const mac6 = L.lab.node(w6).mac;
      await waitFor("gratuitous ARP from the IPv4 winner", () => {
        const lines = cap.lines().filter(l => l.startsWith(mac4) && l.includes(`${v4}`));
        return (
          lines.some(l => /Request who-has 192\.0\.2\.200 tell 192\.0\.2\.200/.test(l)) &&
          lines.some(l => /Reply 192\.0\.2\.200 is-at/.test(l))
        );
      });
      await waitFor("unsolicited NA from the IPv6 winner", () =>
        cap
          .lines()
          .some(
            l =>
              l.startsWith(mac6) &&
              l.includes("33:33:00:00:00:01") &&
              /neighbor advertisement, tgt is 2001:db8::200/.test(l),
          ),
      );
      const macs = new Set(
        cap
          .lines()
          .filter(l => / 192\.0\.2\.200 is-at | tgt is 2001:db8::200/.test(l))
          .map(l => l.split(" ")[0]),
      );
      expect([...macs].sort()).toEqual([...new Set([mac4, mac6])].sort());

      // And the client reaches it there: a connection attempt resolves the neighbour entry,
      // which must be the winner's (the winner's kernel answers ARP/NS for it).
      for (const [ip, mac] of [
        [v4, mac4],
        [v6, mac6],
      ]) {
        L.lab.exec(L.lab.client.ns, process.execPath, ["-e", TOUCH_JS, ip]);
        await waitFor(`client neighbour entry for ${ip}`, () =>
          run("ip", ["-n", L.lab.client.ns, "neigh", "show", ip]).includes(`lladdr ${mac}`),
        );
      }

      const svc = await waitFor("announcing annotations", async () => {
        const s = await getService(L.client, APP, "web");
        return s.annotations["purelb.io/announcing-IPv4"] &&
          s.annotations["purelb.io/announcing-IPv6"]
          ? s
          : undefined;
      });
      expect(svc.annotations["purelb.io/announcing-IPv4"]).toBe(`${w4},eth0,${v4}`);
      expect(svc.annotations["purelb.io/announcing-IPv6"]).toBe(`${w6},eth0,${v6}`);
      await waitFor("AnnouncingLocal event", async () =>
        (await eventsFor(L.client, APP, "web")).find(
          e => e.reason === "AnnouncingLocal" && e.message.includes(`node ${w4}, interface eth0`),
        ),
      );
    } finally {
      cap.stop();
    }
  });

  it("adds local addresses so the node never adopts one: noprefixroute, IPv6 deprecated", async () => {
    const v4 = "192.0.2.200";
    const v6 = "2001:db8::200";
    const n4 = L.lab.node(expectedWinner(v4));
    const n6 = L.lab.node(expectedWinner(v6));
    await waitHolders(v6, [n6.name]);
    const shown = (ns: string, ip: string) =>
      run("ip", ["-n", ns, "-d", "addr", "show", "dev", "eth0"])
        .split("\n")
        .find(l => l.includes(` ${ip}/`)) ?? "";
    expect(shown(n4.ns, v4)).toMatch(/noprefixroute/);
    expect(shown(n6.ns, v6)).toMatch(/noprefixroute/);
    // The DAD of a new copy passes first; the flag stays once it has.
    await waitFor("IPv6 copy out of DAD", () => !/tentative/.test(shown(n6.ns, v6)));
    expect(shown(n6.ns, v6)).toMatch(/deprecated/);
    expect(L.lab.find(n6.ns, "eth0", v6)!.preferred_life_time).toBe(0);
    // The node talks to its LAN from its own address, even to a neighbour next to the VIP
    // (longest-prefix matching would pick the IPv6 VIP were it not deprecated).
    const src = (ns: string, to: string) =>
      /\bsrc (\S+)/.exec(run("ip", ["-n", ns, "route", "get", to]))?.[1];
    expect(src(n4.ns, "192.0.2.201")).toBe(n4.ipv4);
    expect(src(n6.ns, "2001:db8::201")).toBe(n6.ipv6);
  });

  it("two nodes announcing two addresses of one Service write the annotation once each", async () => {
    const pool = Array.from({ length: 8 }, (_, i) => `192.0.2.${232 + i}`);
    const a = pool[0];
    const b = pool.find(x => expectedWinner(x) !== expectedWinner(a))!;
    await L.service(APP, "pair", { group: "local", poolType: "local", ips: [a, b] });
    await waitHolders(a, [expectedWinner(a)]);
    await waitHolders(b, [expectedWinner(b)]);
    const want = [`${expectedWinner(a)},eth0,${a}`, `${expectedWinner(b)},eth0,${b}`];
    const settled = await waitFor("both slots", async () => {
      const s = await getService(L.client, APP, "pair");
      return s.annotations["purelb.io/announcing-IPv4"] === want.join(" ") ? s : undefined;
    });
    // Renewals every 2 s run reconciles on every node; none of them may write again.
    await new Promise(r => setTimeout(r, 5_000));
    const later = await getService(L.client, APP, "pair");
    expect(later.resourceVersion).toBe(settled.resourceVersion);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/pair`);
  });

  it("renews finite lifetimes before they run out", async () => {
    const v4 = "192.0.2.200";
    const w = L.lab.node(expectedWinner(v4));
    const seen: number[] = [];
    await waitFor(
      "a renewal",
      () => {
        const a = L.lab.find(w.ns, "eth0", v4);
        if (a) seen.push(a.valid_life_time);
        return seen.some((v, i) => i > 0 && v > seen[i - 1]);
      },
      12_000,
    );
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(6);
    expect(Math.max(...seen)).toBeLessThanOrEqual(12);
  });

  it("adds IPv6 addresses with nodad and the aggregation prefix when the group skips DAD", async () => {
    const v6 = "2001:db8::300";
    await L.service(APP, "nodad", { group: "local-nodad", poolType: "local", ips: [v6] });
    const w = expectedWinner(v6);
    await waitHolders(v6, [w]);
    const a = L.lab.find(L.lab.node(w).ns, "eth0", v6)!;
    expect(a.nodad).toBe(true);
    expect(a.prefixlen).toBe(128);
  });

  it("puts remote addresses on every node's kube-lb0 with the aggregation prefix, permanent", async () => {
    await L.service(APP, "routed", {
      group: "remote",
      poolType: "remote",
      ips: ["203.0.113.10", "2001:db8:ff::10"],
    });
    await waitHolders("203.0.113.10", NODES, "kube-lb0");
    await waitHolders("2001:db8:ff::10", NODES, "kube-lb0");
    for (const n of NODES) {
      const ns = L.lab.node(n).ns;
      const a4 = L.lab.find(ns, "kube-lb0", "203.0.113.10")!;
      const a6 = L.lab.find(ns, "kube-lb0", "2001:db8:ff::10")!;
      expect([a4.prefixlen, a6.prefixlen]).toEqual([32, 64]);
      expect([a4.valid_life_time, a6.valid_life_time]).toEqual([4294967295, 4294967295]);
      expect(holders("203.0.113.10", "eth0")).toEqual([]);
    }
  });

  it("with externalTrafficPolicy Local, holds remote addresses only on nodes with a ready endpoint, following changes", async () => {
    const ip = "203.0.113.11";
    await L.endpoints(APP, "local-etp", [
      { node: "n2", ready: true },
      { node: "n3", ready: false },
    ]);
    await L.service(APP, "local-etp", {
      group: "remote",
      poolType: "remote",
      ips: [ip],
      etp: "Local",
    });
    await waitHolders(ip, ["n2"], "kube-lb0");
    await L.endpoints(APP, "local-etp", [
      { node: "n1", ready: true },
      { node: "n3", ready: true },
    ]);
    await waitHolders(ip, ["n1", "n3"], "kube-lb0");
  });

  it("keeps a shared address while any Service needs it and withdraws it with the last", async () => {
    const ip = "192.0.2.210";
    const w = expectedWinner(ip);
    await L.service(APP, "share-a", { group: "local", poolType: "local", ips: [ip] });
    await L.service(APP, "share-b", { group: "local", poolType: "local", ips: [ip] });
    await waitHolders(ip, [w]);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/share-a`);
    await new Promise(r => setTimeout(r, 500));
    expect(holders(ip)).toEqual([w]);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/share-b`);
    await waitHolders(ip, []);
  });

  it("withdraws everything of a deleted Service on every node, and only that", async () => {
    await L.service(APP, "doomed", { group: "remote", poolType: "remote", ips: ["203.0.113.12"] });
    await waitHolders("203.0.113.12", NODES, "kube-lb0");
    await remove(L.client, `/api/v1/namespaces/${APP}/services/doomed`);
    await waitHolders("203.0.113.12", [], "kube-lb0");
    expect(holders("203.0.113.10", "kube-lb0")).toEqual(NODES);
  });

  it("on restart removes what it added that no Service needs, adds what is missing, and leaves the rest alone", async () => {
    const n1 = L.lab.node("n1");
    await L.stopAgent("n1", "SIGKILL");
    // While it is down: one remote Service goes, another arrives; somebody adds addresses by hand.
    await L.service(APP, "gone-while-down", {
      group: "remote",
      poolType: "remote",
      ips: ["203.0.113.13"],
    });
    await waitHolders("203.0.113.13", ["n2", "n3"], "kube-lb0");
    run("ip", ["-n", n1.ns, "addr", "add", "203.0.113.13/32", "dev", "kube-lb0"]);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/routed`);
    await waitHolders("203.0.113.10", ["n1"], "kube-lb0");
    run("ip", ["-n", n1.ns, "addr", "add", "198.51.100.5/32", "dev", "kube-lb0"]);
    run("ip", [
      "-n",
      n1.ns,
      "addr",
      "add",
      "192.0.2.99/24",
      "dev",
      "eth0",
      "valid_lft",
      "100",
      "preferred_lft",
      "100",
    ]);
    await L.startAgent("n1");
    await waitHolders("203.0.113.10", [], "kube-lb0");
    await waitHolders("203.0.113.13", NODES, "kube-lb0");
    expect(L.lab.find(n1.ns, "kube-lb0", "198.51.100.5")).toBeDefined();
    expect(L.lab.find(n1.ns, "eth0", "192.0.2.99")).toBeDefined();
    run("ip", ["-n", n1.ns, "addr", "del", "198.51.100.5/32", "dev", "kube-lb0"]);
    run("ip", ["-n", n1.ns, "addr", "del", "192.0.2.99/24", "dev", "eth0"]);
  });

  it("backs off when another host on the link already holds a local IPv6 address (DAD fails)", async () => {
    const ip = "2001:db8::2a0";
    const client = L.lab.client.ns;
    const winner = expectedWinner(ip);
    run("ip", ["-n", client, "addr", "add", `${ip}/64`, "dev", "eth0", "nodad"]);
    const monitor = L.lab.spawnPiped(L.lab.node(winner).ns, "ip", ["-o", "monitor", "address"]);
    let adds = 0;
    monitor.stdout!.setEncoding("utf8").on("data", (c: string) => {
      for (const line of c.split("\n"))
        if (line.includes(` ${ip}/`) && !line.startsWith("Deleted")) adds++;
    });
    try {
      await L.service(APP, "dad", { group: "local", poolType: "local", ips: [ip] });
      await new Promise(r => setTimeout(r, 6_000));
      // The kernel removes the copy whose DAD fails within a second; re-adding at once made
      // about 20 attempts in these 6 s. Pauses of 1, 2, 2 s leave 3 (4 with a quick failure).
      expect(adds).toBeGreaterThanOrEqual(2);
      expect(adds).toBeLessThanOrEqual(4);
      const warnings = (await eventsFor(L.client, APP, "dad")).filter(
        e => e.reason === "AnnouncementFailed",
      );
      expect(warnings).toHaveLength(1);
      expect(warnings[0].message).toMatch(/duplicate address detection/);
      // Once the other host lets go, the next try holds it.
      run("ip", ["-n", client, "addr", "del", `${ip}/64`, "dev", "eth0"]);
      await waitFor(
        `${ip} held by ${winner} after DAD`,
        () => {
          const a = L.lab.find(L.lab.node(winner).ns, "eth0", ip);
          return a && !a.tentative && !a.dadfailed;
        },
        20_000,
      );
    } finally {
      monitor.kill();
      spawnSync("ip", ["-n", client, "addr", "del", `${ip}/64`, "dev", "eth0"]);
      await remove(L.client, `/api/v1/namespaces/${APP}/services/dad`);
    }
  });

  // These agents have no heartbeat key, so Leases alone decide: the behaviour of an install
  // without the purelb-heartbeat Secret. With heartbeats the node keeps them (outage.test.ts).
  it("without heartbeats, gives up its local addresses when cut off the API server, and takes them back after", async () => {
    const ip = "192.0.2.230";
    await L.service(APP, "fence", { group: "local", poolType: "local", ips: [ip] });
    const first = expectedWinner(ip);
    const next = expectedWinner(
      ip,
      NODES.filter(n => n !== first),
    );
    await waitHolders(ip, [first]);
    try {
      const t0 = Date.now();
      await L.cutApi(first);
      // The others see its Lease lapse and elect `next`; `first` cannot renew, sees its own
      // Lease lapse too and withdraws rather than answer ARP beside `next`.
      await waitHolders(ip, [next], "eth0", 10_000);
      const ms = Date.now() - t0;
      console.log(`cut off the API: ${ip} moved from ${first} to ${next} alone in ${ms} ms`);
      expect(ms).toBeLessThan(7_000);
      expect(L.agentLog(first)).toMatch(/Lease has lapsed/);
    } finally {
      await L.restoreApi(first);
    }
    await waitHolders(ip, [first], "eth0", 20_000);
    expect(L.agentLog(first)).toMatch(/Lease is renewed/);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/fence`);
    await waitHolders(ip, []);
  });

  it("fails over at once when the winner stops gracefully, and the new winner announces", async () => {
    const ip = "192.0.2.220";
    await L.service(APP, "failover", { group: "local", poolType: "local", ips: [ip] });
    const first = expectedWinner(ip);
    await waitHolders(ip, [first]);
    const next = expectedWinner(
      ip,
      NODES.filter(n => n !== first),
    );
    const cap = await Capture.start(L, L.lab.client.ns);
    try {
      const t0 = Date.now();
      await L.stopAgent(first, "SIGTERM");
      await waitHolders(ip, [next], "eth0", 5_000);
      const ms = Date.now() - t0;
      console.log(`graceful failover of ${ip}: ${ms} ms`);
      expect(ms).toBeLessThan(1_500);
      await waitFor("GARP from the new winner", () =>
        cap
          .lines()
          .some(l => l.startsWith(L.lab.node(next).mac) && l.includes(`Reply ${ip} is-at`)),
      );
      await waitFor(
        "annotation names the new winner",
        async () =>
          (await getService(L.client, APP, "failover")).annotations["purelb.io/announcing-IPv4"] ===
          `${next},eth0,${ip}`,
      );
      // The Lease went with it.
      await expect(
        L.client.request(
          "GET",
          `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/purelb-node-${first}`,
        ),
      ).rejects.toThrow(/404/);
    } finally {
      cap.stop();
    }
    await L.startAgent(first);
    await waitHolders(ip, [first]);
  });

  it("fails over after the Lease expires when the winner dies", async () => {
    const ip = "192.0.2.221";
    await L.service(APP, "hardkill", { group: "local", poolType: "local", ips: [ip] });
    const first = expectedWinner(ip);
    await waitHolders(ip, [first]);
    const next = expectedWinner(
      ip,
      NODES.filter(n => n !== first),
    );
    const t0 = Date.now();
    await L.stopAgent(first, "SIGKILL");
    await waitFor(`${ip} on ${next}`, () => L.lab.find(L.lab.node(next).ns, "eth0", ip), 10_000);
    const ms = Date.now() - t0;
    console.log(`hard-kill failover of ${ip}: ${ms} ms (lease 5 s)`);
    expect(ms).toBeLessThan(6_000);
    // The dead node's kernel still has it until its lifetime runs out; a restarted agent
    // takes it back (it wins the hash again) and the stand-in withdraws.
    await L.startAgent(first);
    await waitHolders(ip, [first]);
  });

  it("removes the address from every node when its Service is deleted", async () => {
    await remove(L.client, `/api/v1/namespaces/${APP}/services/web`);
    await waitHolders("192.0.2.200", []);
    await waitHolders("2001:db8::200", []);
  });

  it("withdraws its addresses and deletes its Lease on SIGTERM", async () => {
    const n3 = L.lab.node("n3");
    expect(L.lab.find(n3.ns, "kube-lb0", "203.0.113.13")).toBeDefined();
    await L.stopAgent("n3", "SIGTERM");
    expect(L.lab.addresses(n3.ns, "kube-lb0").filter(a => a.family === "inet")).toEqual([]);
    expect(
      L.lab
        .addresses(n3.ns, "eth0")
        .filter(
          a =>
            a.local.startsWith("192.0.2.2") ||
            a.local.startsWith("2001:db8::2") ||
            a.local.startsWith("2001:db8::3"),
        ),
    ).toEqual([]);
  });
});
