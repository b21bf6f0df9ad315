import { Counter, Gauge } from "prom-client";
import { Cidr, formatCidr } from "../ip/cidr";
import { Family } from "../ip/address";
import type { Member } from "../election/election";
import { registry } from "../metrics/registry";
import { configLoaded, updateFailed, updated } from "../metrics/k8s-client";
import type { AgentConfig } from "./config";

// The node agent's metrics. Upstream's (purelb_election_*, purelb_lbnodeagent_*) carry the Go
// PureLB's names, types and labels so that its dashboards and alerts work unchanged; PureLB's
// own (per interface, per pool type) follow.

const counter = (name: string, help: string, labelNames: string[] = []) =>
  new Counter({ name, help, labelNames, registers: [registry] });
const gauge = (name: string, help: string, labelNames: string[] = []) =>
  new Gauge({ name, help, labelNames, registers: [registry] });

// ---- upstream: election --------------------------------------------------------------

export const leaseHealthy = gauge(
  "purelb_election_lease_healthy",
  "1 if this node's lease is healthy, 0 otherwise",
);
export const leaseRenewals = counter(
  "purelb_election_lease_renewals_total",
  "Total number of successful lease renewals",
);
export const leaseRenewalFailures = counter(
  "purelb_election_lease_renewal_failures_total",
  "Total number of failed lease renewal attempts",
);
export const winnerChanges = counter(
  "purelb_election_winner_changes_total",
  "Handovers of an address to this node (only the new winner counts, so a sum over nodes counts each once)",
  ["key"],
);
export const memberCount = gauge(
  "purelb_election_member_count",
  "Current number of active members in the election",
);
export const subnetCount = gauge(
  "purelb_election_subnet_count",
  "Number of unique subnets tracked across all members",
);
export const localSubnetCount = gauge(
  "purelb_election_local_subnet_count",
  "Number of subnets on this node",
);
// PureLB has no node-affinity annotation, so nothing falls back: kept so that upstream's
// queries find the metric (with no series) instead of an unknown name.
export const affinityFallbacks = counter(
  "purelb_election_affinity_fallback_total",
  "Times an opted-in service had no preferred candidate eligible and fell back to standard hash election (never: PureLB has no node affinity)",
  ["key"],
);

// ---- upstream: lbnodeagent -----------------------------------------------------------

export const garpSentTotal = counter(
  "purelb_lbnodeagent_garp_sent_total",
  "Total number of GARP (Gratuitous ARP) packets sent",
);
export const garpErrors = counter(
  "purelb_lbnodeagent_garp_errors_total",
  "Total number of GARP send failures",
);
export const naSentTotal = counter(
  "purelb_lbnodeagent_na_sent_total",
  "Total number of unsolicited Neighbor Advertisement packets sent",
);
export const naErrors = counter(
  "purelb_lbnodeagent_na_errors_total",
  "Total number of Neighbor Advertisement send failures",
);
export const addressRenewals = counter(
  "purelb_lbnodeagent_address_renewals_total",
  "Total number of address lifetime renewals",
);
export const addressRenewalErrors = counter(
  "purelb_lbnodeagent_address_renewal_errors_total",
  "Total number of address renewal failures",
);
export const addressAdditions = counter(
  "purelb_lbnodeagent_address_additions_total",
  "Total number of addresses added to interfaces",
);
export const addressWithdrawals = counter(
  "purelb_lbnodeagent_address_withdrawals_total",
  "Total number of addresses withdrawn from interfaces",
);
export const electionWins = counter(
  "purelb_lbnodeagent_election_wins_total",
  "Total number of election wins on this node",
);
export const electionLosses = counter(
  "purelb_lbnodeagent_election_losses_total",
  "Total number of election losses on this node",
);
// Upstream counts announcements taken over by node-preference flips; PureLB's election has
// no preferences, so this stays without series.
export const slotSteals = counter(
  "purelb_lbnodeagent_announce_slot_steal_total",
  "Announcements stolen during preference-driven election flips (never: PureLB has no node preferences)",
  ["from", "to"],
);
export const announced = gauge(
  "purelb_lbnodeagent_announced",
  "Services announced from this node (1 announced, 0 withdrawn)",
  ["service", "node", "ip"],
);
export const SELECTOR_STATES = [
  "default",
  "configured",
  "deselected",
  "invalid",
  "guardUnavailable",
] as const;
export const selectorState = gauge(
  "purelb_lbnodeagent_selector_state",
  "Interface selector state, 1 for the active one",
  ["state"],
);

// ---- PureLB's own --------------------------------------------------------------------

export const garpSent = counter(
  "purelb_garp_sent_total",
  "Gratuitous ARP frames sent for local IPv4 addresses, per interface",
  ["interface"],
);
export const naSent = counter(
  "purelb_na_sent_total",
  "Unsolicited Neighbor Advertisements sent for local IPv6 addresses, per interface",
  ["interface"],
);
export const announcedAddresses = gauge(
  "purelb_announced_addresses",
  "Addresses this node holds for Services, by pool type (local, remote) and family",
  ["type", "family"],
);

// ---- recording -----------------------------------------------------------------------

/** One announcement round went out: `frames` ARP frames or one NA. */
export function announcementSent(family: Family, ifname: string, frames: number): void {
  if (family === 4) {
    garpSent.inc({ interface: ifname }, frames);
    garpSentTotal.inc(frames);
  } else {
    naSent.inc({ interface: ifname }, frames);
    naSentTotal.inc(frames);
  }
}

export function announcementFailed(family: Family): void {
  (family === 4 ? garpErrors : naErrors).inc();
}

/** The kernel's answers to one reconcile's additions (fresh ones and renewals) and removals. */
export function kernelChanges(
  add: readonly { fresh: boolean }[],
  added: readonly PromiseSettledResult<unknown>[],
  removed: readonly PromiseSettledResult<unknown>[],
): void {
  added.forEach((r, i) => {
    const fresh = add[i].fresh;
    if (r.status === "fulfilled") (fresh ? addressAdditions : addressRenewals).inc();
    else if (!fresh) addressRenewalErrors.inc();
  });
  const withdrawn = removed.filter(r => r.status === "fulfilled").length;
  if (withdrawn) addressWithdrawals.inc(withdrawn);
}

/**
 * One election outcome as this node sees it. Only the new winner counts a handover, as
 * upstream: the sum over nodes then counts every handover once.
 */
export function electionResult(
  node: string,
  address: string,
  before: { known: boolean; winner?: string },
  winner: string | undefined,
): void {
  const was = before.known && before.winner === node;
  const is = winner === node;
  if (is && !was) {
    electionWins.inc();
    if (before.known) winnerChanges.inc({ key: address });
  }
  if (was && !is) electionLosses.inc();
}

/** An address left the cluster: its per-key series go, as upstream's do. */
export function electionGone(address: string): void {
  winnerChanges.remove({ key: address });
}

/** Live members and their subnets, and this node's own subnet count. */
export function membershipObserved(
  members: Iterable<Member>,
  now: number,
  localSubnets: Cidr[],
): void {
  let live = 0;
  const subnets = new Set<string>();
  for (const m of members) {
    if (m.expires <= now) continue;
    live++;
    for (const c of m.subnets) subnets.add(formatCidr(c));
  }
  memberCount.set(live);
  subnetCount.set(subnets.size);
  localSubnetCount.set(new Set(localSubnets.map(formatCidr)).size);
}

const announcedNow = new Map<string, { service: string; ip: string }>();

/**
 * purelb_lbnodeagent_announced: 1 per Service and address this node holds, 0 for those it
 * withdrew while the Service still has the address, and no series once the Service or its
 * address is gone (`stillAssigned` says which).
 */
export function announcedServices(
  node: string,
  addresses: Iterable<{ address: string; services: string[] }>,
  stillAssigned: (service: string, ip: string) => boolean,
): void {
  const held = new Set<string>();
  for (const d of addresses)
    for (const service of d.services) {
      const k = `${service}|${d.address}`;
      held.add(k);
      announcedNow.set(k, { service, ip: d.address });
      announced.set({ service, node, ip: d.address }, 1);
    }
  for (const [k, a] of announcedNow) {
    if (held.has(k)) continue;
    if (stillAssigned(a.service, a.ip)) {
      announced.set({ service: a.service, node, ip: a.ip }, 0);
    } else {
      announced.remove({ service: a.service, node, ip: a.ip });
      announcedNow.delete(k);
    }
  }
}

/**
 * The LBNodeAgent as applied: upstream's selector state, and whether it parsed cleanly.
 * "deselected": LBNodeAgents exist but none selects this node. Unlike upstream, the node then
 * announces with the defaults rather than nothing, and a bad field falls back to its default
 * (logged, counted in purelb_k8s_client_update_errors_total{kind="config"}) rather than making
 * the configuration "invalid"; "guardUnavailable" has no counterpart (no address guard).
 */
export function configApplied(
  config: AgentConfig,
  problems: readonly string[],
  deselected = false,
): void {
  const state = deselected
    ? "deselected"
    : config.localInterface === "default"
      ? "default"
      : "configured";
  for (const s of SELECTOR_STATES) selectorState.set({ state: s }, s === state ? 1 : 0);
  if (problems.length) updateFailed("config");
  else updated("config");
}

/** The first full view of the cluster is in. */
export function agentSynced(): void {
  updated("cache_sync");
  configLoaded.set(1);
}

/** A Service change the agent acts on. */
export const serviceUpdated = (): void => updated("service");

/** The outcome of one attempt to create or renew this node's Lease. */
export function leaseRenewed(ok: boolean): void {
  (ok ? leaseRenewals : leaseRenewalFailures).inc();
  leaseHealthy.set(ok ? 1 : 0);
}

/** Shutting down: the Lease is being deleted, upstream's lease_healthy says 0. */
export const leaseStopped = (): void => leaseHealthy.set(0);
