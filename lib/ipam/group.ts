import { Family, familyBits } from "../ip/address";
import { Cidr, formatCidr, parseCidr } from "../ip/cidr";
import { Range, formatRange, parseRange, rangeWithin, rangesOverlap } from "../ip/range";
import {
  AddressPoolSpec,
  ExternalSpec,
  NetboxSpec,
  PoolSetSpec,
  ServiceGroupSpec,
} from "../k8s/servicegroup";
import { DEFAULT_IPAM_SOCKET } from "../k8s/crds/servicegroup";
import { Problem } from "./problem";

export type PoolType = "local" | "remote" | "external" | "netbox";

/** One pool of a group, parsed: the unit that multiPool and balancePools choose between. */
export interface PoolRange {
  /** Where it sits in the spec, e.g. "spec.local.v4pools[1]", for messages. */
  path: string;
  family: Family;
  range: Range;
  subnet: Cidr;
  /** Prefix length the address gets on an interface ("default" = the subnet's). */
  prefix: number;
  /** The pool as written in the spec, for status.addresses. */
  text: string;
}

export interface GroupModel {
  namespace: string;
  name: string;
  type: PoolType;
  multiPool: boolean;
  balancePools: boolean;
  skipIPv6DAD: boolean;
  ranges: PoolRange[];
  netbox?: NetboxSpec;
  external?: ExternalSpec;
  /** spec.namespaces; empty = every namespace. */
  namespaces: string[];
  enforceNamespaces: boolean;
  namespaceDefault: boolean;
}

/** How a group's addresses are announced: netbox and external groups say so in their spec. */
export function announceOf(
  g: Pick<GroupModel, "type" | "netbox" | "external">,
): "local" | "remote" {
  if (g.type === "netbox") return g.netbox?.poolType ?? "remote";
  if (g.type === "external") return g.external?.announce ?? "remote";
  return g.type;
}

export const groupKey = (namespace: string, name: string): string => `${namespace}/${name}`;

export interface GroupParse {
  group?: GroupModel;
  problems: Problem[];
}

/**
 * Turns a ServiceGroup spec into the allocator's model, or says exactly what is wrong.
 * The apiserver enforces the CRD schema, but an object of the wrong shape (an older CRD,
 * a hand-made test object) must still become a problem, not an exception.
 */
export function parseGroup(
  namespace: string,
  name: string,
  spec: ServiceGroupSpec | undefined,
): GroupParse {
  try {
    return parseWellFormed(namespace, name, spec);
  } catch (err) {
    return {
      problems: [
        {
          path: "spec",
          message: `does not have the ServiceGroup shape (${String(err)}); see kubectl explain servicegroup.spec`,
        },
      ],
    };
  }
}

function parseWellFormed(
  namespace: string,
  name: string,
  spec: ServiceGroupSpec | undefined,
): GroupParse {
  const problems: Problem[] = [];
  const kinds = (["local", "remote", "external", "netbox"] as const).filter(
    k => spec?.[k] !== undefined && spec?.[k] !== null,
  );
  if (kinds.length !== 1) {
    const found = kinds.length === 0 ? "none is set" : `found ${kinds.join(" and ")}`;
    problems.push({
      path: "spec",
      message: `a ServiceGroup needs exactly one of local, remote, external or netbox (${found}); split it into one ServiceGroup per type`,
    });
    return { problems };
  }
  const type = kinds[0];
  const namespaces = checkNamespaces(spec!, problems);
  const base = {
    namespace,
    name,
    type,
    ranges: [] as PoolRange[],
    multiPool: false,
    balancePools: false,
    skipIPv6DAD: false,
    namespaces,
    enforceNamespaces: spec!.enforceNamespaces === true,
    namespaceDefault: spec!.namespaceDefault === true,
  };
  if (type === "netbox") {
    checkNetbox(spec!.netbox!, problems);
    return problems.length ? { problems } : { group: { ...base, netbox: spec!.netbox }, problems };
  }
  if (type === "external") {
    const external = checkExternal(spec!.external!, problems);
    return problems.length ? { problems } : { group: { ...base, external }, problems };
  }
  const set = spec![type] as PoolSetSpec;
  const path = `spec.${type}`;
  const ranges = [...parseFamily(set, 4, path, problems), ...parseFamily(set, 6, path, problems)];
  if (ranges.length === 0 && problems.length === 0) {
    problems.push({
      path,
      message: "has no pools; add v4pools and/or v6pools with a pool and its subnet",
    });
  }
  if (set.multiPool && set.balancePools) {
    problems.push({
      path: `${path}.balancePools`,
      message:
        "multiPool and balancePools cannot both be true; multiPool gives one address per range, balancePools one address from the least used range: choose one",
    });
  }
  if (set.skipIPv6DAD && type !== "local") {
    problems.push({
      path: `${path}.skipIPv6DAD`,
      message: "applies only to local pools (remote addresses are not on a shared link); remove it",
    });
  }
  checkOverlaps(ranges, problems);
  if (problems.length) return { problems };
  return {
    group: {
      ...base,
      ranges,
      multiPool: set.multiPool === true,
      balancePools: set.balancePools === true,
      skipIPv6DAD: set.skipIPv6DAD === true,
    },
    problems,
  };
}

function parseFamily(
  set: PoolSetSpec,
  family: Family,
  path: string,
  problems: Problem[],
): PoolRange[] {
  const single = family === 4 ? set.v4pool : set.v6pool;
  const many = family === 4 ? set.v4pools : set.v6pools;
  const singleName = `v${family}pool`;
  const manyName = `v${family}pools`;
  if (single && many) {
    problems.push({
      path: `${path}.${singleName}`,
      message: `use either ${singleName} or ${manyName}, not both; move it into ${manyName}`,
    });
    return [];
  }
  const entries: [string, AddressPoolSpec][] = single
    ? [[`${path}.${singleName}`, single]]
    : (many ?? []).map((p, i) => [`${path}.${manyName}[${i}]`, p]);
  const out: PoolRange[] = [];
  for (const [p, spec] of entries) {
    const r = parsePool(p, spec, family, problems);
    if (r) out.push(r);
  }
  return out;
}

function parsePool(
  path: string,
  spec: AddressPoolSpec,
  family: Family,
  problems: Problem[],
): PoolRange | undefined {
  const fam = `IPv${family}`;
  const before = problems.length;
  if (typeof spec?.pool !== "string" || spec.pool.trim() === "") {
    problems.push({
      path: `${path}.pool`,
      message: `is required: a range "first-last" or a CIDR of ${fam} addresses`,
    });
  }
  if (typeof spec?.subnet !== "string" || spec.subnet.trim() === "") {
    problems.push({
      path: `${path}.subnet`,
      message: `is required: the ${fam} CIDR of the network that holds the pool`,
    });
  }
  if (problems.length > before) return undefined;

  const subnet = parseCidr(spec.subnet!.trim());
  if (!subnet) {
    problems.push({
      path: `${path}.subnet`,
      message: `"${spec.subnet}" is not a CIDR; write it as network/prefix, e.g. ${family === 4 ? "192.0.2.0/24" : "2001:db8::/64"}`,
    });
  } else if (subnet.family !== family) {
    problems.push({
      path: `${path}.subnet`,
      message: `"${spec.subnet}" is not ${fam}; v${family}pools need ${fam} subnets`,
    });
  } else if (subnet.hostBitsSet) {
    problems.push({
      path: `${path}.subnet`,
      message: `"${spec.subnet}" has host bits set; the network is ${formatCidr(subnet)}`,
    });
  }

  const parsed = parseRange(spec.pool!);
  let range: Range | undefined;
  if (!parsed.ok) {
    problems.push({ path: `${path}.pool`, message: parsed.error });
  } else if (parsed.range.family !== family) {
    problems.push({
      path: `${path}.pool`,
      message: `"${spec.pool}" is not ${fam}; move it to v${parsed.range.family}pools`,
    });
  } else {
    const cidr = spec.pool!.includes("/") ? parseCidr(spec.pool!.trim()) : undefined;
    if (cidr?.hostBitsSet) {
      problems.push({
        path: `${path}.pool`,
        message: `"${spec.pool}" has host bits set; write the whole network ${formatCidr(cidr)} or a range such as ${formatRange(parsed.range)}`,
      });
    } else {
      range = parsed.range;
    }
  }
  if (
    range &&
    subnet &&
    subnet.family === family &&
    !subnet.hostBitsSet &&
    !rangeWithin(range, subnet)
  ) {
    problems.push({
      path: `${path}.pool`,
      message: `${formatRange(range)} is not inside its subnet ${formatCidr(subnet)}; every pool address must be in the subnet`,
    });
  }
  const prefix = subnet ? parseAggregation(path, spec.aggregation, subnet, problems) : undefined;
  if (problems.length > before || !range || !subnet || prefix === undefined) return undefined;
  return { path, family, range, subnet, prefix, text: spec.pool!.trim() };
}

function parseAggregation(
  path: string,
  agg: string | undefined,
  subnet: Cidr,
  problems: Problem[],
): number | undefined {
  const text = (agg ?? "default").trim();
  if (text === "default" || text === "") return subnet.prefix;
  const bits = familyBits(subnet.family);
  const m = /^\/(\d{1,3})$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n > bits) {
    problems.push({
      path: `${path}.aggregation`,
      message: `"${agg}" is not valid; use "default" (the subnet's mask) or /N with N from ${subnet.prefix} to ${bits}`,
    });
    return undefined;
  }
  if (n < subnet.prefix) {
    problems.push({
      path: `${path}.aggregation`,
      message: `"${agg}" is shorter than the subnet's /${subnet.prefix}, so it would cover addresses outside ${formatCidr(subnet)}; use /${subnet.prefix} to /${bits}`,
    });
    return undefined;
  }
  return n;
}

function checkOverlaps(ranges: PoolRange[], problems: Problem[]): void {
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangesOverlap(ranges[i].range, ranges[j].range)) {
        problems.push({
          path: `${ranges[j].path}.pool`,
          message: `${formatRange(ranges[j].range)} overlaps ${ranges[i].path} (${formatRange(ranges[i].range)}); pools must not share addresses`,
        });
      }
    }
  }
}

/**
 * spec.namespaces, sorted and without repeats. The Go PureLB's CRD refuses enforceNamespaces and
 * namespaceDefault without a list (with CEL rules); this is the same check, in our words.
 */
function checkNamespaces(spec: ServiceGroupSpec, problems: Problem[]): string[] {
  const list = spec.namespaces ?? [];
  for (const field of ["enforceNamespaces", "namespaceDefault"] as const) {
    if (spec[field] === true && list.length === 0) {
      problems.push({
        path: `spec.${field}`,
        message:
          field === "enforceNamespaces"
            ? "needs a non-empty spec.namespaces, or it would enforce nothing; list the namespaces this group serves"
            : "needs a non-empty spec.namespaces, or it would be the default of no namespace; list the namespaces it is the default for",
      });
    }
  }
  return [...new Set(list)].sort();
}

function checkExternal(ext: ExternalSpec, problems: Problem[]): ExternalSpec {
  if (typeof ext.provider !== "string" || ext.provider.trim() === "") {
    problems.push({
      path: "spec.external.provider",
      message: "is required: a name for the IPAM system, shown in status.ipam (e.g. infoblox)",
    });
  }
  const socket = ext.socket ?? DEFAULT_IPAM_SOCKET;
  if (!socket.startsWith("/")) {
    problems.push({
      path: "spec.external.socket",
      message: `"${socket}" is not an absolute path; give the sidecar's socket inside the allocator Pod, e.g. ${DEFAULT_IPAM_SOCKET}`,
    });
  }
  if (ext.announce !== "local" && ext.announce !== "remote") {
    problems.push({
      path: "spec.external.announce",
      message: `${ext.announce === undefined ? "is required" : `"${ext.announce}" is not local or remote`}: local announces on one node's interface (ARP/NDP), remote on kube-lb0 (BGP)`,
    });
  }
  return { ...ext, socket };
}

function checkNetbox(nb: NetboxSpec, problems: Problem[]): void {
  let url: URL | undefined;
  try {
    url = typeof nb.url === "string" ? new URL(nb.url) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    problems.push({
      path: "spec.netbox.url",
      message: `${nb.url === undefined ? "is required" : `"${nb.url}" is not an http(s) URL`}; give the Netbox API root, e.g. https://netbox.example.com/api`,
    });
  }
  if (typeof nb.tenant !== "string" || nb.tenant.trim() === "") {
    problems.push({
      path: "spec.netbox.tenant",
      message: "is required: the Netbox tenant (slug) that owns the addresses",
    });
  }
  if (nb.poolType !== undefined && nb.poolType !== "local" && nb.poolType !== "remote") {
    problems.push({
      path: "spec.netbox.poolType",
      message: `"${nb.poolType}" must be local or remote`,
    });
  }
}

/** Ranges of two groups that share addresses, for the cross-group check. */
export function overlapsBetween(
  a: GroupModel,
  b: GroupModel,
): { mine: PoolRange; theirs: PoolRange }[] {
  const out: { mine: PoolRange; theirs: PoolRange }[] = [];
  for (const mine of a.ranges)
    for (const theirs of b.ranges)
      if (rangesOverlap(mine.range, theirs.range)) out.push({ mine, theirs });
  return out;
}

export const describeRange = (r: PoolRange): string => formatRange(r.range);
