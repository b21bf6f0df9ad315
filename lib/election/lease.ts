import { Log } from "../log";
import { Cidr, formatCidr, parseCidr } from "../ip/cidr";
import { Annotation, NODE_LEASE_PREFIX } from "../k8s/annotations";
import { ApiError, KubeClient, MERGE_PATCH } from "../k8s/client";
import { leaseRenewed, leaseStopped } from "../agent/metrics";
import { Member } from "./election";

export const leaseName = (node: string): string => `${NODE_LEASE_PREFIX}${node}`;

interface RawLease {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: {
    holderIdentity?: string;
    renewTime?: string;
    acquireTime?: string;
    leaseDurationSeconds?: number;
  };
}

/** A node Lease as an election member; undefined for Leases that are not node Leases. */
export function leaseToMember(raw: unknown, now = Date.now()): Member | undefined {
  const o = raw as RawLease;
  const node = o.spec?.holderIdentity;
  if (!node || !o.metadata?.name?.startsWith(NODE_LEASE_PREFIX)) return undefined;
  const renewed = Date.parse(o.spec?.renewTime ?? o.spec?.acquireTime ?? "");
  const ann = o.metadata?.annotations ?? {};
  const addresses = parseList(ann[Annotation.heartbeatAddresses]);
  const hears = ann[Annotation.hears];
  return {
    node,
    subnets: parseSubnets(ann[Annotation.subnets] ?? ""),
    expires:
      (Number.isFinite(renewed) ? renewed : now) + (o.spec?.leaseDurationSeconds ?? 15) * 1000,
    ...(addresses.length ? { addresses } : {}),
    ...(hears !== undefined ? { hears: parseList(hears) } : {}),
  };
}

const parseList = (text: string | undefined): string[] =>
  (text ?? "")
    .split(",")
    .map(s => s.trim())
    .filter(Boolean);

export function parseSubnets(text: string): Cidr[] {
  return text
    .split(",")
    .map(s => parseCidr(s.trim()))
    .filter((c): c is NonNullable<typeof c> => !!c)
    .map(({ family, network, prefix }) => ({ family, network, prefix }));
}

export const formatSubnets = (subnets: Cidr[]): string =>
  [...new Set(subnets.map(formatCidr))].sort().join(",");

/** RFC 3339 with microseconds, the MicroTime form Lease times use. */
export const microTime = (ms: number): string =>
  new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export interface LeaseTiming {
  durationSeconds: number;
  renewMs: number;
}

/**
 * Keeps this node's Lease (`purelb-node-<node>`) alive: creates it, renews renewTime on a
 * timer, updates the subnets annotation when the node's networks change, and deletes it on
 * shutdown so that the other nodes take over at once instead of waiting for it to expire.
 */
export class LeaseKeeper {
  private timer?: NodeJS.Timeout;
  private subnets = "";
  /** Further annotations the agent keeps on its Lease (heartbeat addresses, nodes heard). */
  private readonly extra: Record<string, string> = {};
  private provider?: () => Record<string, string>;
  private stopped = false;
  private renewing?: Promise<void>;
  private created = false;
  private started = false;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly node: string,
    private timing: LeaseTiming,
  ) {}

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`;
  }

  async start(subnets: Cidr[]): Promise<void> {
    this.subnets = formatSubnets(subnets);
    this.started = true;
    await this.renew();
    this.schedule();
  }

  setTiming(timing: LeaseTiming): void {
    if (
      timing.durationSeconds === this.timing.durationSeconds &&
      timing.renewMs === this.timing.renewMs
    )
      return;
    this.timing = timing;
    if (!this.started) return;
    this.schedule();
    void this.renewNow();
  }

  setSubnets(subnets: Cidr[]): void {
    const text = formatSubnets(subnets);
    if (text === this.subnets) return;
    this.subnets = text;
    if (this.started) void this.renewNow();
  }

  /** Annotations computed afresh at every renewal (the nodes heard). */
  annotate(provider: () => Record<string, string>): void {
    this.provider = provider;
  }

  /** Sets an annotation of the Lease; a change is written at once. */
  setAnnotation(key: string, value: string): void {
    if (this.extra[key] === value) return;
    this.extra[key] = value;
    if (this.started) void this.renewNow();
  }

  private schedule(): void {
    clearInterval(this.timer);
    if (this.stopped) return;
    this.timer = setInterval(() => void this.renewNow(), this.timing.renewMs);
    this.timer.unref();
  }

  private renewNow(): Promise<void> {
    this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    const now = microTime(Date.now());
    const name = leaseName(this.node);
    const body = {
      metadata: {
        annotations: { ...this.provider?.(), ...this.extra, [Annotation.subnets]: this.subnets },
      },
      spec: {
        holderIdentity: this.node,
        leaseDurationSeconds: this.timing.durationSeconds,
        renewTime: now,
      },
    };
    try {
      if (this.created) {
        await this.client.request("PATCH", `${this.path}/${name}`, {
          body,
          contentType: MERGE_PATCH,
          timeoutMs: 5_000,
        });
        leaseRenewed(true);
        return;
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        leaseRenewed(false);
        Log.warn({ lease: name, err: String(err) }, "could not renew node Lease");
        return;
      }
    }
    try {
      await this.client.request("POST", this.path, {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, ...body.metadata },
          spec: { ...body.spec, acquireTime: now },
        },
        timeoutMs: 5_000,
      });
      this.created = true;
      leaseRenewed(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        this.created = true;
        await this.renew();
        return;
      }
      leaseRenewed(false);
      Log.warn({ lease: name, err: String(err) }, "could not create node Lease");
    }
  }

  /** Stops renewing and deletes the Lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    leaseStopped();
    await this.renewing?.catch(() => {});
    try {
      await this.client.request("DELETE", `${this.path}/${leaseName(this.node)}`, {
        timeoutMs: 3_000,
      });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404))
        Log.warn({ err: String(err) }, "could not delete node Lease");
    }
  }
}
