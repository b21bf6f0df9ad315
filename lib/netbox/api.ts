/**
 * The HTTP side of the Netbox client: one JSON request with a deadline, and paging over
 * Netbox's `{count, next, previous, results}` lists. It never throws and never puts the
 * token anywhere but the Authorization header: failures come back as data for ipam.ts
 * to turn into messages.
 */
import { netboxDuration, netboxRequests } from "./metrics";

export type Query = Record<string, string | number | undefined>;

export interface CallOk<T> {
  ok: true;
  status: number;
  body: T;
}

export interface CallError {
  ok: false;
  /** unreachable: no connection; timeout: no answer in time; status: an HTTP error; body: not Netbox's JSON. */
  kind: "unreachable" | "timeout" | "status" | "body";
  /** e.g. "GET /api/ipam/prefixes/" (never the query string). */
  request: string;
  status?: number;
  /** Netbox's own explanation (its `detail` or field errors), or the socket error. */
  detail: string;
  /** The answer was an HTML page: the URL is Netbox's UI or some other web server, not its API. */
  html?: boolean;
  /** Field errors by field, as Netbox sent them (a 400 names the filter or field it refused). */
  fields?: Record<string, string[]>;
  /** A 500's exception class (Netbox's API answers {"error", "exception", ...}). */
  exception?: string;
}

export type CallResult<T> = CallOk<T> | CallError;

interface Page<T> {
  count?: number;
  results?: T[];
}

/** Netbox's page-size ceiling (MAX_PAGE_SIZE) by default. */
const PAGE = 1000;

export class NetboxApi {
  /** The API root without credentials, query or trailing slash, e.g. https://netbox.example.com/api. */
  readonly root: string;
  private readonly base: URL;

  constructor(
    url: string,
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    private readonly fetchFn: typeof fetch,
  ) {
    const u = new URL(url);
    let path = u.pathname.replace(/\/+$/, "");
    // Netbox always serves its API under /api; a bare host means its root.
    if (path === "") path = "/api";
    this.base = new URL(`${u.protocol}//${u.host}${path}/`);
    this.root = `${u.protocol}//${u.host}${path}`;
  }

  async call<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown } = {},
  ): Promise<CallResult<T>> {
    const first = await this.once<T>(method, path, opts);
    // A keep-alive connection that Netbox (or a proxy) closed while idle fails the next
    // request on it before Netbox sees it: try again once when that is safe.
    if (
      !first.ok &&
      first.kind === "unreachable" &&
      (method === "GET" || method === "DELETE") &&
      /UND_ERR_SOCKET|ECONNRESET|EPIPE/.test(first.detail)
    ) {
      return this.once<T>(method, path, opts);
    }
    return first;
  }

  private async once<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown },
  ): Promise<CallResult<T>> {
    const stop = netboxDuration.startTimer({ method });
    const result = await this.send<T>(method, path, opts);
    stop();
    netboxRequests.inc({ method, outcome: result.ok ? "ok" : result.kind });
    return result;
  }

  private async send<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown },
  ): Promise<CallResult<T>> {
    const url = new URL(path.replace(/^\//, ""), this.base);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.append(k, String(v));
    const request = `${method} ${url.pathname}`;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token) headers.Authorization = authorization(this.token);
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const signal = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let text: string;
    let contentType: string;
    try {
      // Redirects are not followed: they would carry the token elsewhere, and Netbox's API
      // does not redirect (its UI does, to the login page, when the URL is not the API root).
      const res = await this.fetchFn(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        redirect: "manual",
        signal,
      });
      status = res.status;
      contentType = res.headers.get("content-type") ?? "";
      text = await res.text();
    } catch (err) {
      if (signal.aborted)
        return { ok: false, kind: "timeout", request, detail: `no answer in ${this.timeoutMs} ms` };
      return { ok: false, kind: "unreachable", request, detail: socketError(err) };
    }
    if (status >= 300)
      return { ok: false, kind: "status", request, status, ...errorDetail(text, contentType) };
    if (status === 204 || text.trim() === "") return { ok: true, status, body: undefined as T };
    try {
      return { ok: true, status, body: JSON.parse(text) as T };
    } catch {
      const html = isHtml(text, contentType);
      const what = html ? "an HTML page" : "something that is not JSON";
      return { ok: false, kind: "body", request, status, html, detail: `answered with ${what}` };
    }
  }

  /** Every object of a list endpoint, page by page (limit/offset, so `next` hosts do not matter). */
  async list<T>(path: string, query: Query = {}): Promise<{ ok: true; items: T[] } | CallError> {
    const items: T[] = [];
    for (let offset = 0; ; ) {
      const page = await this.call<Page<T>>("GET", path, {
        query: { ...query, limit: PAGE, offset },
      });
      if (!page.ok) return page;
      const results = page.body?.results;
      if (!Array.isArray(results)) {
        return {
          ok: false,
          kind: "body",
          request: `GET ${new URL(path.replace(/^\//, ""), this.base).pathname}`,
          detail: "answered without a results list",
        };
      }
      items.push(...results);
      offset += results.length;
      if (results.length === 0 || offset >= (page.body.count ?? 0)) return { ok: true, items };
    }
  }
}

/** Netbox v2 tokens (4.5+) are "nbt_<key>.<secret>" and go as Bearer; v1 tokens as Token. */
export const authorization = (token: string): string =>
  token.startsWith("nbt_") ? `Bearer ${token}` : `Token ${token}`;

function socketError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const text = cause?.message || (err instanceof Error ? err.message : String(err));
  return cause?.code && !text.includes(cause.code) ? `${cause.code}: ${text}` : text;
}

const isHtml = (text: string, contentType: string): boolean =>
  /html/i.test(contentType) || /^\s*</.test(text);

type Detail = Pick<CallError, "detail" | "html" | "fields" | "exception">;

/**
 * Netbox answers errors as {"detail": "..."}, as field errors {"address": ["..."]}, or
 * (a 500 from its API) as {"error": "...", "exception": "OperationalError", ...}.
 */
function errorDetail(text: string, contentType: string): Detail {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return isHtml(text, contentType)
      ? { detail: "an HTML page", html: true }
      : { detail: clip(text.trim()) };
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    const detail = Array.isArray(body)
      ? body.map(v => (typeof v === "string" ? v : JSON.stringify(v))).join("; ")
      : String(body);
    return { detail: clip(detail) };
  }
  const o = body as Record<string, unknown>;
  if (typeof o.detail === "string") return { detail: clip(o.detail) };
  if (typeof o.exception === "string")
    return {
      detail: clip(typeof o.error === "string" ? o.error : o.exception),
      exception: o.exception,
    };
  const fields: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(o))
    fields[k] = (Array.isArray(v) ? v : [v]).map(x =>
      typeof x === "string" ? x : JSON.stringify(x),
    );
  const detail = Object.entries(fields)
    .map(([k, v]) => `${k}: ${v.join(" ")}`)
    .join("; ");
  return { detail: clip(detail), fields };
}

const clip = (t: string): string => (t.length > 300 ? `${t.slice(0, 297)}...` : t);
