import { Family, formatAddress, parseAddress } from "../ip/address";
import { BGPSessionState } from "../k8s/bgp";
import { ApiGlobal, ApiPeer, familyOf } from "./gobgp";
import { GlobalSpec, PeerSpec } from "./config";

// The pure core of peering: PeerSpec <-> gobgp's Peer, and what differs between them.

export const toApiGlobal = (g: GlobalSpec): ApiGlobal => ({
  asn: g.asn,
  router_id: g.routerId,
  listen_port: g.listenPort,
});

/** Why the running global configuration must be replaced, or undefined when it matches. */
export function globalDiff(running: ApiGlobal, want: GlobalSpec): string | undefined {
  const d: string[] = [];
  if (running.asn !== want.asn) d.push(`ASN ${running.asn} -> ${want.asn}`);
  if (running.router_id !== want.routerId)
    d.push(`router ID ${running.router_id} -> ${want.routerId}`);
  if (running.listen_port !== want.listenPort)
    d.push(`listen port ${running.listen_port} -> ${want.listenPort}`);
  return d.length ? d.join(", ") : undefined;
}

/**
 * gobgp's Peer for a PeerSpec. Everything gobgpd would otherwise default (local ASN, peer
 * type, local address, timers, families, graceful-restart times) is spelled out, so that an
 * UpdatePeer with an unchanged configuration is not taken for a change that resets the session.
 */
export function toApiPeer(p: PeerSpec): ApiPeer {
  const gr = p.gracefulRestart;
  return {
    conf: {
      neighbor_address: p.address,
      peer_asn: p.peerAsn,
      local_asn: p.localAsn,
      auth_password: p.password,
      type: p.peerAsn === p.localAsn ? "INTERNAL" : "EXTERNAL",
    },
    ebgp_multihop: { enabled: p.multihopTtl > 0, multihop_ttl: p.multihopTtl },
    timers: {
      config: { hold_time: p.holdTime, keepalive_interval: p.keepalive, connect_retry: 5 },
    },
    transport: { local_address: p.family === 4 ? "0.0.0.0" : "::" },
    graceful_restart: gr.enabled
      ? { enabled: true, restart_time: gr.restartTime, deferral_time: 360 }
      : { enabled: false, restart_time: 0 },
    afi_safis: p.families.map(f => ({
      config: { family: familyOf(f), enabled: true },
      mp_graceful_restart: { config: { enabled: gr.enabled } },
    })),
  };
}

/** Canonical address text, or "" (gobgpd writes "<nil>" where it has none). */
const canon = (text: string | undefined): string => {
  const a = text ? parseAddress(text) : undefined;
  return a ? formatAddress(a) : "";
};

export const peerAddress = (p: ApiPeer): string =>
  canon(p.conf?.neighbor_address || p.state?.neighbor_address);

function familiesOf(p: ApiPeer): Family[] {
  const out: Family[] = [];
  for (const a of p.afi_safis ?? []) {
    const fam = a.config?.family ?? a.state?.family;
    if (a.config?.enabled === false || fam?.safi !== "SAFI_UNICAST") continue;
    if (fam.afi === "AFI_IP") out.push(4);
    if (fam.afi === "AFI_IP6") out.push(6);
  }
  return out.sort();
}

/**
 * What differs between the peer gobgpd runs and the one wanted, by field name. "multihop"
 * needs DeletePeer + AddPeer (UpdatePeer ignores it); the rest UpdatePeer applies.
 */
export function peerDiff(running: ApiPeer, want: PeerSpec): string[] {
  const d: string[] = [];
  if (running.conf?.peer_asn !== want.peerAsn) d.push("peerASN");
  if ((running.conf?.local_asn ?? 0) !== want.localAsn) d.push("localASN");
  if ((running.conf?.auth_password ?? "") !== want.password) d.push("password");
  const mh = running.ebgp_multihop;
  if (
    (mh?.enabled ?? false) !== want.multihopTtl > 0 ||
    (want.multihopTtl > 0 && mh?.multihop_ttl !== want.multihopTtl)
  )
    d.push("multihop");
  if (running.timers?.config?.hold_time !== want.holdTime) d.push("holdTime");
  if (running.timers?.config?.keepalive_interval !== want.keepalive) d.push("keepaliveTime");
  if (familiesOf(running).join() !== want.families.join()) d.push("families");
  const gr = running.graceful_restart;
  if (
    (gr?.enabled ?? false) !== want.gracefulRestart.enabled ||
    (want.gracefulRestart.enabled && gr?.restart_time !== want.gracefulRestart.restartTime)
  )
    d.push("gracefulRestart");
  return d;
}

export interface ObservedPeer {
  address: string;
  state: BGPSessionState;
  /** Epoch ms the session entered its state, when gobgpd knows it. */
  sinceMs?: number;
  sent: number;
  received: number;
  /** Notifications received, so far: a rise is a session error the peer reported. */
  notificationsIn: number;
  notificationsOut: number;
}

const STATES: Record<string, BGPSessionState> = {
  IDLE: "Idle",
  CONNECT: "Connect",
  ACTIVE: "Active",
  OPENSENT: "OpenSent",
  OPENCONFIRM: "OpenConfirm",
  ESTABLISHED: "Established",
};

export const sessionState = (s: string | undefined): BGPSessionState =>
  STATES[s ?? ""] ?? "Unknown";

export function observePeer(p: ApiPeer): ObservedPeer {
  const state = sessionState(p.state?.session_state);
  const t = state === "Established" ? p.timers?.state?.uptime : p.timers?.state?.downtime;
  let sent = 0;
  let received = 0;
  for (const a of p.afi_safis ?? []) {
    sent += a.state?.advertised ?? 0;
    received += a.state?.received ?? 0;
  }
  return {
    address: peerAddress(p),
    state,
    sinceMs: t?.seconds ? t.seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined,
    sent,
    received,
    notificationsIn: p.state?.messages?.received?.notification ?? 0,
    notificationsOut: p.state?.messages?.sent?.notification ?? 0,
  };
}

/** Go's time.Duration text for whole seconds: "0s", "45s", "2m5s", "3h0m7s". */
export function goDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}
