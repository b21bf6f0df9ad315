import { Family, formatAddress, parseAddress } from "../ip/address";
import {
  BGPConfiguration,
  BGPFamily,
  BGPNeighbor,
  LabelSelector,
  ROUTER_ID_TEMPLATES,
} from "../k8s/bgp";
import { parseDuration } from "../validate/duration";

// The pure core of the BGP side: BGPConfiguration + what this node is -> what gobgpd should run.

/** An address of this node and where it was found, e.g. "Node InternalIP" or "interface eth0". */
export interface NodeAddress {
  address: string;
  source: string;
}

export interface NodeFacts {
  name: string;
  labels: Record<string, string>;
  ipv4?: NodeAddress;
  ipv6?: NodeAddress;
  /** Every address the node has (canonical): a neighbour that is this node is skipped. */
  own: ReadonlySet<string>;
}

export interface GlobalSpec {
  asn: number;
  routerId: string;
  /** "config", or how a template or the default was filled in. */
  routerIdSource: string;
  listenPort: number;
}

export interface PeerSpec {
  /** Canonical address. */
  address: string;
  family: Family;
  peerAsn: number;
  localAsn: number;
  /** TCP MD5 password; "" for none. */
  password: string;
  /** 0 when the peer is directly connected. */
  multihopTtl: number;
  /** Seconds. */
  holdTime: number;
  keepalive: number;
  families: Family[];
  gracefulRestart: { enabled: boolean; restartTime: number };
}

export interface LargeCommunity {
  global_admin: number;
  local_data1: number;
  local_data2: number;
}

/** Attributes every advertised route carries. */
export interface RouteAttrs {
  communities: number[];
  largeCommunities: LargeCommunity[];
  localPref?: number;
}

export interface BgpPlan {
  /** namespace/name of the BGPConfiguration in use. */
  source?: string;
  /** Undefined: BGP should not run (no configuration, or one that cannot work on this node). */
  global?: GlobalSpec;
  peers: PeerSpec[];
  /** Peers that could not be planned for a passing reason (a Secret not read yet): leave them as they are. */
  keep: string[];
  route: RouteAttrs;
  problems: string[];
}

export interface SecretRef {
  name: string;
  key: string;
}

/**
 * Passwords read from Secrets, by `name/key`. `error` says why one could not be read;
 * `missing` means the Secret or key is not there (a failed read is not `missing`).
 */
export type Passwords = ReadonlyMap<string, { value?: string; error?: string; missing?: boolean }>;

export const secretKey = (r: SecretRef): string => `${r.name}/${r.key}`;

export const DEFAULT_LISTEN_PORT = 179;
/** gobgpd's own defaults, made explicit so that what it reports matches what was asked. */
export const DEFAULT_HOLD_S = 90;
const ALL_FAMILIES: Family[] = [4, 6];

const WELL_KNOWN: Record<string, number> = {
  "graceful-shutdown": 0xffff0000,
  "accept-own": 0xffff0001,
  "llgr-stale": 0xffff0006,
  "no-llgr": 0xffff0007,
  blackhole: 0xffff029a,
  "no-export": 0xffffff01,
  "no-advertise": 0xffffff02,
  "no-export-subconfed": 0xffffff03,
  "no-peer": 0xffffff04,
};

/** The first BGPConfiguration by name is the one in use; others are reported and ignored. */
export function pickConfiguration<C extends BGPConfiguration>(
  all: Iterable<C>,
): { conf?: C; ignored: string[] } {
  const sorted = [...all].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return { conf: sorted[0], ignored: sorted.slice(1).map(c => c.metadata.name) };
}

/** Secrets the configuration refers to (for neighbours this node peers with). */
export function secretRefs(conf: BGPConfiguration | undefined, node: NodeFacts): SecretRef[] {
  const out = new Map<string, SecretRef>();
  for (const n of conf?.spec?.neighbors ?? []) {
    const r = n.passwordSecretRef;
    if (r?.name && r.key && matchesSelector(n.nodeSelector, node.labels))
      out.set(secretKey({ name: r.name, key: r.key }), { name: r.name, key: r.key });
  }
  return [...out.values()];
}

/** A standard Kubernetes label selector; an absent or empty selector matches every node. */
export function matchesSelector(
  sel: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key !== undefined && Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = has ? labels[e.key!] : undefined;
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || !values.includes(value!)) return false;
        break;
      case "NotIn":
        if (has && values.includes(value!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        // An unknown operator selects nothing, as the apiserver's own matcher does.
        return false;
    }
  }
  return true;
}

/** "65000:100" -> standard community, "65000:1:2" -> large community, or a well-known name. */
export function parseCommunity(
  text: string,
): { standard?: number; large?: LargeCommunity } | undefined {
  const known = WELL_KNOWN[text.trim().toLowerCase()];
  if (known !== undefined) return { standard: known };
  const parts = text.trim().split(":");
  if (!parts.every(p => /^\d{1,10}$/.test(p))) return undefined;
  const n = parts.map(Number);
  if (parts.length === 1 && n[0] <= 0xffffffff) return { standard: n[0] };
  if (parts.length === 2 && n.every(x => x <= 0xffff))
    return { standard: ((n[0] << 16) | n[1]) >>> 0 };
  if (parts.length === 3 && n.every(x => x <= 0xffffffff))
    return { large: { global_admin: n[0], local_data1: n[1], local_data2: n[2] } };
  return undefined;
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/** Reads a duration field in whole seconds; a bad value is reported and `fallback` used. */
function durationSeconds(
  path: string,
  text: string | undefined,
  fallback: number,
  problems: string[],
): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) {
    problems.push(`${path} "${text}" is not a duration; using ${fallback}s`);
    return fallback;
  }
  return seconds(ms);
}

function familiesOf(fams: BGPFamily[] | undefined): Family[] {
  if (!fams?.length) return ALL_FAMILIES;
  const out = new Set<Family>();
  for (const f of fams) {
    if (f === "ipv4-unicast") out.add(4);
    if (f === "ipv6-unicast") out.add(6);
  }
  return [...out].sort();
}

/**
 * What gobgpd on this node should run. Anything that cannot work is left out and explained in
 * `problems`; the rest still runs, so one bad neighbour does not take the others down.
 */
export function planBgp(
  conf: BGPConfiguration | undefined,
  node: NodeFacts,
  passwords: Passwords,
): BgpPlan {
  const problems: string[] = [];
  const route: RouteAttrs = { communities: [], largeCommunities: [] };
  if (!conf)
    return {
      peers: [],
      keep: [],
      route,
      problems: ["no BGPConfiguration: BGP is not running on this node"],
    };
  const source = `${conf.metadata.namespace ?? ""}/${conf.metadata.name}`;
  const spec = conf.spec ?? {};

  const asn = spec.global?.asn;
  let global: GlobalSpec | undefined;
  if (!Number.isInteger(asn) || asn! < 1 || asn! > 0xffffffff) {
    problems.push(
      `spec.global.asn ${asn === undefined ? "is missing" : `${asn} is not an AS number`}: BGP is not running on this node`,
    );
  } else {
    const rid = routerId(spec.global?.routerID, node);
    if ("problem" in rid) problems.push(rid.problem);
    else
      global = {
        asn: asn!,
        routerId: rid.address,
        routerIdSource: rid.source,
        listenPort: spec.global?.listenPort ?? DEFAULT_LISTEN_PORT,
      };
  }

  for (const [i, text] of (spec.communities ?? []).entries()) {
    const c = parseCommunity(text);
    if (!c) problems.push(`spec.communities[${i}] "${text}" is not a BGP community; left out`);
    else if (c.standard !== undefined && !route.communities.includes(c.standard))
      route.communities.push(c.standard);
    else if (c.large) route.largeCommunities.push(c.large);
  }
  if (spec.localPref !== undefined) {
    if (Number.isInteger(spec.localPref) && spec.localPref >= 0 && spec.localPref <= 0xffffffff)
      route.localPref = spec.localPref;
    else
      problems.push(`spec.localPref ${spec.localPref} is not a 32-bit unsigned number; left out`);
  }

  const gr = {
    enabled: spec.gracefulRestart?.enabled ?? false,
    // undefined: the hold time, which is gobgpd's default too
    restartTime:
      spec.gracefulRestart?.restartTime === undefined
        ? undefined
        : durationSeconds(
            "spec.gracefulRestart.restartTime",
            spec.gracefulRestart.restartTime,
            DEFAULT_HOLD_S,
            problems,
          ),
  };
  const peers: PeerSpec[] = [];
  const keep: string[] = [];
  if (global) {
    const seen = new Set<string>();
    for (const [i, n] of (spec.neighbors ?? []).entries()) {
      const p = planPeer(
        n,
        `spec.neighbors[${i}]`,
        global.asn,
        gr,
        node,
        passwords,
        problems,
        keep,
      );
      if (!p || seen.has(p.address)) continue;
      seen.add(p.address);
      peers.push(p);
    }
  }
  return { source, global, peers, keep, route, problems };
}

function routerId(
  configured: string | undefined,
  node: NodeFacts,
): { address: string; source: string } | { problem: string } {
  const text = configured?.trim();
  if (text && !(ROUTER_ID_TEMPLATES as readonly string[]).includes(text)) {
    const a = parseAddress(text);
    if (a?.family === 4) return { address: formatAddress(a), source: "config" };
    return {
      problem: `spec.global.routerID "${text}" is not an IPv4 address or ${ROUTER_ID_TEMPLATES.join(", ")}: BGP is not running on this node`,
    };
  }
  if (!node.ipv4) {
    return {
      problem: `node ${node.name} has no IPv4 address for the router ID (${text ?? "default"}): give spec.global.routerID an IPv4 address. BGP is not running on this node`,
    };
  }
  return {
    address: node.ipv4.address,
    source: `${text ? "template" : "default"} (${node.ipv4.source})`,
  };
}

function planPeer(
  n: BGPNeighbor,
  path: string,
  localAsn: number,
  gr: { enabled: boolean; restartTime?: number },
  node: NodeFacts,
  passwords: Passwords,
  problems: string[],
  keep: string[],
): PeerSpec | undefined {
  if (!matchesSelector(n.nodeSelector, node.labels)) return undefined;
  const a = n.address === undefined ? undefined : parseAddress(n.address.trim());
  if (!a) {
    problems.push(`${path}.address "${n.address ?? ""}" is not an IP address; neighbour left out`);
    return undefined;
  }
  const address = formatAddress(a);
  if (node.own.has(address)) return undefined;
  if (!Number.isInteger(n.peerASN) || n.peerASN! < 1 || n.peerASN! > 0xffffffff) {
    problems.push(`${path} (${address}): peerASN ${n.peerASN ?? "is missing"}; neighbour left out`);
    return undefined;
  }
  let password = "";
  const ref = n.passwordSecretRef;
  if (ref?.name && ref.key) {
    const got = passwords.get(secretKey({ name: ref.name, key: ref.key }));
    if (got?.value === undefined) {
      if (!got?.missing) keep.push(address);
      problems.push(
        `${path} (${address}): password Secret ${ref.name} key ${ref.key}: ${got?.error ?? "not read yet"}; ${got?.missing ? "not peering until it exists" : "leaving the session as it is"}`,
      );
      return undefined;
    }
    password = got.value;
  }
  let holdTime = durationSeconds(`${path}.holdTime`, n.holdTime, DEFAULT_HOLD_S, problems);
  if (holdTime === 0) {
    // gobgpd reads a hold time of 0 as "use the default".
    problems.push(
      `${path}.holdTime 0s (no keepalives) is not supported by gobgpd; using ${DEFAULT_HOLD_S}s`,
    );
    holdTime = DEFAULT_HOLD_S;
  } else if (holdTime < 3) holdTime = 3;
  let keepalive = durationSeconds(
    `${path}.keepaliveTime`,
    n.keepaliveTime,
    Math.max(1, Math.floor(holdTime / 3)),
    problems,
  );
  if (keepalive < 1 || keepalive >= holdTime) keepalive = Math.max(1, Math.floor(holdTime / 3));
  const ttl = n.multihop?.ttl;
  const restartTime = Math.min(4095, Math.max(1, gr.restartTime ?? holdTime));
  return {
    address,
    family: a.family,
    peerAsn: n.peerASN!,
    localAsn,
    password,
    multihopTtl: n.multihop ? (Number.isInteger(ttl) && ttl! >= 1 && ttl! <= 255 ? ttl! : 255) : 0,
    holdTime,
    keepalive,
    families: familiesOf(n.families),
    gracefulRestart: { enabled: gr.enabled, restartTime: gr.enabled ? restartTime : 0 },
  };
}
