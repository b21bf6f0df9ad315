// The allocator as deployed (the built bundle in watch mode) against a real kube-apiserver:
// create-to-address latency, a burst, 10k Services, memory, churn and restart.
import { KubeClient } from "../lib/k8s/client";
import { startControlPlane } from "../tests/harness/controlplane";
import {
  applyServiceGroup,
  clientFor,
  ensureNamespace,
  installCrds,
  remove,
  serviceObject,
} from "../tests/harness/kube";
import { Watcher, buildBundle, prepareCluster, startWatcher } from "../tests/harness/watcher";
import { BenchResult, nowMs, percentile, progress } from "./result";

const NS = "bench";

/** Every Service's ingress as the watch reports it, with the time it was first seen. */
class IngressWatch {
  readonly seen = new Map<string, { at: number; ips: string[] }>();
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.request<{ metadata: { resourceVersion: string } }>(
      "GET",
      `/api/v1/namespaces/${NS}/services?limit=1`,
    );
    void this.client
      .stream(
        `/api/v1/namespaces/${NS}/services?watch=1&resourceVersion=${list.metadata.resourceVersion}`,
        line => {
          const ev = JSON.parse(line) as {
            type: string;
            object: {
              metadata: { name: string };
              status?: { loadBalancer?: { ingress?: { ip: string }[] } };
            };
          };
          const ips = (ev.object.status?.loadBalancer?.ingress ?? []).map(i => i.ip);
          if (ev.type === "DELETED") this.seen.delete(ev.object.metadata.name);
          else if (ips.length && !this.seen.has(ev.object.metadata.name))
            this.seen.set(ev.object.metadata.name, { at: nowMs(), ips });
          this.waiters.splice(0).forEach(w => w());
        },
        this.abort.signal,
      )
      .catch(() => undefined);
  }

  async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) return false;
      await new Promise<void>(r => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return true;
  }

  stop(): void {
    this.abort.abort();
  }
}

const create = (client: KubeClient, name: string) =>
  client.request("POST", `/api/v1/namespaces/${NS}/services`, {
    body: serviceObject(NS, name, { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"] }),
  });

async function inParallel(
  items: string[],
  limit: number,
  fn: (name: string) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

function duplicates(watch: IngressWatch): number {
  const owners = new Map<string, number>();
  for (const { ips } of watch.seen.values())
    for (const ip of ips) owners.set(ip, (owners.get(ip) ?? 0) + 1);
  return [...owners.values()].filter(n => n > 1).length;
}

export async function run(): Promise<BenchResult[]> {
  progress("building the module bundle (pepr build)");
  buildBundle();
  progress("starting the control plane");
  const cp = await startControlPlane();
  const client = clientFor(cp.kubeconfig);
  const out: BenchResult[] = [];
  let watcher: Watcher | undefined;
  const watch = new IngressWatch(client);
  try {
    await installCrds(client);
    await prepareCluster(client);
    await ensureNamespace(client, "purelb-system");
    await ensureNamespace(client, NS);
    await applyServiceGroup(client, "purelb-system", "default", {
      remote: {
        v6pool: { pool: "2001:db8:1::/112", subnet: "2001:db8:1::/112", aggregation: "/128" },
      },
    });
    watcher = await startWatcher(cp.kubeconfig);
    await watch.start();
    const idle = await waitRss(watcher, 3000);

    progress("500 sequential Services: create → address");
    const lat: number[] = [];
    for (let i = 0; i < 500; i++) {
      const name = `seq-${i}`;
      const t0 = nowMs();
      await create(client, name);
      await watch.until(() => watch.seen.has(name), 10_000);
      lat.push((watch.seen.get(name)?.at ?? Infinity) - t0);
    }
    lat.sort((a, b) => a - b);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    out.push({
      figure: "create → status IP p50 (500 sequential)",
      value: round(p50),
      unit: "ms",
      target: "≤ 30 ms",
      pass: p50 <= 30,
    });
    out.push({
      figure: "create → status IP p99 (500 sequential)",
      value: round(p99),
      unit: "ms",
      target: "≤ 100 ms",
      pass: p99 <= 100,
    });

    progress("a burst of 1,000 Services");
    const burst = Array.from({ length: 1000 }, (_, i) => `burst-${i}`);
    const b0 = nowMs();
    await inParallel(burst, 32, name => create(client, name));
    const allServed = await watch.until(() => burst.every(n => watch.seen.has(n)), 60_000);
    const burstMs = Math.max(...burst.map(n => watch.seen.get(n)?.at ?? Infinity)) - b0;
    out.push({
      figure: "1,000-Service burst, all allocated",
      value: round(burstMs),
      unit: "ms",
      target: "≤ 10,000 ms, no duplicate",
      pass: allServed && burstMs <= 10_000 && duplicates(watch) === 0,
      note: `${duplicates(watch)} duplicates`,
    });

    progress("filling to 10,000 Services");
    const fill = Array.from({ length: 10_000 - 1500 }, (_, i) => `fill-${i}`);
    await inParallel(fill, 32, name => create(client, name));
    await watch.until(() => watch.seen.size >= 10_000, 180_000);
    const rss10k = await waitRss(watcher, 5000);
    out.push({
      figure: "allocator RSS, idle",
      value: round(idle),
      unit: "MB",
      target: "info",
      pass: true,
    });
    out.push({
      figure: "allocator RSS with 10k Services",
      value: round(rss10k),
      unit: "MB",
      target: "≤ 200 MB",
      pass: rss10k <= 200,
      note: `${watch.seen.size} served, ${duplicates(watch)} duplicates`,
    });

    progress("churn: delete and re-create 2,000 Services");
    const churn = fill.slice(0, 2000);
    await inParallel(churn, 32, name =>
      remove(client, `/api/v1/namespaces/${NS}/services/${name}`),
    );
    await inParallel(churn, 32, name => create(client, name));
    await watch.until(() => churn.every(n => watch.seen.has(n)), 120_000);
    const rssChurn = await waitRss(watcher, 5000);
    out.push({
      figure: "allocator RSS after churn",
      value: round(rssChurn),
      unit: "MB",
      target: "≤ 200 MB, flat",
      pass: rssChurn <= 200 && rssChurn <= rss10k * 1.15,
      note: `${((rssChurn / rss10k - 1) * 100).toFixed(1)}% vs before`,
    });

    progress("restart with 10k allocated Services");
    await watcher.stop("SIGTERM");
    const r0 = nowMs();
    watcher = await startWatcher(cp.kubeconfig);
    await create(client, "after-restart");
    await watch.until(() => watch.seen.has("after-restart"), 60_000);
    const restartMs = (watch.seen.get("after-restart")?.at ?? Infinity) - r0;
    out.push({
      figure: "restart with 10k: rebuilt and allocating",
      value: round(restartMs),
      unit: "ms",
      target: "≤ 3,000 ms",
      pass: restartMs <= 3000,
      note: `${duplicates(watch)} duplicates`,
    });
  } finally {
    watch.stop();
    await watcher?.stop();
    await cp.stop();
  }
  return out;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** RSS after the process has had `settleMs` to finish its work. */
async function waitRss(w: Watcher, settleMs: number): Promise<number> {
  await new Promise(r => setTimeout(r, settleMs));
  return w.rssMb();
}
