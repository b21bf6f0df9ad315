// How the demo talks: a heading per step, and a heartbeat during steps that take minutes so a
// newcomer can tell a slow machine from a hung demo.

export const say = (s: string): void => void process.stdout.write(`\n==> ${s}\n`);

export const line = (s: string): void => void process.stdout.write(`  ${s}\n`);

/** Runs `fn`, printing "... <label>: <n>s" every 15 s until it settles, then the time taken. */
export async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const secs = () => `${Math.round((Date.now() - started) / 1000)}s`;
  const ticker = setInterval(() => line(`... ${label}: ${secs()}`), 15_000);
  try {
    const out = await fn();
    line(`${label}: done in ${secs()}`);
    return out;
  } finally {
    clearInterval(ticker);
  }
}
