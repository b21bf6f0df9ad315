// The one driver the `peer` suite runs against every system: the same Service objects, the
// same concurrency and the same watch decide what "allocated" means, so the only thing that
// differs between two columns is the allocator under test.
import { KubeClient, MERGE_PATCH } from "../lib/k8s/client";
import { clientFor, ensureNamespace, serviceObject } from "../tests/harness/kube";
import { nowMs, percentile, progress } from "./result";

export const NS = "bench";
/** Addresses the driver writes itself for the floor; no pool of either system holds them. */
const FLOOR_NET = "203.0.113";
/** A class neither system serves, so the floor's Services are the driver's alone. */
const FLOOR_CLASS = "bench.example/none";

/** A running allocator process. */
export interface Proc {
  rssMb(): number;
  kill(): Promise<void>;
}

/** What a system needs from the driver: its pools installed, a process started. */
export interface System {
  name: string;
  /** Installs CRDs and two pools: `big` (the default) and `small` (chosen by annotation). */
  setup(client: KubeClient, big: string, small: string): Promise<void>;
  start(kubeconfig: string): Promise<Proc>;
  /** Annotations that send a Service to the small pool. */
  smallPool: Record<string, string>;
}

export interface Sizes {
  seq: number;
  burst: number;
  total: number;
  restartTimeoutMs: number;
}

/** Figures for one system, all from one fresh control plane. */
export interface Measured {
  floorP50: number;
  seqP50: number;
  seqP99: number;
  burstMs: number;
  burstAllocated: boolean;
  rssIdle: number;
  rssTotal: number;
  /** How many Services held an address when rssTotal was read. */
  served: number;
  fullP50: number;
  smallP50: number;
  restartMs: number;
  duplicates: number;
}

/** First ingress address of every Service in NS, with when the watch first saw it. */
class IngressWatch {
  readonly seen = new Map<string, { at: number; ip: string }>();
  private readonly abort = new AbortController();
  private waiters: (() => void)[] = [];

  constructor(private readonly client: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.client.request<{ metadata: { resourceVersion: string } }>(
      "GET",
      `/api/v1/namespaces/${NS}/services?limit=1`,
    );
    const rv = list.metadata.resourceVersion;
    void this.client
      .stream(
        `/api/v1/namespaces/${NS}/services?watch=1&resourceVersion=${rv}`,
        line => {
          const ev = JSON.parse(line) as {
            object: {
              metadata: { name: string };
              status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
            };
          };
          const ip = ev.object.status?.loadBalancer?.ingress?.[0]?.ip;
          if (ip && !this.seen.has(ev.object.metadata.name))
            this.seen.set(ev.object.metadata.name, { at: nowMs(), ip });
          this.waiters.splice(0).forEach(w => w());
        },
        this.abort.signal,
      )
      .catch(() => undefined);
  }

  /** Waits for `cond`, re-checked on every event (and every 200 ms); false on timeout. */
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

  /** Addresses held by more than one of the system's Services (the floor's excluded). */
  duplicates(): number {
    const owners = new Map<string, number>();
    for (const { ip } of this.seen.values())
      if (!ip.startsWith(`${FLOOR_NET}.`)) owners.set(ip, (owners.get(ip) ?? 0) + 1);
    return [...owners.values()].filter(n => n > 1).length;
  }

  stop(): void {
    this.abort.abort();
  }
}

async function inParallel(items: string[], limit: number, fn: (s: string) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const settle = (ms: number) => new Promise(r => setTimeout(r, ms));

export async function drive(
  system: System,
  kubeconfig: string,
  sizes: Sizes,
  pools: { big: string; small: string },
): Promise<Measured> {
  const client = clientFor(kubeconfig);
  const watch = new IngressWatch(client);
  const create = (name: string, annotations: Record<string, string> = {}, cls?: string) =>
    client.request("POST", `/api/v1/namespaces/${NS}/services`, {
      body: serviceObject(NS, name, {
        ipFamilyPolicy: "SingleStack",
        ipFamilies: ["IPv4"],
        annotations,
        loadBalancerClass: cls,
      }),
    });
  /** Sequential create → address latencies, sorted. */
  const sequential = async (list: string[], annotations?: Record<string, string>) => {
    const lat: number[] = [];
    for (const name of list) {
      const t0 = nowMs();
      await create(name, annotations);
      await watch.until(() => watch.seen.has(name), 10_000);
      lat.push((watch.seen.get(name)?.at ?? Infinity) - t0);
    }
    return lat.sort((a, b) => a - b);
  };

  await ensureNamespace(client, NS);
  await system.setup(client, pools.big, pools.small);
  let proc = await system.start(kubeconfig);
  try {
    await watch.start();
    await settle(3000);
    const rssIdle = proc.rssMb();

    progress(`${system.name}: floor (the driver writes the status itself)`);
    const floor: number[] = [];
    for (const [i, name] of names("floor", 100).entries()) {
      const t0 = nowMs();
      await create(name, {}, FLOOR_CLASS);
      await client.request("PATCH", `/api/v1/namespaces/${NS}/services/${name}/status`, {
        body: { status: { loadBalancer: { ingress: [{ ip: `${FLOOR_NET}.${i + 1}` }] } } },
        contentType: MERGE_PATCH,
      });
      await watch.until(() => watch.seen.has(name), 10_000);
      floor.push((watch.seen.get(name)?.at ?? Infinity) - t0);
    }
    floor.sort((a, b) => a - b);

    progress(`${system.name}: ${sizes.seq} sequential Services`);
    const seq = await sequential(names("seq", sizes.seq));

    progress(`${system.name}: burst of ${sizes.burst} at concurrency 16`);
    const burst = names("burst", sizes.burst);
    const b0 = nowMs();
    await inParallel(burst, 16, n => create(n));
    const burstAllocated = await watch.until(() => burst.every(n => watch.seen.has(n)), 300_000);
    const burstMs = Math.max(...burst.map(n => watch.seen.get(n)?.at ?? Infinity)) - b0;

    const fillCount = Math.max(0, sizes.total - sizes.seq - sizes.burst);
    progress(`${system.name}: filling to ${sizes.total} Services`);
    const fill = names("fill", fillCount);
    await inParallel(fill, 16, n => create(n));
    // MetalLB took ~57 ms a Service here; give each system well over that before giving up.
    await watch.until(() => fill.every(n => watch.seen.has(n)), 60_000 + fillCount * 150);
    await settle(5000);
    const rssTotal = proc.rssMb();
    const served = watch.seen.size - floor.length;

    progress(`${system.name}: 50 sequential with ${served} allocated, then 100 into the /24`);
    const full = await sequential(names("full", 50));
    const small = await sequential(names("small", 100), system.smallPool);

    progress(`${system.name}: SIGKILL with ${watch.seen.size} Services, start, one more`);
    await proc.kill();
    const r0 = nowMs();
    proc = await system.start(kubeconfig);
    await create("after-restart");
    await watch.until(() => watch.seen.has("after-restart"), sizes.restartTimeoutMs);
    const restartMs = (watch.seen.get("after-restart")?.at ?? Infinity) - r0;

    return {
      floorP50: percentile(floor, 50),
      seqP50: percentile(seq, 50),
      seqP99: percentile(seq, 99),
      burstMs,
      burstAllocated,
      rssIdle,
      rssTotal,
      served,
      fullP50: percentile(full, 50),
      smallP50: percentile(small, 50),
      restartMs,
      duplicates: watch.duplicates(),
    };
  } finally {
    watch.stop();
    await proc.kill();
  }
}
