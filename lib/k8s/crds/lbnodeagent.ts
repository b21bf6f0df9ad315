import { lbNodeAgentDefaults as d } from "../lbnodeagent";
import { bool, crd, duration, gvkOf, int, obj, str } from "./schema";

const garp = obj(
  "Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisements (IPv6) that tell switches and neighbours which node now holds a local address.",
  {
    enabled: bool("Send announcements when a node starts holding an address.", {
      default: d.garp.enabled,
    }),
    count: int("Frames sent per announcement (at least 1); more frames survive a lossy link.", {
      minimum: 1,
      default: d.garp.count,
    }),
    interval: duration("Time between the frames of one announcement.", {
      default: d.garp.interval,
    }),
    refresh: duration(
      'Re-announce every held address this often, so that switches relearn after a partition heals; "0s" turns it off.',
      { default: d.garp.refresh },
    ),
  },
  { default: {} },
);

const addressLifetime = obj(
  "Lifetimes of local addresses. A finite lifetime, renewed well before it ends, keeps CNI plugins and DHCP clients from mistaking a LoadBalancer address for the node's own.",
  {
    valid: duration('Valid lifetime: at least 10s, or "0s" to make addresses permanent.', {
      default: d.addressLifetime.valid,
    }),
    preferred: duration(
      'Preferred lifetime, at most valid; follows valid when unset. "0s" (permanent) only with a permanent valid lifetime.',
    ),
  },
  { default: {} },
);

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
      local: obj(
        "Interfaces and announcement of addresses.",
        {
          localInterface: str(
            'Regular expression matching the interface that takes local addresses (e.g. "^enp[0-9]s0$"), or "default" for the interface of the default route.',
            { default: d.localInterface },
          ),
          extInterface: str(
            "Interface that takes remote addresses; created as a dummy interface when missing.",
            {
              default: d.extInterface,
            },
          ),
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
      name: "Ext Interface",
      type: "string",
      jsonPath: ".spec.local.extInterface",
      description: "Interface for remote addresses.",
    },
    {
      name: "GARP",
      type: "boolean",
      jsonPath: ".spec.local.garp.enabled",
      description: "Whether announcements are sent.",
    },
    {
      name: "Lifetime",
      type: "string",
      jsonPath: ".spec.local.addressLifetime.valid",
      description: "Valid lifetime of local addresses.",
    },
  ],
});

export const lbNodeAgentGvk = gvkOf(lbNodeAgentCrd);
