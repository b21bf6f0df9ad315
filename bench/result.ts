/** One row of the benchmark table. */
export interface BenchResult {
  figure: string;
  value: number;
  unit: string;
  target: string;
  pass: boolean;
  note?: string;
}

export const progress = (text: string): void => {
  process.stderr.write(`  … ${text}\n`);
};

/** Nanosecond clock in milliseconds. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
