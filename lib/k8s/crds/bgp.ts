import { ROUTER_ID_TEMPLATES } from "../bgp";
import {
  UINT32_MAX,
  arr,
  bool,
  crd,
  duration,
  gvkOf,
  int,
  labelSelector,
  obj,
  oneOf,
  str,
} from "./schema";

const asn = (what: string) =>
  int(`${what}, 1 to ${UINT32_MAX} (4-byte ASNs are supported).`, {
    format: "int64",
    minimum: 1,
    maximum: UINT32_MAX,
  });

const families = ["ipv4-unicast", "ipv6-unicast"];

const nodeSelector = labelSelector(
  "Nodes that peer with this neighbor (a standard label selector); every node when unset.",
);

const neighbor = obj(
  "A BGP peer, usually the upstream router.",
  {
    address: str("IPv4 or IPv6 address of the peer."),
    peerASN: asn("The peer's autonomous system number"),
    passwordSecretRef: obj(
      "Secret (in this object's namespace) holding the TCP MD5 password of the session.",
      {
        name: str("Name of the Secret."),
        key: str("Key in the Secret whose value is the password."),
      },
      { required: ["name", "key"] },
    ),
    multihop: obj("Allow a peer that is more than one hop away (eBGP multihop).", {
      ttl: int("Maximum hops to the peer, 1 to 255.", { minimum: 1, maximum: 255 }),
    }),
    holdTime: duration('Hold time offered to the peer: "0s" (no keepalives) or at least "3s".'),
    keepaliveTime: duration(
      "Time between keepalives; shorter than holdTime (usually a third of it).",
    ),
    families: arr(
      "Address families exchanged with the peer; both when unset.",
      oneOf(families, "An address family: ipv4-unicast or ipv6-unicast."),
    ),
    nodeSelector,
  },
  { required: ["address", "peerASN"] },
);

export const bgpConfigurationCrd = crd({
  group: "bgp.purelb.io",
  version: "v1",
  names: { kind: "BGPConfiguration", plural: "bgpconfigurations", shortNames: ["bgpconf"] },
  scope: "Namespaced",
  description:
    "BGP configuration of the gobgpd sidecar of each node agent: the local speaker and its peers. The agents advertise the remote addresses on kube-lb0.",
  spec: obj("The BGP speaker and its peers.", {
    global: obj(
      "The local BGP speaker.",
      {
        asn: asn("The cluster's autonomous system number"),
        routerID: str(
          `BGP router ID: an IPv4 address, or ${ROUTER_ID_TEMPLATES.join(", ")} to use each node's IPv4 address.`,
        ),
        listenPort: int("TCP port gobgpd listens on for incoming sessions, 1 to 65535.", {
          minimum: 1,
          maximum: 65535,
          default: 179,
        }),
      },
      { required: ["asn"] },
    ),
    neighbors: arr("The BGP peers; each address at most once.", neighbor),
    gracefulRestart: obj(
      "BGP graceful restart (RFC 4724): peers keep routes while an agent restarts.",
      {
        enabled: bool("Negotiate graceful restart with peers."),
        restartTime: duration("How long peers keep routes of a restarting node; at most 4095s."),
      },
    ),
    communities: arr(
      "BGP communities attached to advertised routes.",
      str(
        'A community: standard "65000:100", large "65000:1:2", or a well-known name such as no-export.',
      ),
    ),
    localPref: int("LOCAL_PREF attached to advertised routes (iBGP), 0 to 4294967295.", {
      format: "int64",
      minimum: 0,
      maximum: UINT32_MAX,
    }),
  }),
  printerColumns: [
    {
      name: "ASN",
      type: "integer",
      jsonPath: ".spec.global.asn",
      description: "The cluster's ASN.",
    },
    {
      name: "Router ID",
      type: "string",
      jsonPath: ".spec.global.routerID",
      description: "Router ID or template.",
    },
  ],
});

const sessionStates = [
  "Idle",
  "Connect",
  "Active",
  "OpenSent",
  "OpenConfirm",
  "Established",
  "Unknown",
];

export const bgpNodeStatusCrd = crd({
  group: "bgp.purelb.io",
  version: "v1",
  names: { kind: "BGPNodeStatus", plural: "bgpnodestatuses", shortNames: ["bgpns"] },
  scope: "Cluster",
  description:
    "BGP state of one node, named after it; written by the node agent, read-only for users.",
  status: obj("What the node's BGP speaker reports.", {
    routerID: str("Router ID in use."),
    routerIDSource: str(
      'How routerID was chosen, e.g. "config" (an address in BGPConfiguration) or "template" (${NODE_IP}).',
    ),
    asn: int("ASN in use.", { format: "int64" }),
    neighbors: arr(
      "Sessions with the peers this node has.",
      obj(
        "One BGP session.",
        {
          address: str("The peer's address."),
          state: oneOf(sessionStates, "BGP session state; Established means routes are exchanged."),
          uptime: str("How long the session has been in its state, e.g. 3h2m1s."),
          prefixesSent: int("Prefixes advertised to the peer.", { format: "int64" }),
          prefixesReceived: int("Prefixes received from the peer.", { format: "int64" }),
          lastError: str("The last error of the session (notification or connection error)."),
        },
        { required: ["address", "state"] },
      ),
    ),
    advertised: arr("Prefixes this node advertises.", str("A prefix, e.g. 172.31.0.1/32.")),
    speaker: obj("The gobgpd sidecar as the agent sees it.", {
      state: oneOf(["Running", "Stopped", "Unreachable"], "Running: BGP started with the configuration; Stopped: no usable configuration; Unreachable: gobgpd's API does not answer (down or not up yet), retried with backoff."),
      address: str("gobgpd's gRPC API address."),
      message: str("Why the speaker is in its state, when it is not plainly Running."),
      lastRestart: str("When the agent last restarted BGP in gobgpd to apply a global change.", { format: "date-time" }),
      lastRestartReason: str("What changed to need that restart, e.g. the ASN."),
    }),
    problems: arr("Parts of the BGPConfiguration this node could not apply, and what was done instead.", str("One problem.")),
    lastUpdate: str("When the status last changed.", { format: "date-time" }),
    heartbeat: str(
      "When the agent last wrote the status, changed or not; a stale heartbeat means the agent is down.",
      {
        format: "date-time",
      },
    ),
  }),
  printerColumns: [
    {
      name: "Router ID",
      type: "string",
      jsonPath: ".status.routerID",
      description: "Router ID in use.",
    },
    { name: "ASN", type: "integer", jsonPath: ".status.asn", description: "ASN in use." },
    {
      name: "Last Update",
      type: "date",
      jsonPath: ".status.lastUpdate",
      description: "When the status last changed.",
    },
  ],
});

export const bgpConfigurationGvk = gvkOf(bgpConfigurationCrd);
export const bgpNodeStatusGvk = gvkOf(bgpNodeStatusCrd);
