// Builds `kubectl purelb` as one self-contained file, as upstream users install plugins: a
// kubectl-purelb executable (node script, every dependency bundled), a tarball of it, and a
// krew manifest pointing at that tarball with its sha256.
// Usage: node --import tsx hack/bundle-cli.ts [outputDir] [releaseUrlBase]   (default: dist)
// esbuild comes with Pepr (its build uses it), at the version in package-lock.json.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { build } from "esbuild";
import { stringify } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const PLUGIN = "kubectl-purelb";

export async function bundleCli(
  out: string,
  urlBase = "https://github.com/purelb/pepr-purelb/releases/download",
): Promise<{ bin: string; tarball: string; manifest: string; sha256: string }> {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
    version: string;
  };
  mkdirSync(out, { recursive: true });
  const bin = path.join(out, PLUGIN);
  await build({
    entryPoints: [path.join(root, "cli", "bundle-entry.ts")],
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    outfile: bin,
    banner: { js: "#!/usr/bin/env node" },
    // The kubeconfig loader of @kubernetes/client-node (exec credential plugins) comes along.
    logLevel: "warning",
    legalComments: "none",
    minify: true,
  });
  chmodSync(bin, 0o755);
  const tarball = path.join(out, `${PLUGIN}.tar.gz`);
  // Fixed owner and time: the same file gives the same tarball, and the same sha256.
  execFileSync("tar", [
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "-czf",
    tarball,
    "-C",
    out,
    PLUGIN,
  ]);
  const sha256 = createHash("sha256").update(readFileSync(tarball)).digest("hex");
  const manifest = path.join(out, "purelb.krew.yaml");
  writeFileSync(
    manifest,
    stringify({
      apiVersion: "krew.googlecontainertools.github.com/v1alpha2",
      kind: "Plugin",
      metadata: { name: "purelb" },
      spec: {
        version: `v${pkg.version}`,
        homepage: "https://github.com/purelb/pepr-purelb",
        shortDescription: "See what PureLB does with your LoadBalancer Services, and why",
        description:
          "Inspects PureLB: where a Service's address is announced and why, pool usage, the node election, configuration checks, component status and versions.",
        caveats: "The plugin is a Node.js program: it needs node (20 or later) on PATH.",
        platforms: ["linux", "darwin"].flatMap(os =>
          ["amd64", "arm64"].map(arch => ({
            selector: { matchLabels: { os, arch } },
            uri: `${urlBase}/v${pkg.version}/${PLUGIN}.tar.gz`,
            sha256,
            bin: PLUGIN,
            files: [{ from: PLUGIN, to: "." }],
          })),
        ),
      },
    }),
  );
  return { bin, tarball, manifest, sha256 };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleCli(path.resolve(process.argv[2] ?? path.join(root, "dist")), process.argv[3]).then(
    r => console.log(`bundle-cli: wrote ${r.bin}, ${r.tarball} and ${r.manifest}`),
    err => {
      console.error(`bundle-cli: ${(err as Error).message}`);
      process.exit(1);
    },
  );
}
