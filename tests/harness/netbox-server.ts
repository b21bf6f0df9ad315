/**
 * A small Netbox look-alike. It stays only for the faults a real NetBox cannot be made to
 * produce on demand: hangs, dropped connections, a server that goes away and comes back on
 * the same port, injected answers, a look at every request. Everything a real NetBox can
 * do is tested against one (tests/harness/netbox-real.ts); where the two are both used, this
 * one answers as NetBox 4.7.3 was seen to (DESIGN.md "NetBox for real"): an unknown tenant,
 * role or tag slug in a filter is a 400 "Select a valid choice", an unknown path an HTML
 * 404, a refused token NetBox's own 403 words, a 500 its {"error", "exception"} body.
 *
 * A real HTTP server on 127.0.0.1 that serves the part of Netbox's REST API PureLB uses,
 * with Netbox's request and response shapes:
 *
 *   GET    /api/ipam/prefixes/                      ?prefix ?tenant ?role ?tag ?family ?limit ?offset
 *   POST   /api/ipam/prefixes/{id}/available-ips/   one object in, 201 with the new IP address (409 when full)
 *   GET    /api/ipam/ip-addresses/                  ?address ?family ?tenant ?description__ic ?limit ?offset
 *   POST   /api/ipam/ip-addresses/
 *   DELETE /api/ipam/ip-addresses/{id}/             204, or 404
 *
 * Authentication is `Authorization: Token <t>` (or `Bearer <t>`); anything else gets 403
 * with NetBox's text.
 * Knobs for tests: stop()/start() (down and back on the same port), failNext, hangNext,
 * onRequest (runs before each request is handled), enforceUnique, and the records.
 */
import http from "node:http";
import { AddressInfo } from "node:net";
import { Address, Family, familyName, formatAddress, parseAddress } from "../../lib/ip/address";
import { Cidr, cidrContains, cidrFirst, cidrLast, formatCidr, parseCidr } from "../../lib/ip/cidr";

export interface PrefixInput {
  prefix: string;
  tenant?: string;
  role?: string;
  tags?: string[];
  vrf?: number;
  isPool?: boolean;
  status?: string;
}

export interface IpInput {
  address: string;
  tenant?: string;
  description?: string;
  vrf?: number;
  status?: string;
  tags?: string[];
}

export interface StoredPrefix {
  id: number;
  cidr: Cidr;
  tenant: string | null;
  role: string | null;
  tags: string[];
  vrf: number | null;
  isPool: boolean;
  status: string;
}

export interface StoredIp {
  id: number;
  /** "a/len", as Netbox stores it. */
  address: string;
  host: Address;
  vrf: number | null;
  tenant: string | null;
  status: string;
  description: string;
  tags: string[];
}

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  body?: unknown;
}

type Json = Record<string, unknown>;

class HttpError {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

class NotFound {}

const NOT_FOUND_PAGE =
  "<!DOCTYPE html>\n<html><head><title>Page Not Found</title></head><body><h1>Page Not Found</h1></body></html>";

const IP_STATUSES = ["active", "reserved", "deprecated", "dhcp", "slaac"];

export class FakeNetbox {
  private server?: http.Server;
  private port = 0;
  private nextId = 1;
  private readonly prefixes: StoredPrefix[] = [];
  private readonly ipsById = new Map<number, StoredIp>();
  private readonly slugs = {
    tenant: new Map<string, number>(),
    role: new Map<string, number>(),
    tag: new Map<string, number>(),
  };
  private readonly failures: { status: number; body: unknown }[] = [];
  private hangs = 0;
  /** Every request, in order of arrival. */
  readonly requests: SeenRequest[] = [];
  /** Called with each request before it is handled (after auth and fault knobs); may change the records. */
  onRequest?: (r: SeenRequest) => void;
  /** Like ENFORCE_GLOBAL_UNIQUE: refuse a second record of an address in one VRF with 400. */
  enforceUnique = false;

  private constructor(readonly token: string) {}

  static async start(token: string): Promise<FakeNetbox> {
    const nb = new FakeNetbox(token);
    await nb.start();
    return nb;
  }

  /** The API root, as spec.netbox.url takes it. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  /** Listens (again, on the same port after stop()). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Goes down: refuses connections and drops the open ones (hung requests included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>(resolve => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  // ---- records -------------------------------------------------------------------------

  addPrefix(p: PrefixInput): StoredPrefix {
    const cidr = parseCidr(p.prefix);
    if (!cidr) throw new Error(`bad prefix ${p.prefix}`);
    for (const t of p.tags ?? []) this.ref("tag", t);
    const stored: StoredPrefix = {
      id: this.nextId++,
      cidr: { family: cidr.family, network: cidr.network, prefix: cidr.prefix },
      tenant: p.tenant ? (this.ref("tenant", p.tenant), p.tenant) : null,
      role: p.role ? (this.ref("role", p.role), p.role) : null,
      tags: p.tags ?? [],
      vrf: p.vrf ?? null,
      isPool: p.isPool ?? false,
      status: p.status ?? "active",
    };
    this.prefixes.push(stored);
    return stored;
  }

  /** A record made by someone else (another tool, a person). */
  addIp(i: IpInput): StoredIp {
    const made = this.createIp({
      address: i.address,
      vrf: i.vrf ?? null,
      tenant: i.tenant,
      status: i.status,
      description: i.description,
      tags: i.tags,
    });
    if (made instanceof HttpError) throw new Error(JSON.stringify(made.body));
    return made;
  }

  /** Creates a tenant (or tag, role) so that it can be referenced. */
  ref(kind: "tenant" | "role" | "tag", slug: string): number {
    const known = this.slugs[kind].get(slug);
    if (known !== undefined) return known;
    const id = this.nextId++;
    this.slugs[kind].set(slug, id);
    return id;
  }

  ips(): StoredIp[] {
    return [...this.ipsById.values()].sort((a, b) => a.id - b.id);
  }

  deleteIp(id: number): void {
    this.ipsById.delete(id);
  }

  // ---- faults --------------------------------------------------------------------------

  /** The next `n` requests get `status` (with a Netbox-style body unless one is given). */
  failNext(
    n: number,
    status: number,
    body: unknown = { detail: `injected failure ${status}` },
  ): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, body });
  }

  /** The next `n` requests are read and never answered (until stop()). */
  hangNext(n: number): void {
    this.hangs += n;
  }

  // ---- HTTP ----------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${this.port}`);
    let raw = "";
    req.setEncoding("utf8");
    for await (const chunk of req) raw += chunk as string;
    const seen: SeenRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
    };
    this.requests.push(seen);

    if (this.hangs > 0) {
      this.hangs--;
      return;
    }
    const injected = this.failures.shift();
    if (injected) return send(res, injected.status, injected.body);

    try {
      if (raw) {
        try {
          seen.body = JSON.parse(raw);
        } catch (err) {
          throw new HttpError(400, { detail: `JSON parse error - ${(err as Error).message}` });
        }
      }
      const route = this.route(seen.method, url.pathname);
      this.authenticate(req.headers.authorization);
      this.onRequest?.(seen);
      const out = route(seen);
      if (out.status === 204) {
        res.writeHead(204).end();
        return;
      }
      send(res, out.status, out.body);
    } catch (err) {
      if (err instanceof NotFound) return sendHtml(res, 404, NOT_FOUND_PAGE);
      if (err instanceof HttpError) return send(res, err.status, err.body);
      // NetBox's API answers an unhandled exception like this (ExceptionHandlingMiddleware).
      send(res, 500, {
        error: String(err),
        exception: err instanceof Error ? err.constructor.name : "Exception",
        netbox_version: "4.7.3",
        python_version: "3.12.1",
      });
    }
  }

  private authenticate(header: string | undefined): void {
    if (!header)
      throw new HttpError(403, { detail: "Authentication credentials were not provided." });
    const m = /^(Token|Bearer) (.+)$/.exec(header);
    if (!m || m[2] !== this.token)
      throw new HttpError(403, {
        detail: m?.[2].startsWith("nbt_") ? "Invalid v2 token" : "Invalid v1 token",
      });
  }

  private route(
    method: string,
    path: string,
  ): (r: SeenRequest) => { status: number; body?: unknown } {
    const allow = (
      methods: Record<string, (r: SeenRequest) => { status: number; body?: unknown }>,
    ) => {
      const fn = methods[method];
      if (!fn) throw new HttpError(405, { detail: `Method "${method}" not allowed.` });
      return fn;
    };
    if (path === "/api/ipam/prefixes/")
      return allow({
        GET: r => ({
          status: 200,
          body: this.page(
            r,
            this.listPrefixes(r.query).map(p => this.prefixJson(p)),
          ),
        }),
      });
    let m = /^\/api\/ipam\/prefixes\/(\d+)\/available-ips\/$/.exec(path);
    if (m) {
      const id = Number(m[1]);
      return allow({
        POST: r => ({ status: 201, body: this.ipJson(this.allocateFrom(id, r.body)) }),
      });
    }
    if (path === "/api/ipam/ip-addresses/") {
      return allow({
        GET: r => ({
          status: 200,
          body: this.page(
            r,
            this.listIps(r.query).map(i => this.ipJson(i)),
          ),
        }),
        POST: r => ({ status: 201, body: this.ipJson(this.createFromBody(r.body)) }),
      });
    }
    m = /^\/api\/ipam\/ip-addresses\/(\d+)\/$/.exec(path);
    if (m) {
      const id = Number(m[1]);
      return allow({
        DELETE: () => {
          if (!this.ipsById.delete(id))
            throw new HttpError(404, { detail: "No IPAddress matches the given query." });
          return { status: 204 };
        },
      });
    }
    // Django's own 404 for a path no URL pattern matches: an HTML page, even under /api/.
    throw new NotFound();
  }

  private page(r: SeenRequest, all: Json[]): Json {
    const limit = Math.min(Number(r.query.get("limit") ?? 50) || 1000, 1000);
    const offset = Number(r.query.get("offset") ?? 0) || 0;
    const at = (o: number) => {
      const u = new URL(`http://127.0.0.1:${this.port}${r.path}`);
      for (const [k, v] of r.query)
        if (k !== "limit" && k !== "offset") u.searchParams.append(k, v);
      u.searchParams.set("limit", String(limit));
      u.searchParams.set("offset", String(o));
      return u.toString();
    };
    return {
      count: all.length,
      next: offset + limit < all.length ? at(offset + limit) : null,
      previous: offset > 0 ? at(Math.max(0, offset - limit)) : null,
      results: all.slice(offset, offset + limit),
    };
  }

  /** Like NetBox's slug filters: a slug no object has is a 400, not an empty list. */
  private checkSlugs(q: URLSearchParams, kinds: ("tenant" | "role" | "tag")[]): void {
    for (const kind of kinds) {
      const unknown = q.getAll(kind).find(v => !this.slugs[kind].has(v));
      if (unknown !== undefined)
        throw new HttpError(400, {
          [kind]: [`Select a valid choice. ${unknown} is not one of the available choices.`],
        });
    }
  }

  private listPrefixes(q: URLSearchParams): StoredPrefix[] {
    this.checkSlugs(q, ["tenant", "role", "tag"]);
    const exact = q.getAll("prefix").map(t => parseCidr(t));
    const tenants = q.getAll("tenant");
    const roles = q.getAll("role");
    const tags = q.getAll("tag");
    const families = q.getAll("family").map(Number);
    return this.prefixes
      .filter(
        p =>
          !exact.length ||
          exact.some(
            c =>
              c &&
              c.family === p.cidr.family &&
              c.network === p.cidr.network &&
              c.prefix === p.cidr.prefix,
          ),
      )
      .filter(p => !tenants.length || (p.tenant !== null && tenants.includes(p.tenant)))
      .filter(p => !roles.length || (p.role !== null && roles.includes(p.role)))
      .filter(p => tags.every(t => p.tags.includes(t)))
      .filter(p => !families.length || families.includes(p.cidr.family))
      .sort(
        (a, b) =>
          (a.vrf ?? 0) - (b.vrf ?? 0) ||
          a.cidr.family - b.cidr.family ||
          cmp(a.cidr.network, b.cidr.network) ||
          a.cidr.prefix - b.cidr.prefix,
      );
  }

  private listIps(q: URLSearchParams): StoredIp[] {
    this.checkSlugs(q, ["tenant"]);
    const addresses = q.getAll("address").map(t => parseAddress(t.split("/")[0]));
    const families = q.getAll("family").map(Number);
    const tenants = q.getAll("tenant");
    const contains = q.getAll("description__ic").map(s => s.toLowerCase());
    return this.ips()
      .filter(
        i =>
          !addresses.length ||
          addresses.some(a => a && a.family === i.host.family && a.value === i.host.value),
      )
      .filter(i => !families.length || families.includes(i.host.family))
      .filter(i => !tenants.length || (i.tenant !== null && tenants.includes(i.tenant)))
      .filter(i => contains.every(c => i.description.toLowerCase().includes(c)));
  }

  /** Netbox's get_available_ips: the first address of the prefix with no record in its VRF. */
  private allocateFrom(id: number, body: unknown): StoredIp {
    const prefix = this.prefixes.find(p => p.id === id);
    if (!prefix) throw new HttpError(404, { detail: "No Prefix matches the given query." });
    if (!body || typeof body !== "object" || Array.isArray(body))
      throw new HttpError(400, { non_field_errors: ["Invalid data. Expected a dictionary."] });
    let first = cidrFirst(prefix.cidr);
    let last = cidrLast(prefix.cidr);
    if (!prefix.isPool) {
      if (prefix.cidr.family === 4 && prefix.cidr.prefix < 31) {
        first++;
        last--;
      }
      if (prefix.cidr.family === 6 && prefix.cidr.prefix < 127) first++;
    }
    const used = new Set(
      this.ips()
        .filter(i => i.vrf === prefix.vrf && cidrContains(prefix.cidr, i.host))
        .map(i => i.host.value),
    );
    let free: bigint | undefined;
    for (let v = first; v <= last; v++) {
      if (!used.has(v)) {
        free = v;
        break;
      }
    }
    if (free === undefined) {
      throw new HttpError(409, {
        detail: `An insufficient number of IP addresses are available within ${formatCidr(prefix.cidr)} (1 requested, 0 available)`,
      });
    }
    // No await between choosing and storing: two requests can never get one address.
    const address = `${formatAddress({ family: prefix.cidr.family, value: free })}/${prefix.cidr.prefix}`;
    return this.createFromBody({ ...(body as Json), address, vrf: prefix.vrf });
  }

  private createFromBody(body: unknown): StoredIp {
    if (!body || typeof body !== "object" || Array.isArray(body))
      throw new HttpError(400, { non_field_errors: ["Invalid data. Expected a dictionary."] });
    const b = body as Json;
    const tenant =
      b.tenant === undefined || b.tenant === null ? undefined : this.resolve("tenant", b.tenant);
    const tags = Array.isArray(b.tags) ? b.tags.map(t => this.resolve("tag", t)) : [];
    if (b.vrf !== undefined && b.vrf !== null && typeof b.vrf !== "number")
      throw new HttpError(400, { vrf: ["Incorrect type. Expected pk value."] });
    const made = this.createIp({
      address: b.address,
      vrf: (b.vrf as number | null | undefined) ?? null,
      tenant,
      status: b.status,
      description: b.description,
      tags,
    });
    if (made instanceof HttpError) throw made;
    return made;
  }

  private createIp(i: {
    address: unknown;
    vrf: number | null;
    tenant?: string;
    status?: unknown;
    description?: unknown;
    tags?: string[];
  }): StoredIp | HttpError {
    if (typeof i.address !== "string")
      return new HttpError(400, { address: ["This field is required."] });
    const slash = i.address.indexOf("/");
    const host = slash > 0 ? parseAddress(i.address.slice(0, slash)) : undefined;
    const len = slash > 0 ? parseCidr(i.address) : undefined;
    if (!host || !len)
      return new HttpError(400, { address: [`Invalid IP address format: ${i.address}`] });
    const status = i.status === undefined ? "active" : i.status;
    if (typeof status !== "string" || !IP_STATUSES.includes(status))
      return new HttpError(400, { status: [`"${String(status)}" is not a valid choice.`] });
    const description = i.description === undefined ? "" : i.description;
    if (typeof description !== "string")
      return new HttpError(400, { description: ["Not a valid string."] });
    if (description.length > 200)
      return new HttpError(400, {
        description: ["Ensure this field has no more than 200 characters."],
      });
    if (
      this.enforceUnique &&
      this.ips().some(
        o => o.vrf === i.vrf && o.host.family === host.family && o.host.value === host.value,
      )
    ) {
      return new HttpError(400, {
        address: [
          `Duplicate IP address found in ${i.vrf === null ? "global table" : `VRF ${i.vrf}`}: ${i.address}`,
        ],
      });
    }
    const stored: StoredIp = {
      id: this.nextId++,
      address: `${formatAddress(host)}/${len.prefix}`,
      host,
      vrf: i.vrf,
      tenant: i.tenant ?? null,
      status,
      description,
      tags: i.tags ?? [],
    };
    this.ipsById.set(stored.id, stored);
    return stored;
  }

  /** A related object given as a pk or as a dictionary of attributes ({"slug": ...} or {"name": ...}). */
  private resolve(kind: "tenant" | "tag", ref: unknown): string {
    const map = this.slugs[kind];
    if (typeof ref === "number") {
      for (const [slug, id] of map) if (id === ref) return slug;
      throw new HttpError(400, {
        [kind === "tag" ? "tags" : kind]: [
          `Related object not found using the provided numeric ID: ${ref}`,
        ],
      });
    }
    if (ref && typeof ref === "object") {
      const attrs = ref as { slug?: unknown; name?: unknown };
      const slug =
        typeof attrs.slug === "string"
          ? attrs.slug
          : typeof attrs.name === "string"
            ? attrs.name
            : undefined;
      if (slug !== undefined && map.has(slug)) return slug;
      throw new HttpError(400, {
        [kind === "tag" ? "tags" : kind]: [
          `Related object not found using the provided attributes: ${JSON.stringify(ref)}`,
        ],
      });
    }
    throw new HttpError(400, {
      [kind === "tag" ? "tags" : kind]: [
        "Incorrect type. Expected pk value or dictionary of attributes.",
      ],
    });
  }

  private nested(kind: "tenant" | "role" | "tag", slug: string | null): Json | null {
    if (slug === null) return null;
    const id = this.slugs[kind].get(slug) ?? 0;
    return {
      id,
      url: `${this.url}/${kind === "tenant" ? "tenancy/tenants" : kind === "role" ? "ipam/roles" : "extras/tags"}/${id}/`,
      display: slug,
      name: slug,
      slug,
    };
  }

  private prefixJson(p: StoredPrefix): Json {
    return {
      id: p.id,
      url: `${this.url}/ipam/prefixes/${p.id}/`,
      display: formatCidr(p.cidr),
      family: { value: p.cidr.family, label: familyName(p.cidr.family) },
      prefix: formatCidr(p.cidr),
      vrf:
        p.vrf === null
          ? null
          : {
              id: p.vrf,
              url: `${this.url}/ipam/vrfs/${p.vrf}/`,
              display: `vrf${p.vrf}`,
              name: `vrf${p.vrf}`,
            },
      tenant: this.nested("tenant", p.tenant),
      role: this.nested("role", p.role),
      status: { value: p.status, label: p.status[0].toUpperCase() + p.status.slice(1) },
      is_pool: p.isPool,
      description: "",
      tags: p.tags.map(t => this.nested("tag", t)),
    };
  }

  private ipJson(i: StoredIp): Json {
    return {
      id: i.id,
      url: `${this.url}/ipam/ip-addresses/${i.id}/`,
      display: i.address,
      family: { value: i.host.family as Family, label: familyName(i.host.family) },
      address: i.address,
      vrf:
        i.vrf === null
          ? null
          : {
              id: i.vrf,
              url: `${this.url}/ipam/vrfs/${i.vrf}/`,
              display: `vrf${i.vrf}`,
              name: `vrf${i.vrf}`,
            },
      tenant: this.nested("tenant", i.tenant),
      status: { value: i.status, label: i.status[0].toUpperCase() + i.status.slice(1) },
      role: null,
      assigned_object_type: null,
      assigned_object_id: null,
      dns_name: "",
      description: i.description,
      tags: i.tags.map(t => this.nested("tag", t)),
    };
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendHtml(res: http.ServerResponse, status: number, page: string): void {
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": Buffer.byteLength(page),
  });
  res.end(page);
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
