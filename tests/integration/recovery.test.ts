// The allocator against a control plane that misbehaves: the apiserver restarts under load,
// answers 429 to everything, or keeps watches open and silent. Nothing may be lost or
// handed out twice, and the allocator must catch up by itself.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunningAllocator, runAllocator } from "../../lib/allocator/run";
import { KubeClient } from "../../lib/k8s/client";
import { ControlPlane, startControlPlane } from "../harness/controlplane";
import { FaultProxy, startFaultProxy } from "../harness/fault-proxy";
import {
  applyServiceGroup,
  clientFor,
  ensureNamespace,
  getService,
  installCrds,
  serviceObject,
  waitFor,
} from "../harness/kube";

const NS = "recovery";
const skip = !!process.env.PURELB_NO_CONTROLPLANE;

describe.skipIf(skip)("recovery from a misbehaving control plane", () => {
  let cp: ControlPlane;
  let direct: KubeClient;
  let proxy: FaultProxy;
  let running: RunningAllocator;

  const create = async (name: string) => {
    // the apiserver may be down for a moment: a user would retry too
    await waitFor(
      `create ${name}`,
      async () => {
        await direct.request("POST", `/api/v1/namespaces/${NS}/services`, {
          body: serviceObject(NS, name),
        });
        return true;
      },
      30_000,
    );
  };
  const allServed = async (names: string[], timeoutMs: number) => {
    await waitFor(
      `${names.length} Services served`,
      async () => {
        const list = await direct.request<{
          items: {
            metadata: { name: string };
            status?: { loadBalancer?: { ingress?: { ip: string }[] } };
          }[];
        }>("GET", `/api/v1/namespaces/${NS}/services`);
        const served = new Map(
          list.items.map(s => [
            s.metadata.name,
            (s.status?.loadBalancer?.ingress ?? []).map(i => i.ip),
          ]),
        );
        const ips = [...served.values()].flat();
        expect(new Set(ips).size, "an address was handed out twice").toBe(ips.length);
        const missing = names.filter(n => !(served.get(n) ?? []).length);
        return missing.length === 0;
      },
      timeoutMs,
    );
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    direct = clientFor(cp.kubeconfig);
    await installCrds(direct);
    await ensureNamespace(direct, "purelb-system");
    await ensureNamespace(direct, NS);
    await applyServiceGroup(direct, "purelb-system", "default", {
      remote: { v4pool: { pool: "198.51.100.0/24", subnet: "198.51.100.0/24" } },
    });
    proxy = await startFaultProxy(cp.kubeconfig);
    running = await runAllocator(clientFor(proxy.kubeconfig));
  }, 120_000);

  afterAll(async () => {
    running?.stop();
    await proxy?.stop();
    await cp?.stop();
  });

  it("catches up after kube-apiserver restarts in the middle of a burst", async () => {
    const first = Array.from({ length: 40 }, (_, i) => `before-${i}`);
    const second = Array.from({ length: 40 }, (_, i) => `around-${i}`);
    await Promise.all(first.map(create));
    const burst = (async () => {
      for (const name of second) await create(name);
    })();
    await cp.restartApiserver(2000);
    await burst;
    await allServed([...first, ...second], 60_000);
  });

  it("does not stall when every request, watches included, is answered 429 for a while", async () => {
    proxy.mode = "throttle";
    proxy.dropWatches();
    const during = Array.from({ length: 10 }, (_, i) => `throttled-${i}`);
    await Promise.all(during.map(create));
    await new Promise(r => setTimeout(r, 3000));
    proxy.mode = "pass";
    await allServed(during, 60_000);
  });

  it("replaces a watch that stays open but silent once the health check finds it idle", async () => {
    proxy.mode = "stall-watches";
    proxy.dropWatches(); // the informers reconnect into the silent watches
    await new Promise(r => setTimeout(r, 500));
    proxy.mode = "pass";
    await create("behind-a-silent-watch");
    await new Promise(r => setTimeout(r, 1500));
    expect(
      (await getService(direct, NS, "behind-a-silent-watch")).ingress,
      "a silent watch delivers nothing",
    ).toEqual([]);
    // what the periodic Pepr schedule does, with a short idle limit
    running.resync(1000);
    await allServed(["behind-a-silent-watch"], 30_000);
  });
});
