// RtNetlink against the real kernel: many changes in one tick go out in a few writes, and
// exactly the ones the kernel refuses fail. Needs root.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { netnsUnavailable, run } from "../harness/netns";

const unavailable = netnsUnavailable();
if (unavailable) console.warn(`netns tests skipped: ${unavailable}`);

const NS = `plb-nl-${process.pid}`;
const SCRIPT = path.join(import.meta.dirname, "scripts/rtnetlink-batch.ts");

describe.skipIf(unavailable)("rtnetlink batches on a real interface", () => {
  beforeAll(() => {
    run("ip", ["netns", "add", NS]);
    run("ip", ["-n", NS, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    for (const l of ["v0", "v1"]) run("ip", ["-n", NS, "link", "set", l, "up"]);
  });
  afterAll(() => {
    run("ip", ["netns", "del", NS]);
  });

  it("applies 300 address changes of one tick, failing exactly the two bad ones", () => {
    const out = execFileSync(
      "ip",
      ["netns", "exec", NS, process.execPath, "--import", "tsx", SCRIPT],
      { encoding: "utf8", cwd: path.resolve(import.meta.dirname, "../..") },
    );
    const r = JSON.parse(out.trim().split("\n").pop()!) as {
      addFailures: { i: number; err: string }[];
      held: number;
      lifetimes: boolean[];
      removeFailures: { i: number; err: string }[];
      left: number;
    };
    expect(r.addFailures.map(f => f.i)).toEqual([150, 200]);
    expect(r.addFailures[0].err).toMatch(/add 2001:db8::2:96\/64: ENODEV/);
    expect(r.addFailures[1].err).toMatch(/EINVAL/);
    expect(r.held).toBe(298);
    expect(r.lifetimes).toEqual([true]);
    // Deleting what is not there (the two that failed, one never added) is not an error.
    expect(r.removeFailures).toEqual([]);
    expect(r.left).toBe(0);
  });
});
