// The launcher the agent and the controllers start with: it must run again in a container that
// the kubelet restarted, whose emptyDir still holds the read-only module of the previous run.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { LAUNCHER } from "../../hack/post-build";

// Root writes over a read-only file regardless, so run the launcher as the unprivileged user the
// pods run as (nobody here) to meet what they meet.
const NOBODY = 65534;
const asPodUser = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(d => rmSync(d, { recursive: true, force: true })));

function setUp(moduleCode: string) {
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-launcher-"));
  dirs.push(dir);
  const code = Buffer.from(moduleCode);
  const hash = createHash("sha256").update(code).digest("hex");
  mkdirSync(path.join(dir, "load"));
  mkdirSync(path.join(dir, "run"));
  writeFileSync(path.join(dir, "load", `module-${hash}.js.gz`), gzipSync(code));
  writeFileSync(path.join(dir, "launch.cjs"), LAUNCHER);
  if (asPodUser.uid !== undefined)
    for (const p of ["", "load", "run"]) chownSync(path.join(dir, p), NOBODY, NOBODY);
  const run = () =>
    spawnSync(process.execPath, [path.join(dir, "launch.cjs"), hash], {
      ...asPodUser,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH,
        PURELB_MODULE_DIR: path.join(dir, "load"),
        PURELB_RUN_DIR: path.join(dir, "run"),
      },
    });
  return { dir, hash, run };
}

describe("launch.cjs", () => {
  it("runs the module, and runs it again over the read-only copy a restarted container keeps", () => {
    const { dir, run } = setUp('console.log("module ran");');
    const first = run();
    expect(first.stderr).toBe("");
    expect(first.stdout).toBe("module ran\n");
    const [copy] = readdirSync(path.join(dir, "run"));
    expect(statSync(path.join(dir, "run", copy)).mode & 0o777).toBe(0o444);

    const second = run();
    expect(second.stderr).toBe("");
    expect(second.status).toBe(0);
    expect(second.stdout).toBe("module ran\n");
  });

  it("refuses a bundle whose sha256 is not the one it was started with", () => {
    const { dir, hash } = setUp("1;");
    const wrong = hash.replace(/^./, c => (c === "0" ? "1" : "0"));
    writeFileSync(path.join(dir, "load", `module-${wrong}.js.gz`), gzipSync(Buffer.from("2;")));
    const r = spawnSync(process.execPath, [path.join(dir, "launch.cjs"), wrong], {
      ...asPodUser,
      encoding: "utf8",
      env: { PATH: process.env.PATH, PURELB_MODULE_DIR: path.join(dir, "load") },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/has sha256 [0-9a-f]{64}, expected/);
    expect(readdirSync(path.join(dir, "run"))).toEqual([]);
  });
});
