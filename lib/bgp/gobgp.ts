import type * as grpc from "@grpc/grpc-js";
import { loadGrpc } from "./grpc";
import { GobgpServiceClient, loadGobgpService } from "./proto";

// The parts of gobgp 3.x's API (apipb, gobgp.proto and attribute.proto) that PureLB uses,
// with the .proto field names. Enums travel as their names.

export type AfiName = "AFI_IP" | "AFI_IP6";
export interface ApiFamily {
  afi: AfiName | string;
  safi: "SAFI_UNICAST" | string;
}

/** A google.protobuf.Any: the message's fields plus its type URL. */
export interface AnyMessage {
  "@type": string;
  [field: string]: unknown;
}

export const typeUrl = (message: string): string => `type.googleapis.com/apipb.${message}`;
export const familyOf = (family: 4 | 6): ApiFamily => ({
  afi: family === 4 ? "AFI_IP" : "AFI_IP6",
  safi: "SAFI_UNICAST",
});

export interface ApiTimestamp {
  seconds: number;
  nanos: number;
}

export interface ApiGlobal {
  asn: number;
  router_id: string;
  listen_port: number;
  listen_addresses?: string[];
}

export interface ApiAfiSafi {
  config?: { family?: ApiFamily | null; enabled?: boolean } | null;
  state?: {
    family?: ApiFamily | null;
    enabled?: boolean;
    received?: number;
    accepted?: number;
    advertised?: number;
  } | null;
  mp_graceful_restart?: { config?: { enabled?: boolean } | null } | null;
}

export interface ApiPeer {
  conf?: {
    neighbor_address?: string;
    peer_asn?: number;
    local_asn?: number;
    auth_password?: string;
    type?: "INTERNAL" | "EXTERNAL" | string;
    description?: string;
  } | null;
  state?: {
    neighbor_address?: string;
    session_state?: string;
    admin_state?: string;
    router_id?: string;
    flops?: number;
    messages?: {
      received?: { notification?: number } | null;
      sent?: { notification?: number } | null;
    } | null;
  } | null;
  timers?: {
    config?: { hold_time?: number; keepalive_interval?: number; connect_retry?: number } | null;
    state?: {
      uptime?: ApiTimestamp | null;
      downtime?: ApiTimestamp | null;
      negotiated_hold_time?: number;
    } | null;
  } | null;
  ebgp_multihop?: { enabled?: boolean; multihop_ttl?: number } | null;
  transport?: { local_address?: string; remote_port?: number; passive_mode?: boolean } | null;
  graceful_restart?: { enabled?: boolean; restart_time?: number; deferral_time?: number } | null;
  afi_safis?: ApiAfiSafi[];
}

export interface ApiPath {
  family: ApiFamily;
  nlri: AnyMessage;
  pattrs: AnyMessage[];
  is_withdraw?: boolean;
  neighbor_ip?: string;
  uuid?: Buffer;
}

/** What the controller needs from gobgpd; GobgpClient talks to the real one. */
export interface GobgpApi {
  /** The running global configuration; asn 0 means BGP has not been started. */
  getBgp(): Promise<ApiGlobal>;
  startBgp(global: ApiGlobal): Promise<void>;
  stopBgp(): Promise<void>;
  addPeer(peer: ApiPeer): Promise<void>;
  updatePeer(peer: ApiPeer): Promise<void>;
  deletePeer(address: string): Promise<void>;
  listPeers(): Promise<ApiPeer[]>;
  addPath(path: ApiPath): Promise<void>;
  deletePath(path: ApiPath): Promise<void>;
  /**
   * Adds and withdraws (is_withdraw) many paths over one AddPathStream: gobgpd takes each
   * message in one step and packs the routes into few UPDATEs. A path it refuses ends the
   * stream with an error, and the later ones are not applied.
   */
  streamPaths(paths: ApiPath[]): Promise<void>;
  /** Withdraws every path this speaker originated in a family. */
  deleteAllPaths(family: 4 | 6): Promise<void>;
  /** Paths this speaker originated (AddPath), per family, from the global RIB. */
  listLocalPaths(family: 4 | 6): Promise<ApiPath[]>;
  /** Streams peer state changes; `onEnd` runs once when the stream ends for any reason. */
  watchPeers(onPeer: (peer: ApiPeer) => void, onEnd: (err?: Error) => void): () => void;
  close(): void;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type UnaryFn = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: Callback<unknown>,
) => grpc.ClientUnaryCall;
type StreamFn = (
  req: unknown,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
) => grpc.ClientReadableStream<unknown>;

const CALL_TIMEOUT_MS = 5_000;
/** Paths per AddPathStream message. */
const STREAM_BATCH = 256;

/** gRPC errors that mean gobgpd is not there (not running, restarting, or not yet listening). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: number })?.code;
  const { status } = loadGrpc();
  return (
    code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.CANCELLED
  );
}

/** A path this speaker originated: gobgpd reports no neighbour for those. */
const isLocalPath = (p: ApiPath): boolean =>
  !p.neighbor_ip ||
  p.neighbor_ip === "<nil>" ||
  p.neighbor_ip === "0.0.0.0" ||
  p.neighbor_ip === "::";

/** gobgpd's gRPC API (apipb.GobgpApi) at `address`, e.g. 127.0.0.1:50051, without TLS. */
export class GobgpClient implements GobgpApi {
  private readonly client: grpc.Client;
  private readonly grpc = loadGrpc();

  constructor(
    readonly address: string,
    service: GobgpServiceClient = loadGobgpService(),
  ) {
    this.client = new service(address, this.grpc.credentials.createInsecure(), {
      // The sidecar is on the same host: reconnect quickly when it comes back.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2_000,
      "grpc.enable_retries": 0,
    });
  }

  private method<F>(name: string): F {
    const fn = (this.client as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
    return fn.bind(this.client) as F;
  }

  private unary<T>(name: string, req: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    const fn = this.method<UnaryFn>(name);
    return new Promise<T>((resolve, reject) => {
      fn(req, new this.grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, value) =>
        err ? reject(withMethod(name, err)) : resolve(value as T),
      );
    });
  }

  private collect<T>(name: string, req: unknown, timeoutMs = CALL_TIMEOUT_MS): Promise<T[]> {
    const call = this.method<StreamFn>(name)(req, new this.grpc.Metadata(), {
      deadline: Date.now() + timeoutMs,
    });
    const out: T[] = [];
    return new Promise<T[]>((resolve, reject) => {
      call.on("data", (m: T) => out.push(m));
      call.on("error", (err: grpc.ServiceError) => reject(withMethod(name, err)));
      call.on("end", () => resolve(out));
    });
  }

  async getBgp(): Promise<ApiGlobal> {
    const r = await this.unary<{ global?: ApiGlobal | null }>("GetBgp", {});
    return r.global ?? { asn: 0, router_id: "", listen_port: 0 };
  }

  async startBgp(global: ApiGlobal): Promise<void> {
    await this.unary("StartBgp", { global });
  }

  async stopBgp(): Promise<void> {
    // Stopping waits for every session to close.
    await this.unary("StopBgp", {}, 20_000);
  }

  async addPeer(peer: ApiPeer): Promise<void> {
    await this.unary("AddPeer", { peer });
  }

  async updatePeer(peer: ApiPeer): Promise<void> {
    await this.unary("UpdatePeer", { peer, do_soft_reset_in: true });
  }

  async deletePeer(address: string): Promise<void> {
    await this.unary("DeletePeer", { address });
  }

  async listPeers(): Promise<ApiPeer[]> {
    const rs = await this.collect<{ peer?: ApiPeer | null }>("ListPeer", {
      address: "",
      enableAdvertised: true,
    });
    return rs.flatMap(r => (r.peer ? [r.peer] : []));
  }

  async addPath(path: ApiPath): Promise<void> {
    await this.unary("AddPath", { table_type: "GLOBAL", path });
  }

  async deletePath(path: ApiPath): Promise<void> {
    await this.unary("DeletePath", {
      table_type: "GLOBAL",
      family: path.family,
      path: { ...path, is_withdraw: true },
    });
  }

  streamPaths(paths: ApiPath[]): Promise<void> {
    type WriteFn = (
      meta: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: Callback<unknown>,
    ) => grpc.ClientWritableStream<unknown>;
    return new Promise<void>((resolve, reject) => {
      const call = this.method<WriteFn>("AddPathStream")(
        new this.grpc.Metadata(),
        { deadline: Date.now() + CALL_TIMEOUT_MS + paths.length },
        err => (err ? reject(withMethod("AddPathStream", err)) : resolve()),
      );
      for (let i = 0; i < paths.length; i += STREAM_BATCH) {
        call.write({ table_type: "GLOBAL", paths: paths.slice(i, i + STREAM_BATCH) });
      }
      call.end();
    });
  }

  async deleteAllPaths(family: 4 | 6): Promise<void> {
    await this.unary("DeletePath", { table_type: "GLOBAL", family: familyOf(family) });
  }

  async listLocalPaths(family: 4 | 6): Promise<ApiPath[]> {
    const rs = await this.collect<{ destination?: { prefix: string; paths: ApiPath[] } | null }>(
      "ListPath",
      { table_type: "GLOBAL", family: familyOf(family) },
    );
    return rs.flatMap(r => r.destination?.paths ?? []).filter(isLocalPath);
  }

  watchPeers(onPeer: (peer: ApiPeer) => void, onEnd: (err?: Error) => void): () => void {
    const call = this.method<
      (
        req: unknown,
        meta: grpc.Metadata,
        opts: grpc.CallOptions,
      ) => grpc.ClientReadableStream<unknown>
    >("WatchEvent")({ peer: {} }, new this.grpc.Metadata(), {});
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on("data", (m: { peer?: { peer?: ApiPeer | null } | null }) => {
      if (m.peer?.peer) onPeer(m.peer.peer);
    });
    call.on("error", (err: grpc.ServiceError) => end(withMethod("WatchEvent", err)));
    call.on("end", () => end());
    return () => {
      ended = true;
      call.cancel();
    };
  }

  close(): void {
    this.client.close();
  }
}

function withMethod(name: string, err: grpc.ServiceError): grpc.ServiceError {
  err.message = `${name}: ${err.details || err.message}`;
  return err;
}
