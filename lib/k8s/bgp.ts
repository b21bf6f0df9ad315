/** BGPConfiguration and BGPNodeStatus (bgp.purelb.io/v1): the gobgpd sidecar's configuration and report. */
export interface BGPGlobal {
  asn?: number;
  /** An IPv4 address, or a template such as "${NODE_IP}" filled in on each node. */
  routerID?: string;
  listenPort?: number;
}

export interface SecretKeyRef {
  name?: string;
  key?: string;
}

export interface LabelSelectorRequirement {
  key?: string;
  operator?: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type BGPFamily = "ipv4-unicast" | "ipv6-unicast";

export interface BGPNeighbor {
  address?: string;
  peerASN?: number;
  passwordSecretRef?: SecretKeyRef;
  multihop?: { ttl?: number };
  holdTime?: string;
  keepaliveTime?: string;
  families?: BGPFamily[];
  /** Nodes that peer with this neighbor; all nodes when unset. */
  nodeSelector?: LabelSelector;
}

export interface GracefulRestart {
  enabled?: boolean;
  restartTime?: string;
}

export interface BGPConfigurationSpec {
  global?: BGPGlobal;
  neighbors?: BGPNeighbor[];
  gracefulRestart?: GracefulRestart;
  communities?: string[];
  localPref?: number;
}

export interface BGPConfiguration {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; generation?: number };
  spec?: BGPConfigurationSpec;
}

export type BGPSessionState =
  | "Idle"
  | "Connect"
  | "Active"
  | "OpenSent"
  | "OpenConfirm"
  | "Established"
  | "Unknown";

export interface BGPNeighborStatus {
  address: string;
  state: BGPSessionState;
  /** How long the session has been in its state, as a Go-style duration. */
  uptime?: string;
  prefixesSent?: number;
  prefixesReceived?: number;
  lastError?: string;
}

export interface BGPNodeStatusStatus {
  routerID?: string;
  /** How routerID was chosen, e.g. "config" or "template". */
  routerIDSource?: string;
  asn?: number;
  neighbors?: BGPNeighborStatus[];
  /** Prefixes advertised from this node. */
  advertised?: string[];
  speaker?: {
    state: "Running" | "Stopped" | "Unreachable";
    address: string;
    message?: string;
    lastRestart?: string;
    lastRestartReason?: string;
  };
  problems?: string[];
  /** RFC 3339 time the status last changed. */
  lastUpdate?: string;
  /** RFC 3339 time the agent last wrote the status, changed or not. */
  heartbeat?: string;
}

/** One per node, cluster-scoped, named after the node. */
export interface BGPNodeStatus {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string };
  status?: BGPNodeStatusStatus;
}

/** Router ID templates an agent fills in from its node. */
export const ROUTER_ID_TEMPLATES = ["${NODE_IP}"] as const;
