import {
  Address,
  Family,
  familyBits,
  familyName,
  formatAddress,
  parseAddress,
} from "../ip/address";
import { Cidr, cidrContains, formatCidr, parseCidr } from "../ip/cidr";
import { Failure, fail } from "../ipam/failure";
import { GroupModel } from "../ipam/group";
import { KubeClient } from "../k8s/client";
import { NetboxSpec } from "../k8s/servicegroup";
import { CallError, NetboxApi } from "./api";
import { TOKEN_KEY, TokenSource, secretTokenSource } from "./token";

/** The Service an address is for; written into the Netbox record so that release finds it. */
export interface NetboxOwner {
  namespace: string;
  name: string;
  uid: string;
  /** The cluster's name, so that people reading Netbox know which cluster holds the address. */
  cluster: string;
}

export interface NetboxAllocation {
  /** Canonical text, without a prefix length. */
  address: string;
  /** Prefix length for the interface: the Netbox prefix's, or spec.netbox.aggregation. */
  prefix: number;
}

/** A Netbox ip-address record that PureLB created, as found by `owned`. */
export interface OwnedRecord {
  id: number;
  address: string;
  uid: string;
  description: string;
}

export interface NetboxIpamOptions {
  /** Deadline of every request to Netbox (default 5 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Where tokens come from; by default the Secret spec.netbox.secretName, key user-token. */
  tokenFor?: TokenSource;
}

export type NetboxResult = { ok: true; allocation: NetboxAllocation } | Failure;

/** Netbox's limit on a description. */
const DESCRIPTION_MAX = 200;
const MARK = "PureLB uid=";

/** The description PureLB writes on the records it creates: the uid first, so truncation never loses it. */
export function ownerDescription(owner: NetboxOwner): string {
  return `${MARK}${owner.uid} cluster=${owner.cluster} service=${owner.namespace}/${owner.name}`.slice(
    0,
    DESCRIPTION_MAX,
  );
}

/** The Service uid of a record PureLB created, or undefined for anyone else's record. */
export function descriptionUid(description: string | undefined): string | undefined {
  return description?.startsWith(MARK)
    ? /^\S+/.exec(description.slice(MARK.length))?.[0]
    : undefined;
}

/** The families a netbox group can serve: its prefix's when spec.netbox.prefix is set, else both. */
export function netboxFamilies(group: GroupModel): Set<Family> {
  const cidr = group.netbox?.prefix ? parseCidr(group.netbox.prefix.trim()) : undefined;
  return cidr ? new Set([cidr.family]) : new Set<Family>([4, 6]);
}

interface NbRef {
  id: number;
  slug?: string;
  name?: string;
}

interface NbPrefix {
  id: number;
  prefix: string;
  vrf?: NbRef | null;
  tenant?: NbRef | null;
}

interface NbIp {
  id: number;
  address: string;
  vrf?: NbRef | null;
  description?: string;
}

/** A Netbox prefix PureLB may allocate from. */
interface Pool {
  id: number;
  cidr: Cidr;
  text: string;
  vrf: number | null;
}

interface Session {
  ok: true;
  api: NetboxApi;
  spec: NetboxSpec;
  group: GroupModel;
  tenant: string;
  /** What to do about a refused token, for messages. */
  tokenHint: string;
  token?: string;
}

/**
 * Addresses from Netbox instead of a local pool. Netbox holds the state: nothing here is
 * remembered between calls, so a new instance (a restarted allocator) releases what an old
 * one allocated, and two clusters that share a Netbox never get the same address.
 */
export class NetboxIpam {
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly tokenFor: TokenSource;

  constructor(client: KubeClient | undefined, opts: NetboxIpamOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.fetchFn = opts.fetch ?? fetch;
    this.tokenFor =
      opts.tokenFor ??
      (client
        ? secretTokenSource(client)
        : () =>
            Promise.reject(
              new Error(
                "PureLB was started without a Kubernetes client, so it cannot read the Netbox token",
              ),
            ));
  }

  /**
   * One address of `family` for `owner`: `requested` if Netbox has it free, else the next free
   * address of the group's Netbox prefix(es). Calling again for the same owner and family
   * (after a crash between allocation and the Service write) returns the record it already has.
   */
  async allocate(
    group: GroupModel,
    family: Family,
    owner: NetboxOwner,
    requested?: Address,
  ): Promise<NetboxResult> {
    const s = await this.session(group);
    if (!s.ok) return s;
    if (!owner.uid)
      return fail(
        "external-ipam",
        `cannot allocate from Netbox for ${owner.namespace}/${owner.name}: it has no uid to record as owner`,
      );
    if (requested && requested.family !== family) {
      return fail(
        "invalid-annotation",
        `requested ${familyName(requested.family)} address ${formatAddress(requested)} for an ${familyName(family)} allocation`,
      );
    }
    const aggregation = parseAggregation(s.spec.aggregation, family, group.name);
    if (typeof aggregation === "object") return aggregation;
    const pools = await this.pools(s, family);
    if (!Array.isArray(pools)) return pools;

    const mine = await this.records(s, { family, description__ic: `${MARK}${owner.uid}` });
    if (!Array.isArray(mine)) return mine;
    const held = mine
      .filter(r => descriptionUid(r.description) === owner.uid)
      .map(r => ({ r, a: hostOf(r.address) }))
      .filter(({ a }) => a?.family === family && (!requested || a.value === requested.value))
      .map(({ r, a }) => ({ r, a: a!, pool: poolOf(pools, a!, vrfOf(r)) }))
      .find(x => x.pool);
    if (held) return this.result(held.a, held.pool!, aggregation, group);

    const description = ownerDescription(owner);
    return requested
      ? this.claim(s, pools, requested, description, aggregation)
      : this.next(s, pools, family, description, aggregation);
  }

  /**
   * Deletes the record(s) of `address` that PureLB created for `owner`; never anyone else's.
   * An address that is already gone is released.
   */
  async release(group: GroupModel, address: string, owner: NetboxOwner): Promise<void | Failure> {
    const a = parseAddress(address);
    if (!a)
      return fail(
        "external-ipam",
        `cannot release "${address}" in Netbox: it is not an IP address`,
      );
    if (!owner.uid)
      return fail(
        "external-ipam",
        `cannot release ${address} in Netbox: the owner has no uid, so PureLB cannot tell its record from others`,
      );
    const s = await this.session(group);
    if (!s.ok) return s;
    const text = formatAddress(a);
    const found = await this.records(s, { address: text });
    if (!Array.isArray(found)) return found;
    for (const r of found) {
      if (
        descriptionUid(r.description) !== owner.uid ||
        hostOf(r.address)?.value !== a.value ||
        hostOf(r.address)?.family !== a.family
      )
        continue;
      const del = await s.api.call("DELETE", `ipam/ip-addresses/${r.id}/`);
      if (!del.ok && del.status !== 404) return this.explain(s, del, `release ${text}`);
    }
  }

  /**
   * Every record PureLB created in the group's tenant, optionally only `cluster`'s: lets a
   * restarted allocator release the addresses of Services deleted while it was down.
   */
  async owned(
    group: GroupModel,
    cluster?: string,
  ): Promise<{ ok: true; records: OwnedRecord[] } | Failure> {
    const s = await this.session(group);
    if (!s.ok) return s;
    const found = await this.records(s, { tenant: s.tenant, description__ic: MARK });
    if (!Array.isArray(found)) return found;
    const records: OwnedRecord[] = [];
    for (const r of found) {
      const uid = descriptionUid(r.description);
      const a = hostOf(r.address);
      if (!uid || !a) continue;
      if (cluster !== undefined && !r.description!.includes(` cluster=${cluster} `)) continue;
      records.push({ id: r.id, address: formatAddress(a), uid, description: r.description! });
    }
    return { ok: true, records };
  }

  // ---- steps ---------------------------------------------------------------------------

  private async session(group: GroupModel): Promise<Session | Failure> {
    const spec = group.netbox;
    if (group.type !== "netbox" || !spec?.url || !spec.tenant) {
      return fail(
        "invalid-group",
        `ServiceGroup ${group.name} has no spec.netbox url and tenant; it is not a Netbox group`,
      );
    }
    const tokenHint = spec.secretName
      ? `check the token in Secret ${group.namespace}/${spec.secretName} key ${TOKEN_KEY}, and that its user has ${permissions(!!spec.tag)}`
      : `no token is configured: put the Netbox API token in a Secret under key ${TOKEN_KEY} and name it in spec.netbox.secretName`;
    let token: string | undefined;
    try {
      token = await this.tokenFor(group);
    } catch (err) {
      return fail(
        "external-ipam",
        `ServiceGroup ${group.name} cannot call Netbox: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    let api: NetboxApi;
    try {
      api = new NetboxApi(spec.url, token, this.timeoutMs, this.fetchFn);
    } catch {
      return fail(
        "invalid-group",
        `ServiceGroup ${group.name}: spec.netbox.url "${spec.url}" is not a URL; give the Netbox API root, e.g. https://netbox.example.com/api`,
      );
    }
    return { ok: true, api, spec, group, tenant: spec.tenant, tokenHint, token };
  }

  /** The Netbox prefixes the group allocates `family` from, in Netbox's order. */
  private async pools(s: Session, family: Family): Promise<Pool[] | Failure> {
    const where = `Netbox at ${s.api.root}`;
    if (s.spec.prefix) {
      const cidr = parseCidr(s.spec.prefix.trim());
      if (!cidr || cidr.hostBitsSet) {
        return fail(
          "invalid-group",
          `ServiceGroup ${s.group.name}: spec.netbox.prefix "${s.spec.prefix}" is not a network CIDR, e.g. 192.0.2.0/24`,
        );
      }
      if (cidr.family !== family) {
        return fail(
          "family-not-in-group",
          `ServiceGroup ${s.group.name} allocates from the ${familyName(cidr.family)} Netbox prefix ${formatCidr(cidr)} but the Service needs ${familyName(family)}; use a group without spec.netbox.prefix or change spec.ipFamilies`,
        );
      }
      const found = await s.api.list<NbPrefix>("ipam/prefixes/", { prefix: formatCidr(cidr) });
      if (!found.ok) return this.explain(s, found, `find prefix ${formatCidr(cidr)}`);
      const pools = toPools(found.items).filter(
        p =>
          p.cidr.family === family &&
          p.cidr.network === cidr.network &&
          p.cidr.prefix === cidr.prefix,
      );
      // The same prefix may exist in several VRFs: prefer the tenant's.
      const tenants = found.items.filter(p => p.tenant?.slug === s.tenant).map(p => p.id);
      const best = pools.find(p => tenants.includes(p.id)) ?? pools[0];
      if (!best)
        return fail(
          "external-ipam",
          `${where} has no prefix ${formatCidr(cidr)} (spec.netbox.prefix of ServiceGroup ${s.group.name}); create it in Netbox or fix the ServiceGroup`,
        );
      return [best];
    }
    const filters = {
      tenant: s.tenant,
      family,
      role: s.spec.role || undefined,
      tag: s.spec.tag || undefined,
    };
    const found = await s.api.list<NbPrefix>("ipam/prefixes/", filters);
    if (!found.ok)
      return this.explain(
        s,
        found,
        `find the ${familyName(family)} prefixes of tenant ${s.tenant}`,
      );
    const pools = toPools(found.items).filter(p => p.cidr.family === family);
    if (!pools.length) {
      const also = [s.spec.role && `role ${s.spec.role}`, s.spec.tag && `tag ${s.spec.tag}`]
        .filter(Boolean)
        .join(" and ");
      return fail(
        "external-ipam",
        `${where} has no ${familyName(family)} prefix of tenant ${s.tenant}${also ? ` with ${also}` : ""}; create one in Netbox, or fix spec.netbox of ServiceGroup ${s.group.name}`,
      );
    }
    return pools;
  }

  /** The next free address, from the first prefix that has one; Netbox picks it under its own lock. */
  private async next(
    s: Session,
    pools: Pool[],
    family: Family,
    description: string,
    aggregation: number | undefined,
  ): Promise<NetboxResult> {
    for (const pool of pools) {
      const bad = checkAggregation(aggregation, pool, s.group.name);
      if (bad) return bad;
      const made = await s.api.call<NbIp>("POST", `ipam/prefixes/${pool.id}/available-ips/`, {
        body: this.record(s, description),
      });
      if (!made.ok && made.kind === "status" && made.status === 409) continue;
      if (!made.ok) return this.explain(s, made, `allocate an address from ${pool.text}`);
      const a = hostOf(made.body?.address);
      if (!a || !cidrContains(pool.cidr, a)) {
        return fail(
          "external-ipam",
          `Netbox at ${s.api.root} answered a request for an address in ${pool.text} with "${made.body?.address}"; check the Netbox version (PureLB needs /api/ipam/prefixes/{id}/available-ips/)`,
        );
      }
      return this.result(a, pool, aggregation, s.group);
    }
    const also = [s.spec.role && `role ${s.spec.role}`, s.spec.tag && `tag ${s.spec.tag}`]
      .filter(Boolean)
      .join(" and ");
    const which = s.spec.prefix
      ? `prefix ${pools[0].text}`
      : `prefixes of tenant ${s.tenant}${also ? ` with ${also}` : ""} (${pools.map(p => p.text).join(", ")})`;
    return fail(
      "external-ipam",
      `Netbox at ${s.api.root} has no free ${familyName(family)} address in the ${which}; free addresses in Netbox or add a prefix`,
    );
  }

  /**
   * A requested address: claimed only if Netbox has no record of it. Netbox does not lock a
   * create by address, so after creating the record look again: if there is any other record
   * of the address, someone claimed it at the same time, and ours goes.
   */
  private async claim(
    s: Session,
    pools: Pool[],
    requested: Address,
    description: string,
    aggregation: number | undefined,
  ): Promise<NetboxResult> {
    const text = formatAddress(requested);
    const pool = poolOf(pools, requested);
    if (!pool) {
      const which = s.spec.prefix
        ? `prefix ${pools[0].text}`
        : `prefixes of tenant ${s.tenant} (${pools.map(p => p.text).join(", ")})`;
      return fail(
        "outside-pool",
        `requested address ${text} is not in the Netbox ${which} of ServiceGroup ${s.group.name}; request an address inside them or remove the request`,
      );
    }
    const bad = checkAggregation(aggregation, pool, s.group.name);
    if (bad) return bad;
    const taken = (rs: NbIp[]) => rs.filter(r => sameHost(r, requested) && vrfOf(r) === pool.vrf);

    const before = await this.records(s, { address: text });
    if (!Array.isArray(before)) return before;
    const other = taken(before)[0];
    if (other) return inUse(s, text, other);

    const made = await s.api.call<NbIp>("POST", "ipam/ip-addresses/", {
      body: {
        ...this.record(s, description),
        address: `${text}/${pool.cidr.prefix}`,
        vrf: pool.vrf,
      },
    });
    if (!made.ok) {
      // Netbox with ENFORCE_GLOBAL_UNIQUE refuses a duplicate with 400 and says so.
      if (made.kind === "status" && made.status === 400 && /duplicate/i.test(made.detail)) {
        return fail(
          "address-in-use",
          `requested address ${text} is already in Netbox at ${s.api.root} (${this.redact(s, made.detail)}); request another address or remove the request`,
        );
      }
      return this.explain(s, made, `claim ${text}`);
    }
    const id = made.body?.id;
    const after = await this.records(s, { address: text });
    const rivals = Array.isArray(after) ? taken(after).filter(r => r.id !== id) : [];
    if (Array.isArray(after) && rivals.length === 0 && taken(after).some(r => r.id === id))
      return this.result(requested, pool, aggregation, s.group);

    // Someone else claimed it too, or the check failed: take ours back.
    const undo =
      typeof id === "number" ? await s.api.call("DELETE", `ipam/ip-addresses/${id}/`) : undefined;
    if (!Array.isArray(after)) return after;
    if (undo && !undo.ok && undo.status !== 404)
      return this.explain(s, undo, `withdraw the duplicate claim of ${text}`);
    return rivals[0]
      ? inUse(s, text, rivals[0])
      : fail(
          "external-ipam",
          `Netbox at ${s.api.root} did not list the record it created for ${text}; withdrew the claim, PureLB retries`,
        );
  }

  private async records(
    s: Session,
    query: Record<string, string | number>,
  ): Promise<NbIp[] | Failure> {
    const found = await s.api.list<NbIp>("ipam/ip-addresses/", query);
    return found.ok ? found.items : this.explain(s, found, "look up IP addresses");
  }

  private record(s: Session, description: string): Record<string, unknown> {
    return {
      tenant: { slug: s.tenant },
      status: "active",
      description,
      ...(s.spec.tag ? { tags: [{ slug: s.spec.tag }] } : {}),
    };
  }

  private result(
    a: Address,
    pool: Pool,
    aggregation: number | undefined,
    group: GroupModel,
  ): NetboxResult {
    const bad = checkAggregation(aggregation, pool, group.name);
    if (bad) return bad;
    return {
      ok: true,
      allocation: { address: formatAddress(a), prefix: aggregation ?? pool.cidr.prefix },
    };
  }

  /** A Failure that says which request failed, why, and what to do; never with the token. */
  private explain(s: Session, e: CallError, doing: string): Failure {
    const at = `Netbox at ${s.api.root}`;
    let message: string;
    switch (e.kind) {
      case "unreachable":
        message = `${at} is unreachable (${e.detail}) trying to ${doing}; check spec.netbox.url and that Netbox is up, PureLB retries`;
        break;
      case "timeout":
        message = `${at} did not answer ${e.request} within ${this.timeoutMs} ms trying to ${doing}; check that Netbox is healthy and reachable, PureLB retries`;
        break;
      case "body":
        message = e.html
          ? `${at} answered ${e.request} with an HTML page: this URL does not serve the Netbox API; set spec.netbox.url to the Netbox API root, e.g. https://netbox.example.com/api`
          : `${at} ${e.detail} to ${e.request}; set spec.netbox.url to the Netbox API root, e.g. https://netbox.example.com/api`;
        break;
      case "status":
        message = this.statusMessage(s, e, doing);
        break;
    }
    return fail("external-ipam", this.redact(s, message));
  }

  private statusMessage(s: Session, e: CallError, doing: string): string {
    const at = `Netbox at ${s.api.root}`;
    const st = e.status ?? 0;
    const head = `${at} answered ${st} to ${e.request} trying to ${doing}`;
    const root = "set spec.netbox.url to the Netbox API root, e.g. https://netbox.example.com/api";
    const fix = `fix spec.netbox of ServiceGroup ${s.group.name}`;
    // Netbox's own words tell a wrong token ("Invalid v1 token"), an expired one ("Token
    // expired") and missing permissions ("You do not have permission...") apart: keep them.
    if (st === 401 || st === 403) return `${head}: ${e.detail} (${s.tokenHint})`;
    if (st === 404 && e.html)
      return `${head}: this URL does not serve the Netbox API (got an HTML page); ${root}`;
    if (st === 404)
      return `${head}: ${e.detail}; check that spec.netbox.url is the Netbox API root, e.g. https://netbox.example.com/api`;
    if (st >= 300 && st < 400) return `${head} (a redirect); ${root}`;
    if (st >= 500)
      return `${at} is up but failing: ${failing(e)} (${st} to ${e.request} trying to ${doing}); check Netbox's logs, PureLB retries with back-off`;
    if (st === 400) {
      const unknown = unknownSlug(s, e);
      if (unknown)
        return `${at} has no ${unknown.kind} \`${unknown.slug}\` (spec.netbox.${unknown.kind} of ServiceGroup ${s.group.name}); create it in Netbox or ${fix}`;
      const hidden = hiddenRelated(e);
      // The filters found these objects, so they exist: the token's user may not view them.
      if (hidden)
        return `${head}: ${e.detail}; the ${hidden.what} exists, so the token's user lacks ${hidden.permission} (it needs ${permissions(!!s.spec.tag)})`;
    }
    return `${head}: ${e.detail}; ${fix} or the Netbox objects it names`;
  }

  private redact(s: Session, text: string): string {
    return s.token && s.token.length >= 4 ? text.split(s.token).join("<token>") : text;
  }
}

/** The permissions a token's user needs, as Netbox names them. */
function permissions(tag: boolean): string {
  const list = [
    "ipam.view_prefix",
    "ipam.view_ipaddress",
    "ipam.add_ipaddress",
    "ipam.delete_ipaddress",
    "tenancy.view_tenant",
    ...(tag ? ["extras.view_tag"] : []),
  ];
  return `the Netbox permissions ${list.join(", ")} (and ipam.view_vrf when the prefixes are in a VRF)`;
}

/** A filter Netbox refused because no object has the slug: 400 "Select a valid choice". */
function unknownSlug(
  s: Session,
  e: CallError,
): { kind: "tenant" | "role" | "tag"; slug: string } | undefined {
  for (const kind of ["tenant", "role", "tag"] as const) {
    const slug = s.spec[kind];
    if (slug && e.fields?.[kind]?.some(m => /valid choice/i.test(m))) return { kind, slug };
  }
  return undefined;
}

/**
 * A related object Netbox could not resolve in a create: it looks it up among the objects
 * the token's user may view, so a missing view permission reads "Related object not found".
 */
function hiddenRelated(e: CallError): { what: string; permission: string } | undefined {
  const kinds = [
    { field: "tenant", what: "tenant", permission: "tenancy.view_tenant" },
    { field: "tags", what: "tag", permission: "extras.view_tag" },
    { field: "vrf", what: "VRF", permission: "ipam.view_vrf" },
  ];
  return kinds.find(k => e.fields?.[k.field]?.some(m => /related object not found/i.test(m)));
}

/** A 500 in a few words: which part of Netbox is down, not its whole traceback. */
function failing(e: CallError): string {
  const text = `${e.exception ?? ""} ${e.detail}`;
  if (/OperationalError|InterfaceError|psycopg|database|connection to server/i.test(text))
    return "database unavailable";
  if (/redis|ConnectionInterrupted|:6379/i.test(text)) return "Redis unavailable";
  if (e.exception) return e.exception;
  return e.html ? "an HTML error page" : e.detail.slice(0, 80);
}

function inUse(s: Session, text: string, r: NbIp): Failure {
  const who = descriptionUid(r.description)
    ? `another Service (${r.description})`
    : r.description
      ? `"${r.description}"`
      : "a record without description";
  return fail(
    "address-in-use",
    `requested address ${text} is already in Netbox at ${s.api.root} (record ${r.id}, ${who}); request another address or remove the request`,
  );
}

function toPools(items: NbPrefix[]): Pool[] {
  const out: Pool[] = [];
  for (const p of items) {
    const cidr = typeof p?.prefix === "string" ? parseCidr(p.prefix) : undefined;
    if (!cidr || typeof p.id !== "number") continue;
    out.push({ id: p.id, cidr, text: formatCidr(cidr), vrf: p.vrf?.id ?? null });
  }
  return out;
}

/** The most specific pool holding `a` (in `vrf` when given). */
function poolOf(pools: Pool[], a: Address, vrf?: number | null): Pool | undefined {
  return pools
    .filter(p => cidrContains(p.cidr, a) && (vrf === undefined || p.vrf === vrf))
    .sort((x, y) => y.cidr.prefix - x.cidr.prefix)[0];
}

/** "192.0.2.7/24" -> the address. */
function hostOf(text: string | undefined): Address | undefined {
  if (typeof text !== "string") return undefined;
  return parseAddress(text.split("/")[0]);
}

const vrfOf = (r: NbIp): number | null => r.vrf?.id ?? null;

function sameHost(r: NbIp, a: Address): boolean {
  const h = hostOf(r.address);
  return !!h && h.family === a.family && h.value === a.value;
}

/** undefined: the Netbox prefix's length; a number: "/N". */
function parseAggregation(
  text: string | undefined,
  family: Family,
  group: string,
): number | undefined | Failure {
  const t = (text ?? "default").trim();
  if (t === "" || t === "default") return undefined;
  const m = /^\/(\d{1,3})$/.exec(t);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n > familyBits(family)) {
    return fail(
      "invalid-group",
      `ServiceGroup ${group}: spec.netbox.aggregation "${text}" does not fit an ${familyName(family)} address; use "default" (the Netbox prefix's mask) or /N up to /${familyBits(family)}`,
    );
  }
  return n;
}

function checkAggregation(
  aggregation: number | undefined,
  pool: Pool,
  group: string,
): Failure | undefined {
  if (aggregation === undefined || aggregation >= pool.cidr.prefix) return undefined;
  return fail(
    "invalid-group",
    `ServiceGroup ${group}: spec.netbox.aggregation /${aggregation} is shorter than the Netbox prefix ${pool.text}, so it would cover addresses outside it; use /${pool.cidr.prefix} to /${familyBits(pool.cidr.family)} or "default"`,
  );
}
