import { Log } from "../log";
import { Address, Family, familyName, formatAddress, parseAddress } from "../ip/address";
import { Cidr, formatCidr, parseCidr } from "../ip/cidr";
import { formatRange, rangeSize } from "../ip/range";
import { AddressBook } from "../ipam/address-book";
import { allocate } from "../ipam/allocate";
import { Failure, fail } from "../ipam/failure";
import { chooseFamilies } from "../ipam/families";
import { GroupModel, GroupParse, PoolType, groupKey, parseGroup } from "../ipam/group";
import { formatProblems } from "../ipam/problem";
import { resolveGroup } from "../ipam/scope";
import { Annotation, DEFAULT_GROUP } from "../k8s/annotations";
import { ApiError } from "../k8s/client";
import { ServiceModel, serviceKey } from "../k8s/service";
import { parseServiceAnnotations } from "../k8s/service-annotations";
import { ServiceGroupSpec, ServiceGroupStatus } from "../k8s/servicegroup";
import { NetboxIpam } from "../netbox/ipam";
import { AllocatorApi } from "./api";
import { externalUnsupported } from "./external";
import { upstreamStatus } from "./group-status";
import { NetboxAllocations } from "./netbox";
import { configLoaded, updateFailed, updated } from "../metrics/k8s-client";
import { multiPoolConflict } from "../ipam/multipool-conflict";
import { forgetPool, recordAllocation, recordFailure, recordPool, statusWrites } from "./metrics";
import {
  annotationChanges,
  byAge,
  isManaged,
  mustResetTrafficPolicy,
  releasePatch,
  sameList,
  sortAddresses,
  wasAllocatedByUs,
} from "./plan";
import { WorkQueue } from "./work-queue";

export interface NodeLease {
  node: string;
  subnets: Cidr[];
  /** Epoch ms after which the node counts as gone unless the Lease is renewed. */
  expires: number;
}

export interface AllocatorOptions {
  /** Where ServiceGroups are looked up (the install namespace). */
  namespace: string;
  concurrency?: number;
  now?: () => number;
  /** Netbox client for spec.netbox groups, and this cluster's name for its records. */
  netbox?: NetboxIpam;
  cluster?: string;
}

interface Holding {
  group: string;
  poolType: PoolType;
  uid: string;
  /** The Netbox group it came from, kept so that release works after the group is deleted. */
  netbox?: GroupModel;
}

/**
 * The allocator's imperative shell: it keeps the compact model of Services, groups and node
 * Leases, runs the pure allocation over it, and writes the result to the API. Addresses
 * are claimed in memory before any write and released again if the write fails, so no
 * two Services can be handed the same address, however many are processed at once.
 */
export class Allocator {
  readonly book = new AddressBook();
  private readonly services = new Map<string, ServiceModel>();
  private readonly groups = new Map<string, GroupParse>();
  private readonly leases = new Map<string, NodeLease>();
  private readonly holdings = new Map<string, Holding>();
  /** The last ConfigurationWarning per Service, so a requeue does not repeat it. */
  private readonly warned = new Map<string, string>();
  private readonly pending = new Map<string, string>();
  private readonly queue: WorkQueue;
  private readonly dirtyGroups = new Set<string>();
  private readonly writtenStatus = new Map<string, string>();
  private statusTimer?: NodeJS.Timeout;
  private synced = false;
  private readonly now: () => number;
  private readonly external?: NetboxAllocations;
  private readonly retries = new Map<string, number>();

  constructor(
    private readonly api: AllocatorApi,
    private readonly opts: AllocatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.queue = new WorkQueue(key => this.reconcile(key), opts.concurrency ?? 16);
    if (opts.netbox)
      this.external = new NetboxAllocations(opts.netbox, this.book, opts.cluster ?? "kubernetes");
  }

  // ---- inputs -------------------------------------------------------------------------

  upsertService(svc: ServiceModel): void {
    const key = serviceKey(svc);
    const known = this.services.get(key);
    // Our own writes come back as watch events; an unchanged or older version is no news.
    if (
      known &&
      known.uid === svc.uid &&
      (known.resourceVersion === svc.resourceVersion ||
        isOlder(svc.resourceVersion, known.resourceVersion))
    )
      return;
    this.services.set(key, svc);
    if (this.synced) this.queue.add(key);
  }

  removeService(key: string): void {
    this.services.delete(key);
    this.warned.delete(key);
    if (this.synced) this.queue.add(key);
  }

  upsertGroup(namespace: string, name: string, spec: ServiceGroupSpec | undefined): void {
    const key = groupKey(namespace, name);
    const parsed = parseGroup(namespace, name, spec);
    const before = this.groups.get(key)?.group;
    this.groups.set(key, parsed);
    if (parsed.group) updated("config");
    else updateFailed("config");
    // The purelb.io/skip-ipv6-dad mark on the group's Services follows the group.
    if (this.synced && before && parsed.group && before.skipIPv6DAD !== parsed.group.skipIPv6DAD)
      for (const [svc, h] of this.holdings) if (h.group === key) this.queue.add(svc);
    this.touchGroup(key);
    this.retryPending();
  }

  removeGroup(namespace: string, name: string): void {
    this.groups.delete(groupKey(namespace, name));
    this.writtenStatus.delete(groupKey(namespace, name));
    forgetPool(name);
  }

  upsertLease(lease: NodeLease): void {
    const before = this.leases.get(lease.node);
    this.leases.set(lease.node, lease);
    if (!before || before.subnets.map(formatCidr).join() !== lease.subnets.map(formatCidr).join())
      this.retryPending();
  }

  removeLease(node: string): void {
    this.leases.delete(node);
  }

  /**
   * Called once the first list of Services is in: record every address already written
   * on a Service before anything new is handed out, then process everything.
   */
  markSynced(): void {
    const ours = [...this.services.values()].filter(
      s => isManaged(s) && wasAllocatedByUs(s) && s.ingress.length,
    );
    for (const svc of ours.sort(byAge)) this.adopt(svc);
    this.synced = true;
    updated("cache_sync");
    configLoaded.set(1);
    for (const key of this.services.keys()) this.queue.add(key);
    for (const key of this.groups.keys()) this.touchGroup(key);
  }

  /** Deletes Netbox records no Service holds any more (see NetboxAllocations.sweep). */
  async sweepNetbox(): Promise<number> {
    if (!this.external || !this.synced) return 0;
    const groups = [...this.groups.values()].flatMap(g =>
      g.group?.type === "netbox" ? [g.group] : [],
    );
    if (!groups.length) return 0;
    return this.external.sweep(groups, uid => {
      for (const s of this.services.values()) if (s.uid === uid) return true;
      return false;
    });
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  pendingServices(): ReadonlyMap<string, string> {
    return this.pending;
  }

  stop(): void {
    clearTimeout(this.statusTimer);
  }

  // ---- the loop -----------------------------------------------------------------------

  private adopt(svc: ServiceModel): void {
    const key = serviceKey(svc);
    const { request } = parseServiceAnnotations(svc.annotations);
    const group = groupKey(
      this.opts.namespace,
      svc.annotations[Annotation.allocatedFrom] ?? DEFAULT_GROUP,
    );
    for (const ip of svc.ingress) {
      const address = parseAddress(ip);
      if (!address) continue;
      const text = formatAddress(address);
      const check = this.book.canShare(text, key, request.sharingKey, svc.ports);
      if (!check.ok) {
        this.api.event(
          svc,
          "Warning",
          "AddressConflict",
          `${check.reason}; ${check.holder} is older and keeps it, this Service gets another address`,
        );
        continue;
      }
      this.book.claim(key, address, text, group, request.sharingKey, svc.ports);
    }
    const poolType = (svc.annotations[Annotation.poolType] as PoolType | undefined) ?? "local";
    if (this.book.addressesOf(key).length)
      this.holdings.set(key, { group, poolType, uid: svc.uid });
  }

  private async reconcile(key: string): Promise<void> {
    updated("service");
    const svc = this.services.get(key);
    if (!svc || !isManaged(svc)) return this.release(key, svc);

    const { request, problems } = parseServiceAnnotations(svc.annotations);
    const held = this.book.addressesOf(key);
    if (problems.length && !held.length) {
      return this.failed(
        svc,
        fail(
          "invalid-annotation",
          `${formatProblems(problems)}; fix the annotation and PureLB retries`,
        ),
      );
    }
    if (held.length && !request.reEvaluate) {
      this.book.setPorts(key, svc.ports);
      return this.write(svc, []);
    }

    const scope = resolveGroup(svc.namespace, request.group, this.validGroups());
    if (!scope.ok) return this.failed(svc, fail(scope.reason, scope.message));
    if (scope.warning && this.warned.get(key) !== scope.warning) {
      this.api.event(svc, "Warning", "ConfigurationWarning", scope.warning);
      this.warned.set(key, scope.warning);
    }
    const name = scope.name;
    const gk = groupKey(this.opts.namespace, name);
    const parsed = this.groups.get(gk);
    if (!parsed) {
      return this.failed(
        svc,
        fail(
          "unknown-group",
          `ServiceGroup ${name} does not exist in namespace ${this.opts.namespace}; create it or set purelb.io/service-group to an existing group`,
        ),
      );
    }
    if (!parsed.group) {
      return this.failed(
        svc,
        fail(
          "invalid-group",
          `ServiceGroup ${name} is invalid: ${formatProblems(parsed.problems)}`,
        ),
      );
    }
    const group = parsed.group;
    if (group.type === "external") return this.failed(svc, externalUnsupported(group));
    const requested = new Map<Family, Address>(request.requested);
    const legacy = svc.loadBalancerIP ? parseAddress(svc.loadBalancerIP) : undefined;
    if (legacy && !requested.has(legacy.family)) requested.set(legacy.family, legacy);
    if (group.type === "netbox")
      return this.allocateExternal(svc, group, requested, request.sharingKey, held);
    const conflict = multiPoolConflict(request, group);
    if (conflict) return this.failed(svc, fail("invalid-annotation", conflict));
    const offered = new Set<Family>(group.ranges.map(r => r.family));
    const fams = chooseFamilies(svc.ipFamilyPolicy, svc.ipFamilies, offered, name);
    if (!fams.ok) return this.failed(svc, fams);
    for (const [family, a] of requested) {
      if (!fams.families.includes(family)) {
        return this.failed(
          svc,
          fail(
            "invalid-annotation",
            `requested ${familyName(family)} address ${formatAddress(a)} but the Service uses ${fams.families.map(familyName).join(" and ")}; change spec.ipFamilies or the requested address`,
          ),
        );
      }
    }
    const result = allocate(this.book, {
      service: key,
      group,
      families: fams.families,
      all: fams.all,
      requested,
      sharingKey: request.sharingKey,
      ports: svc.ports,
      multiPool: request.multiPool ?? group.multiPool,
      liveSubnets: this.liveSubnets(),
      keep: held,
    });
    if (!result.ok) {
      if (held.length) await this.write(svc, []);
      return this.failed(svc, result);
    }
    this.holdings.set(key, { group: gk, poolType: group.type, uid: svc.uid });
    return this.write(svc, result.added, group);
  }

  private async allocateExternal(
    svc: ServiceModel,
    group: GroupModel,
    requested: Map<Family, Address>,
    sharingKey: string | undefined,
    held: readonly string[],
  ): Promise<void> {
    if (!this.external) {
      return this.failed(
        svc,
        fail(
          "external-ipam",
          `ServiceGroup ${group.name} uses Netbox but this allocator runs without a Netbox client`,
        ),
      );
    }
    const result = await this.external.allocate({
      svc,
      group,
      requested,
      sharingKey,
      ports: svc.ports,
      held,
    });
    if (!result.ok) return this.failed(svc, result);
    const key = serviceKey(svc);
    this.holdings.set(key, {
      group: groupKey(group.namespace, group.name),
      poolType: group.netbox?.poolType ?? "remote",
      uid: svc.uid,
      netbox: group,
    });
    return this.write(svc, result.added, group);
  }

  /** Makes the Service's annotations and status match what the book says it holds. */
  private async write(svc: ServiceModel, added: string[], group?: GroupModel): Promise<void> {
    const key = serviceKey(svc);
    const holding = this.holdings.get(key);
    const groupName = holding ? holding.group.split("/")[1] : (group?.name ?? DEFAULT_GROUP);
    const poolType = holding?.poolType ?? group?.type ?? "local";
    const addresses = sortAddresses(this.book.addressesOf(key));
    const shared = parseServiceAnnotations(svc.annotations).request.sharingKey !== undefined;
    const resetEtp = mustResetTrafficPolicy(svc, poolType, shared);
    const model = group ?? (holding ? this.groups.get(holding.group)?.group : undefined);
    const annotations = annotationChanges(svc, groupName, poolType, model?.skipIPv6DAD === true);
    const annotate = Object.keys(annotations).length > 0;
    try {
      let current = svc;
      // One request in the common case: the status write carries the annotations too. The
      // spec change of an ETP reset needs the main resource.
      if (resetEtp)
        current = await this.api.patchService(current, {
          metadata: { annotations },
          spec: { externalTrafficPolicy: "Cluster" },
        });
      if (!sameList(current.ingress, addresses) || (annotate && !resetEtp)) {
        current = await this.api.writeStatus(
          current,
          addresses,
          resetEtp ? undefined : annotations,
        );
      }
      if (current !== svc) this.upsertService(current);
    } catch (err) {
      let freed = false;
      for (const text of added) freed = (await this.releaseAddress(key, text, holding)) || freed;
      if (!this.book.addressesOf(key).length) this.holdings.delete(key);
      // A Service deleted mid-write gives its claim back here, not through its delete event.
      if (freed) this.retryPending();
      this.writeFailed(key, err);
      return;
    }
    this.retries.delete(key);
    if (this.pending.delete(key)) Log.info({ service: key }, "pending Service served");
    if (added.length) {
      this.countAllocation(svc, addresses, added.length, group);
      this.api.event(
        svc,
        "Normal",
        "AddressAssigned",
        `Assigned ${added.join(", ")} from ServiceGroup ${groupName} (${poolType} pool)`,
      );
      Log.info({ service: key, addresses: added, group: groupName }, "addresses assigned");
    }
    if (resetEtp) {
      const why =
        poolType === "local"
          ? `local pool addresses are announced by a single node`
          : `the address is shared`;
      this.api.event(
        svc,
        "Normal",
        "ExternalTrafficPolicyReset",
        `externalTrafficPolicy reset from Local to Cluster: ${why}`,
      );
    }
    this.touchGroup(holding?.group ?? (group ? groupKey(group.namespace, group.name) : ""));
  }

  private countAllocation(
    svc: ServiceModel,
    addresses: string[],
    added: number,
    group: GroupModel | undefined,
  ): void {
    const families = new Set(addresses.map(a => parseAddress(a)?.family));
    const multiPool =
      !!group &&
      (parseServiceAnnotations(svc.annotations).request.multiPool ?? group.multiPool) === true;
    recordAllocation(group?.name ?? DEFAULT_GROUP, {
      multiPool,
      balancePools: !!group?.balancePools,
      ranges: group?.ranges.filter(r => families.has(r.family)).length ?? 0,
      held: addresses.length,
      added,
    });
  }

  private writeFailed(key: string, err: unknown): void {
    const gone = err instanceof ApiError && (err.status === 404 || err.status === 409);
    if (gone) {
      Log.debug(
        { service: key, err: String(err) },
        "Service changed under the write; will see the new version",
      );
      return;
    }
    updateFailed("service");
    Log.warn({ service: key, err: String(err) }, "could not write allocation; retrying");
    setTimeout(() => this.queue.add(key), 1000).unref();
  }

  private async release(key: string, svc: ServiceModel | undefined): Promise<void> {
    this.pending.delete(key);
    this.retries.delete(key);
    const holding = this.holdings.get(key);
    const freed: string[] = [];
    for (const text of [...this.book.addressesOf(key)])
      if (await this.releaseAddress(key, text, holding)) freed.push(text);
    this.holdings.delete(key);
    if (svc) {
      const ours = freed.length > 0 || wasAllocatedByUs(svc);
      const patch = releasePatch(svc);
      try {
        const cleared = patch ? await this.api.patchService(svc, patch) : svc;
        if (ours && cleared.ingress.length) await this.api.writeStatus(cleared, []);
      } catch (err) {
        Log.debug({ service: key, err: String(err) }, "could not clear a released Service");
      }
      if (freed.length)
        this.api.event(
          svc,
          "Normal",
          "AddressReleased",
          `Released ${freed.join(", ")}: the Service is no longer a PureLB LoadBalancer`,
        );
    }
    if (freed.length) {
      Log.info({ service: key, addresses: freed }, "addresses released");
      if (holding) this.touchGroup(holding.group);
      this.retryPending();
    }
  }

  /** Drops one address of a Service; true when it became free (and, for Netbox, is being released there). */
  private async releaseAddress(
    key: string,
    text: string,
    holding: Holding | undefined,
  ): Promise<boolean> {
    const model = holding?.netbox ?? (holding ? this.groups.get(holding.group)?.group : undefined);
    const wasFree = () => !this.book.entry(text);
    if (this.external && model?.type === "netbox" && holding) {
      const [namespace, name] = key.split("/");
      await this.external.release(
        key,
        text,
        model,
        this.external.owner({ namespace, name, uid: holding.uid }),
      );
      return wasFree();
    }
    return this.book.releaseOne(key, text);
  }

  private failed(svc: ServiceModel, f: Failure): void {
    const key = serviceKey(svc);
    recordFailure(parseServiceAnnotations(svc.annotations).request.group ?? DEFAULT_GROUP, f);
    if (f.reason === "external-ipam") {
      // Nothing in the cluster announces that Netbox is back: poll with backoff.
      const attempt = (this.retries.get(key) ?? 0) + 1;
      this.retries.set(key, attempt);
      setTimeout(() => this.queue.add(key), Math.min(2000 * 2 ** (attempt - 1), 120_000)).unref();
    }
    if (this.pending.get(key) !== f.message) {
      this.api.event(svc, "Warning", "AllocationFailed", f.message);
      Log.info({ service: key, reason: f.reason, message: f.message }, "allocation failed");
    }
    this.pending.set(key, f.message);
  }

  /** The parsed groups of PureLB's namespace, for namespace scoping. */
  private validGroups(): GroupModel[] {
    const out: GroupModel[] = [];
    for (const p of this.groups.values())
      if (p.group && p.group.namespace === this.opts.namespace) out.push(p.group);
    return out;
  }

  retryPending(): void {
    if (!this.synced) return;
    for (const key of this.pending.keys()) this.queue.add(key);
  }

  private liveSubnets(): Cidr[] {
    const now = this.now();
    return [...this.leases.values()].filter(l => l.expires > now).flatMap(l => l.subnets);
  }

  // ---- group status -------------------------------------------------------------------

  private touchGroup(key: string): void {
    if (!key || !this.synced) return;
    this.dirtyGroups.add(key);
    this.statusTimer ??= setTimeout(() => {
      this.statusTimer = undefined;
      void this.flushGroupStatus();
    }, 500);
  }

  private async flushGroupStatus(): Promise<void> {
    const keys = [...this.dirtyGroups];
    this.dirtyGroups.clear();
    for (const key of keys) {
      const group = this.groups.get(key)?.group;
      if (!group) continue;
      const status = this.groupStatus(group);
      const text = JSON.stringify(status);
      if (this.writtenStatus.get(key) === text) continue;
      try {
        await this.api.writeGroupStatus(group.namespace, group.name, status);
        this.writtenStatus.set(key, text);
        statusWrites.inc({ outcome: "success" });
        updated("pool_status");
      } catch (err) {
        statusWrites.inc({ outcome: "error" });
        updateFailed("pool_status");
        Log.debug({ group: key, err: String(err) }, "could not write ServiceGroup status");
      }
    }
  }

  groupStatus(group: GroupModel): ServiceGroupStatus {
    const pools =
      group.type === "netbox"
        ? (group.netbox?.url ?? "")
        : group.ranges.map(r => formatRange(r.range)).join(",");
    const status: ServiceGroupStatus = { poolType: group.type, pools };
    const figures: { family: string; size: bigint; inUse: bigint }[] = [];
    for (const family of [4, 6] as const) {
      const ranges = group.ranges.filter(r => r.family === family);
      if (!ranges.length) continue;
      const size = ranges.reduce((n, r) => n + rangeSize(r.range), 0n);
      const inUse = ranges.reduce((n, r) => n + this.book.countIn(r.range), 0n);
      status[family === 4 ? "v4" : "v6"] = { size: size.toString(), inUse: Number(inUse) };
      figures.push({ family: familyName(family), size, inUse });
    }
    if (group.type !== "netbox") recordPool(group.name, figures);
    Object.assign(status, upstreamStatus(group, this.heldByFamily(group)));
    return status;
  }

  /** Addresses of the group held by Services, per family: counted in its ranges, or (Netbox, external) by holder. */
  private heldByFamily(group: GroupModel): Record<Family, bigint> {
    const held: Record<Family, bigint> = { 4: 0n, 6: 0n };
    if (group.ranges.length) {
      for (const r of group.ranges) held[r.family] += this.book.countIn(r.range);
      return held;
    }
    const key = groupKey(group.namespace, group.name);
    for (const [svc, h] of this.holdings) {
      if (h.group !== key) continue;
      for (const text of this.book.addressesOf(svc)) {
        const a = parseAddress(text);
        if (a) held[a.family] += 1n;
      }
    }
    return held;
  }
}

/** resourceVersions are etcd revisions in practice; compare them when both are numbers. */
function isOlder(a: string, b: string): boolean {
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export function leaseToNode(raw: unknown, now = Date.now()): NodeLease | undefined {
  const o = raw as {
    metadata?: { name?: string; annotations?: Record<string, string> };
    spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
  };
  const node = o.spec?.holderIdentity;
  if (!node) return undefined;
  const subnets = (o.metadata?.annotations?.[Annotation.subnets] ?? "")
    .split(",")
    .map(s => parseCidr(s.trim()))
    .filter((c): c is NonNullable<typeof c> => !!c)
    .map(({ family, network, prefix }) => ({ family, network, prefix }));
  const renewed = o.spec?.renewTime ? Date.parse(o.spec.renewTime) : now;
  return { node, subnets, expires: renewed + (o.spec?.leaseDurationSeconds ?? 15) * 1000 };
}
