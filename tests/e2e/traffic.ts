// A client under steady load: one HTTP GET after another from inside a namespace, each on a
// fresh connection with a short timeout, every outcome printed with its time. The longest
// stretch without a successful answer is the gap a user of the VIP would have seen.
import { type ChildProcess, spawn } from "node:child_process";

/** Node program: GET http://<argv[1]>/ in a loop; prints "<ms> ok <pod> <node>" or "<ms> err". */
const PROBE_JS = `
const http = require("node:http");
const [host, timeout] = process.argv.slice(1);
const one = () => {
  const started = Date.now();
  const done = line => { console.log(Date.now() + " " + line); setTimeout(one, Math.max(0, 20 - (Date.now() - started))); };
  const req = http.get({ host, port: 80, path: "/", timeout: Number(timeout), agent: false }, res => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", c => (body += c));
    res.on("end", () => {
      try { const r = JSON.parse(body); done("ok " + r.pod + " " + r.node); } catch { done("err bad-body"); }
    });
    res.on("error", () => done("err response"));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", () => done("err request"));
};
one();
`;

export interface ProbeResult {
  at: number;
  ok: boolean;
  pod?: string;
  node?: string;
}

export class TrafficProbe {
  private readonly results: ProbeResult[] = [];
  private partial = "";

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (this.partial + chunk).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        const [at, outcome, pod, node] = line.split(" ");
        this.results.push({ at: Number(at), ok: outcome === "ok", pod, node });
      }
    });
  }

  /** Starts probing `vip` (IPv4 or IPv6) from namespace `ns`. */
  static start(ns: string, vip: string, timeoutMs = 500): TrafficProbe {
    const child = spawn(
      "ip",
      ["netns", "exec", ns, process.execPath, "-e", PROBE_JS, vip, String(timeoutMs)],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    return new TrafficProbe(child);
  }

  get count(): number {
    return this.results.length;
  }

  /** Results since `from` (ms since the epoch). */
  since(from: number): ProbeResult[] {
    return this.results.filter(r => r.at >= from);
  }

  /**
   * The longest time between two successful answers in [from, to], counting from `from` to
   * the first success and from the last success to `to`.
   */
  longestGap(from: number, to: number): number {
    let last = from;
    let gap = 0;
    for (const r of this.results) {
      if (r.at < from || r.at > to || !r.ok) continue;
      gap = Math.max(gap, r.at - last);
      last = r.at;
    }
    return Math.max(gap, to - last);
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise(resolve => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGKILL");
    });
  }
}
