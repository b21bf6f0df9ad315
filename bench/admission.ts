// The admission check of a ServiceGroup with 100 pools, against 20 other groups of the
// namespace: the work the validate handler does per request, in-process.
import { validateServiceGroup } from "../lib/validate/servicegroup";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { BenchResult, nowMs, percentile, progress } from "./result";

function group(name: string, first: number, pools: number): ServiceGroup {
  const v4pools = Array.from({ length: pools }, (_, i) => {
    const n = first + i;
    return {
      subnet: `10.${n >> 8}.${n & 255}.0/24`,
      pool: `10.${n >> 8}.${n & 255}.10-10.${n >> 8}.${n & 255}.200`,
      aggregation: "default",
    };
  });
  return {
    apiVersion: "purelb.io/v2",
    kind: "ServiceGroup",
    metadata: { name, namespace: "purelb-system" },
    spec: { remote: { v4pools } },
  };
}

export async function run(): Promise<BenchResult[]> {
  progress("validating a 100-pool ServiceGroup");
  const candidate = group("big", 0, 100);
  const others = Array.from({ length: 20 }, (_, i) => group(`other-${i}`, 1000 + i * 5, 5));
  for (let i = 0; i < 200; i++) validateServiceGroup(candidate, others);
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = nowMs();
    const r = validateServiceGroup(candidate, others);
    times.push(nowMs() - t0);
    if (r.problems.length) throw new Error(`unexpected problems: ${JSON.stringify(r.problems[0])}`);
  }
  times.sort((a, b) => a - b);
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  return [
    {
      figure: "validate a 100-pool ServiceGroup, p50",
      value: Number(p50.toFixed(3)),
      unit: "ms",
      target: "info",
      pass: true,
    },
    {
      figure: "validate a 100-pool ServiceGroup, p99",
      value: Number(p99.toFixed(3)),
      unit: "ms",
      target: "≤ 5 ms",
      pass: p99 <= 5,
    },
  ];
}
