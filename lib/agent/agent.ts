import { Log } from "../log";
import { familyName } from "../ip/address";
import { Cidr } from "../ip/cidr";
import { GroupModel, parseGroup } from "../ipam/group";
import { Annotation } from "../k8s/annotations";
import { LBNodeAgentSpec } from "../k8s/lbnodeagent";
import { ServiceModel, serviceKey } from "../k8s/service";
import { ServiceGroupSpec } from "../k8s/servicegroup";
import { AddressSpec, INFINITY_LIFE, KernelAddress, KernelLink } from "../netlink/messages";
import type { AnnounceTarget, GarpSettings } from "../announce/announcer";
import { Member, cachedHash, nextExpiry } from "../election/election";
import { Membership, PeerView, membership } from "../election/membership";
import { MembershipReport } from "./membership-report";
import { AgentConfig, parseAgentConfig } from "./config";
import {
  DesiredAddress,
  HeldAddress,
  NodeInterface,
  desiredState,
  interfaceSubnets,
  isOurs,
  localCapable,
  Change,
  planChanges,
} from "./desired";
import { planAnnouncements } from "./announcing";
import { AnnouncingSlot, reconcileAnnouncing } from "../k8s/announcing";
import {
  agentSynced,
  announcedAddresses,
  announcedServices,
  configApplied,
  electionGone,
  electionResult,
  kernelChanges,
  membershipObserved,
  serviceUpdated,
} from "./metrics";
import { VanishBackoff } from "./vanish";
import { AgentChoice, chooseAgentConfig } from "./node-select";

/** The kernel side, as the agent needs it (RtNetlink in production). */
export interface Kernel {
  links(): Promise<KernelLink[]>;
  addresses(): Promise<KernelAddress[]>;
  addAddress(spec: AddressSpec): Promise<void>;
  deleteAddress(ifindex: number, address: string, prefix: number): Promise<void>;
  createLink(name: string, kind: string): Promise<void>;
  setLinkUp(index: number): Promise<void>;
}

export interface Announce {
  announce(t: AnnounceTarget, s: GarpSettings, isCurrent?: () => boolean): Promise<void>;
}

/** The API side: annotations and Events on Services. */
export interface AgentApi {
  annotate(svc: ServiceModel, annotations: Record<string, string>): Promise<void>;
  event(svc: ServiceModel, type: "Normal" | "Warning", reason: string, message: string): void;
  /** An Event on this node (membership transitions). */
  nodeEvent?(type: "Normal" | "Warning", reason: string, message: string): void;
  /** An Event on an LBNodeAgent of PureLB's namespace (ignored or invalid for this node). */
  configEvent?(name: string, uid: string, reason: string, message: string): void;
}

export interface AgentOptions {
  node: string;
  kernel: Kernel;
  announcer: Announce;
  api: AgentApi;
  now?: () => number;
  /**
   * Called with the subnets of the interfaces that may take local addresses, and the node's
   * own addresses on them (for heartbeats), when they change.
   */
  onSubnets?: (subnets: Cidr[], addresses: string[]) => void;
  /** Heartbeats heard from the other nodes (lib/heartbeat); undefined: Leases alone decide. */
  peers?: () => PeerView | undefined;
  onConfig?: (config: AgentConfig) => void;
}

export interface ReconcileReport {
  added: number;
  removed: number;
  failed: number;
  ms: number;
}

const RETRY_MS = 5_000;
/** While an IPv6 copy is in duplicate address detection (1-2 s), look again this often. */
const DAD_POLL_MS = 500;
/** Up to this many changes are logged one by one; more get one summary line. */
const LOG_EACH = 16;

/**
 * The node agent's imperative shell. It keeps compact models of what the informers deliver,
 * and on every change reads the kernel, computes the desired state of this node's interfaces
 * (desired.ts) and applies the difference, one reconcile at a time. It never touches an
 * address it did not add, and does nothing to the kernel before its first full view of the
 * cluster (markSynced), so a restart cannot withdraw addresses that are still needed.
 */
export class NodeAgent {
  private readonly services = new Map<string, ServiceModel>();
  private readonly groups = new Map<string, GroupModel>();
  private readonly members = new Map<string, Member>();
  private readonly slices = new Map<string, { service: string; nodes: string[] }>();
  private readonly agentSpecs = new Map<string, LBNodeAgentSpec | undefined>();
  config: AgentConfig = parseAgentConfig(undefined).config;
  private configText = "";
  private readonly agentUids = new Map<string, string>();
  private choiceNotes = "";
  /** This node's labels, read when configuration is delivered (as the Go PureLB does). */
  private nodeLabels: Record<string, string> = {};
  private synced = false;
  private stopped = false;
  private running?: Promise<void>;
  private again = false;
  private scheduled = false;
  private expiryTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private refreshTimer?: NodeJS.Timeout;
  private backoffTimer?: NodeJS.Timeout;
  private extCreateFailed = "";
  private lastSubnets = "";
  /** Who takes part in elections, as of the last reconcile. */
  membership?: Membership;
  private readonly report: MembershipReport;
  private readonly lastWinner = new Map<string, string | undefined>();
  private readonly written = new Map<string, string>();
  private readonly failed = new Map<string, string>();
  /** Local addresses held now, for re-announcement. */
  private readonly heldLocal = new Map<string, AnnounceTarget>();
  /** Local addresses announced since this node last gained them (announcing.ts). */
  private announced = new Set<string>();
  private dadTimer?: NodeJS.Timeout;
  private readonly vanish = new VanishBackoff();
  private readonly hash = cachedHash();
  private readonly now: () => number;
  /** The time the last election was computed for: a Lease lapsing after it needs a new one. */
  private electedAt: number;
  lastReport?: ReconcileReport;
  /** The last reconcile that changed something. */
  lastBusyReport?: ReconcileReport;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? Date.now;
    this.electedAt = this.now();
    this.report = new MembershipReport(opts.node, (type, reason, message) =>
      opts.api.nodeEvent?.(type, reason, message),
    );
    this.applyConfig();
  }

  // ---- inputs --------------------------------------------------------------------------

  upsertService(svc: ServiceModel): void {
    const key = serviceKey(svc);
    const before = this.services.get(key);
    this.services.set(key, svc);
    if (!before || relevant(before) !== relevant(svc)) {
      serviceUpdated();
      this.trigger();
    }
  }

  removeService(key: string): void {
    if (this.services.delete(key)) this.trigger();
  }

  upsertGroup(name: string, spec: ServiceGroupSpec | undefined): void {
    const parsed = parseGroup("", name, spec);
    if (parsed.group) this.groups.set(name, parsed.group);
    else this.groups.delete(name);
    this.trigger();
  }

  removeGroup(name: string): void {
    this.groups.delete(name);
    this.trigger();
  }

  upsertMember(key: string, m: Member | undefined): void {
    if (!m) return this.removeMember(key);
    const before = this.members.get(key);
    this.members.set(key, m);
    // A renewal alone changes no election while the node stays live; only the expiry timer needs it.
    if (
      !before ||
      before.node !== m.node ||
      subnetsText(before.subnets) !== subnetsText(m.subnets) ||
      before.hears?.join() !== m.hears?.join() ||
      before.expires <= this.now()
    )
      this.trigger();
    else this.scheduleExpiry();
  }

  removeMember(key: string): void {
    if (this.members.delete(key)) this.trigger();
  }

  upsertSlice(key: string, slice: { service: string; nodes: string[] } | undefined): void {
    if (!slice) return this.removeSlice(key);
    const before = this.slices.get(key);
    this.slices.set(key, slice);
    if (!before || before.nodes.join() !== slice.nodes.join() || before.service !== slice.service)
      this.trigger();
  }

  removeSlice(key: string): void {
    if (this.slices.delete(key)) this.trigger();
  }

  upsertAgentConfig(name: string, spec: LBNodeAgentSpec | undefined, uid = ""): void {
    this.agentSpecs.set(name, spec);
    this.agentUids.set(name, uid);
    this.applyConfig();
  }

  removeAgentConfig(name: string): void {
    this.agentSpecs.delete(name);
    this.applyConfig();
  }

  /** The Node's labels changed: the LBNodeAgent it follows may too. */
  setNodeLabels(labels: Record<string, string>): void {
    this.nodeLabels = labels;
    this.applyConfig();
  }

  /** Logs and Events (once per change) for LBNodeAgents this node matches but does not use. */
  private reportChoice(choice: AgentChoice): void {
    const notes: [string, string, string][] = [
      ...choice.ignored.map((i): [string, string, string] => [
        i.name,
        "ConfigIgnored",
        `node ${this.opts.node} also matches this LBNodeAgent but follows ${choice.chosen?.name}: a non-empty nodeSelector wins over a catch-all, then the first by name`,
      ]),
      ...choice.invalid.map((i): [string, string, string] => [
        i.agent.name,
        "InvalidSelector",
        `node ${this.opts.node} cannot use this LBNodeAgent: ${i.reason}`,
      ]),
    ];
    const text = JSON.stringify(notes);
    if (text === this.choiceNotes) return;
    this.choiceNotes = text;
    for (const [name, reason, message] of notes) {
      Log.warn({ lbnodeagent: name, reason }, message);
      this.opts.api.configEvent?.(name, this.agentUids.get(name) ?? "", reason, message);
    }
  }

  private applyConfig(): void {
    const choice = chooseAgentConfig(
      [...this.agentSpecs].map(([name, spec]) => ({ namespace: "", name, spec })),
      this.nodeLabels,
    );
    this.reportChoice(choice);
    const first = choice.chosen?.name;
    const { config, problems } = parseAgentConfig(
      first === undefined ? undefined : this.agentSpecs.get(first),
    );
    for (const p of problems) Log.warn({ lbnodeagent: first }, p);
    configApplied(config, problems, this.agentSpecs.size > 0 && !choice.chosen);
    const text = JSON.stringify({ ...config, localInterface: String(config.localInterface) });
    if (text === this.configText) return;
    this.configText = text;
    this.config = config;
    Log.info(
      { lbnodeagent: first ?? "(none: defaults)", config: JSON.parse(text) },
      "node agent configuration",
    );
    clearInterval(this.renewTimer);
    if (config.validLft > 0) {
      // Finite lifetimes are renewed once a third is used; check six times per lifetime.
      this.renewTimer = setInterval(
        () => this.trigger(),
        Math.max(1000, (config.validLft * 1000) / 6),
      );
      this.renewTimer.unref();
    }
    clearInterval(this.refreshTimer);
    if (config.garp.enabled && config.garp.refreshMs > 0) {
      this.refreshTimer = setInterval(() => this.refreshAnnouncements(), config.garp.refreshMs);
      this.refreshTimer.unref();
    }
    this.opts.onConfig?.(config);
    this.trigger();
  }

  /** The first full view of the cluster is in: from now on the kernel is made to match. */
  markSynced(): void {
    this.synced = true;
    agentSynced();
    this.trigger();
  }

  // ---- the loop ------------------------------------------------------------------------

  /** Asks for a reconcile soon; many asks in one tick make one reconcile. */
  trigger(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.reconcile();
    });
  }

  /** Runs a reconcile now, or once more after the running one. */
  reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          Log.warn({ err: String(err) }, "reconcile failed; retrying");
          this.retryLater();
        }
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Waits until no reconcile is running or asked for. */
  async idle(): Promise<void> {
    while (this.running || this.scheduled) {
      await this.running;
      if (this.scheduled) await new Promise(r => setImmediate(r));
    }
  }

  private retryLater(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.trigger();
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  private async readKernel(): Promise<{ ifaces: NodeInterface[]; held: HeldAddress[] }> {
    const [first, addrs] = await Promise.all([
      this.opts.kernel.links(),
      this.opts.kernel.addresses(),
    ]);
    let links = first;
    const ext = this.config.extInterface;
    let extLink = links.find(l => l.name === ext);
    if (!extLink && this.extCreateFailed !== ext) {
      try {
        await this.opts.kernel.createLink(ext, "dummy");
        Log.info({ interface: ext }, "created the dummy interface for remote addresses");
        links = await this.opts.kernel.links();
        extLink = links.find(l => l.name === ext);
      } catch (err) {
        this.extCreateFailed = ext;
        Log.error(
          { interface: ext, err: String(err) },
          "cannot create the interface for remote addresses; create it (any type) and restart the agent",
        );
      }
    }
    if (extLink && !extLink.up) {
      await this.opts.kernel
        .setLinkUp(extLink.index)
        .catch(err => Log.warn({ interface: ext, err: String(err) }, "cannot set link up"));
    }
    const names = new Map(links.map(l => [l.index, l.name]));
    return {
      ifaces: links.map(l => ({
        index: l.index,
        name: l.name,
        mac: l.mac,
        up: l.up,
        carrier: l.carrier,
        loopback: l.loopback,
      })),
      held: addrs.map(a => ({ ...a, ifname: names.get(a.ifindex) ?? "" })),
    };
  }

  private async reconcileOnce(): Promise<void> {
    const started = performance.now();
    const { ifaces, held } = await this.readKernel();
    const ours = held.filter(h => isOurs(h, this.config, this.groups));
    const oursSet = new Set(ours);
    const subnets = interfaceSubnets(held, h => oursSet.has(h));
    const mySubnets = localCapable(ifaces, this.config).flatMap(i => subnets.get(i.index) ?? []);
    const myAddresses = nodeAddresses(held, localCapable(ifaces, this.config), oursSet);
    const subnetText = `${subnetsText(mySubnets)} ${myAddresses.join()}`;
    if (subnetText !== this.lastSubnets) {
      this.lastSubnets = subnetText;
      this.opts.onSubnets?.(mySubnets, myAddresses);
    }
    if (!this.synced || this.stopped) return;

    const now = this.now();
    this.electedAt = now;
    const view = (this.membership = membership({
      self: this.opts.node,
      members: this.members.values(),
      now,
      peers: this.opts.peers?.(),
    }));
    this.report.observe(view, now);
    const ready = this.readyIndex();
    const desired = desiredState({
      node: this.opts.node,
      now,
      services: this.services.values(),
      groups: this.groups,
      members: view.members,
      readyNodes: key => ready.get(key) ?? EMPTY,
      interfaces: ifaces,
      subnets,
      config: this.config,
      hash: this.hash,
    });
    const plan = planChanges(desired.addresses, ours);
    const byName = new Map(ifaces.map(i => [i.name, i]));
    const failures: { d: DesiredAddress | HeldAddress; services: string[]; err: unknown }[] = [];
    const deferred = this.deferVanished(ours, plan, now);

    const removed = await Promise.allSettled(
      plan.remove.map(h => this.opts.kernel.deleteAddress(h.ifindex, h.address, h.prefix)),
    );
    removed.forEach((r, i) => {
      if (r.status === "rejected")
        failures.push({ d: plan.remove[i], services: [], err: r.reason });
      else {
        if (plan.remove.length <= LOG_EACH)
          Log.info(
            { address: plan.remove[i].address, interface: plan.remove[i].ifname },
            "address withdrawn",
          );
        this.heldLocal.delete(plan.remove[i].address);
      }
    });
    const added = await Promise.allSettled(
      plan.add.map(d =>
        this.opts.kernel.addAddress({
          ifindex: byName.get(d.ifname)!.index,
          address: d.address,
          prefix: d.prefix,
          validLft: d.validLft,
          preferredLft: d.preferredLft,
          nodad: d.nodad,
          noPrefixRoute: d.noPrefixRoute,
          deprecated: d.deprecated,
        }),
      ),
    );
    kernelChanges(plan.add, added, removed);
    const fresh: DesiredAddress[] = [];
    added.forEach((r, i) => {
      const d = plan.add[i];
      if (r.status === "rejected") failures.push({ d, services: d.services, err: r.reason });
      else if (d.fresh) {
        fresh.push(d);
        if (d.kind === "local") this.vanish.added(d.address, now);
        if (plan.add.length <= LOG_EACH)
          Log.info(
            {
              address: `${d.address}/${d.prefix}`,
              interface: d.ifname,
              kind: d.kind,
              services: d.services,
            },
            "address added",
          );
      }
    });
    // The interfaces match now: that is what the reconcile time measures. Announcements,
    // annotations and Events follow without holding up the next reconcile.
    const kernelMs = performance.now() - started;
    if (plan.add.length > LOG_EACH || plan.remove.length > LOG_EACH) {
      Log.info(
        {
          added: fresh.length,
          renewed: plan.add.length - fresh.length,
          removed: plan.remove.length,
          failed: failures.length,
          ms: Math.round(kernelMs),
        },
        "addresses changed",
      );
    }

    // Local addresses: record who announces, announce, notice problems.
    const placed: DesiredAddress[] = [];
    const mySlots = new Map<string, AnnouncingSlot[]>();
    for (const d of desired.addresses.values()) {
      if (d.kind !== "local") continue;
      const iface = byName.get(d.ifname)!;
      if (deferred.has(d.address) || failures.some(f => f.d.address === d.address)) continue;
      placed.push(d);
      this.heldLocal.set(d.address, {
        ifindex: iface.index,
        ifname: iface.name,
        mac: iface.mac,
        address: d.address,
        family: d.family,
      });
      this.failed.delete(d.address);
      for (const key of d.services) {
        const ann = d.family === 4 ? Annotation.announcingIPv4 : Annotation.announcingIPv6;
        const slot = { node: this.opts.node, interface: d.ifname, address: d.address };
        const k = `${key}|${ann}`;
        mySlots.set(k, [...(mySlots.get(k) ?? []), slot]);
      }
    }
    this.writeAnnouncing(mySlots);
    const announcing = planAnnouncements({
      placed,
      held: new Map(ours.map(h => [h.address, h])),
      fresh: new Set(fresh.map(d => d.address)),
      linkUp: name => {
        const i = byName.get(name);
        return !!i && i.up && i.carrier !== false;
      },
      announced: this.announced,
    });
    this.announced = announcing.announced;
    const announce = announcing.now.flatMap(d => this.heldLocal.get(d.address) ?? []);
    // The kernel notifies when DAD ends; looking again soon covers a lost notification.
    clearTimeout(this.dadTimer);
    if (announcing.tentative.length) {
      this.dadTimer = setTimeout(() => this.trigger(), DAD_POLL_MS);
      this.dadTimer.unref();
    }
    for (const d of fresh) {
      if (d.kind !== "local" || !this.heldLocal.has(d.address)) continue;
      for (const key of d.services) {
        const svc = this.services.get(key);
        if (svc)
          this.opts.api.event(
            svc,
            "Normal",
            "AnnouncingLocal",
            `Announcing ${d.address} from node ${this.opts.node}, interface ${d.ifname}`,
          );
      }
    }
    for (const h of ours)
      if (!desired.addresses.has(h.address) || desired.addresses.get(h.address)!.kind !== "local")
        this.heldLocal.delete(h.address);

    for (const f of failures) {
      const message = `node ${this.opts.node} could not ${"services" in f.d && f.services.length ? "add" : "remove"} ${f.d.address} on ${"ifname" in f.d ? f.d.ifname : ""}: ${errText(f.err)}`;
      Log.warn({ address: f.d.address }, message);
      if (this.failed.get(f.d.address) !== message) {
        this.failed.set(f.d.address, message);
        for (const key of f.services) {
          const svc = this.services.get(key);
          if (svc) this.opts.api.event(svc, "Warning", "AnnouncementFailed", message);
        }
      }
    }
    for (const p of desired.problems) {
      if (this.failed.get(p.address) === p.message) continue;
      this.failed.set(p.address, p.message);
      Log.warn({ address: p.address }, p.message);
      for (const key of p.services) {
        const svc = this.services.get(key);
        if (svc) this.opts.api.event(svc, "Warning", "AnnouncementFailed", p.message);
      }
    }
    if (failures.length) this.retryLater();

    // Elections: count winner changes, forget addresses that went.
    const seen = new Set<string>();
    for (const e of desired.elections) {
      seen.add(e.address);
      const before = {
        known: this.lastWinner.has(e.address),
        winner: this.lastWinner.get(e.address),
      };
      electionResult(this.opts.node, e.address, before, e.winner);
      this.lastWinner.set(e.address, e.winner);
    }
    for (const a of [...this.lastWinner.keys()])
      if (!seen.has(a)) {
        this.lastWinner.delete(a);
        electionGone(a);
      }
    membershipObserved(this.members.values(), now, mySubnets);
    announcedServices(this.opts.node, desired.addresses.values(), (svc, ip) =>
      (this.services.get(svc)?.ingress ?? []).includes(ip),
    );
    this.vanish.prune(desired.addresses);
    for (const a of [...this.failed.keys()])
      if (!desired.addresses.has(a) && !desired.problems.some(p => p.address === a))
        this.failed.delete(a);
    if (this.written.size > 50_000) this.written.clear();

    const counts = { local4: 0, local6: 0, remote4: 0, remote6: 0 };
    for (const d of desired.addresses.values()) counts[`${d.kind}${d.family}`]++;
    for (const type of ["local", "remote"] as const) {
      for (const family of [4, 6] as const)
        announcedAddresses.set({ type, family: familyName(family) }, counts[`${type}${family}`]);
    }
    this.scheduleExpiry();
    this.lastReport = {
      added: plan.add.length,
      removed: plan.remove.length,
      failed: failures.length,
      ms: kernelMs,
    };
    this.announceSoon(announce);
    if (plan.add.length || plan.remove.length) {
      this.lastBusyReport = this.lastReport;
      Log.debug(this.lastReport, "reconciled interfaces");
    }
  }

  /**
   * Puts this node's slots into the announcing annotations (`slots` by "service|annotation").
   * Written once per version of the Service: when another node writes its own slot, the new
   * version still holds ours and the value is left alone; when a write of ours was lost to a
   * concurrent one, the next version lacks our slot and we write again while we still win.
   */
  private writeAnnouncing(slots: ReadonlyMap<string, AnnouncingSlot[]>): void {
    for (const [wkey, mine] of slots) {
      const [key, ann] = wkey.split("|");
      const svc = this.services.get(key);
      if (!svc) continue;
      const value = reconcileAnnouncing(svc.annotations[ann], mine, svc.ingress);
      const mark = `${svc.resourceVersion}|${value}`;
      if (svc.annotations[ann] === value || this.written.get(wkey) === mark) continue;
      this.written.set(wkey, mark);
      this.opts.api.annotate(svc, { [ann]: value }).catch(err => {
        this.written.delete(wkey);
        Log.warn({ service: key, err: String(err) }, "could not write the announcing annotation");
        this.retryLater();
      });
    }
  }

  /**
   * Notices local addresses that vanished without this node removing them, and holds back
   * (drops from `plan.add`) those that vanish again and again right after being added: the
   * kernel deletes an IPv6 address when another host already answers for it, and a network
   * manager may flush addresses it does not know. Returns what was held back; a timer brings
   * the next try.
   */
  private deferVanished(ours: HeldAddress[], plan: Change, now: number): Set<string> {
    const inKernel = new Set(ours.map(h => h.address));
    for (const [address, t] of this.heldLocal) {
      if (inKernel.has(address)) {
        this.vanish.present(address, now);
        continue;
      }
      this.heldLocal.delete(address);
      const strikes = this.vanish.vanished(address, now);
      if (strikes > 1) {
        Log.debug({ address, interface: t.ifname, times: strikes }, "address removed again");
        continue;
      }
      if (strikes === 0) continue;
      const why =
        t.family === 6
          ? "another host on the link already holds it (IPv6 duplicate address detection failed)"
          : "something else on the node removes it (a network manager or DHCP client?)";
      const message = `node ${this.opts.node} added ${address} to ${t.ifname} and it was removed again: ${why}. Trying again every 2 s until it stays.`;
      Log.warn({ address, interface: t.ifname }, message);
      for (const key of plan.add.find(d => d.address === address)?.services ?? []) {
        const svc = this.services.get(key);
        if (svc) this.opts.api.event(svc, "Warning", "AnnouncementFailed", message);
      }
    }
    const deferred = new Set<string>();
    let soonest = Infinity;
    plan.add = plan.add.filter(d => {
      const wait = d.kind === "local" ? this.vanish.wait(d.address, now) : 0;
      if (wait === 0) return true;
      deferred.add(d.address);
      soonest = Math.min(soonest, wait);
      return false;
    });
    if (deferred.size) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = setTimeout(() => this.trigger(), soonest + 5);
      this.backoffTimer.unref();
    }
    return deferred;
  }

  /**
   * Arms a timer for the next Lease to lapse after the last election. Counting from the
   * election, not from now, matters: a renewal that arrives between a Lease's lapse and the
   * timer meant for it replaces that timer, and the lapse must still bring a new election.
   */
  private scheduleExpiry(): void {
    const lapse = nextExpiry(this.members.values(), this.electedAt);
    // Heartbeats going silent change the membership by the clock alone, as Leases do.
    const heard = this.membership?.nextChange;
    const next = lapse === undefined || (heard !== undefined && heard < lapse) ? heard : lapse;
    clearTimeout(this.expiryTimer);
    if (next === undefined || this.stopped) return;
    const wait = next - this.now();
    if (wait <= 0) return this.trigger();
    this.expiryTimer = setTimeout(() => this.trigger(), wait + 5);
    this.expiryTimer.unref();
  }

  private readyIndex(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const s of this.slices.values()) {
      let set = out.get(s.service);
      if (!set) out.set(s.service, (set = new Set()));
      for (const n of s.nodes) set.add(n);
    }
    return out;
  }

  /** Sends announcements in slices of 64, yielding between them, so a burst never stalls the loop. */
  private announceSoon(targets: AnnounceTarget[], settings: GarpSettings = this.config.garp): void {
    const slice = targets.splice(0, 64);
    for (const t of slice)
      void this.opts.announcer.announce(
        t,
        settings,
        () => this.announced.has(t.address) && this.heldLocal.get(t.address)?.ifindex === t.ifindex,
      );
    if (targets.length) setImmediate(() => this.announceSoon(targets, settings));
  }

  private refreshAnnouncements(): void {
    // Only what was announced: not a copy in DAD, not one on a link that is down.
    const targets = [...this.heldLocal.values()].filter(t => this.announced.has(t.address));
    this.announceSoon(targets, { ...this.config.garp, count: 1 });
  }

  /** Stops reconciling and removes every address PureLB added on this node. */
  async withdrawAll(): Promise<number> {
    this.stopped = true;
    for (const t of [this.expiryTimer, this.retryTimer, this.backoffTimer, this.dadTimer])
      clearTimeout(t);
    for (const t of [this.renewTimer, this.refreshTimer]) clearInterval(t);
    await this.running?.catch(() => {});
    this.heldLocal.clear();
    this.announced.clear();
    const { held } = await this.readKernel();
    const ours = held.filter(h => isOurs(h, this.config, this.groups));
    const results = await Promise.allSettled(
      ours.map(h => this.opts.kernel.deleteAddress(h.ifindex, h.address, h.prefix)),
    );
    results.forEach((r, i) => {
      if (r.status === "rejected")
        Log.warn({ address: ours[i].address, err: String(r.reason) }, "could not withdraw address");
    });
    Log.info({ count: ours.length }, "withdrew this node's addresses");
    return ours.length;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** What of a Service the agent acts on; other changes (e.g. our own annotation) cause no work. */
function relevant(s: ServiceModel): string {
  const a = s.annotations;
  return [
    s.type,
    s.ingress.join(),
    s.externalTrafficPolicy,
    a[Annotation.poolType],
    a[Annotation.allocatedFrom],
    a[Annotation.announcingIPv4],
    a[Annotation.announcingIPv6],
    s.uid,
  ].join("|");
}

const subnetsText = (c: Cidr[]): string =>
  c
    .map(x => `${x.family}:${x.network}/${x.prefix}`)
    .sort()
    .join(",");

/**
 * The node's own addresses on the interfaces that may take local addresses, for heartbeats:
 * global, not PureLB's, permanent ones first, at most two per family.
 */
function nodeAddresses(
  held: HeldAddress[],
  capable: NodeInterface[],
  ours: ReadonlySet<HeldAddress>,
): string[] {
  const on = new Set(capable.map(i => i.index));
  const picked = held
    .filter(h => on.has(h.ifindex) && h.scope === 0 && !h.dadfailed && !ours.has(h))
    .filter(h => !/^fe[89ab]/i.test(h.address))
    .sort((a, b) => Number(b.validLft === INFINITY_LIFE) - Number(a.validLft === INFINITY_LIFE));
  const v4 = picked.filter(h => !h.address.includes(":")).slice(0, 2);
  const v6 = picked.filter(h => h.address.includes(":")).slice(0, 2);
  return [...v4, ...v6].map(h => h.address);
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
