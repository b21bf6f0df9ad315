// The single-file plugin (hack/bundle-cli.ts) as a krew user gets it: the tarball the krew
// manifest names (its sha256 checked), unpacked into an empty directory far from any
// node_modules, found by kubectl on PATH, and run against the real apiserver, including the
// kubeconfig path that loads @kubernetes/client-node (--context).
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { bundleCli } from "../../hack/bundle-cli";
import { toolPath } from "../harness/controlplane";
import { applyServiceGroup, clientFor, ensureNamespace, installCrds } from "../harness/kube";

const kubeconfig = inject("kubeconfig");
const root = path.resolve(import.meta.dirname, "../..");
const NS = "purelb-bundle-it";

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: {
    version: string;
    platforms: {
      selector: { matchLabels: { os: string; arch: string } };
      uri: string;
      sha256: string;
      bin: string;
    }[];
  };
}

describe.skipIf(!kubeconfig)("kubectl purelb as one bundled file with a krew manifest", () => {
  let out: string;
  let installed: string;
  let built: Awaited<ReturnType<typeof bundleCli>>;
  const version = (
    JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  const purelb = (args: string[]) => {
    const r = spawnSync(toolPath("kubectl"), ["purelb", ...args], {
      // Far from the checkout: nothing to resolve a module from but the file itself.
      cwd: installed,
      encoding: "utf8",
      env: {
        PATH: `${installed}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}/usr/bin:/bin`,
        KUBECONFIG: kubeconfig,
        HOME: installed,
      },
      timeout: 60_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };

  beforeAll(async () => {
    out = mkdtempSync(path.join(tmpdir(), "purelb-bundle-"));
    installed = mkdtempSync(path.join(tmpdir(), "purelb-krew-"));
    built = await bundleCli(out, "https://example.com/releases");
    const c = clientFor(kubeconfig);
    await installCrds(c);
    await ensureNamespace(c, NS);
    await applyServiceGroup(c, NS, "bundled", {
      local: {
        v4pool: { pool: "192.0.2.50-192.0.2.53", subnet: "192.0.2.0/24", aggregation: "default" },
      },
    });
  }, 120_000);
  afterAll(() => {
    for (const d of [out, installed]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("has a krew manifest whose sha256 is the tarball's, for linux and darwin", () => {
    const m = parse(readFileSync(built.manifest, "utf8")) as Manifest;
    expect(m.kind).toBe("Plugin");
    expect(m.metadata.name).toBe("purelb");
    expect(m.spec.version).toBe(`v${version}`);
    const sha = createHash("sha256").update(readFileSync(built.tarball)).digest("hex");
    expect(
      m.spec.platforms.map(p => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`),
    ).toEqual(["linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"]);
    for (const p of m.spec.platforms) {
      expect(p.sha256).toBe(sha);
      expect(p.bin).toBe("kubectl-purelb");
      expect(p.uri).toBe(`https://example.com/releases/v${version}/kubectl-purelb.tar.gz`);
    }
  });

  it("runs from the unpacked tarball alone, as kubectl finds it, against the cluster", () => {
    const tar = spawnSync("tar", ["-xzf", built.tarball, "-C", installed], { encoding: "utf8" });
    expect(tar.status, tar.stderr).toBe(0);
    const v = purelb(["version", "--purelb-namespace", NS, "-o", "json"]);
    expect(v.status, v.stderr).toBe(0);
    expect((JSON.parse(v.stdout) as { plugin: string }).plugin).toBe(version);
    const pools = purelb(["pools", "--purelb-namespace", NS]);
    expect(pools.status, pools.stderr).toBe(0);
    expect(pools.stdout).toMatch(/^bundled +local +IPv4 +192\.0\.2\.50-192\.0\.2\.53 .* 4 +0 +4$/m);
    // --context goes through the bundled @kubernetes/client-node
    const ctx = (parse(readFileSync(kubeconfig, "utf8")) as { "current-context": string })[
      "current-context"
    ];
    const viaClientNode = purelb([
      "pools",
      "--purelb-namespace",
      NS,
      "--context",
      ctx,
      "-o",
      "json",
    ]);
    expect(viaClientNode.status, viaClientNode.stderr).toBe(0);
    expect((JSON.parse(viaClientNode.stdout) as { groups: unknown[] }).groups).toHaveLength(1);
    expect(purelb(["election", "--help"]).stdout).toMatch(/--simulate-drain NODE/);
  });
});
