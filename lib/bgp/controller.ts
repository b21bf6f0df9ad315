import { Log } from "../log";
import { BGPConfiguration } from "../k8s/bgp";
import { KernelAddress, KernelLink } from "../netlink/messages";
import {
  BgpPlan,
  NodeAddress,
  NodeFacts,
  Passwords,
  SecretRef,
  planBgp,
  secretKey,
  secretRefs,
} from "./config";
import { ApiPath, ApiPeer, GobgpApi, isUnavailable } from "./gobgp";
import { advertisedPrefixes, sessionUp } from "./metrics";
import {
  NextHops,
  PathSpec,
  Prefix,
  chooseNextHops,
  desiredPaths,
  fromApiPath,
  interfacePrefixes,
  kernelNodeAddresses,
  prefixOf,
  toApiPath,
} from "./paths";
import {
  ObservedPeer,
  globalDiff,
  goDuration,
  observePeer,
  peerAddress,
  peerDiff,
  toApiGlobal,
  toApiPeer,
} from "./peers";
import { NodeStatus, SpeakerStatus, buildStatus, statusKey } from "./status";

/** The kernel side: enough to read the addresses on kube-lb0 and the node's own. */
export interface BgpKernel {
  links(): Promise<KernelLink[]>;
  addresses(): Promise<KernelAddress[]>;
}

/** What the Node object says about this node. */
export interface NodeInfo {
  labels: Record<string, string>;
  ipv4?: NodeAddress;
  ipv6?: NodeAddress;
  own: string[];
}

export interface BgpControllerOptions {
  node: string;
  /** gobgpd's API address, for messages. */
  address: string;
  gobgp: GobgpApi;
  kernel: BgpKernel;
  /** The interface whose addresses are advertised (the LBNodeAgent's extInterface). */
  extInterface?: () => string;
  writeStatus(status: NodeStatus): Promise<void>;
  /** Reads a password from a Secret in the BGPConfiguration's namespace; rejects with `missing` set when it is not there. */
  readSecret?(ref: SecretRef): Promise<string>;
  /** Events on the BGPConfiguration, for what an operator should see. */
  event?(type: "Normal" | "Warning", reason: string, message: string): void;
  now?: () => number;
  heartbeatMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** Up to this many path changes are logged one by one; more get one summary line. */
const LOG_EACH = 16;
/** gRPC calls to gobgpd at once when many paths change together. */
const PATH_CALLS_IN_FLIGHT = 32;
const STATUS_DEBOUNCE_MS = 200;
const NO_ATTRS = { communities: [], largeCommunities: [] };

/**
 * Drives the gobgpd sidecar: BGP global settings and peers from the BGPConfiguration, one
 * path per prefix on kube-lb0, and BGPNodeStatus from what gobgpd reports. One sync runs at a
 * time; a kernel change alone syncs only the paths, so a new address is advertised within a
 * few gRPC round trips. gobgpd being down is normal (it may start after the agent): the
 * controller retries with backoff and says so in the status, and nothing else waits for it.
 */
export class BgpController {
  private conf?: BGPConfiguration;
  private nodeInfo: NodeInfo = { labels: {}, own: [] };
  private passwords: Passwords = new Map();
  private kernelNode: ReturnType<typeof kernelNodeAddresses> = { own: [] };
  private prefixes: Prefix[] = [];
  plan: BgpPlan = planBgp(undefined, { name: "", labels: {}, own: new Set() }, new Map());
  /** Nothing is changed in gobgpd before the configuration and the Node have been read once. */
  private configKnown = false;
  private nodeKnown = false;
  /** The configuration or Node changed since the Secrets were last read. */
  private inputsChanged = true;
  private refreshing = false;
  private connected = false;
  private started = false;
  private fullDirty = true;
  private kernelDirty = true;
  /** Route key -> fingerprint of the paths gobgpd holds from us; undefined = not known yet. */
  private paths?: Map<string, string>;
  readonly observed = new Map<string, ObservedPeer>();
  private readonly configErrors = new Map<string, string>();
  private readonly sessionErrors = new Map<string, string>();
  speaker: SpeakerStatus;
  private unreachableSince?: number;
  private unreachableReported = false;
  private reportedProblems = new Set<string>();
  private lastFailure = "";
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private backoffMs: number;
  private retryTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private statusWriting?: Promise<void>;
  private statusPending = false;
  private heartbeatDue = false;
  private lastKey = "";
  private lastUpdate = "";
  private unwatch?: () => void;
  private readonly now: () => number;

  constructor(private readonly opts: BgpControllerOptions) {
    this.now = opts.now ?? Date.now;
    this.backoffMs = opts.retryMinMs ?? 250;
    this.speaker = {
      state: "Unreachable",
      address: opts.address,
      message: `connecting to gobgpd at ${opts.address}`,
    };
  }

  // ---- inputs --------------------------------------------------------------------------

  start(): void {
    const every = this.opts.heartbeatMs ?? 30_000;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), every);
    this.heartbeatTimer.unref();
    this.trigger();
  }

  setConfig(conf: BGPConfiguration | undefined): void {
    this.conf = conf;
    this.configKnown = true;
    this.inputsChanged = true;
    this.fullDirty = true;
    this.trigger();
  }

  setNode(info: NodeInfo): void {
    this.nodeInfo = info;
    this.nodeKnown = true;
    this.inputsChanged = true;
    this.fullDirty = true;
    this.trigger();
  }

  /** Addresses or links changed (netlink notification) or must be re-read. */
  kernelChanged(): void {
    this.kernelDirty = true;
    this.trigger();
  }

  private heartbeat(): void {
    this.fullDirty = true;
    this.kernelDirty = true;
    this.heartbeatDue = true;
    if (
      this.speaker.state === "Unreachable" &&
      this.unreachableSince !== undefined &&
      !this.unreachableReported &&
      this.now() - this.unreachableSince >= (this.opts.heartbeatMs ?? 30_000)
    ) {
      this.unreachableReported = true;
      Log.warn(
        { gobgpd: this.opts.address, since: new Date(this.unreachableSince).toISOString() },
        this.speaker.message,
      );
      this.opts.event?.(
        "Warning",
        "SpeakerUnreachable",
        `node ${this.opts.node}: ${this.speaker.message}`,
      );
    }
    this.trigger();
    this.statusSoon();
    void this.refreshPasswords();
  }

  /** Resolves once no sync is running or due. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  // ---- the loop ------------------------------------------------------------------------

  trigger(): void {
    if (this.stopped) return;
    this.again = true;
    if (this.running) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) this.trigger();
    });
  }

  private async loop(): Promise<void> {
    while (this.again && !this.stopped) {
      this.again = false;
      try {
        await this.syncOnce();
      } catch (err) {
        this.failed(err);
      }
    }
  }

  private facts(): NodeFacts {
    return {
      name: this.opts.node,
      labels: this.nodeInfo.labels,
      ipv4: this.nodeInfo.ipv4 ?? this.kernelNode.ipv4,
      ipv6: this.nodeInfo.ipv6 ?? this.kernelNode.ipv6,
      own: new Set([...this.nodeInfo.own, ...this.kernelNode.own]),
    };
  }

  private extName(): string {
    return this.opts.extInterface?.() ?? "kube-lb0";
  }

  private async syncOnce(): Promise<void> {
    if (this.kernelDirty) {
      this.kernelDirty = false;
      const [links, addrs] = await Promise.all([
        this.opts.kernel.links(),
        this.opts.kernel.addresses(),
      ]).catch(err => {
        this.kernelDirty = true;
        throw err;
      });
      const ext = this.extName();
      this.prefixes = interfacePrefixes(addrs, links.find(l => l.name === ext)?.index);
      this.kernelNode = kernelNodeAddresses(addrs, links, ext);
    }
    const known = this.configKnown && this.nodeKnown;
    // Secrets are read here only when the configuration or Node changed; the heartbeat
    // re-reads them outside this loop, so that API latency never holds up a route.
    if (known && this.inputsChanged && this.opts.readSecret) {
      this.inputsChanged = false;
      this.passwords = await this.readPasswords();
    }
    // For the status (and problems) while gobgpd is away; what is acted on is planned again
    // below, after the last await.
    this.makePlan();
    if (!this.connected) await this.connect();
    if (!this.connected || !known) return;
    // Taken before the last await: a change that arrives while this pass runs starts another.
    const full = this.fullDirty;
    this.fullDirty = false;
    // The plan is made after every await that comes before its use, so a pass never acts
    // on inputs older than itself (an old "no configuration" would stop BGP).
    let hops = this.makePlan();
    try {
      // Routes first: a periodic check of peers must not delay a new address.
      if (this.started) await this.syncPaths(desiredPaths(this.prefixes, hops, this.plan.route));
      if (full) {
        await this.syncGlobal();
        if (this.started) await this.syncPeers();
        hops = this.makePlan();
        if (this.started) await this.syncPaths(desiredPaths(this.prefixes, hops, this.plan.route));
      }
    } catch (err) {
      if (full) this.fullDirty = true;
      if (isUnavailable(err)) return this.lost(err);
      throw err;
    }
    this.lastFailure = "";
    this.statusSoon();
  }

  private makePlan(): NextHops {
    const facts = this.facts();
    const plan = planBgp(this.conf, facts, this.passwords);
    const hops = chooseNextHops(plan.peers, facts);
    plan.problems.push(...hops.problems);
    this.plan = plan;
    if (this.configKnown && this.nodeKnown) this.reportProblems(plan);
    return hops;
  }

  /** Something other than gobgpd being away went wrong: say so and try again later. */
  private failed(err: unknown): void {
    const message = errText(err);
    // The same failure again (a lasting one, such as missing .proto files) is logged once.
    if (message !== this.lastFailure) Log.warn({ err: message }, "BGP sync failed; retrying");
    else Log.debug({ err: message }, "BGP sync failed again");
    this.lastFailure = message;
    // Connected but BGP not started (e.g. StartBgp refused: port 179 taken): say Stopped.
    const state = this.connected && !this.started ? "Stopped" : this.speaker.state;
    this.speaker = { ...this.speaker, state, message: `last sync failed: ${message}` };
    this.fullDirty = true;
    this.retryLater();
    this.statusSoon();
  }

  private retryLater(): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.retryMaxMs ?? 5_000);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.trigger(), delay);
    this.retryTimer.unref();
  }

  private async connect(): Promise<void> {
    try {
      await this.opts.gobgp.getBgp();
    } catch (err) {
      if (isUnavailable(err)) return this.lost(err);
      throw err;
    }
    this.connected = true;
    this.unreachableSince = undefined;
    this.unreachableReported = false;
    this.backoffMs = this.opts.retryMinMs ?? 250;
    this.fullDirty = true;
    this.paths = undefined;
    Log.info({ gobgpd: this.opts.address }, "connected to gobgpd");
    this.unwatch = this.opts.gobgp.watchPeers(
      p => this.onPeerEvent(p),
      err => {
        if (this.stopped || !this.connected) return;
        this.lost(err ?? new Error("gobgpd ended the event stream"));
      },
    );
  }

  /** gobgpd does not answer: forget what it held (it may come back empty) and retry. */
  private lost(err: unknown): void {
    const wasConnected = this.connected;
    this.connected = false;
    this.started = false;
    this.paths = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
    this.observed.clear();
    sessionUp.reset();
    const firstFailure = this.unreachableSince === undefined;
    this.unreachableSince ??= this.now();
    const delay = this.backoffMs;
    // No retry delay in the text: the status changes only when something happens.
    const message = `gobgpd's API at ${this.opts.address} does not answer (${grpcText(err)}); retrying with backoff up to ${(this.opts.retryMaxMs ?? 5_000) / 1000} s`;
    this.speaker = { ...this.speaker, state: "Unreachable", message };
    if (wasConnected) {
      Log.warn(
        { gobgpd: this.opts.address, err: grpcText(err) },
        "lost gobgpd; retrying with backoff",
      );
      this.unreachableReported = true;
      this.opts.event?.("Warning", "SpeakerUnreachable", `node ${this.opts.node}: ${message}`);
    } else if (firstFailure) {
      Log.info(
        { gobgpd: this.opts.address, err: grpcText(err) },
        "gobgpd not reachable yet; retrying with backoff",
      );
    } else Log.debug({ gobgpd: this.opts.address, retryMs: delay }, "gobgpd still not reachable");
    this.fullDirty = true;
    this.retryLater();
    this.statusSoon();
  }

  private async readPasswords(): Promise<Passwords> {
    const refs = secretRefs(this.conf, this.facts());
    const next = new Map<string, { value?: string; error?: string; missing?: boolean }>();
    await Promise.all(
      refs.map(async r => {
        const key = secretKey(r);
        try {
          next.set(key, { value: await this.opts.readSecret!(r) });
        } catch (err) {
          const prev = this.passwords.get(key);
          // A Secret that is gone stops the session; a failed read keeps the last password.
          const missing = (err as { missing?: boolean }).missing === true;
          if (missing || prev?.value === undefined) next.set(key, { error: errText(err), missing });
          else next.set(key, prev);
        }
      }),
    );
    return next;
  }

  /** The heartbeat's re-read of the Secrets: a changed password syncs the peers. */
  private async refreshPasswords(): Promise<void> {
    if (!this.opts.readSecret || !this.configKnown || this.refreshing) return;
    this.refreshing = true;
    try {
      const next = await this.readPasswords();
      if (JSON.stringify([...next]) !== JSON.stringify([...this.passwords])) {
        this.passwords = next;
        this.fullDirty = true;
        this.trigger();
      }
    } finally {
      this.refreshing = false;
    }
  }

  private reportProblems(plan: BgpPlan): void {
    const now = new Set(plan.problems);
    for (const p of now) {
      if (this.reportedProblems.has(p)) continue;
      Log.warn({ bgpconfiguration: plan.source }, p);
      if (plan.source)
        this.opts.event?.("Warning", "BGPConfigProblem", `node ${this.opts.node}: ${p}`);
    }
    this.reportedProblems = now;
  }

  private async syncGlobal(): Promise<void> {
    const want = this.plan.global;
    const running = await this.opts.gobgp.getBgp();
    const address = this.opts.address;
    if (!want) {
      if (running.asn) {
        await this.opts.gobgp.stopBgp();
        Log.warn(
          { reason: this.plan.problems[0] },
          "stopped BGP in gobgpd: no usable configuration",
        );
      }
      this.started = false;
      this.paths = new Map();
      this.observed.clear();
      sessionUp.reset();
      advertisedPrefixes.set(0);
      this.speaker = { ...this.speaker, state: "Stopped", address, message: this.plan.problems[0] };
      return;
    }
    if (!running.asn) {
      await this.opts.gobgp.startBgp(toApiGlobal(want));
      this.paths = new Map();
      Log.info(
        {
          asn: want.asn,
          routerID: want.routerId,
          routerIDSource: want.routerIdSource,
          listenPort: want.listenPort,
        },
        "started BGP in gobgpd",
      );
    } else {
      const why = globalDiff(running, want);
      if (why) {
        // gobgpd cannot change its global settings in place: stop (which drops every session
        // and path) and start again; peers and paths are added back below.
        Log.info({ change: why }, "restarting BGP in gobgpd to apply a global change");
        await this.opts.gobgp.stopBgp();
        await this.opts.gobgp.startBgp(toApiGlobal(want));
        this.paths = new Map();
        this.observed.clear();
        const at = new Date(this.now()).toISOString();
        this.speaker = { ...this.speaker, lastRestart: at, lastRestartReason: why };
        this.opts.event?.(
          "Normal",
          "SpeakerRestarted",
          `node ${this.opts.node}: restarted BGP in gobgpd to apply ${why}; sessions re-established`,
        );
      }
    }
    this.started = true;
    this.speaker = { ...this.speaker, state: "Running", address, message: undefined };
  }

  private async syncPeers(): Promise<void> {
    const gobgp = this.opts.gobgp;
    const running = await gobgp.listPeers();
    const byAddr = new Map(
      running.map(p => [peerAddress(p), p]).filter(([a]) => a !== "") as [string, ApiPeer][],
    );
    const want = new Map(this.plan.peers.map(p => [p.address, p]));
    let failed = false;
    for (const addr of byAddr.keys()) {
      if (want.has(addr) || this.plan.keep.includes(addr)) continue;
      await gobgp.deletePeer(addr);
      this.observed.delete(addr);
      this.configErrors.delete(addr);
      this.sessionErrors.delete(addr);
      sessionUp.remove({ peer: addr });
      Log.info({ peer: addr }, "BGP peer removed");
    }
    await Promise.all(
      this.plan.peers.map(async p => {
        const cur = byAddr.get(p.address);
        try {
          if (!cur) {
            await gobgp.addPeer(toApiPeer(p));
            Log.info(
              { peer: p.address, peerASN: p.peerAsn, families: p.families },
              "BGP peer added",
            );
          } else {
            const changed = peerDiff(cur, p);
            if (changed.length) {
              if (changed.includes("multihop")) {
                await gobgp.deletePeer(p.address);
                await gobgp.addPeer(toApiPeer(p));
              } else await gobgp.updatePeer(toApiPeer(p));
              Log.info({ peer: p.address, changed }, "BGP peer updated");
            }
          }
          this.configErrors.delete(p.address);
        } catch (err) {
          if (isUnavailable(err)) throw err;
          failed = true;
          const message = `gobgpd did not accept the peer: ${grpcText(err)}`;
          this.configErrors.set(p.address, message);
          Log.warn({ peer: p.address, err: grpcText(err) }, "could not configure BGP peer");
        }
      }),
    );
    if (failed) this.retryLater();
    this.setObserved(await gobgp.listPeers());
  }

  private setObserved(peers: ApiPeer[]): void {
    const seen = new Set<string>();
    for (const p of peers) {
      const o = observePeer(p);
      if (!o.address) continue;
      seen.add(o.address);
      this.noteTransition(this.observed.get(o.address), o);
      this.observed.set(o.address, o);
      sessionUp.set({ peer: o.address }, o.state === "Established" ? 1 : 0);
    }
    for (const a of [...this.observed.keys()]) {
      if (seen.has(a)) continue;
      this.observed.delete(a);
      sessionUp.remove({ peer: a });
    }
  }

  private onPeerEvent(p: ApiPeer): void {
    const o = observePeer(p);
    if (!o.address) return;
    const prev = this.observed.get(o.address);
    // State events carry no counters: keep the last ones.
    const merged: ObservedPeer = prev
      ? {
          ...prev,
          state: o.state,
          sinceMs: o.sinceMs ?? (prev.state === o.state ? prev.sinceMs : this.now()),
        }
      : o;
    this.noteTransition(prev, merged);
    this.observed.set(o.address, merged);
    if (prev?.state !== merged.state)
      Log.info({ peer: o.address, state: merged.state, was: prev?.state }, "BGP session state");
    sessionUp.set({ peer: o.address }, merged.state === "Established" ? 1 : 0);
    this.statusSoon();
  }

  /** Remembers why a session stopped being Established: its last error, for the status. */
  private noteTransition(prev: ObservedPeer | undefined, next: ObservedPeer): void {
    if (prev?.state === "Established" && next.state !== "Established") {
      const up =
        prev.sinceMs === undefined ? "" : ` after ${goDuration(this.now() - prev.sinceMs)}`;
      this.sessionErrors.set(
        next.address,
        `session went down at ${new Date(this.now()).toISOString()}${up} (now ${next.state})`,
      );
    }
    if (prev && next.notificationsIn > prev.notificationsIn)
      this.sessionErrors.set(
        next.address,
        `the peer sent a NOTIFICATION at ${new Date(this.now()).toISOString()} and closed the session`,
      );
  }

  private async syncPaths(want: Map<string, PathSpec>): Promise<void> {
    const gobgp = this.opts.gobgp;
    if (!this.paths) {
      const held = new Map<string, string>();
      for (const f of [4, 6] as const) {
        for (const p of await gobgp.listLocalPaths(f)) {
          const r = fromApiPath(p);
          if (r) held.set(r.key, r.fingerprint);
        }
      }
      this.paths = held;
    }
    const paths = this.paths;
    const remove = [...paths.keys()].filter(k => !want.has(k));
    const add = [...want.values()].filter(p => paths.get(p.key) !== p.fingerprint);
    if (!remove.length && !add.length) return;
    const withdraw = (key: string): ApiPath => {
      const [network, len] = key.split("/");
      const p = prefixOf(network, Number(len))!;
      const nextHop = p.family === 4 ? "0.0.0.0" : "::";
      return {
        ...toApiPath({ ...p, nextHop, route: NO_ATTRS, fingerprint: "" }),
        is_withdraw: true,
      };
    };
    const done = (key: string, fingerprint?: string): void => {
      if (fingerprint === undefined) paths.delete(key);
      else paths.set(key, fingerprint);
    };
    const errors: string[] = [];
    try {
      await gobgp.streamPaths([...remove.map(withdraw), ...add.map(toApiPath)]);
      remove.forEach(k => done(k));
      add.forEach(p => done(p.key, p.fingerprint));
    } catch (err) {
      if (isUnavailable(err)) throw err;
      // gobgpd refused a path and stopped there: one call per path finds which.
      Log.warn({ err: grpcText(err) }, "gobgpd refused a batch of paths; applying them one by one");
      await limited(
        [
          ...remove.map(key => async () => {
            await gobgp.deletePath(withdraw(key));
            done(key);
          }),
          ...add.map(p => async () => {
            await gobgp.addPath(toApiPath(p));
            done(p.key, p.fingerprint);
          }),
        ],
        PATH_CALLS_IN_FLIGHT,
        e => {
          if (isUnavailable(e)) throw e;
          errors.push(grpcText(e));
        },
      );
    }
    if (remove.length <= LOG_EACH) {
      for (const k of remove) if (!paths.has(k)) Log.info({ prefix: k }, "BGP route withdrawn");
    }
    if (add.length <= LOG_EACH) {
      for (const p of add) {
        if (paths.get(p.key) === p.fingerprint)
          Log.info({ prefix: p.key, nextHop: p.nextHop }, "BGP route advertised");
      }
    }
    advertisedPrefixes.set(paths.size);
    if (add.length > LOG_EACH || remove.length > LOG_EACH)
      Log.info(
        { advertised: add.length, withdrawn: remove.length, failed: errors.length },
        "BGP routes changed",
      );
    if (errors.length) {
      Log.warn(
        { failed: errors.length, err: errors[0] },
        "gobgpd did not take some paths; retrying",
      );
      this.retryLater();
    }
  }

  // ---- status ----------------------------------------------------------------------------

  /** Routes gobgpd holds from this node, as "network/len". */
  advertised(): string[] {
    return [...(this.paths?.keys() ?? [])].sort();
  }

  private statusSoon(): void {
    if (this.stopped || this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      void this.writeStatus();
    }, STATUS_DEBOUNCE_MS);
    this.statusTimer.unref();
  }

  /** Builds the status and writes it when it changed, or when a heartbeat is due. */
  async writeStatus(): Promise<void> {
    if (this.statusWriting) {
      this.statusPending = true;
      return this.statusWriting;
    }
    this.statusWriting = (async () => {
      do {
        this.statusPending = false;
        await this.writeStatusOnce();
      } while (this.statusPending && !this.stopped);
    })().finally(() => (this.statusWriting = undefined));
    return this.statusWriting;
  }

  currentStatus(): NodeStatus {
    const peerErrors = new Map(this.sessionErrors);
    for (const [k, v] of this.configErrors) peerErrors.set(k, v);
    return buildStatus({
      plan: this.plan,
      speaker: this.speaker,
      observed: this.observed,
      peerErrors,
      advertised: this.advertised(),
      now: this.now(),
    });
  }

  private async writeStatusOnce(): Promise<void> {
    if (this.connected && this.started) {
      try {
        this.setObserved(await this.opts.gobgp.listPeers());
      } catch (err) {
        if (isUnavailable(err)) this.lost(err);
      }
    }
    const st = this.currentStatus();
    const key = statusKey(st);
    const now = new Date(this.now()).toISOString();
    if (key !== this.lastKey) {
      this.lastUpdate = now;
    } else if (!this.heartbeatDue) return;
    this.heartbeatDue = false;
    st.lastUpdate = this.lastUpdate;
    st.heartbeat = now;
    try {
      await this.opts.writeStatus(st);
      this.lastKey = key;
    } catch (err) {
      Log.warn(
        { err: errText(err) },
        "could not write BGPNodeStatus; retrying at the next heartbeat",
      );
      this.heartbeatDue = true;
    }
  }

  // ---- shutdown --------------------------------------------------------------------------

  /**
   * Withdraws this node's routes (the agent is about to remove the addresses: peers should
   * stop sending traffic first) and stops. The sessions stay up in gobgpd, so a restarted
   * agent advertises again at once.
   */
  async stop(timeoutMs = 3_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.retryTimer, this.statusTimer]) clearTimeout(t);
    clearInterval(this.heartbeatTimer);
    // The agent's shutdown has a budget: a gobgpd that does not answer must not eat it.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>(resolve => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.withdrawAll(), late]);
    clearTimeout(timer);
    this.unwatch?.();
    this.unwatch = undefined;
    this.opts.gobgp.close();
  }

  private async withdrawAll(): Promise<void> {
    await this.running?.catch(() => {});
    await this.statusWriting?.catch(() => {});
    if (!this.connected || !this.started || !this.paths?.size) return;
    const n = this.paths.size;
    const results = await Promise.allSettled(
      [4, 6].map(f => this.opts.gobgp.deleteAllPaths(f as 4 | 6)),
    );
    const failed = results.find(r => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed)
      Log.warn({ err: grpcText(failed.reason) }, "could not withdraw this node's BGP routes");
    else Log.info({ count: n }, "withdrew this node's BGP routes");
    this.paths.clear();
    advertisedPrefixes.set(0);
  }
}

async function limited(
  tasks: (() => Promise<void>)[],
  width: number,
  onError: (err: unknown) => void,
): Promise<void> {
  let next = 0;
  let fatal: unknown;
  const worker = async (): Promise<void> => {
    while (next < tasks.length && fatal === undefined) {
      const t = tasks[next++];
      try {
        await t();
      } catch (err) {
        try {
          onError(err);
        } catch (e) {
          fatal = e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
  if (fatal !== undefined) throw fatal;
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const grpcText = (err: unknown): string => {
  const e = err as { details?: string; message?: string };
  return e?.details || e?.message || String(err);
};
