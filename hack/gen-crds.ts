// Writes crds/<plural>.<group>.yaml from the TypeScript CRDs in lib/k8s/crds and removes
// stale ones, so that the YAML can never drift from the source (tests/unit/crds.test.ts).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { crds } from "../lib/k8s/crds/index";
import { crdFileName, crdYaml } from "./crd-yaml";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "crds");
mkdirSync(dir, { recursive: true });
const wanted = new Set(crds.map(crdFileName));
for (const f of readdirSync(dir)) {
  if (f.endsWith(".yaml") && !wanted.has(f)) rmSync(join(dir, f));
}
for (const c of crds) writeFileSync(join(dir, crdFileName(c)), crdYaml(c));
console.log(`wrote ${[...wanted].map(f => `crds/${f}`).join(", ")}`);
