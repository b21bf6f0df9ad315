import { Address, Family, familyName, formatAddress, parseAddress } from "../ip/address";
import { Cidr, cidrFirst, cidrLast, formatCidr } from "../ip/cidr";
import { rangeContains, rangeSize } from "../ip/range";
import { AddressBook, Port } from "./address-book";
import { Failure, fail } from "./failure";
import { GroupModel, PoolRange, describeRange, groupKey } from "./group";

export interface AllocationRequest {
  service: string;
  group: GroupModel;
  families: Family[];
  /** Every family or none (RequireDualStack). */
  all: boolean;
  requested: Map<Family, Address>;
  sharingKey?: string;
  ports: Port[];
  multiPool: boolean;
  /** Subnets that have a live node; multiPool on local pools uses only their ranges. */
  liveSubnets: Cidr[];
  /** Addresses the Service holds already (re-evaluation keeps them). */
  keep: readonly string[];
}

export type AllocationResult = { ok: true; added: string[] } | Failure;

/**
 * Claims in `book` the addresses a Service should get, all or nothing: on failure every
 * claim made here is undone, so the book never holds half an allocation.
 */
export function allocate(book: AddressBook, req: AllocationRequest): AllocationResult {
  const added: string[] = [];
  let firstFailure: Failure | undefined;
  for (const family of req.families) {
    const result = allocateFamily(book, req, family);
    if (result.ok) {
      added.push(...result.added);
      continue;
    }
    firstFailure ??= result;
    if (req.all) break;
  }
  const holds = req.keep.length + added.length > 0;
  if (firstFailure && (req.all || !holds)) {
    for (const text of added) book.releaseOne(req.service, text);
    return firstFailure;
  }
  return { ok: true, added };
}

function allocateFamily(
  book: AddressBook,
  req: AllocationRequest,
  family: Family,
): AllocationResult {
  const gk = groupKey(req.group.namespace, req.group.name);
  const ranges = req.group.ranges.filter(r => r.family === family);
  const kept = req.keep.map(parseAddress).filter((a): a is Address => a?.family === family);

  const wanted = req.requested.get(family);
  if (wanted) {
    const text = formatAddress(wanted);
    if (kept.some(a => a.value === wanted.value)) return { ok: true, added: [] };
    if (!ranges.some(r => rangeContains(r.range, wanted))) {
      return fail(
        "outside-pool",
        `requested address ${text} is not in ServiceGroup ${req.group.name} (its ${familyName(family)} pools: ${ranges.map(describeRange).join(", ") || "none"}); request an address from those pools or change purelb.io/service-group`,
      );
    }
    return claimOne(book, req, gk, wanted, text);
  }

  if (req.sharingKey) {
    const shared = book
      .addressesOfKey(req.sharingKey)
      .map(t => book.entry(t)!)
      .filter(e => e.address.family === family);
    if (shared.length) {
      if (kept.length) return { ok: true, added: [] };
      const other = shared.find(e => e.group !== gk);
      if (other) {
        return fail(
          "sharing-conflict",
          `sharing key "${req.sharingKey}" is in use with ServiceGroup ${other.group.split("/")[1]}; Services that share an address must use the same group`,
        );
      }
      let lastConflict: Failure | undefined;
      for (const e of shared) {
        const r = claimOne(book, req, gk, e.address, e.text);
        if (r.ok) return r;
        lastConflict = r;
      }
      return lastConflict!;
    }
  }

  const multi = req.multiPool;
  const eligible =
    multi && req.group.type === "local"
      ? ranges.filter(r => hasLiveNode(r, req.liveSubnets))
      : ranges;
  if (multi && eligible.length === 0) {
    return fail(
      "no-live-node",
      `multiPool: no node is live on any ${familyName(family)} subnet of ServiceGroup ${req.group.name} (${ranges
        .map(r => r.subnet)
        .map(formatCidr)
        .join(", ")}); check that the LBNodeAgent runs on nodes of those subnets`,
    );
  }
  if (multi) return fillEveryRange(book, req, gk, eligible, kept);
  if (kept.length) return { ok: true, added: [] };

  const order = req.group.balancePools ? byUsage(book, eligible) : eligible;
  for (const r of order) {
    const value = book.firstFree(r.range);
    if (value !== undefined)
      return claimOne(book, req, gk, { family, value }, formatAddress({ family, value }));
  }
  return exhausted(req.group, family, eligible);
}

function fillEveryRange(
  book: AddressBook,
  req: AllocationRequest,
  gk: string,
  ranges: PoolRange[],
  kept: Address[],
): AllocationResult {
  const added: string[] = [];
  const todo = ranges.filter(r => !kept.some(a => rangeContains(r.range, a)));
  for (const r of todo) {
    const value = book.firstFree(r.range);
    if (value === undefined) continue;
    const address = { family: r.family, value };
    const res = claimOne(book, req, gk, address, formatAddress(address));
    if (res.ok) added.push(...res.added);
  }
  if (added.length === 0 && kept.length === 0)
    return exhausted(req.group, ranges[0].family, ranges);
  return { ok: true, added };
}

function claimOne(
  book: AddressBook,
  req: AllocationRequest,
  gk: string,
  address: Address,
  text: string,
): AllocationResult {
  const check = book.canShare(text, req.service, req.sharingKey, req.ports);
  if (!check.ok) {
    const reason = check.port ? "sharing-conflict" : "address-in-use";
    const fix = check.port
      ? "use another port, another sharing key, or another address"
      : "pick a free address, or give both Services the same purelb.io/allow-shared-ip key";
    return fail(reason, `${check.reason}; ${fix}`, check.port ? "port_conflict" : undefined);
  }
  book.claim(req.service, address, text, gk, req.sharingKey, req.ports);
  return { ok: true, added: [text] };
}

function byUsage(book: AddressBook, ranges: PoolRange[]): PoolRange[] {
  const used = new Map(ranges.map(r => [r, book.countIn(r.range)] as const));
  return [...ranges].sort((a, b) =>
    used.get(a)! < used.get(b)! ? -1 : used.get(a)! > used.get(b)! ? 1 : 0,
  );
}

function exhausted(group: GroupModel, family: Family, ranges: PoolRange[]): Failure {
  const size = ranges.reduce((n, r) => n + rangeSize(r.range), 0n);
  return fail(
    "pool-exhausted",
    `ServiceGroup ${group.name} has no free ${familyName(family)} address: all ${size} addresses of ${ranges.map(describeRange).join(", ")} are in use; add a pool to the group or delete unused Services`,
  );
}

function hasLiveNode(r: PoolRange, live: Cidr[]): boolean {
  return live.some(
    c =>
      c.family === r.family &&
      cidrFirst(c) <= cidrLast(r.subnet) &&
      cidrFirst(r.subnet) <= cidrLast(c),
  );
}
