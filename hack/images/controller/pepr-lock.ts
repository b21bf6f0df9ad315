// Writes the package.json and package-lock.json of Pepr's controller image: pepr and its
// production dependencies, at the versions this repository's package-lock.json pins, so that
// the image runs exactly the Pepr the tests run against. Pepr's own Dockerfile installs its
// dependencies with `npm ci --omit=dev --omit=peer`; this takes the same set (dependencies and
// optionalDependencies, never peers) out of our lock, following Node's module resolution
// through the nested node_modules directories.
// Usage: node --import tsx hack/images/controller/pepr-lock.ts <package-lock.json> <out dir>
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  peer?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
  [key: string]: unknown;
}

interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

const SEP = "/node_modules/";

/** Where Node finds `name` when required from the package installed at `from`. */
function resolve(packages: Lock["packages"], from: string, name: string): string | undefined {
  for (let dir: string | undefined = from; dir !== undefined; ) {
    const at = dir === "" ? `node_modules/${name}` : `${dir}${SEP}${name}`;
    if (packages[at]) return at;
    if (dir === "") break;
    const cut = dir.lastIndexOf(SEP);
    dir = cut < 0 ? "" : dir.slice(0, cut);
  }
  return undefined;
}

/** How a path through the tree reaches a package: through a peer edge, an optional edge. */
interface Via {
  peer: boolean;
  optional: boolean;
}

/**
 * Every location pepr's tree holds, with npm's flags: `peer` when only paths through a peer
 * edge reach it (what --omit=peer leaves out), `optional` when only optional paths do.
 * npm ci wants the peers in the lock even when it omits them.
 */
function closure(packages: Lock["packages"], root: string): Map<string, Via> {
  const flags = new Map<string, Via>();
  const visited = new Set<string>();
  const queue: [string, Via][] = [[root, { peer: false, optional: false }]];
  while (queue.length) {
    const [at, via] = queue.shift() as [string, Via];
    const key = `${at} ${via.peer} ${via.optional}`;
    if (visited.has(key)) continue;
    visited.add(key);
    const had = flags.get(at) ?? { peer: true, optional: true };
    flags.set(at, { peer: had.peer && via.peer, optional: had.optional && via.optional });
    const entry = packages[at];
    if (entry.link) throw new Error(`${at} is a link; the image cannot follow it`);
    const optionalPeers = new Set(
      Object.entries(entry.peerDependenciesMeta ?? {})
        .filter(([, m]) => m.optional)
        .map(([n]) => n),
    );
    const edges: [string, Via, boolean][] = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, Via, boolean] => [n, via, true]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, Via, boolean] => [
        n,
        { ...via, optional: true },
        false,
      ]),
      ...Object.keys(entry.peerDependencies ?? {}).map((n): [string, Via, boolean] => [
        n,
        { ...via, peer: true },
        !optionalPeers.has(n),
      ]),
    ];
    for (const [name, next, required] of edges) {
      const found = resolve(packages, at, name);
      if (found) queue.push([found, next]);
      // A missing optional dependency is a platform package npm did not lock for this tree.
      else if (required) throw new Error(`${at} needs ${name}, which package-lock.json lacks`);
    }
  }
  return flags;
}

function main(): void {
  const [lockFile, outDir] = process.argv.slice(2);
  if (!lockFile || !outDir) {
    console.error("usage: pepr-lock.ts <package-lock.json> <out dir>");
    process.exit(2);
  }
  const lock = JSON.parse(readFileSync(lockFile, "utf8")) as Lock;
  if (lock.lockfileVersion < 2) throw new Error(`${lockFile}: lockfileVersion 2 or 3 needed`);
  const pepr = lock.packages["node_modules/pepr"];
  if (!pepr?.version) throw new Error(`${lockFile} does not lock pepr`);

  // Our overrides shaped the locked tree (package.json "overrides"); npm ci checks the lock
  // against them, so they come along.
  const manifest = JSON.parse(
    readFileSync(path.join(path.dirname(lockFile), "package.json"), "utf8"),
  ) as { overrides?: Record<string, unknown> };
  const rootEntry = {
    name: "pepr-controller",
    version: pepr.version,
    private: true,
    dependencies: { pepr: pepr.version },
    ...(manifest.overrides ? { overrides: manifest.overrides } : {}),
  };
  const packages: Record<string, LockEntry> = { "": rootEntry };
  const reach = closure(lock.packages, "node_modules/pepr");
  for (const at of [...reach.keys()].sort()) {
    // The flags described our whole tree (dev tools, peers); recompute them for this one.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { dev, peer, optional, devOptional, ...entry } = lock.packages[at];
    const via = reach.get(at) as Via;
    packages[at] = {
      ...entry,
      ...(via.peer ? { peer: true } : {}),
      ...(via.optional ? { optional: true } : {}),
    };
  }
  mkdirSync(outDir, { recursive: true });
  const write = (file: string, value: unknown) =>
    writeFileSync(path.join(outDir, file), JSON.stringify(value, null, 2) + "\n");
  write("package.json", rootEntry);
  write("package-lock.json", {
    name: rootEntry.name,
    version: rootEntry.version,
    lockfileVersion: lock.lockfileVersion,
    requires: true,
    packages,
  });
  console.log(`pepr-lock: pepr ${pepr.version} and ${reach.size - 1} packages`);
}

main();
