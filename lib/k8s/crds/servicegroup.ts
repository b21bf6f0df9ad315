import { Schema, arr, bool, crd, gvkOf, int, obj, oneOf, str } from "./schema";

const pool = (family: 4 | 6): Schema => {
  const eg =
    family === 4
      ? {
          range: "192.168.1.240-192.168.1.250",
          cidr: "192.168.1.240/29",
          subnet: "192.168.1.0/24",
          host: "/32",
          max: 32,
        }
      : {
          range: "fd00:1::f0-fd00:1::ff",
          cidr: "fd00:1::f0/124",
          subnet: "fd00:1::/64",
          host: "/128",
          max: 128,
        };
  return obj(
    `A range of IPv${family} addresses to allocate from, the subnet that holds it, and the mask the addresses get on an interface.`,
    {
      pool: str(
        `The IPv${family} addresses to allocate: a range "first-last" (${eg.range}), a CIDR (${eg.cidr}) or one address. Every address must be inside subnet, and no two pools (in this or another ServiceGroup of the namespace) may share an address.`,
      ),
      subnet: str(
        `CIDR of the IPv${family} network that holds the pool, e.g. ${eg.subnet}. For local pools, a node with an address in this subnet can announce the pool's addresses.`,
      ),
      aggregation: str(
        `Mask of the address on the interface, which sets the route the kernel creates: "default" (or unset) uses the subnet's mask; "/N" with N from the subnet's prefix length to ${eg.max} sets it. ${eg.host} makes host routes, which externalTrafficPolicy Local on remote pools needs.`,
      ),
    },
    { required: ["pool", "subnet"] },
  );
};

const poolSet = (where: string): Record<string, Schema> => ({
  v4pool: pool(4),
  v6pool: pool(6),
  v4pools: arr(`IPv4 ranges (use this or v4pool, not both). ${where}`, pool(4)),
  v6pools: arr(`IPv6 ranges (use this or v6pool, not both). ${where}`, pool(6)),
  multiPool: bool(
    "Give each Service one address from every range (per family) that has active nodes, so it is reachable from every subnet. Cannot be combined with balancePools. A Service can override it with the purelb.io/multi-pool annotation.",
  ),
  balancePools: bool(
    "Allocate from the range with the fewest addresses in use, spreading Services evenly across ranges. Cannot be combined with multiPool.",
  ),
  // in remote too, so that admission can say why it does not belong there
  skipIPv6DAD: bool(
    "Local pools only: add IPv6 addresses without Duplicate Address Detection. Faster, but only safe when nothing else on the link can hold the address.",
  ),
});

const local = obj(
  "Addresses on the same subnet as the nodes. One elected node adds each address to its physical interface and answers ARP/NDP for it; externalTrafficPolicy is always Cluster. Set exactly one of local, remote and netbox.",
  poolSet("Each range must be on a subnet that nodes have an address in."),
);

const remote = obj(
  "Addresses routed to the cluster (not on the nodes' subnets). Every eligible node adds each address to kube-lb0 and BGP advertises it; externalTrafficPolicy Local is supported. Set exactly one of local, remote and netbox.",
  poolSet("Use aggregation /32 or /128 for host routes."),
);

const netbox = obj(
  "Addresses allocated one at a time from a Netbox IPAM server, so that no two clusters get the same address. Set exactly one of local, remote and netbox.",
  {
    url: str("Root of the Netbox REST API, e.g. https://netbox.example.com/api."),
    tenant: str("Slug of the Netbox tenant that owns the addresses PureLB allocates."),
    prefix: str(
      "CIDR of the Netbox prefix to allocate from; when unset, Netbox picks an available address for the tenant.",
    ),
    role: str("Netbox role given to allocated addresses, e.g. vip."),
    tag: str(
      "Netbox tag given to allocated addresses, so they can be found and audited in Netbox.",
    ),
    aggregation: str(
      'Mask of the address on the interface: "default" uses the mask Netbox returns, "/N" overrides it (/32 or /128 for host routes).',
    ),
    poolType: oneOf(
      ["local", "remote"],
      "How Netbox addresses are announced: local (one node's physical interface, ARP/NDP) or remote (kube-lb0 on every node, BGP).",
      { default: "remote" },
    ),
    secretName: str(
      "Name of a Secret in the ServiceGroup's namespace whose key user-token holds the Netbox API token. The token is never logged.",
    ),
  },
  { required: ["url", "tenant"] },
);

const usage = (family: 4 | 6): Schema =>
  obj(`IPv${family} address usage of the group.`, {
    size: str(
      `Number of IPv${family} addresses in the group's pools, exact, as a decimal string because IPv6 pools exceed any integer type.`,
      { pattern: "^[0-9]+$" },
    ),
    inUse: int(`Number of IPv${family} addresses of the group held by Services.`, { minimum: 0 }),
  });

export const serviceGroupCrd = crd({
  group: "purelb.io",
  version: "v2",
  names: { kind: "ServiceGroup", plural: "servicegroups", shortNames: ["sg"] },
  scope: "Namespaced",
  description:
    "A ServiceGroup is a pool of addresses that PureLB allocates to LoadBalancer Services: local, remote or from Netbox. Services pick one with the purelb.io/service-group annotation; without it they use the group named default.",
  spec: obj("Where the group's addresses come from: exactly one of local, remote and netbox.", {
    local,
    remote,
    netbox,
  }),
  status: obj("What the allocator observed about the group; written by PureLB.", {
    poolType: oneOf(
      ["local", "remote", "netbox"],
      "Which of local, remote and netbox the group is.",
    ),
    pools: str("The group's ranges, comma-separated, or the Netbox URL."),
    v4: usage(4),
    v6: usage(6),
    observedGeneration: int("The metadata.generation the status describes.", {
      format: "int64",
      minimum: 0,
    }),
  }),
  printerColumns: [
    {
      name: "Type",
      type: "string",
      jsonPath: ".status.poolType",
      description: "local, remote or netbox.",
    },
    {
      name: "Pools",
      type: "string",
      jsonPath: ".status.pools",
      description: "The group's ranges.",
    },
    {
      name: "V4 In Use",
      type: "integer",
      jsonPath: ".status.v4.inUse",
      description: "IPv4 addresses held by Services.",
    },
    {
      name: "V6 In Use",
      type: "integer",
      jsonPath: ".status.v6.inUse",
      description: "IPv6 addresses held by Services.",
    },
    {
      name: "V4 Size",
      type: "string",
      jsonPath: ".status.v4.size",
      description: "IPv4 addresses in the pools.",
      priority: 1,
    },
    {
      name: "V6 Size",
      type: "string",
      jsonPath: ".status.v6.size",
      description: "IPv6 addresses in the pools.",
      priority: 1,
    },
  ],
});

export const serviceGroupGvk = gvkOf(serviceGroupCrd);
