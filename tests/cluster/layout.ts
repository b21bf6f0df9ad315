// Where everything of the test cluster sits. Only documentation ranges appear on a link
// (RFC 5737, RFC 3849); the ClusterIP ranges of the control plane exist only as kube-proxy
// rules inside node namespaces.
import { homedir } from "node:os";
import { join } from "node:path";

/** The node LAN, as tests/harness/netns.ts lays it out: node i is .11+i, the client .100. */
export const LAN4 = "192.0.2.0/24";
export const LAN6 = "2001:db8::/64";
/** The namespace on the LAN where kube-apiserver is reachable (through a relay). */
export const API_HOST = 2;
export const API_IPV4 = `192.0.2.${API_HOST}`;
/** The BIRD router's address on the LAN; every node's default route. */
export const ROUTER_HOST = 254;
export const ROUTER_IPV4 = `192.0.2.${ROUTER_HOST}`;
export const ROUTER_IPV6 = `2001:db8::${ROUTER_HOST}`;
export const ROUTER_ASN = 64512;
/** The ASN the router expects the nodes (their gobgpd sidecars) to speak from. */
export const NODE_ASN = 64513;

/** The subnet behind the router, with the second client in it. */
export const FAR4 = { router: "203.0.113.241", client: "203.0.113.242", prefix: 28 };
export const FAR6 = { router: "2001:db8:f::1", client: "2001:db8:f::2", prefix: 64 };

/** Pod addresses: kube-controller-manager hands each node a /26 and a /64 out of these. */
export const POD_CIDR4 = "198.51.100.0/24";
export const POD_CIDR6 = "2001:db8:100::/56";
export const POD_MASK4 = 26;
export const POD_MASK6 = 64;
/** A /24 split into /26s holds four nodes. */
export const MAX_NODES = 4;

/**
 * Left free for tests' ServiceGroups: local pools on the LAN and remote pools (announced by
 * BGP to the router) from 203.0.113.0/25 and 2001:db8:200::/64.
 */
export const LOCAL_POOL4 = "192.0.2.200-192.0.2.239";
export const LOCAL_POOL6 = "2001:db8::200-2001:db8::239";
export const REMOTE_POOL4 = "203.0.113.0/25";
export const REMOTE_POOL6 = "2001:db8:200::/64";

export function nodeNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `node${i + 1}`);
}

export function toolsDir(): string {
  return process.env.PURELB_TOOLS_DIR ?? join(homedir(), ".cache", "purelb-tools");
}

/** The CLI's cluster directory (state file, logs, node roots). */
export function defaultClusterDir(): string {
  return process.env.PURELB_CLUSTER_DIR ?? "/tmp/purelb-cluster";
}
