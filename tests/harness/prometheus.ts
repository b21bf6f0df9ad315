// A real Prometheus (Debian's package, installed by hack/setup.sh) for tests: listens on
// 127.0.0.1 only, scrapes the targets it is given every second, and answers PromQL through
// its HTTP API, as an operator's Prometheus would. Its data lives in a temp dir.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { stringify } from "yaml";

export interface ScrapeTarget {
  job: string;
  /** host:port, on 127.0.0.1 */
  address: string;
  labels?: Record<string, string>;
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** Why Prometheus cannot run here, or undefined. */
export function prometheusUnavailable(): string | undefined {
  const r = spawnSync("prometheus", ["--version"], { encoding: "utf8" });
  return r.error ? "prometheus is not installed (run hack/setup.sh)" : undefined;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>(r => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise(r => s.close(r));
  return port;
}

export class Prometheus {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    readonly dir: string,
  ) {}

  static async start(targets: ScrapeTarget[]): Promise<Prometheus> {
    for (const t of targets)
      if (!t.address.startsWith("127.0.0.1:"))
        throw new Error(`scrape target ${t.address}: tests scrape 127.0.0.1 only`);
    const dir = mkdtempSync(path.join(tmpdir(), "purelb-prom-"));
    const jobs = new Map<string, ScrapeTarget[]>();
    for (const t of targets) jobs.set(t.job, [...(jobs.get(t.job) ?? []), t]);
    const config = {
      global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
      scrape_configs: [...jobs].map(([job, ts]) => ({
        job_name: job,
        static_configs: ts.map(t => ({ targets: [t.address], labels: t.labels ?? {} })),
      })),
    };
    writeFileSync(path.join(dir, "prometheus.yml"), stringify(config));
    const port = await freePort();
    const child = spawn(
      "prometheus",
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (log = (log + c).slice(-4000)));
    const p = new Prometheus(`http://127.0.0.1:${port}`, child, dir);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${log}`);
      const ready = await fetch(`${p.url}/-/ready`).then(
        r => r.ok,
        () => false,
      );
      if (ready) return p;
      if (Date.now() > deadline) {
        await p.stop();
        throw new Error(`prometheus not ready in 30 s: ${log}`);
      }
      await new Promise(r => setTimeout(r, 200));
    }
  }

  /** An instant PromQL query, as the HTTP API answers it. */
  async query(promql: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: {
        resultType: string;
        result: { metric: Record<string, string>; value: [number, string] }[];
      };
    };
    if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
    if (body.data?.resultType !== "vector") throw new Error(`${promql}: not a vector`);
    return body.data.result.map(r => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The single value of a query, or undefined when it has no series. */
  async value(promql: string): Promise<number | undefined> {
    const r = await this.query(promql);
    if (r.length > 1) throw new Error(`${promql}: ${r.length} series`);
    return r[0]?.value;
  }

  /** Waits until the query's value satisfies `ok`; fails with the last value seen. */
  async waitFor(
    promql: string,
    ok: (v: number | undefined) => boolean,
    timeoutMs = 20_000,
  ): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    let last: number | undefined;
    for (;;) {
      last = await this.value(promql);
      if (ok(last)) return last;
      if (Date.now() > deadline) throw new Error(`${promql}: still ${last} after ${timeoutMs} ms`);
      await new Promise(r => setTimeout(r, 250));
    }
  }

  /** Scrape health of every target, as Prometheus sees it. */
  async targets(): Promise<{ job: string; health: string; lastError: string; url: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as {
      data: {
        activeTargets: {
          labels: { job: string };
          health: string;
          lastError: string;
          scrapeUrl: string;
        }[];
      };
    };
    return body.data.activeTargets.map(t => ({
      job: t.labels.job,
      health: t.health,
      lastError: t.lastError,
      url: t.scrapeUrl,
    }));
  }

  config(): string {
    return readFileSync(path.join(this.dir, "prometheus.yml"), "utf8");
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise(r => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const t = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
