// `kubectl purelb` against the real control plane, run as kubectl runs a plugin: kubectl finds
// kubectl-purelb on PATH. No allocator or agent runs here: the test writes what they would
// (ServiceGroups, Services with status and annotations, node Leases, Events, workloads with
// status, BGPNodeStatus) and checks what the plugin makes of it.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { electWinner, Member } from "../../lib/election/election";
import { parseSubnets, microTime } from "../../lib/election/lease";
import { KubeClient } from "../../lib/k8s/client";
import { ServiceGroupSpec } from "../../lib/k8s/servicegroup";
import { toolPath } from "../harness/controlplane";
import {
  deleteAllServices,
  ServiceSpecInput,
  apply,
  applyServiceGroup,
  clientFor,
  createService,
  ensureNamespace,
  installCrds,
  remove,
} from "../harness/kube";
import { selfSignedCert } from "../harness/tls";
import type { InspectReport } from "../../cli/inspect";
import { EventRecorder, EventType } from "../../lib/k8s/events";

const kubeconfig = inject("kubeconfig");
const root = path.resolve(import.meta.dirname, "../..");
const PLB = "purelb-cli-it"; // PureLB's namespace for this test
const APP = "cli-it"; // the applications' namespace
const BAD_PLB = "purelb-cli-bad";
const BAD_APP = "cli-it-bad";

const SUBNETS = "198.51.100.0/24,2001:db8:c11::/64";
const HOUR = 3600;

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!kubeconfig)("kubectl purelb against a real apiserver", () => {
  let client: KubeClient;
  let bin: string;
  const cleanup: string[] = [];
  const members: Member[] = [];

  /** `kubectl purelb ...`: kubectl finds the plugin on PATH, as it would after npm link. */
  const purelb = (args: string[], env: Record<string, string> = {}): Result => {
    const r = spawnSync(toolPath("kubectl"), ["purelb", ...args], {
      cwd: root,
      encoding: "utf8",
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        PATH: `${bin}${path.delimiter}${process.env.PATH}`,
        ...env,
      },
      timeout: 60_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const json = <T>(args: string[]): { status: number; data: T } => {
    const r = purelb([...args, "-o", "json"]);
    try {
      return { status: r.status, data: JSON.parse(r.stdout) as T };
    } catch {
      throw new Error(`not JSON (status ${r.status}): ${r.stdout}\n${r.stderr}`);
    }
  };

  const group = async (ns: string, name: string, spec: ServiceGroupSpec) => {
    await applyServiceGroup(client, ns, name, spec);
  };
  const lease = async (
    node: string,
    subnets: string,
    renewedAgoSeconds: number,
    durationSeconds: number,
  ) => {
    const renewTime = microTime(Date.now() - renewedAgoSeconds * 1000);
    await apply(client, `/apis/coordination.k8s.io/v1/namespaces/${PLB}/leases`, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: `purelb-node-${node}`, annotations: { "purelb.io/subnets": subnets } },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: durationSeconds,
        renewTime,
        acquireTime: renewTime,
      },
    });
    members.push({
      node,
      subnets: parseSubnets(subnets),
      expires: Date.now() - renewedAgoSeconds * 1000 + durationSeconds * 1000,
    });
  };
  /** A LoadBalancer Service as the allocator and agents leave it: annotations and status. */
  const service = async (ns: string, name: string, s: ServiceSpecInput, ingress: string[]) => {
    const svc = await createService(client, ns, name, s);
    if (ingress.length) {
      await client.request("PATCH", `/api/v1/namespaces/${ns}/services/${name}/status`, {
        body: { status: { loadBalancer: { ingress: ingress.map(ip => ({ ip })) } } },
        contentType: "application/merge-patch+json",
      });
    }
    return svc;
  };
  const allocated = (groupName: string, poolType: string, more: Record<string, string> = {}) => ({
    "purelb.io/service-group": groupName,
    "purelb.io/allocated-by": "PureLB",
    "purelb.io/allocated-from": groupName,
    "purelb.io/pool-type": poolType,
    ...more,
  });
  // Events as the allocator writes them.
  const event = (
    ns: string,
    svc: { name: string; uid: string },
    type: EventType,
    reason: string,
    message: string,
  ) =>
    new EventRecorder(client, "purelb-allocator").record(
      { apiVersion: "v1", kind: "Service", namespace: ns, name: svc.name, uid: svc.uid },
      type,
      reason,
      message,
    );
  const winner = (address: string) => electWinner(address, members, Date.now())!;

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    bin = mkdtempSync(path.join(tmpdir(), "purelb-cli-bin-"));
    symlinkSync(path.join(root, "cli", "kubectl-purelb"), path.join(bin, "kubectl-purelb"));
    await installCrds(client);
    for (const ns of [PLB, APP, BAD_PLB, BAD_APP, "pepr-system"]) await ensureNamespace(client, ns);
    cleanup.push(...[PLB, APP, BAD_PLB, BAD_APP].map(ns => `/api/v1/namespaces/${ns}`));

    await group(PLB, "cli-local", {
      local: {
        v4pool: {
          pool: "198.51.100.240-198.51.100.243",
          subnet: "198.51.100.0/24",
          aggregation: "default",
        },
        v6pool: {
          pool: "2001:db8:c11::f0-2001:db8:c11::ff",
          subnet: "2001:db8:c11::/64",
          aggregation: "default",
        },
      },
    });
    await group(PLB, "cli-full", {
      local: {
        v4pool: { pool: "198.51.100.16/31", subnet: "198.51.100.0/24", aggregation: "default" },
      },
    });
    await group(PLB, "cli-remote", {
      remote: {
        v4pool: { pool: "203.0.113.64/30", subnet: "203.0.113.64/30", aggregation: "/32" },
      },
    });
    await group(PLB, "cli-island", {
      local: {
        v4pool: {
          pool: "100.64.0.10-100.64.0.20",
          subnet: "100.64.0.0/24",
          aggregation: "default",
        },
      },
    });
    await group(PLB, "cli-big", {
      local: { v6pool: { pool: "fd00:c11::/64", subnet: "fd00:c11::/64", aggregation: "default" } },
    });
    await apply(client, `/apis/purelb.io/v2/namespaces/${PLB}/lbnodeagents`, {
      apiVersion: "purelb.io/v2",
      kind: "LBNodeAgent",
      metadata: { name: "default" },
      spec: { local: { localInterface: "default", dummyInterface: "kube-lb0" } },
    });

    await lease("node-a", SUBNETS, 0, HOUR);
    await lease("node-b", SUBNETS, 0, HOUR);
    await lease("node-c", "192.0.2.0/24", 0, HOUR);
    await lease("node-gone", SUBNETS, 2 * HOUR, 5);

    const v4 = "198.51.100.240";
    const v6 = "2001:db8:c11::f0";
    await service(
      APP,
      "web",
      {
        ipFamilyPolicy: "RequireDualStack",
        ipFamilies: ["IPv4", "IPv6"],
        annotations: allocated("cli-local", "local", {
          "purelb.io/announcing-IPv4": `${winner(v4)},eth0`,
          "purelb.io/announcing-IPv6": `${winner(v6)},eth1`,
        }),
      },
      [v4, v6],
    );
    const stale = "198.51.100.241";
    const loser = winner(stale) === "node-a" ? "node-b" : "node-a";
    await service(
      APP,
      "stale",
      {
        annotations: allocated("cli-local", "local", {
          "purelb.io/announcing-IPv4": `${loser},eth0`,
        }),
      },
      [stale],
    );
    await service(
      APP,
      "dns-tcp",
      {
        ports: [{ port: 53, protocol: "TCP" }],
        annotations: allocated("cli-local", "local", { "purelb.io/allow-shared-ip": "cli-dns" }),
      },
      ["198.51.100.242"],
    );
    await service(
      APP,
      "dns-udp",
      {
        ports: [{ port: 53, protocol: "UDP" }],
        annotations: allocated("cli-local", "local", { "purelb.io/allow-shared-ip": "cli-dns" }),
      },
      ["198.51.100.242"],
    );
    await service(
      APP,
      "outside",
      {
        annotations: allocated("cli-local", "local", {
          "purelb.io/announcing-IPv4": `${winner("198.51.100.200")},eth0`,
        }),
      },
      ["198.51.100.200"],
    );
    await service(APP, "full-1", { annotations: allocated("cli-full", "local") }, [
      "198.51.100.16",
    ]);
    await service(APP, "full-2", { annotations: allocated("cli-full", "local") }, [
      "198.51.100.17",
    ]);
    const pending = await service(
      APP,
      "pending",
      { annotations: { "purelb.io/service-group": "cli-full" } },
      [],
    );
    await event(
      APP,
      pending,
      "Warning",
      "AllocationFailed",
      "ServiceGroup cli-full has no free IPv4 address; add a range or free an address",
    );
    await service(APP, "island", { annotations: allocated("cli-island", "local") }, [
      "100.64.0.10",
    ]);
    await service(
      APP,
      "routed",
      { externalTrafficPolicy: "Local", annotations: allocated("cli-remote", "remote") },
      ["203.0.113.64"],
    );
    await client.request("POST", `/apis/discovery.k8s.io/v1/namespaces/${APP}/endpointslices`, {
      body: {
        metadata: { name: "routed-1", labels: { "kubernetes.io/service-name": "routed" } },
        addressType: "IPv4",
        endpoints: [
          { addresses: ["10.1.0.5"], nodeName: "node-b", conditions: { ready: true } },
          { addresses: ["10.1.0.6"], nodeName: "node-c", conditions: { ready: false } },
        ],
        ports: [{ port: 8080, protocol: "TCP" }],
      },
    });
    const web = await client.request<{ metadata: { uid: string } }>(
      "GET",
      `/api/v1/namespaces/${APP}/services/web`,
    );
    await event(
      APP,
      { name: "web", uid: web.metadata.uid },
      "Normal",
      "AddressAssigned",
      `Assigned ${v4}, ${v6} from ServiceGroup cli-local (local pool)`,
    );

    // A second PureLB namespace with broken configuration, and an application using it.
    await group(BAD_PLB, "one", {
      local: { v4pool: { pool: "192.0.2.0/28", subnet: "192.0.2.0/24", aggregation: "default" } },
    });
    await group(BAD_PLB, "two", {
      local: {
        v4pools: [{ pool: "192.0.2.8-192.0.2.20", subnet: "192.0.2.0/24", aggregation: "default" }],
      },
    });
    await group(BAD_PLB, "three", {
      local: {
        multiPool: true,
        balancePools: true,
        v4pools: [
          { pool: "192.0.2.100-192.0.2.110", subnet: "192.0.2.0/24", aggregation: "default" },
        ],
      },
    });
    await service(BAD_APP, "lost", { annotations: { "purelb.io/service-group": "nowhere" } }, []);
  });

  afterAll(async () => {
    rmSync(bin, { recursive: true, force: true });
    // Services first: without a namespace controller, a deleted namespace keeps them, and
    // their addresses would look taken to the allocators of other test files.
    for (const ns of [APP, BAD_APP]) await deleteAllServices(client, ns).catch(() => undefined);
    for (const p of cleanup.reverse()) await remove(client, p).catch(() => undefined);
  });

  describe("inspect", () => {
    const inspect = (target: string) =>
      json<InspectReport>(["inspect", target, "--purelb-namespace", PLB]);

    it("shows addresses, pool, announcing node and interface per family, the election, Events and an OK diagnosis", () => {
      const { status, data } = inspect(`${APP}/web`);
      expect(status).toBe(0);
      expect(data.group).toEqual({
        name: "cli-local",
        requested: "cli-local",
        allocatedFrom: "cli-local",
        poolType: "local",
        exists: true,
      });
      const [a4, a6] = data.addresses;
      expect(a4).toEqual({
        address: "198.51.100.240",
        family: "IPv4",
        pool: "198.51.100.240-198.51.100.243",
        subnet: "198.51.100.0/24",
        kind: "local",
        announcing: { node: winner("198.51.100.240"), interface: "eth0" },
        candidates: ["node-a", "node-b"],
        winner: winner("198.51.100.240"),
      });
      expect(a6).toMatchObject({
        address: "2001:db8:c11::f0",
        family: "IPv6",
        announcing: { node: winner("2001:db8:c11::f0"), interface: "eth1" },
        winner: winner("2001:db8:c11::f0"),
      });
      // the expired Lease of node-gone is no candidate
      expect(a6.candidates).toEqual(["node-a", "node-b"]);
      expect(data.events.map(e => e.reason)).toEqual(["AddressAssigned"]);
      expect(data.diagnosis).toEqual([
        `OK: 198.51.100.240 announced by ${winner("198.51.100.240")} on eth0; 2001:db8:c11::f0 announced by ${winner("2001:db8:c11::f0")} on eth1`,
      ]);
    });

    it("prints a readable table by default", () => {
      const r = purelb(["inspect", `${APP}/web`, "--purelb-namespace", PLB]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(
        /^Service: +cli-it\/web \(LoadBalancer, RequireDualStack IPv4,IPv6, externalTrafficPolicy Cluster\)$/m,
      );
      expect(r.stdout).toMatch(/^ServiceGroup: +cli-local, pool type local/m);
      expect(r.stdout).toMatch(
        /ADDRESS +FAMILY +TYPE +POOL +SUBNET +ANNOUNCED BY +INTERFACE +ELECTED +CANDIDATES\/NODES/,
      );
      expect(r.stdout).toMatch(
        /198\.51\.100\.240 +IPv4 +local +198\.51\.100\.240-198\.51\.100\.243 +198\.51\.100\.0\/24 +node-[ab] +eth0 +node-[ab] +node-a,node-b/,
      );
      expect(r.stdout).toMatch(
        /Normal +AddressAssigned +purelb-allocator +Assigned 198\.51\.100\.240/,
      );
      expect(r.stdout).toMatch(/^Diagnosis: +OK: /m);
      // yaml too
      const y = purelb(["inspect", `${APP}/web`, "--purelb-namespace", PLB, "-o", "yaml"]);
      expect((parse(y.stdout) as InspectReport).service).toBe(`${APP}/web`);
    });

    it("says when the annotated announcer is not the node the election picks", () => {
      const { data } = inspect(`${APP}/stale`);
      const w = winner("198.51.100.241");
      expect(data.addresses[0].winner).toBe(w);
      expect(data.diagnosis).toEqual([
        expect.stringMatching(
          new RegExp(
            `198\\.51\\.100\\.241: annotated as announced by node-[ab], but the election now picks ${w}`,
          ),
        ),
      ]);
    });

    it("lists the co-tenants of a shared address", () => {
      const { data } = inspect(`${APP}/dns-tcp`);
      expect(data.sharing).toEqual({
        key: "cli-dns",
        with: [{ service: `${APP}/dns-udp`, addresses: ["198.51.100.242"], ports: ["53/UDP"] }],
      });
    });

    it("diagnoses a pending Service: exhausted pool and the allocator's last failure", () => {
      const { data } = inspect(`${APP}/pending`);
      expect(data.addresses).toEqual([]);
      expect(data.diagnosis).toEqual([
        "pool exhausted: ServiceGroup cli-full has no free IPv4 address (2/2 in use); add a range or free an address",
        "pending: the allocator says: ServiceGroup cli-full has no free IPv4 address; add a range or free an address",
      ]);
    });

    it("diagnoses a missing group, an address outside the pool, and a subnet no live node is on", () => {
      expect(inspect(`${BAD_APP}/lost`).data.diagnosis[0]).toMatch(
        /^no group: ServiceGroup nowhere does not exist in purelb-cli-it/,
      );
      expect(inspect(`${APP}/outside`).data.diagnosis).toEqual([
        expect.stringMatching(
          /^address outside pool: 198\.51\.100\.200 is in no range of ServiceGroup cli-local/,
        ),
      ]);
      const island = inspect(`${APP}/island`).data;
      expect(island.addresses[0].candidates).toEqual([]);
      expect(island.diagnosis).toEqual([
        expect.stringMatching(
          /^no live node on the subnet of 100\.64\.0\.10 \(100\.64\.0\.0\/24\)/,
        ),
      ]);
    });

    it("shows remote addresses on the nodes with a ready endpoint when externalTrafficPolicy is Local", () => {
      const { data } = inspect(`${APP}/routed`);
      expect(data.addresses[0]).toMatchObject({
        address: "203.0.113.64",
        kind: "remote",
        nodes: ["node-b"],
      });
      expect(data.diagnosis).toEqual(["OK: 203.0.113.64 on kube-lb0 of 1 node"]);
    });

    it("fails clearly for a Service that does not exist or a bad argument", () => {
      const missing = purelb(["inspect", `${APP}/nope`, "--purelb-namespace", PLB]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/Service cli-it\/nope not found/);
      const usage = purelb(["inspect"]);
      expect(usage.status).toBe(2);
      expect(usage.stderr).toMatch(/usage: kubectl purelb inspect NAMESPACE\/SERVICE/);
      expect(purelb(["pools", "-o", "xml"]).status).toBe(2);
    });
  });

  describe("pools", () => {
    interface Pools {
      namespace: string;
      groups: {
        name: string;
        type: string;
        ranges: {
          family: string;
          pool: string;
          size: string;
          inUse: string;
          free: string;
          services?: string[];
        }[];
        elsewhere: { inUse: string; services?: string[] };
      }[];
    }

    it("gives every range's exact size, use and free count", () => {
      const { status, data } = json<Pools>(["pools", "--purelb-namespace", PLB]);
      expect(status).toBe(0);
      const g = (name: string) => data.groups.find(x => x.name === name)!;
      expect(data.groups.map(x => x.name)).toEqual([
        "cli-big",
        "cli-full",
        "cli-island",
        "cli-local",
        "cli-remote",
      ]);
      // a shared address counts once; an address outside the pools is counted apart
      expect(g("cli-local").ranges).toEqual([
        {
          family: "IPv4",
          pool: "198.51.100.240-198.51.100.243",
          subnet: "198.51.100.0/24",
          aggregation: 24,
          size: "4",
          inUse: "3",
          free: "1",
        },
        {
          family: "IPv6",
          pool: "2001:db8:c11::f0-2001:db8:c11::ff",
          subnet: "2001:db8:c11::/64",
          aggregation: 64,
          size: "16",
          inUse: "1",
          free: "15",
        },
      ]);
      expect(g("cli-local").elsewhere).toEqual({ inUse: "1" });
      expect(g("cli-big").ranges[0]).toMatchObject({
        size: "18446744073709551616",
        inUse: "0",
        free: "18446744073709551616",
      });
      expect(g("cli-full").ranges[0]).toMatchObject({ size: "2", inUse: "2", free: "0" });
      expect(g("cli-remote")).toMatchObject({
        type: "remote",
        ranges: [{ pool: "203.0.113.64-203.0.113.67", aggregation: 32, inUse: "1" }],
      });
    });

    it("lists the Services using each range with --show-services, in a table", () => {
      const { data } = json<Pools>(["pools", "--purelb-namespace", PLB, "--show-services"]);
      const local = data.groups.find(x => x.name === "cli-local")!;
      expect(local.ranges[0].services).toEqual([
        `${APP}/dns-tcp`,
        `${APP}/dns-udp`,
        `${APP}/stale`,
        `${APP}/web`,
      ]);
      expect(local.elsewhere.services).toEqual([`${APP}/outside`]);
      const t = purelb(["pools", "--purelb-namespace", PLB, "--show-services"]);
      expect(t.status).toBe(0);
      expect(t.stdout).toMatch(
        /^GROUP +TYPE +FAMILY +POOL +SUBNET +SIZE +IN USE +FREE +SERVICES$/m,
      );
      expect(t.stdout).toMatch(
        /^cli-big +local +IPv6 +fd00:c11::-fd00:c11::ffff:ffff:ffff:ffff +fd00:c11::\/64 +18446744073709551616 +0 +18446744073709551616 +-$/m,
      );
      expect(t.stdout).toMatch(
        /^cli-local +local +IPv4 +198\.51\.100\.240-198\.51\.100\.243 .* 4 +3 +1 +cli-it\/dns-tcp,cli-it\/dns-udp,cli-it\/stale,cli-it\/web$/m,
      );
    });
  });

  describe("validate", () => {
    interface Validation {
      findings: { level: string; kind: string; name: string; message: string }[];
      summary: { PASS: number; WARN: number; FAIL: number };
    }

    it("passes a sound configuration with warnings about ranges no node can announce and remote groups without BGP", () => {
      const { status, data } = json<Validation>([
        "validate",
        "--purelb-namespace",
        PLB,
        "--service-namespace",
        APP,
      ]);
      expect(data.summary.FAIL, JSON.stringify(data.findings, null, 1)).toBe(0);
      expect(status).toBe(0);
      const at = (name: string) => data.findings.filter(f => f.name === name);
      expect(at(`${PLB}/cli-local`)).toEqual([
        { level: "PASS", kind: "ServiceGroup", name: `${PLB}/cli-local`, message: "valid" },
      ]);
      expect(at(`${PLB}/cli-island`)).toEqual([
        expect.objectContaining({
          level: "WARN",
          message: expect.stringMatching(/no live node has an interface on 100\.64\.0\.0\/24/),
        }),
      ]);
      expect(at(`${PLB}/cli-remote`)).toEqual([
        expect.objectContaining({
          level: "WARN",
          message: expect.stringMatching(/no BGPConfiguration in purelb-cli-it advertises them/),
        }),
      ]);
      expect(at(`${PLB}/default`)).toEqual([
        { level: "PASS", kind: "LBNodeAgent", name: `${PLB}/default`, message: "valid" },
      ]);
      expect(data.findings).toContainEqual(
        expect.objectContaining({
          level: "WARN",
          kind: "Service",
          name: `${APP}/outside`,
          message: expect.stringMatching(/outside the pools of ServiceGroup cli-local/),
        }),
      );
      expect(data.findings).toContainEqual(
        expect.objectContaining({ level: "PASS", kind: "Service" }),
      );
    });

    it("fails overlapping pools, multiPool with balancePools, a missing LBNodeAgent and a Service asking for a group that does not exist, with exit code 1", () => {
      const r = purelb(["validate", "--purelb-namespace", BAD_PLB, "--service-namespace", BAD_APP]);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^RESULT +KIND +NAME +MESSAGE$/m);
      expect(r.stdout).toMatch(
        /^FAIL +ServiceGroup +purelb-cli-bad\/one +spec\.local\.v4pool\.pool: 192\.0\.2\.0-192\.0\.2\.15 overlaps ServiceGroup two/m,
      );
      expect(r.stdout).toMatch(
        /^FAIL +ServiceGroup +purelb-cli-bad\/two +spec\.local\.v4pools\[0\]\.pool: 192\.0\.2\.8-192\.0\.2\.20 overlaps ServiceGroup one/m,
      );
      expect(r.stdout).toMatch(
        /^FAIL +ServiceGroup +purelb-cli-bad\/three +spec\.local\.balancePools: multiPool and balancePools cannot both be true/m,
      );
      expect(r.stdout).toMatch(
        /^WARN +LBNodeAgent +purelb-cli-bad +no LBNodeAgent in purelb-cli-bad/m,
      );
      expect(r.stdout).toMatch(
        /^FAIL +Service +cli-it-bad\/lost +asks for ServiceGroup nowhere, which does not exist in purelb-cli-bad/m,
      );
      expect(r.stdout).toMatch(/^\d+ PASS, \d+ WARN, [1-9]\d* FAIL$/m);
    });
  });

  describe("status", () => {
    interface Status {
      components: {
        component: string;
        name: string;
        desired: number;
        ready: number;
        state: string;
      }[];
      leases: { node: string; live: boolean; subnets: string[] }[];
      bgp?: { node: string; peer?: string; state?: string; stale: boolean }[];
      problems: string[];
    }
    const workloads = [
      {
        kind: "Deployment",
        ns: "pepr-system",
        name: "pepr-purelb",
        labels: { "pepr.dev/uuid": "purelb", "pepr.dev/controller": "admission" },
        status: { replicas: 2, readyReplicas: 2 },
        replicas: 2,
      },
      {
        kind: "Deployment",
        ns: "pepr-system",
        name: "pepr-purelb-watcher",
        labels: { "pepr.dev/uuid": "purelb", "pepr.dev/controller": "watcher" },
        status: { replicas: 1, readyReplicas: 0 },
        replicas: 1,
      },
      {
        kind: "DaemonSet",
        ns: PLB,
        name: "purelb-lbnodeagent",
        labels: { "app.kubernetes.io/component": "lbnodeagent" },
        status: {
          desiredNumberScheduled: 3,
          numberReady: 2,
          currentNumberScheduled: 3,
          numberMisscheduled: 0,
        },
        replicas: 0,
      },
    ];

    beforeAll(async () => {
      for (const w of workloads) {
        const plural = w.kind === "Deployment" ? "deployments" : "daemonsets";
        const base = `/apis/apps/v1/namespaces/${w.ns}/${plural}`;
        const template = {
          metadata: { labels: { app: w.name } },
          spec: { containers: [{ name: "c", image: "example.invalid/none" }] },
        };
        await apply(client, base, {
          apiVersion: "apps/v1",
          kind: w.kind,
          metadata: { name: w.name, labels: w.labels },
          spec: {
            ...(w.kind === "Deployment" ? { replicas: w.replicas } : {}),
            selector: { matchLabels: { app: w.name } },
            template,
          },
        });
        cleanup.push(`${base}/${w.name}`);
        await client.request("PATCH", `${base}/${w.name}/status`, {
          body: { status: w.status },
          contentType: "application/merge-patch+json",
        });
      }
      const now = new Date().toISOString();
      for (const [node, state, lastError] of [
        ["cli-node-a", "Established", undefined],
        ["cli-node-b", "Active", "connection refused"],
      ] as const) {
        const p = "/apis/bgp.purelb.io/v1/bgpnodestatuses";
        await apply(client, p, {
          apiVersion: "bgp.purelb.io/v1",
          kind: "BGPNodeStatus",
          metadata: { name: node },
        });
        cleanup.push(`${p}/${node}`);
        await client.request("PATCH", `${p}/${node}/status`, {
          body: {
            status: {
              routerID: "192.0.2.1",
              asn: 64512,
              neighbors: [{ address: "192.0.2.254", state, ...(lastError ? { lastError } : {}) }],
              advertised: ["203.0.113.64/32"],
              heartbeat: now,
              lastUpdate: now,
            },
          },
          contentType: "application/merge-patch+json",
        });
      }
    });

    it("reports components, live and expired Leases and BGP sessions, with exit code 1 when something is down", () => {
      const { status, data } = json<Status>(["status", "--purelb-namespace", PLB]);
      expect(status).toBe(1);
      expect(data.components).toEqual([
        {
          component: "admission",
          kind: "Deployment",
          name: "pepr-system/pepr-purelb",
          desired: 2,
          ready: 2,
          state: "Ready",
        },
        {
          component: "allocator",
          kind: "Deployment",
          name: "pepr-system/pepr-purelb-watcher",
          desired: 1,
          ready: 0,
          state: "Down",
        },
        {
          component: "lbnodeagent",
          kind: "DaemonSet",
          name: `${PLB}/purelb-lbnodeagent`,
          desired: 3,
          ready: 2,
          state: "Degraded",
        },
      ]);
      expect(data.leases.map(l => [l.node, l.live])).toEqual([
        ["node-a", true],
        ["node-b", true],
        ["node-c", true],
        ["node-gone", false],
      ]);
      expect(data.leases[0].subnets).toEqual(["198.51.100.0/24", "2001:db8:c11::/64"]);
      expect(data.bgp?.filter(b => b.node.startsWith("cli-node-"))).toEqual([
        expect.objectContaining({
          node: "cli-node-a",
          peer: "192.0.2.254",
          state: "Established",
          stale: false,
        }),
        expect.objectContaining({
          node: "cli-node-b",
          peer: "192.0.2.254",
          state: "Active",
          stale: false,
        }),
      ]);
      expect(data.problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^allocator: 0\/1 ready in pepr-system\/pepr-purelb-watcher/),
          expect.stringMatching(/^lbnodeagent: 2\/3 ready/),
          expect.stringMatching(/^node node-gone: Lease expired \d+s ago/),
          "node cli-node-b: BGP session with 192.0.2.254 is Active (connection refused)",
        ]),
      );
      expect(data.problems.join("\n")).not.toMatch(/admission|cli-node-a/);
      const t = purelb(["status", "--purelb-namespace", PLB]);
      expect(t.stdout).toMatch(
        /^allocator +Deployment +pepr-system\/pepr-purelb-watcher +0\/1 +Down$/m,
      );
      expect(t.stdout).toMatch(/^ +node-gone +no +198\.51\.100\.0\/24,2001:db8:c11::\/64/m);
      expect(t.stdout).toMatch(/^ +cli-node-b +192\.0\.2\.1 +64512 +192\.0\.2\.254 +Active/m);
    });
  });

  describe("connecting", () => {
    let dir: string;
    let server: Server | undefined;

    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), "purelb-cli-kc-"));
    });
    afterAll(async () => {
      await new Promise(r => (server ? server.close(r) : r(undefined)));
      rmSync(dir, { recursive: true, force: true });
    });

    const kubeconfigFor = (
      server: string,
      user: Record<string, unknown>,
      cluster: Record<string, unknown> = {},
    ) => {
      const file = path.join(dir, `kubeconfig-${Math.random().toString(16).slice(2)}`);
      writeFileSync(
        file,
        stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server, ...cluster } }],
          users: [{ name: "u", user }],
          contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
          "current-context": "c",
        }),
      );
      return file;
    };

    it("says when the cluster cannot be reached (exit 3)", () => {
      const r = purelb(["pools"], {
        KUBECONFIG: kubeconfigFor(
          "https://127.0.0.1:1",
          { token: "x" },
          { "insecure-skip-tls-verify": true },
        ),
      });
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(
        /cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/,
      );
    });

    it("says when PureLB's CRDs are not installed (exit 3)", async () => {
      // An API server that serves nothing of PureLB's.
      const tls = mkdtempSync(path.join(tmpdir(), "purelb-cli-tls-"));
      const cert = selfSignedCert(tls);
      const pem = { cert: readFileSync(cert.cert), key: readFileSync(cert.key) };
      rmSync(tls, { recursive: true, force: true });
      server = createServer(pem, (_req, res) => {
        res.statusCode = 404;
        res.setHeader("Content-Type", "application/json");
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "NotFound",
            code: 404,
            message: "the server could not find the requested resource",
          }),
        );
      });
      const port = await new Promise<number>(r =>
        server!.listen(0, "127.0.0.1", () => r((server!.address() as { port: number }).port)),
      );
      const kc = kubeconfigFor(
        `https://127.0.0.1:${port}`,
        { token: "x" },
        { "insecure-skip-tls-verify": true },
      );
      for (const cmd of ["pools", "validate"]) {
        // Asynchronously: this process serves the fake API server meanwhile.
        const r = await new Promise<Result>(resolve =>
          execFile(
            toolPath("kubectl"),
            ["purelb", cmd],
            {
              env: {
                ...process.env,
                KUBECONFIG: kc,
                PATH: `${bin}${path.delimiter}${process.env.PATH}`,
              },
            },
            (err, stdout, stderr) =>
              resolve({ status: (err as { code?: number } | null)?.code ?? 0, stdout, stderr }),
          ),
        );
        expect(r.status, cmd).toBe(3);
        expect(r.stderr, cmd).toMatch(
          /PureLB's CRDs are not installed: the API server does not serve purelb\.io\/v2/,
        );
      }
    });

    it("uses kubeconfigs with an exec credential plugin through @kubernetes/client-node", () => {
      const admin = parseAllDocuments(readFileSync(kubeconfig, "utf8"))[0].toJS() as {
        clusters: { cluster: Record<string, unknown> }[];
        users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
      };
      const u = admin.users[0].user;
      const credential = {
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: {
          clientCertificateData: Buffer.from(u["client-certificate-data"], "base64").toString(),
          clientKeyData: Buffer.from(u["client-key-data"], "base64").toString(),
        },
      };
      const plugin = path.join(dir, "credential-plugin");
      writeFileSync(plugin, `#!/bin/sh\ncat <<'EOF'\n${JSON.stringify(credential)}\nEOF\n`, {
        mode: 0o755,
      });
      const kc = kubeconfigFor(
        String(admin.clusters[0].cluster.server),
        {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: plugin,
            interactiveMode: "Never",
          },
        },
        { "certificate-authority-data": admin.clusters[0].cluster["certificate-authority-data"] },
      );
      const r = purelb(["pools", "--purelb-namespace", PLB, "-o", "json"], { KUBECONFIG: kc });
      expect(r.status, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { groups: unknown[] }).groups).toHaveLength(5);
    });
  });
});
