// `kubectl purelb services`, `election`, `version`, `validate --strict`, `pools --service-group`
// and the per-command help, run as kubectl runs the plugin, against the real apiserver. As in
// cli.test.ts, the test writes what the allocator and agents would (groups, node Leases,
// Services with status and annotations, Events, a DaemonSet) and checks what the plugin says.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { electWinner, Member } from "../../lib/election/election";
import { microTime, parseSubnets } from "../../lib/election/lease";
import { KubeClient } from "../../lib/k8s/client";
import { EventRecorder } from "../../lib/k8s/events";
import { toolPath } from "../harness/controlplane";
import {
  ServiceSpecInput,
  apply,
  applyServiceGroup,
  clientFor,
  createService,
  deleteAllServices,
  ensureNamespace,
  installCrds,
  remove,
} from "../harness/kube";
import type { ElectionReport } from "../../cli/election";
import type { ServicesReport } from "../../cli/services";
import type { VersionReport } from "../../cli/version";

const kubeconfig = inject("kubeconfig");
const root = path.resolve(import.meta.dirname, "../..");
const PLB = "purelb-cli2-it";
const APP = "cli2-it";
const SUBNET = "198.51.100.0/24";
const WEB = "198.51.100.100";
const STALE = "198.51.100.101";
const HOUR = 3600;
const version = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
).version;

describe.skipIf(!kubeconfig)("kubectl purelb services, election, version and friends", () => {
  let client: KubeClient;
  let bin: string;
  const members: Member[] = [];
  const purelb = (args: string[]) => {
    const r = spawnSync(toolPath("kubectl"), ["purelb", ...args], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      },
      timeout: 60_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const json = <T>(args: string[]) => {
    const r = purelb([...args, "--purelb-namespace", PLB, "-o", "json"]);
    try {
      return { status: r.status, data: JSON.parse(r.stdout) as T };
    } catch {
      throw new Error(`not JSON (status ${r.status}): ${r.stdout}\n${r.stderr}`);
    }
  };
  const winner = (address: string, nodes = members) => electWinner(address, nodes, Date.now())!;
  const lease = async (node: string, subnets: string, agoSeconds: number, duration: number) => {
    const t = microTime(Date.now() - agoSeconds * 1000);
    await apply(client, `/apis/coordination.k8s.io/v1/namespaces/${PLB}/leases`, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: `purelb-node-${node}`, annotations: { "purelb.io/subnets": subnets } },
      spec: { holderIdentity: node, leaseDurationSeconds: duration, renewTime: t, acquireTime: t },
    });
    members.push({
      node,
      subnets: parseSubnets(subnets),
      expires: Date.now() - agoSeconds * 1000 + duration * 1000,
    });
  };
  const service = async (name: string, s: ServiceSpecInput, ingress: string[]) => {
    const svc = await createService(client, APP, name, s);
    if (ingress.length)
      await client.request("PATCH", `/api/v1/namespaces/${APP}/services/${name}/status`, {
        body: { status: { loadBalancer: { ingress: ingress.map(ip => ({ ip })) } } },
        contentType: "application/merge-patch+json",
      });
    return svc;
  };
  const allocated = (group: string, type: string, more: Record<string, string> = {}) => ({
    "purelb.io/service-group": group,
    "purelb.io/allocated-by": "PureLB",
    "purelb.io/allocated-from": group,
    "purelb.io/pool-type": type,
    ...more,
  });
  const ours = <T extends { service: string }>(rows: T[]) =>
    rows.filter(r => r.service.startsWith(`${APP}/`));

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    bin = mkdtempSync(path.join(tmpdir(), "purelb-cli2-bin-"));
    symlinkSync(path.join(root, "cli", "kubectl-purelb"), path.join(bin, "kubectl-purelb"));
    await installCrds(client);
    for (const ns of [PLB, APP]) await ensureNamespace(client, ns);
    const pool = (p: string, subnet: string) => ({ pool: p, subnet, aggregation: "default" });
    await applyServiceGroup(client, PLB, "c2-local", {
      local: { v4pools: [pool("198.51.100.100-198.51.100.103", SUBNET)] },
    });
    await applyServiceGroup(client, PLB, "c2-island", {
      local: { v4pools: [pool("100.64.1.10-100.64.1.11", "100.64.1.0/24")] },
    });
    await applyServiceGroup(client, PLB, "c2-remote", {
      remote: {
        v4pools: [{ pool: "203.0.113.128/30", subnet: "203.0.113.128/30", aggregation: "/32" }],
      },
    });
    await apply(client, `/apis/purelb.io/v2/namespaces/${PLB}/lbnodeagents`, {
      apiVersion: "purelb.io/v2",
      kind: "LBNodeAgent",
      metadata: { name: "default" },
      spec: { local: { localInterface: "default", extInterface: "kube-lb0" } },
    });
    await lease("node-a", SUBNET, 0, HOUR);
    await lease("node-b", SUBNET, 0, HOUR);
    await lease("node-gone", SUBNET, 2 * HOUR, 5);
    await service(
      "web",
      {
        annotations: allocated("c2-local", "local", {
          "purelb.io/announcing-IPv4": `${winner(WEB)},eth0`,
        }),
      },
      [WEB],
    );
    const loser = winner(STALE) === "node-a" ? "node-b" : "node-a";
    await service(
      "stale",
      {
        annotations: allocated("c2-local", "local", {
          "purelb.io/announcing-IPv4": `${loser},eth0`,
        }),
      },
      [STALE],
    );
    await service("island", { annotations: allocated("c2-island", "local") }, ["100.64.1.10"]);
    await service("routed", { annotations: allocated("c2-remote", "remote") }, ["203.0.113.128"]);
    const pending = await service(
      "pending",
      { annotations: { "purelb.io/service-group": "c2-local" } },
      [],
    );
    await new EventRecorder(client, "purelb-allocator").record(
      { apiVersion: "v1", kind: "Service", namespace: APP, name: "pending", uid: pending.uid },
      "Warning",
      "AllocationFailed",
      "ServiceGroup c2-local has no free IPv4 address",
    );
    // The agent DaemonSet of another release than the plugin's.
    await apply(client, `/apis/apps/v1/namespaces/${PLB}/daemonsets`, {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: {
        name: "purelb-lbnodeagent",
        labels: { "app.kubernetes.io/component": "lbnodeagent" },
      },
      spec: {
        selector: { matchLabels: { app: "cli2-agent" } },
        template: {
          metadata: { labels: { app: "cli2-agent" } },
          spec: {
            containers: [{ name: "lbnodeagent", image: "ghcr.io/purelb/pepr-purelb-agent:9.9.9" }],
          },
        },
      },
    });
    const now = new Date().toISOString();
    for (const [node, state, lastError] of [
      ["c2-node-x", "Established", undefined],
      ["c2-node-y", "Active", "connection refused"],
    ] as const) {
      const p = "/apis/bgp.purelb.io/v1/bgpnodestatuses";
      await apply(client, p, {
        apiVersion: "bgp.purelb.io/v1",
        kind: "BGPNodeStatus",
        metadata: { name: node },
      });
      await client.request("PATCH", `${p}/${node}/status`, {
        body: {
          status: {
            routerID: "192.0.2.9",
            asn: 64513,
            neighbors: [{ address: "192.0.2.254", state, ...(lastError ? { lastError } : {}) }],
            advertised: ["203.0.113.128/32"],
            heartbeat: now,
            lastUpdate: now,
          },
        },
        contentType: "application/merge-patch+json",
      });
    }
    // Events are written in the background; wait until the list shows it.
    for (let i = 0; i < 100; i++) {
      const l = await client.request<{ items: unknown[] }>(
        "GET",
        `/api/v1/namespaces/${APP}/events?fieldSelector=${encodeURIComponent("reason=AllocationFailed")}`,
      );
      if (l.items.length) break;
      await new Promise(r => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    rmSync(bin, { recursive: true, force: true });
    await deleteAllServices(client, APP).catch(() => undefined);
    await remove(client, `/apis/apps/v1/namespaces/${PLB}/daemonsets/purelb-lbnodeagent`).catch(
      () => undefined,
    );
    for (const n of ["c2-node-x", "c2-node-y"])
      await remove(client, `/apis/bgp.purelb.io/v1/bgpnodestatuses/${n}`).catch(() => undefined);
    for (const ns of [PLB, APP])
      await remove(client, `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  describe("services", () => {
    it("lists every PureLB Service with its group, addresses and announcer", () => {
      const { status, data } = json<ServicesReport>(["services"]);
      expect(status).toBe(0);
      const rows = ours(data.services);
      expect(rows.map(r => r.service)).toEqual([
        `${APP}/island`,
        `${APP}/pending`,
        `${APP}/routed`,
        `${APP}/stale`,
        `${APP}/web`,
      ]);
      expect(rows.find(r => r.service === `${APP}/web`)).toEqual({
        service: `${APP}/web`,
        group: "c2-local",
        poolType: "local",
        addresses: [WEB],
        announcedBy: [`${winner(WEB)}/eth0`],
        problems: [],
      });
      // a remote address is on kube-lb0 of every live node
      expect(rows.find(r => r.service === `${APP}/routed`)?.announcedBy).toEqual([
        "node-a",
        "node-b",
      ]);
      const t = purelb(["services", "--purelb-namespace", PLB, "--pool", "c2-local"]);
      expect(t.status).toBe(0);
      expect(t.stdout).toMatch(/^SERVICE +GROUP +TYPE +ADDRESSES +ANNOUNCED BY +PROBLEMS$/m);
      expect(t.stdout).toMatch(
        new RegExp(
          `^cli2-it/web +c2-local +local +198\\.51\\.100\\.100 +${winner(WEB)}/eth0 +-$`,
          "m",
        ),
      );
      expect(t.stdout).not.toMatch(/routed|island/);
    });

    it("filters by pool, node and address", () => {
      const names = (args: string[]) =>
        ours(json<ServicesReport>(["services", ...args]).data.services).map(r => r.service);
      expect(names(["--pool", "c2-remote"])).toEqual([`${APP}/routed`]);
      expect(names(["--ip", WEB])).toEqual([`${APP}/web`]);
      expect(names(["--ip", "192.0.2.99"])).toEqual([]);
      const w = winner(WEB);
      expect(names(["--node", w])).toContain(`${APP}/web`);
      expect(names(["--node", "node-gone"])).toEqual([]);
    });

    it("--problems shows what is wrong, with exit code 1", () => {
      const { status, data } = json<ServicesReport>(["services", "--problems"]);
      expect(status).toBe(1);
      const rows = ours(data.services);
      expect(rows.map(r => r.service)).toEqual([`${APP}/island`, `${APP}/pending`, `${APP}/stale`]);
      expect(rows.find(r => r.service === `${APP}/pending`)?.problems.join()).toMatch(
        /the allocator says: ServiceGroup c2-local has no free IPv4 address/,
      );
      expect(rows.find(r => r.service === `${APP}/stale`)?.problems.join()).toMatch(
        /but the election now picks/,
      );
      const none = purelb([
        "services",
        "--purelb-namespace",
        PLB,
        "--pool",
        "c2-remote",
        "--problems",
      ]);
      expect(none.status).toBe(0);
      expect(none.stdout).toBe("No problems found.\n");
    });
  });

  describe("election", () => {
    it("shows Leases, wins and the live nodes of every local pool subnet", () => {
      const { status, data } = json<ElectionReport>(["election"]);
      expect(status).toBe(0);
      const wins = (n: string) => [WEB, STALE].filter(a => winner(a) === n).length;
      expect(data.nodes).toEqual([
        expect.objectContaining({
          node: "node-a",
          live: true,
          subnets: [SUBNET],
          wins: wins("node-a"),
        }),
        expect.objectContaining({ node: "node-b", live: true, wins: wins("node-b") }),
        expect.objectContaining({ node: "node-gone", live: false, wins: 0 }),
      ]);
      expect(data.subnets).toEqual([
        { subnet: "100.64.1.0/24", groups: ["c2-island"], liveNodes: [] },
        { subnet: SUBNET, groups: ["c2-local"], liveNodes: ["node-a", "node-b"] },
      ]);
      expect(data.problems).toBeUndefined();
      const t = purelb(["election", "--purelb-namespace", PLB]);
      expect(t.stdout).toMatch(/^NODE +LIVE +SUBNETS +EXPIRES IN +WINS$/m);
      expect(t.stdout).toMatch(/^ +100\.64\.1\.0\/24 +c2-island +none$/m);
    });

    it("--check reports an expired Lease, a subnet without live node and a stale announcer, exit 1", () => {
      const { status, data } = json<ElectionReport>(["election", "--check"]);
      expect(status).toBe(1);
      expect(data.problems).toEqual([
        expect.stringMatching(/^node node-gone: Lease expired \d+s ago$/),
        "subnet 100.64.1.0/24 (c2-island): no live node, its addresses are not announced",
        expect.stringMatching(
          new RegExp(
            `^198\\.51\\.100\\.101 \\(cli2-it/stale\\): announced by node-[ab], but the election picks ${winner(STALE)}$`,
          ),
        ),
      ]);
    });

    it("--simulate-drain says which addresses move where, --node what a node wins", () => {
      const w = winner(WEB);
      const other = w === "node-a" ? "node-b" : "node-a";
      const { status, data } = json<ElectionReport>(["election", "--simulate-drain", w]);
      expect(status).toBe(0);
      expect(data.drain?.moves).toContainEqual({
        address: WEB,
        services: [`${APP}/web`],
        to: other,
      });
      expect(data.drain?.moves.every(m => m.to === other)).toBe(true);
      expect(data.drain?.remote).toBeGreaterThanOrEqual(1);
      const t = purelb(["election", "--purelb-namespace", PLB, "--simulate-drain", w]);
      expect(t.stdout).toMatch(new RegExp(`^If ${w} is drained:$`, "m"));
      expect(t.stdout).toMatch(
        new RegExp(`^ +198\\.51\\.100\\.100 +cli2-it/web +${w} +${other}$`, "m"),
      );
      const n = json<ElectionReport>(["election", "--node", w]).data.node!;
      expect(n.live).toBe(true);
      expect(n.addresses.map(a => a.address)).toContain(WEB);
      const missing = purelb(["election", "--purelb-namespace", PLB, "--simulate-drain", "nope"]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/node nope has no Lease in purelb-cli2-it/);
    });
  });

  describe("bgp sessions", () => {
    interface Sessions {
      sessions: { node: string; peer?: string; state?: string; asn?: number; stale: boolean }[];
      problems?: string[];
    }
    it("lists every node's sessions, one node with --node, and --check fails on one not Established", () => {
      const all = json<Sessions>(["bgp", "sessions"]);
      expect(all.status).toBe(0);
      expect(all.data.sessions.filter(s => s.node.startsWith("c2-node-"))).toEqual([
        expect.objectContaining({
          node: "c2-node-x",
          peer: "192.0.2.254",
          state: "Established",
          asn: 64513,
          stale: false,
        }),
        expect.objectContaining({
          node: "c2-node-y",
          peer: "192.0.2.254",
          state: "Active",
          stale: false,
        }),
      ]);
      expect(all.data.problems).toBeUndefined();
      const x = json<Sessions>(["bgp", "sessions", "--node", "c2-node-x", "--check"]);
      expect(x.status).toBe(0);
      expect(x.data).toEqual({
        sessions: [expect.objectContaining({ node: "c2-node-x" })],
        problems: [],
      });
      const y = purelb(["bgp", "sessions", "--node", "c2-node-y", "--check"]);
      expect(y.status).toBe(1);
      expect(y.stdout).toMatch(/^c2-node-y +192\.0\.2\.9 +64513 +192\.0\.2\.254 +Active/m);
      expect(y.stdout).toMatch(
        /- node c2-node-y: BGP session with 192\.0\.2\.254 is Active \(connection refused\)/,
      );
      expect(purelb(["bgp"]).status).toBe(2);
      expect(purelb(["bgp", "dataplane"]).stderr).toMatch(/bgp dataplane is not implemented/);
    });
  });

  describe("version, validate --strict, pools --service-group, help", () => {
    it("version: plugin, Kubernetes and component versions, with a skew warning", () => {
      const { status, data } = json<VersionReport>(["version"]);
      expect(status).toBe(0);
      expect(data.plugin).toBe(version);
      expect(data.kubernetes).toMatch(/^v1\.\d+\.\d+/);
      expect(data.components).toContainEqual({
        component: "lbnodeagent",
        name: `${PLB}/purelb-lbnodeagent`,
        images: ["ghcr.io/purelb/pepr-purelb-agent:9.9.9"],
        version: "9.9.9",
      });
      expect(data.warnings).toContain(
        `version skew: the plugin is ${version}, the node agent runs 9.9.9; use the plugin of the installed release`,
      );
      const t = purelb(["version", "--purelb-namespace", PLB]);
      expect(t.stdout).toMatch(
        new RegExp(`^kubectl-purelb ${version.replace(/\./g, "\\.")}$`, "m"),
      );
      expect(t.stdout).toMatch(/^Warning: version skew/m);
      expect(
        parse(purelb(["version", "--purelb-namespace", PLB, "-o", "yaml"]).stdout).plugin,
      ).toBe(version);
    });

    it("validate --strict fails on warnings that plain validate passes", () => {
      const plain = purelb(["validate", "-n", PLB, "--service-namespace", APP]);
      expect(plain.stdout).toMatch(/WARN +ServiceGroup +purelb-cli2-it\/c2-island +.*no live node/);
      expect(plain.stdout).toMatch(/^\d+ PASS, [1-9]\d* WARN, 0 FAIL$/m);
      expect(plain.status).toBe(0);
      expect(purelb(["validate", "-n", PLB, "--service-namespace", APP, "--strict"]).status).toBe(
        1,
      );
    });

    it("pools --service-group shows one group, and says when it does not exist", () => {
      const { status, data } = json<{ groups: { name: string }[] }>([
        "pools",
        "--service-group",
        "c2-local",
      ]);
      expect(status).toBe(0);
      expect(data.groups.map(g => g.name)).toEqual(["c2-local"]);
      // -n is PureLB's namespace, as in upstream's plugin
      const viaN = purelb(["pools", "-n", PLB, "--service-group", "c2-local", "-o", "json"]);
      expect(viaN.status, viaN.stderr).toBe(0);
      expect((JSON.parse(viaN.stdout) as { namespace: string }).namespace).toBe(PLB);
      const both = purelb(["pools", "-n", PLB, "--purelb-namespace", "other"]);
      expect(both.status).toBe(2);
      expect(both.stderr).toMatch(/-n and --purelb-namespace both name PureLB's namespace/);
      const missing = purelb(["pools", "--purelb-namespace", PLB, "--service-group", "nope"]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/ServiceGroup nope does not exist in purelb-cli2-it/);
    });

    it("has help with examples for every command, and refuses a flag of another command", () => {
      for (const cmd of [
        "bgp",
        "inspect",
        "pools",
        "services",
        "election",
        "validate",
        "status",
        "version",
      ]) {
        const r = purelb([cmd, "--help"]);
        expect(r.status, cmd).toBe(0);
        expect(r.stdout, cmd).toMatch(new RegExp(`^kubectl purelb ${cmd}`));
        expect(r.stdout, cmd).toMatch(/Examples?:\n {2}kubectl purelb /);
        expect(r.stdout, cmd).toMatch(/Exit codes: 0 fine/);
      }
      expect(purelb(["help", "election"]).stdout).toMatch(/--simulate-drain NODE/);
      expect(purelb(["--help"]).stdout).toMatch(/kubectl purelb services +every PureLB Service/);
      const wrong = purelb(["pools", "--check"]);
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toMatch(/--check is an option of election and bgp, not of pools/);
    });
  });
});
