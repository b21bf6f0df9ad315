import https from "node:https";
import { ApiAccess, loadApiAccess } from "./kubeconfig";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/**
 * A small JSON client over the kubeconfig (or in-cluster account). It keeps one keep-alive
 * agent so that a status write costs one round trip, and it streams watches line by line
 * so that no full object outlives the event that carried it.
 */
export class KubeClient {
  private readonly agent = new https.Agent({ keepAlive: true, maxSockets: 32 });
  readonly server: URL;

  constructor(private readonly access: ApiAccess) {
    this.server = access.server;
  }

  /** In-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  static fromEnvironment(): KubeClient {
    return new KubeClient(loadApiAccess());
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      let reason = "";
      let message = text;
      try {
        const s = JSON.parse(text) as { reason?: string; message?: string };
        reason = s.reason ?? "";
        message = s.message ?? text;
      } catch {
        /* not a Status object: keep the raw text */
      }
      throw new ApiError(status, reason, `${method} ${path}: ${status} ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Calls onLine for every line of a streaming response until it ends or `signal` aborts. */
  async stream(path: string, onLine: (line: string) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open("GET", path, { timeoutMs: 0 }, signal);
    if ((res.statusCode ?? 0) >= 400) {
      const text = await readAll(res);
      throw new ApiError(res.statusCode ?? 0, "", `GET ${path}: ${res.statusCode} ${text}`);
    }
    let buf = "";
    await new Promise<void>((resolve, reject) => {
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) onLine(line);
        }
      });
      res.on("end", resolve);
      res.on("error", reject);
      res.on("close", resolve);
    });
  }

  private async open(method: string, path: string, opts: RequestOptions, signal?: AbortSignal) {
    const options: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[|\]$/g, ""),
      port: this.server.port || 443,
      path: this.server.pathname.replace(/\/$/, "") + path,
      agent: this.agent,
      headers: { Accept: "application/json" },
      signal,
    };
    await this.access.apply(options);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      options.headers = {
        ...options.headers,
        "Content-Type": opts.contentType ?? "application/json",
      };
    }
    return new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
      const req = https.request(options, resolve);
      req.on("error", reject);
      const timeout = opts.timeoutMs ?? 30_000;
      if (timeout > 0)
        req.setTimeout(timeout, () =>
          req.destroy(new Error(`${method} ${path}: no answer in ${timeout} ms`)),
        );
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function readAll(res: import("node:http").IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.on("end", () => resolve(text));
    res.on("error", reject);
  });
}

export const MERGE_PATCH = "application/merge-patch+json";
