// `npm run bench`: every benchmark, one table, and the same as JSON under bench/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { BenchResult } from "./result";

const suites: [string, () => Promise<{ run(): Promise<BenchResult[]> }>][] = [
  ["allocation (in-process)", () => import("./alloc")],
  ["admission (in-process)", () => import("./admission")],
  ["Service admission on a real control plane", () => import("./service-admission")],
  ["allocator on a real control plane", () => import("./controlplane")],
  ["peer: MetalLB and us through one driver", () => import("./peer")],
  ["node agent (netns, root)", () => import("./agent")],
  ["API outage (netns, root)", () => import("./outage")],
  ["client failover (netns, root)", () => import("./failover-client")],
  ["BGP (netns, root)", () => import("./bgp")],
];

async function main(): Promise<void> {
  const only = process.argv[2];
  const rows: (BenchResult & { suite: string })[] = [];
  for (const [name, load] of suites) {
    if (only && !name.includes(only)) continue;
    process.stderr.write(`${name}\n`);
    try {
      for (const r of await (await load()).run()) rows.push({ suite: name, ...r });
    } catch (err) {
      rows.push({
        suite: name,
        figure: "(suite failed)",
        value: NaN,
        unit: "",
        target: "",
        pass: false,
        note: String(err),
      });
    }
  }
  const table = rows.map(r => [
    r.figure,
    `${r.value} ${r.unit}`,
    r.target,
    r.pass ? "pass" : "FAIL",
    r.note ?? "",
  ]);
  const head = ["figure", "value", "target", "result", "note"];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map(t => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  console.log(widths.map(w => "-".repeat(w)).join("  "));
  for (const t of table) console.log(line(t));
  const dir = path.join(import.meta.dirname, "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
  console.log(
    `\n${rows.filter(r => r.pass).length}/${rows.length} targets met; results in ${path.relative(process.cwd(), file)}`,
  );
  if (rows.some(r => !r.pass)) process.exitCode = 1;
}

void main();
