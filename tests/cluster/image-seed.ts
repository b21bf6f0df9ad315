// Importing ~1 GB of image archives into every node's containerd took about a minute per
// cluster start. Instead the archives are imported once into a seed: a containerd root kept
// in the tools cache, keyed by the image index and the containerd version. Each node's root
// starts as a hard-linked copy of it (content blobs and unpacked layers are never written
// once committed; overlayfs copies a file up before a container changes it), with the bolt
// databases copied for real since containerd writes them in place.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { type ImageEntry, imageIndexPath } from "./images";
import { type ClusterNode } from "./node";
import { stopChild } from "../harness/netns";

const SEED_SOCKET = "/run/containerd-seed/containerd.sock";

function seedKey(images: ImageEntry[]): string {
  const version = execFileSync("containerd", ["--version"], { encoding: "utf8" });
  const h = createHash("sha256").update(version).update(readFileSync(imageIndexPath()));
  for (const i of images) h.update(`${i.archive}\0${statSync(i.archive).size}\0`);
  return h.digest("hex").slice(0, 16);
}

/**
 * The seed's containerd root for these images, made first if missing. The import runs in
 * `node`'s namespaces (its mount namespace catches every mount containerd makes while it
 * unpacks), by a containerd with the seed as its root, before the node's own one starts.
 */
export async function ensureSeed(node: ClusterNode, images: ImageEntry[]): Promise<string> {
  const base = join(dirname(imageIndexPath()), "containerd-seeds");
  const seed = join(base, seedKey(images));
  if (existsSync(seed)) return seed;
  mkdirSync(base, { recursive: true });
  const partial = `${seed}.partial.${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const config = join(partial, "config.toml");
  writeFileSync(
    config,
    `version = 2
root = "${join(partial, "root")}"
state = "/run/containerd-seed"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${SEED_SOCKET}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(partial, "opt")}"
`,
  );
  const child = node.spawnDaemon("containerd-seed", ["/usr/bin/containerd", "--config", config]);
  try {
    await node.waitContainerd(SEED_SOCKET, child);
    for (const image of images)
      await node.exec(
        [
          "/usr/bin/ctr",
          "--address",
          SEED_SOCKET,
          "-n",
          "k8s.io",
          "images",
          "import",
          image.archive,
        ],
        300_000,
      );
  } finally {
    await stopChild(child, "SIGTERM");
  }
  rmSync(join(partial, "opt"), { recursive: true, force: true });
  try {
    renameSync(join(partial, "root"), seed);
  } catch (err) {
    // another cluster made the same seed meanwhile
    if (!existsSync(seed)) throw err;
  }
  rmSync(partial, { recursive: true, force: true });
  // Seeds of earlier image sets are dead weight (a few GB each).
  for (const old of readdirSync(base))
    if (join(base, old) !== seed && !old.includes(".partial."))
      rmSync(join(base, old), { recursive: true, force: true });
  return seed;
}

/** Makes `root` (empty) a copy of the seed: files hard-linked, bolt databases copied. */
export function copySeed(seed: string, root: string): void {
  mkdirSync(root, { recursive: true });
  execFileSync("cp", ["-a", "--link", `${seed}/.`, root], { stdio: ["ignore", "ignore", "pipe"] });
  // Only the top levels hold databases (metadata, snapshotter); the snapshots below hold none
  // of containerd's own.
  for (const e of readdirSync(root, { withFileTypes: true }))
    if (e.isDirectory())
      for (const f of readdirSync(join(root, e.name), { withFileTypes: true }))
        if (f.isFile() && f.name.endsWith(".db")) {
          const p = join(root, e.name, f.name);
          unlinkSync(p);
          cpSync(join(seed, e.name, f.name), p);
        }
}
