// `npm run bench -- peer`: MetalLB's controller and our allocator, one after the other, each on
// its own fresh control plane, through one driver (bench/peer-driver.ts). Every row is our
// figure over MetalLB's. Sizes come from the environment so a quick run is possible:
//   PURELB_PEER_SERVICES (10000), PURELB_PEER_SEQ (300), PURELB_PEER_BURST (1000),
//   PURELB_PEER_RESTART_TIMEOUT_S (180).
import { startControlPlane } from "../tests/harness/controlplane";
import { Measured, Sizes, System, drive } from "./peer-driver";
import { metallb, metallbFlags, purelb } from "./peer-systems";
import { BenchResult } from "./result";

/** Benchmark space (RFC 2544): written to Service status only, never onto an interface. */
const POOLS = { big: "198.18.0.0/16", small: "198.19.0.0/24" };

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
};

const r1 = (n: number) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : n);
const fmt = (n: number, unit: string) => (Number.isFinite(n) ? `${r1(n)} ${unit}` : "none");

async function measure(system: System, sizes: Sizes): Promise<Measured> {
  const cp = await startControlPlane();
  try {
    return await drive(system, cp.kubeconfig, sizes, POOLS);
  } finally {
    await cp.stop();
  }
}

export async function run(): Promise<BenchResult[]> {
  const sizes: Sizes = {
    seq: num("PURELB_PEER_SEQ", 300),
    burst: num("PURELB_PEER_BURST", 1000),
    total: num("PURELB_PEER_SERVICES", 10_000),
    restartTimeoutMs: num("PURELB_PEER_RESTART_TIMEOUT_S", 180) * 1000,
  };
  const peer = metallb();
  const ours = purelb();
  const m = await measure(peer, sizes);
  const p = await measure(ours, sizes);

  /** A row comparing one figure: value is ours ÷ MetalLB's. */
  const row = (
    figure: string,
    mv: number,
    pv: number,
    unit: string,
    max: number | undefined,
    extra = "",
    ok = true,
  ): BenchResult => {
    // MetalLB never finishing bounds the ratio by what it was given, not by infinity.
    const ratio = pv / mv;
    return {
      figure,
      value: Number.isFinite(ratio) ? Math.round(ratio * 100) / 100 : ratio,
      unit: "×",
      target: max === undefined ? "info" : `≤ ${max}`,
      pass: ok && (max === undefined || ratio <= max),
      note: `MetalLB ${fmt(mv, unit)} | PureLB ${fmt(pv, unit)}${extra ? `; ${extra}` : ""}`,
    };
  };
  const n = sizes.total;
  const rows: BenchResult[] = [
    {
      figure: "PureLB create → IP p50 ÷ floor",
      value: Math.round((p.seqP50 / p.floorP50) * 100) / 100,
      unit: "×",
      target: "≤ 1.5",
      pass: p.seqP50 <= 1.5 * p.floorP50,
      note:
        `floor (driver creates, then patches status itself) MetalLB's plane ${fmt(m.floorP50, "ms")}` +
        ` | PureLB's plane ${fmt(p.floorP50, "ms")}; MetalLB ${peer.version} ` +
        `(${metallbFlags().join(" ")}; webhooks off), PureLB bundle in watch mode; ` +
        `pools ${POOLS.big} and ${POOLS.small}`,
    },
    row(`create → status IP p50 (${sizes.seq} sequential)`, m.seqP50, p.seqP50, "ms", 0.5),
    row(`create → status IP p99 (${sizes.seq} sequential)`, m.seqP99, p.seqP99, "ms", 0.5),
    row(
      `${sizes.burst}-Service burst (concurrency 16), all allocated`,
      m.burstMs,
      p.burstMs,
      "ms",
      0.5,
      `all allocated: MetalLB ${m.burstAllocated}, PureLB ${p.burstAllocated}`,
      p.burstAllocated,
    ),
    row("allocator RSS, idle", m.rssIdle, p.rssIdle, "MB", 2.0),
    row(
      `allocator RSS with ${n} Services`,
      m.rssTotal,
      p.rssTotal,
      "MB",
      1.0,
      `served: MetalLB ${m.served}, PureLB ${p.served}`,
    ),
    row(
      `create → IP p50 with ${n} allocated (50 sequential)`,
      m.fullP50,
      p.fullP50,
      "ms",
      undefined,
    ),
    row(
      `restart with ${n}: SIGKILL, start, new Service has an address`,
      Number.isFinite(m.restartMs) ? m.restartMs : sizes.restartTimeoutMs,
      p.restartMs,
      "ms",
      0.5,
      `${Number.isFinite(m.restartMs) ? "" : `MetalLB none within ${sizes.restartTimeoutMs / 1000} s (ratio is an upper bound); `}` +
        `duplicates: MetalLB ${m.duplicates}, PureLB ${p.duplicates}`,
      p.duplicates === 0 && Number.isFinite(p.restartMs),
    ),
    row(
      "create → IP p50, /24 pool (100 sequential)",
      m.smallP50,
      p.smallP50,
      "ms",
      undefined,
      `/16 ÷ /24 p50: MetalLB ${r1(m.seqP50 / m.smallP50)}, PureLB ${r1(p.seqP50 / p.smallP50)}`,
    ),
  ];
  return rows;
}
