// The cluster's cgroups: one tree `/<root>` in every hierarchy the host mounts, a subtree
// per node (the kubelet's cgroupRoot) and one for the processes started on the host. Every
// process the cluster starts lives somewhere in it (children inherit their parent's cgroup;
// runc puts containers under the kubelet's cgroupRoot), so teardown finds each one by its PID
// in the pids hierarchy, even after the process that started them died, and nothing outside
// the tree is ever signalled.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

export interface CgroupMount {
  /** Where the host mounts it, e.g. /sys/fs/cgroup/cpu. */
  path: string;
  type: "cgroup" | "cgroup2";
  /** Super options for `mount -o`, e.g. "cpu" or "name=systemd"; "" for cgroup2. */
  options: string;
}

/** The host's cgroup hierarchies, from /proc/self/mountinfo. */
export function cgroupMounts(): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // <id> <parent> <dev> <root> <mountpoint> <opts> [optional...] - <type> <source> <super>
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const mountpoint = left.split(" ")[4];
    const [type, , superOpts] = right.split(" ");
    if (type !== "cgroup" && type !== "cgroup2") continue;
    const options =
      type === "cgroup2"
        ? ""
        : superOpts
            .split(",")
            .filter(o => o !== "rw" && o !== "ro")
            .join(",");
    out.push({ path: mountpoint, type, options });
  }
  return out;
}

function pidsMount(mounts: CgroupMount[]): string {
  const pids = mounts.find(m => m.type === "cgroup" && m.options.split(",").includes("pids"));
  if (pids) return pids.path;
  // On a pure cgroup v2 host the one hierarchy has cgroup.procs everywhere too.
  const v2 = mounts.find(m => m.type === "cgroup2");
  if (v2) return v2.path;
  throw new Error("no pids cgroup hierarchy mounted");
}

export class CgroupTree {
  private readonly mounts = cgroupMounts();

  /** `root` is a single path segment, e.g. "purelb-cl1234". */
  constructor(readonly root: string) {
    if (!/^[\w.-]+$/.test(root)) throw new Error(`bad cgroup name ${root}`);
  }

  /** Creates /<root>/<sub> in every hierarchy. */
  create(sub: string): void {
    for (const m of this.mounts) {
      let dir = m.path;
      for (const part of [this.root, ...sub.split("/").filter(Boolean)]) {
        const parent = dir;
        dir = join(dir, part);
        if (existsSync(dir)) continue;
        mkdirSync(dir);
        // A new cpuset cgroup starts with no CPUs and no memory nodes, and no task can join it.
        if (existsSync(join(dir, "cpuset.cpus")))
          for (const f of ["cpuset.cpus", "cpuset.mems"])
            writeFileSync(join(dir, f), readFileSync(join(parent, f)));
      }
    }
  }

  /** The pids-hierarchy directory a process joins by writing its PID to cgroup.procs. */
  procsFile(sub: string): string {
    return join(pidsMount(this.mounts), this.root, sub, "cgroup.procs");
  }

  /** Moves a process (and its future children) into /<root>/<sub> of the pids hierarchy. */
  enter(sub: string, pid: number): void {
    writeFileSync(this.procsFile(sub), String(pid));
  }

  /** Moves a process back to the root of the pids hierarchy, out of the tree. */
  leave(pid: number): void {
    writeFileSync(join(pidsMount(this.mounts), "cgroup.procs"), String(pid));
  }

  /** PIDs in /<root>/<sub> (all of /<root> when sub is "") and below. */
  pids(sub = ""): number[] {
    const top = join(pidsMount(this.mounts), this.root, sub);
    const out: number[] = [];
    const walk = (dir: string): void => {
      let procs: string;
      try {
        procs = readFileSync(join(dir, "cgroup.procs"), "utf8");
      } catch {
        return;
      }
      for (const p of procs.split("\n")) if (p) out.push(Number(p));
      for (const e of readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(dir, e.name));
    };
    walk(top);
    return out;
  }

  exists(): boolean {
    return this.mounts.some(m => existsSync(join(m.path, this.root)));
  }

  /**
   * SIGKILLs every process in /<root>/<sub> except `spare` (the caller itself, when it lives in
   * the tree), until none is left: a process may fork while the first round is sent.
   */
  killAll(sub = "", spare: number[] = []): void {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const left = this.pids(sub).filter(p => !spare.includes(p));
      if (!left.length) return;
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      if (Date.now() > deadline)
        throw new Error(`processes left in cgroup /${this.root}/${sub}: ${left.join(" ")}`);
      sleepSync(20);
    }
  }

  /**
   * Removes /<root>/<sub> (and below) from every hierarchy; its processes must be gone. A
   * killed process keeps its cgroup busy until its parent reaps it, and our own children are
   * reaped by the event loop, hence the asynchronous retries.
   */
  async remove(sub = ""): Promise<void> {
    const rm = async (dir: string): Promise<void> => {
      if (!existsSync(dir)) return;
      for (const e of readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory()) await rm(join(dir, e.name));
      for (let i = 0; ; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch (err) {
          if (i >= 250) throw err;
          await new Promise(r => setTimeout(r, 20));
        }
      }
    };
    for (const m of this.mounts) await rm(join(m.path, this.root, sub));
  }

  /** Best effort, for a process 'exit' hook: what cannot go yet is left to `cluster down`. */
  removeSync(): void {
    const rm = (dir: string): void => {
      if (!existsSync(dir)) return;
      for (const e of readdirSync(dir, { withFileTypes: true }))
        if (e.isDirectory()) rm(join(dir, e.name));
      try {
        rmdirSync(dir);
      } catch {
        // busy until its last process is reaped
      }
    };
    for (const m of this.mounts) rm(join(m.path, this.root));
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
