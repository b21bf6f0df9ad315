import { garpConfigDefaults as g, lbNodeAgentDefaults as d } from "../lbnodeagent";
import { arr, bool, crd, duration, gvkOf, int, labelSelector, obj, str } from "./schema";

// The deprecated fields carry no CRD defaults: a default would write them into every stored
// object, and every later update would then warn about a field nobody wrote.
const garp = obj(
  `Deprecated: use garpConfig. Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6); defaults ${d.garp.count} frame, ${d.garp.interval} apart, refreshed every ${d.garp.refresh}.`,
  {
    enabled: bool("Send announcements when a node starts holding an address."),
    count: int("Frames sent per announcement (at least 1).", { minimum: 1 }),
    interval: duration("Time between the frames of one announcement."),
    refresh: duration(
      'Re-announce every held address this often, so that switches relearn after a partition heals; "0s" turns it off.',
    ),
  },
);

const garpConfig = obj(
  "Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6) that tell switches and neighbours which node now holds a local address.",
  {
    enabled: bool("Send announcements when a node starts holding an address.", {
      default: g.enabled,
    }),
    initialDelay: duration("Wait after adding an address before the first frame.", {
      default: g.initialDelay,
    }),
    count: int("Frames sent per announcement, 1 to 10; more frames survive a lossy link.", {
      minimum: 1,
      maximum: 10,
      default: g.count,
    }),
    interval: duration("Time between the frames of one announcement.", {
      default: g.interval,
    }),
    verifyBeforeSend: bool(
      "Check before each frame that this node still holds the address, so a node that just lost an election stays quiet.",
      { default: g.verifyBeforeSend },
    ),
    refresh: duration(
      `PureLB's addition: re-announce every held address this often, so that switches relearn after a partition heals; "0s" turns it off. Default ${d.garp.refresh}.`,
    ),
  },
);

const addressLifetime = obj(
  `Deprecated: use addressConfig.localInterface. Lifetimes of local addresses as durations; default ${d.addressLifetime.valid}.`,
  {
    valid: duration('Valid lifetime: at least 10s, or "0s" to make addresses permanent.'),
    preferred: duration(
      'Preferred lifetime, at most valid; follows valid when unset. "0s" (permanent) only with a permanent valid lifetime.',
    ),
  },
);

const interfaceAddress = (which: string, valid: number, noPrefixRoute: boolean) =>
  obj(`How addresses are added to ${which}.`, {
    validLifetime: int(
      `Valid lifetime in seconds: 0 (permanent) or at least 60; default ${valid}. A finite lifetime, renewed long before it ends, keeps CNI plugins and DHCP clients from taking the address for the node's own.`,
      { minimum: 0 },
    ),
    preferredLifetime: int(
      "Preferred lifetime in seconds, at most validLifetime; follows validLifetime when unset.",
      { minimum: 0 },
    ),
    noPrefixRoute: bool(
      `Ask the kernel not to add a prefix route for the address; default ${noPrefixRoute}.`,
    ),
  });

const addressConfig = obj("Lifetimes and flags of the addresses the agent adds.", {
  localInterface: interfaceAddress("the local interface (local addresses)", 300, true),
  dummyInterface: interfaceAddress("the dummy interface (remote addresses)", 0, false),
});

export const lbNodeAgentCrd = crd({
  group: "purelb.io",
  version: "v2",
  names: { kind: "LBNodeAgent", plural: "lbnodeagents", shortNames: ["lbna"] },
  scope: "Namespaced",
  description:
    "Configuration of the PureLB node agent: which interfaces take addresses and how they are announced.",
  spec: obj(
    "How the node agent announces addresses.",
    {
      nodeSelector: labelSelector(
        "Nodes this configuration applies to. Unset or empty: every node (a catch-all). Where several match a node, one with a non-empty selector wins over a catch-all, then the first by namespace/name.",
      ),
      local: obj(
        "Interfaces and announcement of addresses.",
        {
          localInterface: str(
            'Regular expression matching the interface that takes local addresses (e.g. "^enp[0-9]s0$"), or "default" for the interface of the default route.',
            { default: d.localInterface },
          ),
          dummyInterface: str(
            `Interface that takes remote addresses; created as a dummy interface when missing. Default ${d.extInterface}.`,
          ),
          interfaces: arr(
            "More interfaces, by exact name, that may take local addresses and whose subnets the node offers in elections, besides localInterface. Names missing on a node are skipped.",
            str("An interface name."),
          ),
          garpConfig,
          addressConfig,
          extInterface: str("Deprecated: use dummyInterface (same meaning)."),
          garp,
          addressLifetime,
        },
        { default: {} },
      ),
      lease: obj(
        "The node Lease (purelb-node-<node>) that shows the agent is alive. A node whose Lease expires drops out of elections and its local addresses move.",
        {
          duration: duration(
            "How long a Lease stays valid without renewal: the failover time when a node dies.",
            {
              default: d.lease.duration,
            },
          ),
          renew: duration("How often the agent renews its Lease; must be shorter than duration.", {
            default: d.lease.renew,
          }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  printerColumns: [
    {
      name: "Local Interface",
      type: "string",
      jsonPath: ".spec.local.localInterface",
      description: "Interface for local addresses.",
    },
    {
      name: "Dummy Interface",
      type: "string",
      jsonPath: ".spec.local.dummyInterface",
      description: "Interface for remote addresses.",
    },
    {
      name: "GARP",
      type: "boolean",
      jsonPath: ".spec.local.garpConfig.enabled",
      description: "Whether announcements are sent.",
    },
    {
      name: "Lifetime",
      type: "integer",
      jsonPath: ".spec.local.addressConfig.localInterface.validLifetime",
      description: "Valid lifetime of local addresses, in seconds.",
    },
  ],
});

export const lbNodeAgentGvk = gvkOf(lbNodeAgentCrd);
