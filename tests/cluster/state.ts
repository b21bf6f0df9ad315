// The cluster's state file (<dir>/state.json): what `cluster status` shows and what
// `cluster down` needs to remove everything even when the process that started the cluster
// died without cleaning up.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CgroupTree } from "./cgroups";

export interface ClusterState {
  phase: "starting" | "ready" | "failed";
  /** The process that runs the cluster (the CLI's supervisor, or a test worker). */
  pid: number;
  dir: string;
  /** The cluster's cgroup tree, one path segment under every hierarchy's root. */
  cgroup: string;
  namespaces: string[];
  kubeconfig: string;
  nodes: { name: string; ns: string; ipv4: string; ipv6: string }[];
  clientNs: string;
  farClientNs: string;
  startupSeconds: number;
  error?: string;
}

export function statePath(dir: string): string {
  return join(dir, "state.json");
}

export function writeState(dir: string, state: ClusterState): void {
  // Renamed into place, so a reader never sees half a file.
  const tmp = `${statePath(dir)}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, statePath(dir));
}

export function readState(dir: string): ClusterState | undefined {
  if (!existsSync(statePath(dir))) return undefined;
  return JSON.parse(readFileSync(statePath(dir), "utf8")) as ClusterState;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Mount points at or under `dir`, from this process's mount table. */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map(l => l.split(" ")[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
}

export function netnsList(): string[] {
  const out = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  return out
    .split("\n")
    .map(l => l.split(" ")[0])
    .filter(Boolean);
}

/** PIDs of processes whose command line mentions `dir`: everything the cluster starts does. */
export function processesMentioning(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** What of a cluster is still there: processes, namespaces, mounts, cgroups. Empty when gone. */
export function leftovers(state: Pick<ClusterState, "dir" | "cgroup" | "namespaces">): string[] {
  const out: string[] = [];
  const strays = processesMentioning(state.dir);
  if (strays.length) out.push(`processes naming ${state.dir}: ${strays.join(" ")}`);
  const tree = new CgroupTree(state.cgroup);
  const pids = tree.pids();
  if (pids.length) out.push(`processes in cgroup ${state.cgroup}: ${pids.join(" ")}`);
  else if (tree.exists()) out.push(`cgroup ${state.cgroup}`);
  const ns = netnsList().filter(n => state.namespaces.includes(n));
  if (ns.length) out.push(`network namespaces: ${ns.join(" ")}`);
  const mounts = mountsUnder(state.dir);
  if (mounts.length) out.push(`mounts: ${mounts.join(" ")}`);
  return out;
}

/**
 * Removes whatever a dead cluster left: kills the processes of its cgroups (by PID; nothing
 * outside them), unmounts its namespace files, deletes its network namespaces and cgroups,
 * then its directory.
 */
export async function sweep(state: ClusterState): Promise<void> {
  const tree = new CgroupTree(state.cgroup);
  tree.killAll("", [process.pid]);
  for (const m of mountsUnder(state.dir).reverse()) spawnSync("umount", ["-l", m]);
  const present = new Set(netnsList());
  for (const ns of state.namespaces) if (present.has(ns)) spawnSync("ip", ["netns", "del", ns]);
  await tree.remove();
  rmSync(state.dir, { recursive: true, force: true });
}
