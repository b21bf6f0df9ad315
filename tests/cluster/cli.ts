// npm run cluster -- up [--nodes N] | down | status
// `up` starts a supervisor process in the background that runs the cluster (tests/cluster/
// cluster.ts) until `down` sends it SIGTERM; the state it writes tells `status` and `down`
// where everything is, and lets `down` remove what a supervisor that died left behind.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { clientFor } from "../harness/kube";
import { Cluster } from "./cluster";
import { imagesUnavailable } from "./images";
import { defaultClusterDir } from "./layout";
import { type ClusterState, alive, leftovers, readState, sweep } from "./state";

const base = defaultClusterDir();
/** Removed with the cluster; the supervisor's log, next to it, stays for reading. */
const dir = join(base, "cluster");
const supervisorLog = join(base, "supervisor.log");
const root = resolve(import.meta.dirname, "../..");

function usage(): never {
  console.error("usage: npm run cluster -- up [--nodes N] | down | status");
  process.exit(2);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function up(nodes: number): Promise<void> {
  const existing = readState(dir);
  if (existing && alive(existing.pid)) {
    console.log(
      `a cluster is already running (supervisor ${existing.pid}); see npm run cluster -- status`,
    );
    return;
  }
  if (existing) {
    console.log("removing what a previous cluster left behind");
    await sweep(existing);
  }
  const why = imagesUnavailable();
  if (why) throw new Error(why);
  if (process.getuid?.() !== 0)
    throw new Error("the cluster needs root (namespaces, mounts, cgroups)");
  mkdirSync(base, { recursive: true });
  const fd = openSync(supervisorLog, "w");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(root, "tests/cluster/cli.ts"), "serve", String(nodes)],
    { cwd: root, detached: true, stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  child.unref();
  const pid = child.pid ?? 0;
  const started = Date.now();
  for (;;) {
    const state = existsSync(dir) ? readState(dir) : undefined;
    if (state?.phase === "ready") {
      console.log(
        `cluster up: ${state.nodes.length} nodes Ready in ${state.startupSeconds.toFixed(1)}s`,
      );
      printAccess(state);
      return;
    }
    if (!alive(pid)) throw new Error(`the cluster failed to start:\n${tail(supervisorLog, 60)}`);
    if (Date.now() - started > 600_000)
      throw new Error(`not up after 10 min; see ${supervisorLog}`);
    await new Promise(r => setTimeout(r, 500));
  }
}

function printAccess(state: ClusterState): void {
  console.log(`  export KUBECONFIG=${state.kubeconfig}`);
  for (const n of state.nodes)
    console.log(`  ${n.name}: ${n.ipv4} ${n.ipv6}  (ip netns exec ${n.ns} ...)`);
  console.log(
    `  client: ip netns exec ${state.clientNs} ...; behind the router: ip netns exec ${state.farClientNs} ...`,
  );
  console.log(`  logs: ${join(state.dir, "logs")}`);
}

async function serve(nodes: number): Promise<void> {
  const cluster = await Cluster.start({ dir, nodes, adoptSelf: true, log: l => console.log(l) });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log("stopping");
    void cluster.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // Keeps the process (and with it the relays it holds) alive until a signal comes.
  setInterval(() => undefined, 1 << 30);
}

async function down(): Promise<void> {
  const state = readState(dir);
  if (!state) {
    console.log("no cluster state; nothing to do");
    return;
  }
  if (alive(state.pid)) {
    process.kill(state.pid, "SIGTERM");
    const deadline = Date.now() + 90_000;
    while (alive(state.pid) && Date.now() < deadline) await new Promise(r => setTimeout(r, 200));
  }
  // A supervisor that died (or hung) leaves its state file and everything in it.
  if (existsSync(dir)) await sweep(state);
  const left = leftovers(state);
  if (left.length) throw new Error(`left behind:\n  ${left.join("\n  ")}`);
  console.log("cluster down: no process, namespace, mount or cgroup of it left");
}

async function status(): Promise<void> {
  const state = readState(dir);
  if (!state) {
    console.log("no cluster");
    return;
  }
  console.log(
    `phase ${state.phase}, supervisor ${state.pid} ${alive(state.pid) ? "running" : "DEAD (run down)"}`,
  );
  if (state.phase !== "ready") return;
  printAccess(state);
  const client = clientFor(state.kubeconfig);
  const nodes = await client.request<{
    items: {
      metadata: { name: string };
      status?: { conditions?: { type: string; status: string }[] };
    }[];
  }>("GET", "/api/v1/nodes");
  for (const n of nodes.items) {
    const ready = n.status?.conditions?.find(c => c.type === "Ready")?.status === "True";
    console.log(`  node ${n.metadata.name}: ${ready ? "Ready" : "NotReady"}`);
  }
  const pods = await client.request<{ items: { status?: { phase?: string } }[] }>(
    "GET",
    "/api/v1/pods",
  );
  const phases = new Map<string, number>();
  for (const p of pods.items)
    phases.set(p.status?.phase ?? "?", (phases.get(p.status?.phase ?? "?") ?? 0) + 1);
  console.log(`  pods: ${[...phases].map(([k, v]) => `${v} ${k}`).join(", ") || "none"}`);
}

function nodesArg(args: string[]): number {
  const i = args.indexOf("--nodes");
  if (i < 0) return 3;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n)) usage();
  return n;
}

const [cmd, ...rest] = process.argv.slice(2);
const main: Record<string, () => Promise<void>> = {
  up: () => up(nodesArg(rest)),
  down,
  status,
  serve: () => serve(Number(rest[0] ?? 3)),
};
if (!cmd || !main[cmd]) usage();
main[cmd]().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
