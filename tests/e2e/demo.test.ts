// `npm start` as a newcomer runs it (root, no KUBECONFIG), non-interactively: the demo brings up
// a cluster of its own, prints the address, the announcing node and why, a request answered
// through the address by a Pod, a failover, and leaves nothing behind; Ctrl-C while the
// cluster starts leaves nothing behind either. Needs root, the cluster binaries and images.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { clusterUnavailable } from "../cluster/requirements";
import { netnsList } from "../cluster/state";
import { waitFor } from "../harness/kube";

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`e2e tests skipped: ${unavailable}`);

const root = resolve(import.meta.dirname, "../..");
/** Its own cluster directory: the demo must not find (and reuse) a cluster someone runs. */
const base = mkdtempSync("/tmp/purelb-demo-test-");

interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function demo(args: string[]): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, PURELB_CLUSTER_DIR: base };
  delete env.KUBECONFIG;
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "hack/demo.ts"), ...args], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>(r => child.on("exit", code => r(code)));
  return { child, output: () => out, exit };
}

/** The namespaces of the cluster whose supervisor the demo named: none once it is down. */
function namespacesOf(output: string): string[] {
  const pid = /starting a 3-node cluster \(supervisor (\d+)/.exec(output)?.[1];
  expect(pid).toBeDefined();
  return netnsList().filter(n => n.startsWith(`plb-${pid}-`));
}

describe.skipIf(!!unavailable)("npm start on the test cluster", () => {
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("shows a request answered through the address, who announces it, a failover", async () => {
    const started = Date.now();
    const run = demo(["--once", "--failover"]);
    const code = await run.exit;
    const out = run.output();
    console.log(`${out}\ndemo: ${((Date.now() - started) / 1000).toFixed(0)}s`);
    expect(code).toBe(0);

    const vip = /==> The address: (192\.0\.2\.2[45]\d) /.exec(out)?.[1];
    expect(vip).toBeDefined();
    const announcer = /announced by (node\d): purelb\.io\/announcing-IPv4 = (node\d),eth0/.exec(
      out,
    );
    expect(announcer?.[1]).toBe(announcer?.[2]);
    // the hash ranking printed puts the announcer first, and the plugin agrees
    expect(out).toMatch(
      new RegExp(`${announcer![1]}\\s+sha256\\("${announcer![1]}#${vip}"\\).*<- lowest`),
    );
    expect(out).toContain(`kubectl purelb inspect agrees: the winner is ${announcer![1]}`);

    const pods = [...out.matchAll(/pod (echo-\S+) on (node\d) \(/g)].map(m => `${m[1]} ${m[2]}`);
    expect(new Set(pods.map(p => p.split(" ")[1])).size).toBe(2);
    const answer = /answered by pod (echo-\S+) on (node\d)/.exec(out);
    expect(pods).toContain(`${answer?.[1]} ${answer?.[2]}`);

    const moved = /(node\d) announces \S+ now \(next-lowest hash\)/.exec(out);
    expect(moved?.[1]).toBeDefined();
    expect(moved?.[1]).not.toBe(announcer![1]);
    expect(out).toContain(`neighbour entry for ${vip} now names ${moved![1]}`);
    expect(Number(/longest gap without an answer: (\d+) ms/.exec(out)?.[1])).toBeLessThan(3_000);

    expect(out).toMatch(/export KUBECONFIG=\S+kubeconfig/);
    expect(out).toContain(`kubectl purelb inspect purelb-demo/echo`);
    expect(out).toContain("cluster down: no process, namespace, mount or cgroup of it left");
    expect(namespacesOf(out)).toEqual([]);
  }, 900_000);

  it("Ctrl-C while the cluster starts stops it and leaves nothing behind", async () => {
    const run = demo(["--once"]);
    await waitFor(
      "the cluster starting",
      () => run.output().includes("cluster: networks ready"),
      600_000,
    );
    run.child.kill("SIGINT");
    const code = await run.exit;
    const out = run.output();
    console.log(out);
    expect(code).toBe(130);
    expect(out).toContain("interrupted");
    expect(out).toContain("cluster down: no process, namespace, mount or cgroup of it left");
    expect(namespacesOf(out)).toEqual([]);
  }, 900_000);
});
