// The images the cluster's nodes run, as hack/images/build.sh leaves them: docker-archive
// tarballs listed in <tools dir>/images/index.json. Nodes cannot pull (no registry is
// reachable), so every archive is imported into every node's containerd.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { toolsDir } from "./layout";

export interface ImageEntry {
  /** Short name: pause, echo, agent, gobgp, controller. */
  name: string;
  /** The reference Pods use, e.g. registry.k8s.io/pause:3.10. */
  ref: string;
  /** Absolute path of the docker-archive tarball. */
  archive: string;
}

export function imageIndexPath(): string {
  return join(toolsDir(), "images", "index.json");
}

/** Why the images are not there, or undefined when the index lists a pause image. */
export function imagesUnavailable(): string | undefined {
  const path = imageIndexPath();
  if (!existsSync(path)) return `no image index at ${path}: run bash hack/images/build.sh`;
  try {
    const images = readImageIndex();
    if (!images.some(i => i.name === "pause")) return `${path} lists no pause image`;
    const missing = images.find(i => !existsSync(i.archive));
    if (missing) return `${path}: archive of ${missing.name} missing (${missing.archive})`;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  }
  return undefined;
}

export function readImageIndex(): ImageEntry[] {
  const raw = JSON.parse(readFileSync(imageIndexPath(), "utf8")) as { images?: unknown };
  if (!Array.isArray(raw.images)) throw new Error("no images array");
  return raw.images.map((e: Partial<ImageEntry>, i) => {
    if (typeof e.name !== "string" || typeof e.ref !== "string" || typeof e.archive !== "string")
      throw new Error(`entry ${i} needs string name, ref and archive`);
    return { name: e.name, ref: e.ref, archive: e.archive };
  });
}

export function imageRef(images: ImageEntry[], name: string): string {
  const e = images.find(i => i.name === name);
  if (!e) throw new Error(`image ${name} is not in ${imageIndexPath()}`);
  return e.ref;
}
