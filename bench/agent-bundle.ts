import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");

/**
 * The node agent bundled into one file, as the Pepr build bundles the module, so that the
 * agent benchmarks measure what runs on a node. `name` keeps concurrent suites apart.
 */
export async function bundleAgent(name: string): Promise<string> {
  const esbuild = await import("esbuild");
  const outfile = path.join(root, `node_modules/.cache/purelb-bench/${name}.cjs`);
  await esbuild.build({
    entryPoints: [path.join(root, "lib/agent/main.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile,
    // As the Pepr build does: these stay in node_modules.
    external: ["pepr", "@kubernetes/client-node"],
    logLevel: "error",
  });
  return outfile;
}
