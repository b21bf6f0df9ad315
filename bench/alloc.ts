// In-process allocation cost: it must not depend on the pool's size (no range is ever
// enumerated) and must grow linearly with the number of Services.
import { AddressBook } from "../lib/ipam/address-book";
import { allocate } from "../lib/ipam/allocate";
import { GroupModel, parseGroup } from "../lib/ipam/group";
import { BenchResult, nowMs, progress } from "./result";

function group(pool: string, subnet: string): GroupModel {
  const v6 = pool.includes(":");
  const parsed = parseGroup("bench", "g", {
    remote: v6 ? { v6pool: { pool, subnet } } : { v4pool: { pool, subnet } },
  });
  if (!parsed.group) throw new Error(JSON.stringify(parsed.problems));
  return parsed.group;
}

const req = (g: GroupModel, service: string) => ({
  service,
  group: g,
  families: [g.ranges[0].family],
  all: true,
  requested: new Map(),
  ports: [{ protocol: "TCP", port: 80 }],
  multiPool: false,
  liveSubnets: [],
  keep: [],
});

/** Cost of one allocate + release with a few addresses already held, in µs. */
function cycleCost(g: GroupModel, iterations: number): number {
  const book = new AddressBook();
  for (let i = 0; i < 4; i++) allocate(book, req(g, `held-${i}`));
  for (let i = 0; i < 2000; i++) {
    allocate(book, req(g, "warm"));
    book.release("warm");
  }
  const t0 = nowMs();
  for (let i = 0; i < iterations; i++) {
    allocate(book, req(g, "x"));
    book.release("x");
  }
  return ((nowMs() - t0) * 1000) / iterations;
}

function fill(count: number): number {
  const g = group("10.0.0.0/8", "10.0.0.0/8");
  const book = new AddressBook();
  const t0 = nowMs();
  for (let i = 0; i < count; i++) allocate(book, req(g, `ns/svc-${i}`));
  return nowMs() - t0;
}

export async function run(): Promise<BenchResult[]> {
  progress("allocation cost vs pool size");
  const pools: [string, string, string][] = [
    ["/29", "192.0.2.240/29", "192.0.2.0/24"],
    ["/16", "10.1.0.0/16", "10.0.0.0/8"],
    ["/8", "10.0.0.0/8", "10.0.0.0/8"],
    ["IPv6 /125", "2001:db8::/125", "2001:db8::/64"],
    ["IPv6 /64", "2001:db8::/64", "2001:db8::/64"],
  ];
  const iterations = 50_000;
  // Interleaved rounds, best of each: a busy machine slows a round, never speeds it up.
  const best = pools.map(() => Infinity);
  for (let round = 0; round < 5; round++) {
    pools.forEach(
      ([, pool, subnet], i) =>
        (best[i] = Math.min(best[i], cycleCost(group(pool, subnet), iterations))),
    );
  }
  const costs = pools.map(([label], i) => [label, best[i]] as const);
  // Pool size must not matter: each pool is compared with the small pool of its family.
  const base = (label: string) => costs[label.startsWith("IPv6") ? 3 : 0];
  const out: BenchResult[] = costs.map(([label, us]) => {
    const [baseLabel, baseUs] = base(label);
    return {
      figure: `allocate+release in a ${label} pool`,
      value: Number(us.toFixed(2)),
      unit: "µs",
      target: label === baseLabel ? "baseline" : `≤ 1.5× ${baseLabel}`,
      pass: us <= baseUs * 1.5,
      note: `${(us / baseUs).toFixed(2)}× ${baseLabel}, ${(us / costs[0][1]).toFixed(2)}× IPv4 /29`,
    };
  });
  progress("10k vs 100k allocations");
  fill(10_000); // warm the JIT
  const t10 = fill(10_000);
  const t100 = fill(100_000);
  out.push({
    figure: "10k allocations",
    value: Number(t10.toFixed(1)),
    unit: "ms",
    target: "baseline",
    pass: true,
  });
  out.push({
    figure: "100k allocations",
    value: Number(t100.toFixed(1)),
    unit: "ms",
    target: "≤ 12× 10k",
    pass: t100 <= t10 * 12,
    note: `${(t100 / t10).toFixed(2)}× 10k`,
  });
  return out;
}
