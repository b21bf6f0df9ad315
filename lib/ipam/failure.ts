/** Why a Service could not get its addresses; also the label of purelb_allocation_failures_total. */
export type FailureReason =
  | "unknown-group"
  | "invalid-group"
  | "invalid-annotation"
  | "family-not-in-group"
  | "outside-pool"
  | "address-in-use"
  | "sharing-conflict"
  | "pool-exhausted"
  | "no-live-node"
  | "external-ipam"
  | "namespace-denied";

export interface Failure {
  ok: false;
  reason: FailureReason;
  message: string;
  /** Upstream's finer reason where ours has none: a port clash under a shared address. */
  rejection?: "port_conflict";
}

export const fail = (
  reason: FailureReason,
  message: string,
  rejection?: Failure["rejection"],
): Failure => ({
  ok: false,
  reason,
  message,
  ...(rejection ? { rejection } : {}),
});
