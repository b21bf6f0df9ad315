// The demo's cluster: the one `npm run cluster -- up` runs if there is one (kept when the demo
// ends), otherwise one the demo starts the same way, as a supervisor in the background
// (tests/cluster/cli.ts serve), and takes down with `cluster down` when it ends, Ctrl-C
// included. A supervisor of its own means the cluster never depends on this process exiting
// cleanly: `down` kills it by PID and sweeps whatever it left.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type ImageEntry, readImageIndex } from "../../tests/cluster/images";
import { defaultClusterDir } from "../../tests/cluster/layout";
import { type ClusterState, alive, readState, sweep } from "../../tests/cluster/state";
import { line } from "./output";

const root = resolve(import.meta.dirname, "../..");
const cli = join(root, "tests/cluster/cli.ts");
const START_TIMEOUT_MS = 600_000;

export interface DemoCluster {
  state: ClusterState;
  images: ImageEntry[];
  /** true: someone else's `npm run cluster -- up`; the demo leaves it running. */
  reused: boolean;
}

export class ClusterSession {
  /** Set as soon as the demo has spawned a supervisor, so Ctrl-C during start-up stops it. */
  private startedPid?: number;
  private readonly base = defaultClusterDir();
  readonly dir = join(this.base, "cluster");
  private readonly log = join(this.base, "supervisor.log");

  async acquire(nodes: number): Promise<DemoCluster> {
    const existing = readState(this.dir);
    if (existing && alive(existing.pid)) {
      line(`a cluster is running (supervisor ${existing.pid}, ${this.dir}): using it`);
      const state = await this.waitReady(existing.pid, 0);
      return { state, images: readImageIndex(), reused: true };
    }
    if (existing) {
      line("removing what a previous cluster left behind");
      await sweep(existing);
    }
    mkdirSync(this.base, { recursive: true });
    const fd = openSync(this.log, "w");
    const child = spawn(process.execPath, ["--import", "tsx", cli, "serve", String(nodes)], {
      cwd: root,
      // its own process group: the terminal's Ctrl-C reaches the demo, which runs `down`
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    child.unref();
    this.startedPid = child.pid;
    line(`starting a ${nodes}-node cluster (supervisor ${child.pid}, log ${this.log})`);
    const state = await this.waitReady(child.pid ?? 0, START_TIMEOUT_MS);
    return { state, images: readImageIndex(), reused: false };
  }

  /** Polls the state file, echoing the supervisor's progress lines, until phase "ready". */
  private async waitReady(pid: number, timeoutMs: number): Promise<ClusterState> {
    const started = Date.now();
    let shown = 0;
    for (;;) {
      if (timeoutMs) {
        const lines = readLines(this.log);
        for (const l of lines.slice(shown)) line(`cluster: ${l}`);
        shown = lines.length;
      }
      const state = existsSync(this.dir) ? readState(this.dir) : undefined;
      if (state?.phase === "ready") return state;
      if (!alive(pid))
        throw new Error(
          `the cluster failed to start:\n${readLines(this.log).slice(-40).join("\n")}`,
        );
      if (timeoutMs && Date.now() - started > timeoutMs)
        throw new Error(`the cluster is not up after ${timeoutMs / 60_000} min; see ${this.log}`);
      await new Promise(r => setTimeout(r, 500));
    }
  }

  /** Stops the cluster if the demo started it (prints what `cluster down` says); else nothing. */
  async release(): Promise<void> {
    if (this.startedPid === undefined) return;
    this.startedPid = undefined;
    const code = await new Promise<number | null>(done => {
      const child = spawn(process.execPath, ["--import", "tsx", cli, "down"], {
        cwd: root,
        stdio: ["ignore", "inherit", "inherit"],
      });
      child.on("exit", c => done(c));
      child.on("error", () => done(1));
    });
    if (code !== 0) throw new Error("cluster down failed: run npm run cluster -- down");
  }
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
