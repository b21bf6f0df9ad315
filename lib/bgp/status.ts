import { BGPNeighborStatus, BGPNodeStatusStatus } from "../k8s/bgp";
import { BgpPlan } from "./config";
import { ObservedPeer, goDuration } from "./peers";

// The pure core of reporting: what this node's BGP speaker is doing -> BGPNodeStatus.status.

/** The gobgpd sidecar as the agent sees it. */
export interface SpeakerStatus {
  /**
   * Running: BGP started with the configuration; Stopped: no usable configuration, BGP not
   * started; Unreachable: gobgpd's API does not answer (down, or not up yet), retrying.
   */
  state: "Running" | "Stopped" | "Unreachable";
  /** gobgpd's API address. */
  address: string;
  message?: string;
  /** RFC 3339: when the speaker last restarted BGP to apply a global change, and why. */
  lastRestart?: string;
  lastRestartReason?: string;
}

export type NodeStatus = BGPNodeStatusStatus & { speaker?: SpeakerStatus; problems?: string[] };

export interface StatusInput {
  plan: BgpPlan;
  speaker: SpeakerStatus;
  /** What gobgpd reports, by peer address. */
  observed: ReadonlyMap<string, ObservedPeer>;
  /** Errors configuring or running a session, by peer address. */
  peerErrors: ReadonlyMap<string, string>;
  advertised: readonly string[];
  now: number;
}

/** The status without its timestamps; `lastUpdate` moves only when this changes. */
export function buildStatus(i: StatusInput): NodeStatus {
  const neighbors: BGPNeighborStatus[] = i.plan.peers.map(p => {
    const o = i.speaker.state === "Running" ? i.observed.get(p.address) : undefined;
    const n: BGPNeighborStatus = { address: p.address, state: o?.state ?? "Unknown" };
    if (o?.sinceMs !== undefined) n.uptime = goDuration(i.now - o.sinceMs);
    if (o) {
      n.prefixesSent = o.sent;
      n.prefixesReceived = o.received;
    }
    // While the speaker is not running, why is every session's last error.
    const err =
      i.speaker.state !== "Running" && i.speaker.message
        ? i.speaker.message
        : i.peerErrors.get(p.address);
    if (err) n.lastError = err;
    return n;
  });
  return {
    routerID: i.plan.global?.routerId,
    routerIDSource: i.plan.global?.routerIdSource,
    asn: i.plan.global?.asn,
    neighbors,
    advertised: [...i.advertised],
    speaker: i.speaker,
    problems: i.plan.problems.length ? [...i.plan.problems] : undefined,
  };
}

/** Compares two statuses for a change worth a new `lastUpdate` (uptimes tick by themselves). */
export function statusKey(s: NodeStatus): string {
  return JSON.stringify({
    ...s,
    lastUpdate: undefined,
    heartbeat: undefined,
    neighbors: s.neighbors?.map(n => ({ ...n, uptime: undefined })),
  });
}

/**
 * The whole status as a JSON merge patch body: every top-level field is present (null when
 * absent), so a field that went away is removed rather than left stale.
 */
export function statusPatch(s: NodeStatus): Record<string, unknown> {
  const keys: (keyof NodeStatus)[] = [
    "routerID",
    "routerIDSource",
    "asn",
    "neighbors",
    "advertised",
    "lastUpdate",
    "heartbeat",
    "speaker",
    "problems",
  ];
  return Object.fromEntries(keys.map(k => [k, s[k] ?? null]));
}
