import { existsSync } from "node:fs";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import type * as protoLoader from "@grpc/proto-loader";
import { loadGrpc, loadProtoLoader } from "./grpc";

/**
 * gobgp's API definitions are not part of PureLB: they are read at run time from Debian's
 * golang-github-osrg-gobgp-dev package (the same gobgp 3.x release as the gobgpd sidecar),
 * so the wire format always matches the daemon that the package set ships.
 */
export const PROTO_PACKAGE = "golang-github-osrg-gobgp-dev";
export const DEFAULT_PROTO_DIR = "/usr/share/gocode/src/github.com/osrg/gobgp/api";
const FILES = ["gobgp.proto", "attribute.proto", "capability.proto"];

/** The RPCs PureLB calls; all are in gobgp 3.x's apipb.GobgpApi. */
export const REQUIRED_METHODS = [
  "StartBgp",
  "StopBgp",
  "GetBgp",
  "AddPeer",
  "UpdatePeer",
  "DeletePeer",
  "ListPeer",
  "AddPath",
  "DeletePath",
  "ListPath",
  "WatchEvent",
] as const;

export const protoDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.PURELB_GOBGP_PROTO_DIR?.trim() || DEFAULT_PROTO_DIR;

export class GobgpProtoError extends Error {}

export type GobgpServiceClient = grpc.ServiceClientConstructor;

const cache = new Map<string, GobgpServiceClient>();

/**
 * Loads apipb.GobgpApi from `dir`. Messages keep the .proto field names (snake_case), enums
 * are their names, 64-bit integers are numbers, and google.protobuf.Any values are written
 * and read as `{ "@type": "type.googleapis.com/apipb.X", ...fields }`.
 */
export function loadGobgpService(dir: string = protoDir()): GobgpServiceClient {
  const hit = cache.get(dir);
  if (hit) return hit;
  const missing = FILES.filter(f => !existsSync(join(dir, f)));
  if (missing.length) {
    throw new GobgpProtoError(
      `gobgp's API definitions (${missing.join(", ")}) are not in ${dir}. Install Debian's ${PROTO_PACKAGE} package ` +
        `(apt-get install ${PROTO_PACKAGE}), or set PURELB_GOBGP_PROTO_DIR to a directory with gobgp 3.x's api/*.proto files.`,
    );
  }
  let def: protoLoader.PackageDefinition;
  try {
    def = loadProtoLoader().loadSync(FILES, {
      includeDirs: [dir],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
      json: true,
    });
  } catch (err) {
    throw new GobgpProtoError(
      `cannot load gobgp's API definitions from ${dir} (package ${PROTO_PACKAGE}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const pkg = loadGrpc().loadPackageDefinition(def) as {
    apipb?: { GobgpApi?: GobgpServiceClient };
  };
  const svc = pkg.apipb?.GobgpApi;
  const absent = REQUIRED_METHODS.filter(m => !svc?.service?.[m]);
  if (!svc || absent.length) {
    throw new GobgpProtoError(
      `the .proto files in ${dir} are not gobgp 3.x's API (service apipb.GobgpApi${svc ? ` lacks ${absent.join(", ")}` : " is missing"}); install ${PROTO_PACKAGE} 3.x to match the gobgpd sidecar`,
    );
  }
  cache.set(dir, svc);
  return svc;
}
