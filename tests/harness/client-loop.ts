// Reachability as a client sees it: an HTTP server in every node namespace of a Lab answering
// its node's name (bound to any address, so it answers on whatever VIP the node's kernel holds),
// and a client process in the client namespace requesting a VIP every 100 ms. Who holds an
// address in the kernel says little about whether clients follow it (their ARP and neighbour
// caches must too); this measures the latter.
//
//   const servers = await NameServers.start(lab);
//   const loop = await ClientLoop.start(lab, "192.0.2.200");
//   ... fail something over ...
//   const { longestGapMs, answeredBy, failures } = await loop.stop();
//
// Each request is a new connection with a timeout shorter than TCP's first SYN retransmission
// (1 s), so a request that only gets through on a retransmission counts as a failure and the
// gap shows. Both processes are the Lab's children: its destroy() ends them if a test does not.
import { type ChildProcess } from "node:child_process";
import { waitFor } from "./kube";
import { Lab, stopChild } from "./netns";

export const HTTP_PORT = 80;

/** argv: node name, port. Prints "serving" once it listens on every address (IPv4 and IPv6). */
const SERVER_JS = `
const [name, port] = process.argv.slice(1);
const server = require("node:http").createServer((req, res) => {
  res.setHeader("connection", "close");
  res.end(name);
});
server.listen({ port: Number(port), host: "::", ipv6Only: false }, () => console.log("serving"));
`;

/**
 * argv: vip, port, interval ms, timeout ms, max ms. One line per request:
 * "ok <sent> <answered> <body>" or "fail <sent> <ended> <error code>" (epoch ms). Ends by
 * itself after max ms, and on SIGTERM once the requests in flight have ended.
 */
const CLIENT_JS = `
const http = require("node:http");
const [vip, port, interval, timeout, maxMs] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
let inFlight = 0, stopping = false;
const out = s => process.stdout.write(s + "\\n");
const done = () => { if (stopping && inFlight === 0) process.exit(0); };
function once() {
  const sent = Date.now();
  let ended = false;
  const end = line => { if (ended) return; ended = true; inFlight--; out(line); done(); };
  inFlight++;
  const req = http.get({ hostname: vip, port, path: "/", agent: false, timeout }, res => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", c => (body += c));
    res.on("end", () => end("ok " + sent + " " + Date.now() + " " + (body || "-")));
    res.on("error", e => end("fail " + sent + " " + Date.now() + " " + (e.code || e.message)));
  });
  req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
  req.on("error", e => end("fail " + sent + " " + Date.now() + " " + (e.code || e.message)));
}
const timer = setInterval(once, interval);
once();
const stop = () => { stopping = true; clearInterval(timer); done(); };
process.on("SIGTERM", stop);
setTimeout(stop, maxMs);
out("started " + Date.now());
`;

/** HTTP servers answering each node's name, one per node namespace of the Lab. */
export class NameServers {
  private constructor(private readonly children: ChildProcess[]) {}

  static async start(lab: Lab, port = HTTP_PORT): Promise<NameServers> {
    const children: ChildProcess[] = [];
    const ready = lab.nodes.map(n => {
      const child = lab.spawnPiped(n.ns, process.execPath, ["-e", SERVER_JS, n.name, String(port)]);
      children.push(child);
      let text = "";
      child.stdout!.setEncoding("utf8").on("data", (c: string) => (text += c));
      child.stderr!.setEncoding("utf8").on("data", (c: string) => (text += c));
      return waitFor(`HTTP server of ${n.name}`, () => {
        if (child.exitCode !== null) throw new Error(`HTTP server of ${n.name} exited: ${text}`);
        return text.includes("serving");
      });
    });
    const servers = new NameServers(children);
    try {
      await Promise.all(ready);
    } catch (err) {
      await servers.stop();
      throw err;
    }
    return servers;
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map(c => stopChild(c, "SIGKILL")));
  }
}

/** One answered request: when the answer arrived (epoch ms) and which node sent it. */
export interface Answer {
  at: number;
  node: string;
}

export interface Reachability {
  /** The longest time without an answer in the window, its ends included (window start to the
   * first answer, last answer to window end). */
  longestGapMs: number;
  /** Where that gap lies (epoch ms). */
  gapFrom: number;
  gapTo: number;
  /** Answers per node name. */
  answeredBy: Record<string, number>;
  /** Requests that got no answer (timeout, refused, unreachable), and by what error. */
  failures: number;
  errors: Record<string, number>;
  requests: number;
}

export interface ClientLoopOptions {
  port?: number;
  intervalMs?: number;
  /** Per request; keep it under TCP's 1 s SYN retransmission. */
  timeoutMs?: number;
  /** The client process ends by itself after this long. */
  maxMs?: number;
}

/** Reachability over [from, to] from the answers and failures a loop recorded. */
export function reachability(
  answers: readonly Answer[],
  failures: readonly { at: number; error: string }[],
  from: number,
  to: number,
): Reachability {
  const inside = answers.filter(a => a.at >= from && a.at <= to);
  const answeredBy: Record<string, number> = {};
  for (const a of inside) answeredBy[a.node] = (answeredBy[a.node] ?? 0) + 1;
  let prev = from;
  let gap = { ms: 0, from, to: from };
  for (const t of [...inside.map(a => a.at), to]) {
    if (t - prev > gap.ms) gap = { ms: t - prev, from: prev, to: t };
    prev = t;
  }
  const failed = failures.filter(f => f.at >= from && f.at <= to);
  const errors: Record<string, number> = {};
  for (const f of failed) errors[f.error] = (errors[f.error] ?? 0) + 1;
  return {
    longestGapMs: gap.ms,
    gapFrom: gap.from,
    gapTo: gap.to,
    answeredBy,
    failures: failed.length,
    errors,
    requests: inside.length + failed.length,
  };
}

/** A client in the Lab's client namespace requesting http://<vip>/ every 100 ms. */
export class ClientLoop {
  readonly answers: Answer[] = [];
  readonly failed: { at: number; error: string }[] = [];
  private buf = "";
  /** When the client sent its first request (epoch ms). */
  startedAt = NaN;
  private stoppedAt?: number;

  private constructor(
    readonly vip: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      this.buf += c;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        this.line(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
  }

  static async start(lab: Lab, vip: string, opts: ClientLoopOptions = {}): Promise<ClientLoop> {
    const args = [
      vip,
      opts.port ?? HTTP_PORT,
      opts.intervalMs ?? 100,
      opts.timeoutMs ?? 800,
      opts.maxMs ?? 300_000,
    ].map(String);
    const child = lab.spawnPiped(lab.client.ns, process.execPath, ["-e", CLIENT_JS, ...args]);
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
    const loop = new ClientLoop(vip, child);
    await waitFor(`client loop for ${vip}`, () => {
      if (child.exitCode !== null) throw new Error(`client loop for ${vip} exited: ${err}`);
      return !Number.isNaN(loop.startedAt);
    });
    return loop;
  }

  private line(l: string): void {
    const [kind, first, at, rest] = l.split(" ");
    if (kind === "started") this.startedAt = Number(first);
    else if (kind === "ok") this.answers.push({ at: Number(at), node: rest });
    else if (kind === "fail") this.failed.push({ at: Number(at), error: rest });
  }

  /** Reachability so far, or over [from, to] (epoch ms; cut off where the loop stopped). */
  report(from = this.startedAt, to = Infinity): Reachability {
    const end = Math.min(to, this.stoppedAt ?? Date.now());
    return reachability(this.answers, this.failed, from, end);
  }

  /** The first answer at or after `t` (epoch ms), waiting up to timeoutMs for it. */
  async answerAfter(t: number, timeoutMs: number): Promise<Answer> {
    return waitFor(
      `an answer from ${this.vip} after ${new Date(t).toISOString()}`,
      () => this.answers.find(a => a.at >= t),
      timeoutMs,
    );
  }

  /** Ends the loop once its requests in flight have ended; reachability over its whole run. */
  async stop(): Promise<Reachability> {
    if (this.stoppedAt === undefined) {
      this.stoppedAt = Date.now();
      await stopChild(this.child, "SIGTERM");
    }
    return this.report();
  }
}
