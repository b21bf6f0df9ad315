/**
 * The functional core of the node agent: from Services, ServiceGroups, node Leases, endpoints
 * and this node's interfaces, which addresses this node's interfaces should hold; and, from
 * what they do hold, the changes to make. No I/O: the shell in agent.ts reads the kernel and
 * the API and applies the difference.
 */
import { Address, Family, familyBits, parseAddress } from "../ip/address";
import { Cidr, cidrContains } from "../ip/cidr";
import { rangeContains } from "../ip/range";
import { GroupModel } from "../ipam/group";
import { ServiceModel, serviceKey } from "../k8s/service";
import { addressKind } from "./address-kind";
import { KernelAddress, INFINITY_LIFE, PURELB_ADDR_PROTO } from "../netlink/messages";
import { AgentConfig } from "./config";
import { Member, electWinner } from "../election/election";

export type AddressKind = "local" | "remote";

export interface NodeInterface {
  index: number;
  name: string;
  mac: Buffer;
  up: boolean;
  /** Undefined when the kernel did not say. */
  carrier?: boolean;
  loopback: boolean;
}

/** One address PureLB wants on this node. */
export interface DesiredAddress {
  address: string;
  family: Family;
  prefix: number;
  ifname: string;
  kind: AddressKind;
  /** Seconds; 0 = permanent. */
  validLft: number;
  preferredLft: number;
  nodad: boolean;
  /** See AgentConfig.noPrefixRoute; local addresses only. */
  noPrefixRoute?: boolean;
  /**
   * Local IPv6: added with preferred lifetime 0, so that neither source address selection
   * nor a CNI that picks the node's address (flannel) adopts a VIP that can move away.
   */
  deprecated?: boolean;
  /** Keys of the Services that need it. */
  services: string[];
}

export interface Election {
  address: string;
  family: Family;
  winner?: string;
  services: string[];
}

export interface DesiredState {
  /** Keyed by canonical address. */
  addresses: Map<string, DesiredAddress>;
  /** The outcome of every local address's election, as this node sees it. */
  elections: Election[];
  /** Local addresses this node won but cannot place, with why. */
  problems: { address: string; services: string[]; message: string }[];
}

export interface DesiredInput {
  node: string;
  now: number;
  services: Iterable<ServiceModel>;
  /** ServiceGroups of the install namespace, by name. */
  groups: ReadonlyMap<string, GroupModel>;
  members: Iterable<Member>;
  /** Service key -> nodes with a ready endpoint (only needed for ETP Local remote Services). */
  readyNodes: (serviceKey: string) => ReadonlySet<string>;
  interfaces: NodeInterface[];
  /** Subnets of each interface (by index), from addresses PureLB did not add. */
  subnets: ReadonlyMap<number, Cidr[]>;
  config: AgentConfig;
  hash?: (node: string, address: string) => string;
}

export const hostPrefix = (family: Family): number => familyBits(family);

/** Interfaces that may hold local addresses and whose subnets go into the node Lease. */
export function localCapable(ifaces: NodeInterface[], config: AgentConfig): NodeInterface[] {
  return ifaces.filter(
    i =>
      !i.loopback &&
      i.name !== "lo" &&
      i.name !== config.extInterface &&
      i.name !== "kube-lb0" &&
      (config.localInterface === "default" ||
        config.localInterface.test(i.name) ||
        config.interfaces.includes(i.name)),
  );
}

/** The prefix an address gets: its range's aggregation, else `fallback`. */
function groupPrefix(group: GroupModel | undefined, a: Address): number | undefined {
  const r = group?.ranges.find(r => r.family === a.family && rangeContains(r.range, a));
  if (r) return r.prefix;
  const agg = group?.netbox?.aggregation?.trim();
  const m = agg ? /^\/(\d{1,3})$/.exec(agg) : null;
  if (m && Number(m[1]) <= familyBits(a.family)) return Number(m[1]);
  return undefined;
}

export function desiredState(input: DesiredInput): DesiredState {
  const { node, now, config } = input;
  const addresses = new Map<string, DesiredAddress>();
  const problems: DesiredState["problems"] = [];
  const locals = new Map<
    string,
    { a: Address; svcs: string[]; group?: GroupModel; nodad: boolean }
  >();
  const members = [...input.members];
  const capable = localCapable(input.interfaces, config);
  const ext = input.interfaces.find(i => i.name === config.extInterface);

  for (const svc of input.services) {
    const key = serviceKey(svc);
    for (const ip of svc.ingress) {
      const a = parseAddress(ip);
      const decided = a && addressKind(svc, a, input.groups);
      if (!a || !decided) continue;
      const { kind, group } = decided;
      const etpLocal = kind === "remote" && svc.externalTrafficPolicy === "Local";
      const text = ip;
      if (kind === "local") {
        const l = locals.get(text);
        if (l) {
          l.svcs.push(key);
          l.nodad ||= group?.skipIPv6DAD === true;
        } else locals.set(text, { a, svcs: [key], group, nodad: group?.skipIPv6DAD === true });
        continue;
      }
      if (etpLocal && !input.readyNodes(key).has(node)) continue;
      const have = addresses.get(text);
      if (have) {
        have.services.push(key);
        continue;
      }
      if (!ext) continue;
      addresses.set(text, {
        address: text,
        family: a.family,
        prefix: groupPrefix(group, a) ?? hostPrefix(a.family),
        ifname: ext.name,
        kind: "remote",
        validLft: 0,
        preferredLft: 0,
        nodad: a.family === 6,
        services: [key],
      });
    }
  }

  const elections: Election[] = [];
  for (const [text, l] of locals) {
    const winner = electWinner(text, members, now, input.hash);
    elections.push({ address: text, family: l.a.family, winner, services: l.svcs });
    if (winner !== node || addresses.has(text)) continue;
    const onSubnet = capable
      .map(i => ({ i, subnet: (input.subnets.get(i.index) ?? []).find(s => cidrContains(s, l.a)) }))
      .filter((x): x is { i: NodeInterface; subnet: Cidr } => !!x.subnet)
      .sort((x, y) => x.i.index - y.i.index);
    if (!onSubnet.length) {
      problems.push({
        address: text,
        services: l.svcs,
        message: `no interface of node ${node} is on a subnet that holds ${text}`,
      });
      continue;
    }
    const { i, subnet } = onSubnet[0];
    addresses.set(text, {
      address: text,
      family: l.a.family,
      prefix: groupPrefix(l.group, l.a) ?? subnet.prefix,
      ifname: i.name,
      kind: "local",
      validLft: config.validLft,
      preferredLft: config.preferredLft,
      nodad: l.a.family === 6 && l.nodad,
      noPrefixRoute: config.noPrefixRoute,
      deprecated: l.a.family === 6,
      services: l.svcs,
    });
  }
  return { addresses, elections, problems };
}

// ---- what the kernel holds ----------------------------------------------------------------

export interface HeldAddress extends KernelAddress {
  ifname: string;
}

const isLinkLocal6 = (a: Address): boolean => a.family === 6 && a.value >> 118n === 0x3fan;

/**
 * Whether PureLB added this address. Kernel 6.1+ keeps the IFA_PROTO marker PureLB sets, so
 * that decides whenever the kernel reports a protocol. Older kernels drop it; there an address
 * counts as ours when it lies in a pool of a known ServiceGroup and is either on the remote
 * interface or, on any other interface, has the finite lifetime PureLB gives local addresses
 * (DHCP and SLAAC addresses are finite too, but are never inside a PureLB pool).
 */
export function isOurs(
  held: HeldAddress,
  config: AgentConfig,
  groups: ReadonlyMap<string, GroupModel>,
): boolean {
  if (held.proto !== undefined && held.proto !== 0) return held.proto === PURELB_ADDR_PROTO;
  const a = parseAddress(held.address);
  if (!a || held.scope !== 0 || isLinkLocal6(a)) return false;
  const onExt = held.ifname === config.extInterface;
  if (!onExt && held.validLft === INFINITY_LIFE) return false;
  const want = onExt ? "remote" : "local";
  for (const g of groups.values()) {
    const type = g.type === "netbox" ? g.netbox?.poolType : g.type;
    if (type === want && g.ranges.some(r => rangeContains(r.range, a))) return true;
  }
  return false;
}

/** The node's subnets per interface, from the addresses PureLB did not add (global scope only). */
export function interfaceSubnets(
  held: HeldAddress[],
  ours: (h: HeldAddress) => boolean,
): Map<number, Cidr[]> {
  const out = new Map<number, Cidr[]>();
  for (const h of held) {
    if (h.scope !== 0 || h.dadfailed || ours(h)) continue;
    const a = parseAddress(h.address);
    if (!a || isLinkLocal6(a)) continue;
    const mask = ((1n << BigInt(familyBits(a.family))) - 1n) >> BigInt(h.prefix);
    const c: Cidr = {
      family: a.family,
      network: a.value & ~mask & ((1n << BigInt(familyBits(a.family))) - 1n),
      prefix: h.prefix,
    };
    const list = out.get(h.ifindex) ?? [];
    if (!list.some(x => x.family === c.family && x.network === c.network && x.prefix === c.prefix))
      list.push(c);
    out.set(h.ifindex, list);
  }
  return out;
}

// ---- the difference -------------------------------------------------------------------------

export interface Change {
  add: (DesiredAddress & { fresh: boolean })[];
  remove: HeldAddress[];
}

/**
 * What to do so that PureLB's addresses match `desired`: remove ours that are not wanted (or
 * sit on the wrong interface or with the wrong prefix), add missing ones, and re-add (which
 * renews) finite ones that have used up a third of their lifetime or whose flags differ.
 * `fresh` marks an address this node did not hold before: it is announced.
 */
export function planChanges(
  desired: ReadonlyMap<string, DesiredAddress>,
  ours: HeldAddress[],
): Change {
  const remove: HeldAddress[] = [];
  const kept = new Map<string, HeldAddress>();
  for (const h of ours) {
    const d = desired.get(h.address);
    // The kernel changes no IPv4 address's noprefixroute in place: such a copy is re-added.
    const routeFlag = (d?.noPrefixRoute ?? false) !== (h.noprefixroute ?? false);
    if (
      !d ||
      d.ifname !== h.ifname ||
      d.prefix !== h.prefix ||
      kept.has(h.address) ||
      (routeFlag && d.family === 4)
    )
      remove.push(h);
    else kept.set(h.address, h);
  }
  const add: Change["add"] = [];
  for (const d of desired.values()) {
    const h = kept.get(d.address);
    if (!h) {
      add.push({ ...d, fresh: true });
      continue;
    }
    const permanent = h.validLft === INFINITY_LIFE;
    const stale =
      (d.validLft === 0) !== permanent ||
      (d.validLft > 0 && (h.validLft < (d.validLft * 2) / 3 || h.validLft > d.validLft)) ||
      (d.family === 6 && d.nodad !== h.nodad) ||
      (d.family === 6 && (d.noPrefixRoute ?? false) !== (h.noprefixroute ?? false)) ||
      (d.deprecated === true) !== (h.preferredLft === 0);
    if (stale) add.push({ ...d, fresh: false });
  }
  return { add, remove };
}
