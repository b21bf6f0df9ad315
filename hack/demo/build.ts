// The chart the demo installs is dist/purelb-chart, built from the working tree. A chart
// older than the sources would show yesterday's PureLB, so the demo rebuilds it first.
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { line, timed } from "./output";

const root = resolve(import.meta.dirname, "../..");
export const CHART = join(root, "dist", "purelb-chart");
/** What `npm run build` reads: the module, its libraries, CRDs, chart extras. */
const SOURCES = [
  "pepr.ts",
  "package.json",
  "capabilities",
  "lib",
  "crds",
  "monitoring",
  "hack/post-build.ts",
  "hack/webhooks.ts",
  "hack/crd-yaml.ts",
  "hack/chart-monitoring.ts",
];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = 0;
  for (const e of readdirSync(path)) max = Math.max(max, newest(join(path, e)));
  return max;
}

/** Why dist/ needs `npm run build`, or undefined when the chart is newer than every source. */
export function buildNeeded(): string | undefined {
  const chart = join(CHART, "Chart.yaml");
  if (!existsSync(chart)) return `${CHART} is missing`;
  const built = statSync(chart).mtimeMs;
  const changed = SOURCES.find(s => newest(join(root, s)) > built);
  return changed ? `${changed} changed after the chart was built` : undefined;
}

export async function ensureBuilt(): Promise<void> {
  const why = buildNeeded();
  if (!why) return;
  await timed(`npm run build (${why})`, async () => {
    const out: string[] = [];
    const code = await new Promise<number | null>(done => {
      const child = spawn("npm", ["run", "build"], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (c: Buffer) => out.push(c.toString()));
      child.stderr.on("data", (c: Buffer) => out.push(c.toString()));
      child.on("exit", c => done(c));
      child.on("error", () => done(1));
    });
    if (code !== 0)
      throw new Error(
        `npm run build failed:\n${out.join("").trimEnd().split("\n").slice(-30).join("\n")}`,
      );
  });
}

/**
 * A private copy of the chart, for helm: another `npm run build` may rewrite dist/ while the
 * demo installs. A copy caught halfway (its YAML does not parse) is taken again a little later.
 */
export async function snapshotChart(): Promise<{ dir: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "purelb-demo-chart-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  // Ctrl-C exits without unwinding the install's finally
  process.once("exit", remove);
  for (let attempt = 1; ; attempt++) {
    rmSync(dir, { recursive: true, force: true });
    cpSync(CHART, dir, { recursive: true });
    try {
      for (const f of ["Chart.yaml", "values.yaml"]) parse(readFileSync(join(dir, f), "utf8"));
      return { dir, remove };
    } catch (err) {
      if (attempt >= 12) {
        remove();
        throw new Error(`${CHART} does not parse (${String(err)}): run npm run build`);
      }
      if (attempt === 1) line(`${CHART} is being rewritten (another npm run build?); waiting`);
      await new Promise(r => setTimeout(r, 5_000));
    }
  }
}
