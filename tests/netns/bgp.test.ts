// BGP on real interfaces: two nodes, each running the node agent (PURELB_BGP=true) and its
// own gobgpd, and two BIRD2 routers upstream, all in network namespaces on one bridge, with
// a real kube-apiserver. Needs root, gobgpd, bird2 and golang-github-osrg-gobgp-dev.
import { type ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MERGE_PATCH } from "../../lib/k8s/client";
import { BGPNodeStatusStatus } from "../../lib/k8s/bgp";
import { AgentLab, NS, readLog, waitFor } from "../harness/agentlab";
import { BirdPeer, BirdRouter, bgpUnavailable, startGobgpd } from "../harness/bird";
import { apply, ensureNamespace, eventsFor, remove } from "../harness/kube";
import { run, stopChild } from "../harness/netns";

const unavailable = bgpUnavailable();
if (unavailable) console.warn(`BGP netns tests skipped: ${unavailable}`);

const NODES = ["n1", "n2"];
const CLUSTER_ASN = 64513;
const ROUTER_ASN = 64512;
const APP = "bgp-it";
const PASSWORD = "md5-s3cret";
const V4 = { n1: "192.0.2.11", n2: "192.0.2.12" } as const;
const V6 = { n1: "2001:db8::11", n2: "2001:db8::12" } as const;

const birdPeers = (asn = CLUSTER_ASN, password?: string): BirdPeer[] =>
  NODES.map(n => ({ name: n, address: V4[n as keyof typeof V4], asn, password }));

const neighbor = (address: string, extra: object = {}) => ({
  address,
  peerASN: ROUTER_ASN,
  holdTime: "9s",
  keepaliveTime: "3s",
  nodeSelector: { matchLabels: { "bgp.example.com/peer": "yes" } },
  ...extra,
});

describe.skipIf(!!unavailable)("BGP through gobgpd sidecars to BIRD routers", () => {
  let L: AgentLab;
  let r1: BirdRouter;
  let r2: BirdRouter;
  const gobgpd = new Map<string, ChildProcess>();
  const config = (spec: object) =>
    apply(L.client, `/apis/bgp.purelb.io/v1/namespaces/${NS}/bgpconfigurations`, {
      apiVersion: "bgp.purelb.io/v1",
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec,
    });
  const status = (node: string) =>
    L.client
      .request<{
        status?: BGPNodeStatusStatus;
      }>("GET", `/apis/bgp.purelb.io/v1/bgpnodestatuses/${node}`)
      .then(o => o.status ?? {});
  const hops = (r: BirdRouter, prefix: string, want: string[], timeoutMs = 15_000) =>
    waitFor(
      `${prefix} at ${r.ns} via ${want.join(",") || "nothing"}`,
      () => r.nextHops(prefix).join() === [...want].sort().join(),
      timeoutMs,
    );
  const established = (r: BirdRouter, nodes = NODES, timeoutMs = 30_000) =>
    waitFor(
      `${nodes.join(",")} Established at ${r.ns}`,
      () => nodes.every(n => r.sessions().get(n) === "Established"),
      timeoutMs,
    );
  const metrics = (node: string) =>
    L.lab.exec(L.lab.node(node).ns, process.execPath, [
      "-e",
      "fetch('http://127.0.0.1:7472/metrics').then(r => r.text()).then(t => process.stdout.write(t))",
    ]);

  beforeAll(async () => {
    L = await AgentLab.start({ nodes: NODES, env: { PURELB_BGP: "true" } });
    r1 = await BirdRouter.start(L.lab, {
      name: "r1",
      host: 1,
      asn: ROUTER_ASN,
      peers: birdPeers(),
    });
    r2 = await BirdRouter.start(L.lab, {
      name: "r2",
      host: 2,
      asn: ROUTER_ASN,
      peers: birdPeers(CLUSTER_ASN, PASSWORD),
    });
    await ensureNamespace(L.client, APP);
    for (const n of NODES) {
      await L.client.request("POST", "/api/v1/nodes", {
        body: {
          metadata: {
            name: n,
            labels: { "kubernetes.io/hostname": n, "bgp.example.com/peer": "yes" },
          },
        },
      });
      await L.client.request("PATCH", `/api/v1/nodes/${n}/status`, {
        body: {
          status: {
            addresses: [
              { type: "InternalIP", address: V4[n as keyof typeof V4] },
              { type: "InternalIP", address: V6[n as keyof typeof V6] },
              { type: "Hostname", address: n },
            ],
          },
        },
        contentType: MERGE_PATCH,
      });
    }
    await L.client.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
      body: { metadata: { name: "bgp-auth" }, stringData: { password: PASSWORD } },
    });
    await config({
      global: { asn: CLUSTER_ASN, routerID: "${NODE_IP}" },
      neighbors: [neighbor(r1.ipv4)],
      gracefulRestart: { enabled: true, restartTime: "30s" },
      communities: ["64512:100", "65000:1:2"],
      localPref: 150,
    });
    await L.group("remote", {
      remote: {
        v4pools: [{ pool: "203.0.113.0/26", subnet: "203.0.113.0/24", aggregation: "/32" }],
        v6pools: [{ pool: "2001:db8:ff::/112", subnet: "2001:db8:ff::/64", aggregation: "/128" }],
      },
    });
    await L.group("remote-agg", {
      remote: {
        v4pools: [{ pool: "198.51.100.0/26", subnet: "198.51.100.0/24", aggregation: "default" }],
      },
    });
    // n1's gobgpd is up before its agent, n2's comes after: the agent waits for it.
    gobgpd.set("n1", startGobgpd(L.lab, L.lab.node("n1")));
    await Promise.all(NODES.map(n => L.startAgent(n)));
    gobgpd.set("n2", startGobgpd(L.lab, L.lab.node("n2")));
  });

  afterEach(ctx => {
    if (ctx.task.result?.state !== "fail") return;
    for (const n of NODES) {
      console.log(`--- agent ${n} ---\n${L.agentLog(n).split("\n").slice(-30).join("\n")}`);
      console.log(
        `--- gobgpd ${n} ---\n${readLog(L.lab.logPath(`gobgpd-${n}`))
          .split("\n")
          .slice(-15)
          .join("\n")}`,
      );
    }
    for (const r of [r1, r2])
      if (r)
        console.log(
          `--- ${r.ns} ---\n${r.birdc("show", "protocols")}\n${r.birdc("show", "route")}`,
        );
  });

  afterAll(async () => {
    await r1?.destroy();
    await r2?.destroy();
    const pids = [...gobgpd.values()].map(c => c.pid);
    await L?.stop();
    const left = run("ip", ["netns", "list"]);
    expect(left).not.toMatch(new RegExp(`plb-${process.pid}-`));
    for (const pid of pids) expect(() => process.kill(pid!, 0)).toThrow();
  });

  it("peers each node with the router and reports the session in BGPNodeStatus", async () => {
    await established(r1);
    for (const n of NODES) {
      const st = await waitFor(`BGPNodeStatus ${n} Established`, async () => {
        const s = await status(n).catch(() => undefined);
        return s?.neighbors?.[0]?.state === "Established" ? s : undefined;
      });
      expect(st.routerID).toBe(V4[n as keyof typeof V4]);
      expect(st.routerIDSource).toBe("template (Node InternalIP)");
      expect(st.asn).toBe(CLUSTER_ASN);
      expect(st.neighbors).toHaveLength(1);
      expect(st.neighbors![0].address).toBe(r1.ipv4);
      expect(st.neighbors![0].uptime).toMatch(/^\d+(h\d+m|m)?\d*s$/);
      expect(Date.parse(st.heartbeat!)).toBeGreaterThan(Date.now() - 60_000);
      expect(st.lastUpdate).toBeTruthy();
    }
    // Graceful restart is offered with the configured restart time.
    expect(r1.birdc("show", "protocols", "all", "n1")).toMatch(
      /Neighbor capabilities[\s\S]*Graceful restart\s+Restart time: 30\b/,
    );
  });

  it("advertises a remote Service's /32 and /128 from both nodes (ECMP) and withdraws them with it", async () => {
    await L.service(APP, "web", {
      group: "remote",
      poolType: "remote",
      ips: ["203.0.113.10", "2001:db8:ff::10"],
    });
    await hops(r1, "203.0.113.10/32", [V4.n1, V4.n2]);
    await hops(r1, "2001:db8:ff::10/128", [V6.n1, V6.n2]);
    // The router installs one route with a next hop per node.
    const k4 = r1.kernelRoute("203.0.113.10");
    expect(k4).toContain(`nexthop via ${V4.n1}`);
    expect(k4).toContain(`nexthop via ${V4.n2}`);
    const k6 = r1.kernelRoute("2001:db8:ff::10");
    expect(k6).toContain(`via ${V6.n1}`);
    expect(k6).toContain(`via ${V6.n2}`);
    // Communities and the large community from the configuration ride along.
    const detail = r1.birdc("show", "route", "all", "203.0.113.10/32");
    expect(detail).toContain("(64512,100)");
    expect(detail).toContain("(65000, 1, 2)");
    for (const n of NODES) {
      const st = await waitFor(`${n} reports its routes`, async () => {
        const s = await status(n);
        return s.advertised?.length === 2 && (s.neighbors?.[0]?.prefixesSent ?? 0) >= 2
          ? s
          : undefined;
      });
      expect(st.advertised).toEqual(["2001:db8:ff::10/128", "203.0.113.10/32"]);
      const m = metrics(n);
      expect(m).toMatch(
        new RegExp(`purelb_bgp_session_up\\{peer="${r1.ipv4.replace(/\./g, "\\.")}"\\} 1`),
      );
      expect(m).toMatch(/purelb_bgp_advertised_prefixes 2\b/);
    }

    await remove(L.client, `/api/v1/namespaces/${APP}/services/web`);
    await hops(r1, "203.0.113.10/32", []);
    await hops(r1, "2001:db8:ff::10/128", []);
    await waitFor(
      "status without routes",
      async () => (await status("n1")).advertised?.length === 0,
    );
  });

  it("advertises the address's prefix on kube-lb0: an aggregated address gives its network", async () => {
    await L.service(APP, "agg", { group: "remote-agg", poolType: "remote", ips: ["198.51.100.5"] });
    await hops(r1, "198.51.100.0/24", [V4.n1, V4.n2]);
    expect(r1.routes().has("198.51.100.5/32")).toBe(false);
    await remove(L.client, `/api/v1/namespaces/${APP}/services/agg`);
    await hops(r1, "198.51.100.0/24", []);
  });

  it("with externalTrafficPolicy Local, only nodes with a ready endpoint advertise", async () => {
    const ip = "203.0.113.11";
    await L.endpoints(APP, "local-etp", [
      { node: "n2", ready: true },
      { node: "n1", ready: false },
    ]);
    await L.service(APP, "local-etp", {
      group: "remote",
      poolType: "remote",
      ips: [ip],
      etp: "Local",
    });
    await hops(r1, `${ip}/32`, [V4.n2]);
    await L.endpoints(APP, "local-etp", [
      { node: "n1", ready: true },
      { node: "n2", ready: false },
    ]);
    await hops(r1, `${ip}/32`, [V4.n1]);
  });

  it("moves the session when the neighbour changes, with its password from a Secret", async () => {
    await config({
      global: { asn: CLUSTER_ASN, routerID: "${NODE_IP}" },
      neighbors: [neighbor(r2.ipv4, { passwordSecretRef: { name: "bgp-auth", key: "password" } })],
      gracefulRestart: { enabled: true, restartTime: "30s" },
      communities: ["64512:100"],
    });
    await established(r2);
    await waitFor(
      "sessions with r1 gone",
      () => NODES.every(n => r1.sessions().get(n) !== "Established"),
      15_000,
    );
    await hops(r2, "203.0.113.11/32", [V4.n1]);
    await hops(r1, "203.0.113.11/32", []);
    for (const n of NODES) {
      await waitFor(`${n} status names r2 only`, async () => {
        const s = await status(n);
        return (
          s.neighbors?.length === 1 &&
          s.neighbors[0].address === r2.ipv4 &&
          s.neighbors[0].state === "Established"
        );
      });
    }
  });

  it("applies a global change (ASN) by restarting BGP in gobgpd, and says so", async () => {
    r2.reconfigure(birdPeers(CLUSTER_ASN + 1, PASSWORD));
    await config({
      global: { asn: CLUSTER_ASN + 1, routerID: "${NODE_IP}" },
      neighbors: [neighbor(r2.ipv4, { passwordSecretRef: { name: "bgp-auth", key: "password" } })],
      gracefulRestart: { enabled: true, restartTime: "30s" },
    });
    await waitFor("ASN in status", async () => (await status("n1")).asn === CLUSTER_ASN + 1);
    await established(r2);
    await hops(r2, "203.0.113.11/32", [V4.n1]);
    await waitFor("SpeakerRestarted event", async () =>
      (await eventsFor(L.client, NS, "default")).find(
        e =>
          e.reason === "SpeakerRestarted" &&
          e.message.includes(`ASN ${CLUSTER_ASN} -> ${CLUSTER_ASN + 1}`),
      ),
    );
    expect(L.agentLog("n1")).toContain("restarting BGP in gobgpd to apply a global change");
  });

  it("goes on without gobgpd, says so in the status, and advertises again when it is back", async () => {
    const n1 = L.lab.node("n1");
    await stopChild(gobgpd.get("n1")!, "SIGKILL");
    const st = await waitFor("n1 status says gobgpd is away", async () => {
      const s = await status("n1");
      return s.neighbors?.[0]?.state === "Unknown" &&
        /does not answer/.test(s.neighbors[0].lastError ?? "")
        ? s
        : undefined;
    });
    expect(st.neighbors![0].lastError).toContain("127.0.0.1:50051");
    // The agent's address work does not wait for BGP.
    await L.service(APP, "while-down", {
      group: "remote",
      poolType: "remote",
      ips: ["203.0.113.12"],
    });
    await waitFor("address on n1's kube-lb0", () => L.lab.find(n1.ns, "kube-lb0", "203.0.113.12"));
    await hops(r2, "203.0.113.12/32", [V4.n2]);

    gobgpd.set("n1", startGobgpd(L.lab, n1));
    await established(r2, ["n1"]);
    await hops(r2, "203.0.113.12/32", [V4.n1, V4.n2]);
    await hops(r2, "203.0.113.11/32", [V4.n1]);
    await waitFor(
      "n1 status Established again",
      async () => (await status("n1")).neighbors?.[0]?.state === "Established",
    );
  });

  it("withdraws a stopping node's routes, and advertises them again when it restarts", async () => {
    await L.stopAgent("n2", "SIGTERM");
    await hops(r2, "203.0.113.12/32", [V4.n1]);
    // The session itself stays up: gobgpd is the sidecar, only the agent went.
    expect(r2.sessions().get("n2")).toBe("Established");
    await L.startAgent("n2");
    await hops(r2, "203.0.113.12/32", [V4.n1, V4.n2]);
  });
});
