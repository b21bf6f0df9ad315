import { PrinterColumn, Schema, arr, bool, crd, gvkOf, int, obj, oneOf, str } from "./schema";

/** Where the Go PureLB's external IPAM sidecar listens by default; the same here. */
export const DEFAULT_IPAM_SOCKET = "/var/run/purelb/ipam.sock";
/** A namespace name (RFC 1123 label), as spec.namespaces accepts it. */
export const NAMESPACE_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

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
  "Addresses on the same subnet as the nodes. One elected node adds each address to its physical interface and answers ARP/NDP for it; externalTrafficPolicy is always Cluster. Set exactly one of local, remote, external and netbox.",
  poolSet("Each range must be on a subnet that nodes have an address in."),
);

const remote = obj(
  "Addresses routed to the cluster (not on the nodes' subnets). Every eligible node adds each address to kube-lb0 and BGP advertises it; externalTrafficPolicy Local is supported. Set exactly one of local, remote, external and netbox.",
  poolSet("Use aggregation /32 or /128 for host routes."),
);

const netbox = obj(
  "Addresses allocated one at a time from a Netbox IPAM server, so that no two clusters get the same address. Kept from earlier PureLB releases; the Go PureLB v0.17 replaced it with external. Set exactly one of local, remote, external and netbox.",
  {
    url: str("Root of the Netbox REST API, e.g. https://netbox.example.com/api."),
    tenant: str("Slug of the Netbox tenant that owns the addresses PureLB allocates."),
    prefix: str(
      "CIDR of the Netbox prefix to allocate from; when unset, Netbox picks an available address for the tenant.",
    ),
    role: str(
      "Slug of a Netbox IPAM role (Prefix and VLAN role), e.g. vip: allocate only from the tenant's prefixes with this role. Not used when prefix is set; the addresses themselves get no role.",
    ),
    tag: str(
      "Slug of a Netbox tag: allocate only from the tenant's prefixes with this tag (unless prefix is set), and give it to the addresses PureLB creates, so they can be found and audited in Netbox.",
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

const external = obj(
  "Addresses from an external IPAM system, asked through a sidecar in the allocator Pod over gRPC on a unix socket (the Go PureLB v0.17's external IPAM contract). Set exactly one of local, remote, external and netbox.",
  {
    provider: str(
      "Name of the IPAM provider, shown in status.ipam. Display only: it is not checked against the sidecar.",
      { minLength: 1 },
    ),
    socket: str(
      "Absolute path of the sidecar's unix socket inside the allocator Pod, usually on a shared emptyDir volume.",
      { default: DEFAULT_IPAM_SOCKET },
    ),
    announce: oneOf(
      ["local", "remote"],
      "How the addresses are announced: local (one elected node's interface, ARP/NDP) or remote (kube-lb0 on every node, BGP).",
    ),
  },
  { required: ["provider", "announce"] },
);

const count = (what: string): Schema => int(what, { format: "int64", minimum: 0 });

const usage = (family: 4 | 6): Schema =>
  obj(`IPv${family} address usage of the group.`, {
    size: str(
      `Number of IPv${family} addresses in the group's pools, exact, as a decimal string because IPv6 pools exceed any integer type.`,
      { pattern: "^[0-9]+$" },
    ),
    inUse: int(`Number of IPv${family} addresses of the group held by Services.`, { minimum: 0 }),
  });

const col = (
  name: string,
  type: PrinterColumn["type"],
  jsonPath: string,
  description: string,
  priority?: number,
): PrinterColumn => ({ name, type, jsonPath, description, ...(priority ? { priority } : {}) });

export const serviceGroupCrd = crd({
  group: "purelb.io",
  version: "v2",
  names: { kind: "ServiceGroup", plural: "servicegroups", shortNames: ["sg"] },
  scope: "Namespaced",
  description:
    "A ServiceGroup is a pool of addresses that PureLB allocates to LoadBalancer Services: local, remote or from Netbox. Services pick one with the purelb.io/service-group annotation; without it they use the group named default.",
  spec: obj(
    "Where the group's addresses come from (exactly one of local, remote, external and netbox) and which namespaces it serves.",
    {
      local,
      remote,
      external,
      netbox,
      namespaces: arr(
        "Namespaces whose Services this group serves. A Service in a listed namespace without purelb.io/service-group allocates from here. Unset or empty: every namespace. On its own a default, not a boundary (see enforceNamespaces).",
        str("A namespace name.", { maxLength: 63, pattern: NAMESPACE_PATTERN }),
        { maxItems: 1024 },
      ),
      enforceNamespaces: bool(
        "Make namespaces a boundary: Services outside the list cannot use this group (by annotation or pinned address), and Services in a listed namespace can use only the groups that list it. Needs a non-empty namespaces. Never revokes addresses already held.",
        { default: false },
      ),
      namespaceDefault: bool(
        "Where several groups list one namespace, the one a Service without purelb.io/service-group gets. Needs a non-empty namespaces.",
        { default: false },
      ),
    },
  ),
  status: obj("What the allocator observed about the group; written by PureLB.", {
    announce: oneOf(
      ["Local", "Remote"],
      "How the addresses are announced: Local (one node's interface) or Remote (kube-lb0, BGP).",
    ),
    ipam: str(
      "Where the addresses come from: Cluster when PureLB allocates from the pools, Netbox, or the external provider's name.",
    ),
    addresses: arr(
      "The group's address ranges as written in the spec (a Netbox prefix; empty for external IPAM).",
      str("A range or CIDR."),
    ),
    allocatedIPv4: count("IPv4 addresses of the group held by Services."),
    allocatedIPv6: count("IPv6 addresses of the group held by Services."),
    availableIPv4: count(
      "IPv4 addresses still free (0 for a group without IPv4 pools); absent when the capacity is not known here (Netbox, external IPAM).",
    ),
    availableIPv6: count(
      "IPv6 addresses still free, capped at 9007199254740991 (the largest exact JSON integer); absent when not known here. The exact figure is v6.size minus v6.inUse.",
    ),
    boundNamespaces: arr(
      "The spec.namespaces list as the allocator read it: what PureLB parsed, not what it enforces.",
      str("A namespace name."),
    ),
    poolType: oneOf(
      ["local", "remote", "external", "netbox"],
      "Which of local, remote, external and netbox the group is.",
    ),
    pools: str("The group's ranges, comma-separated, or the Netbox URL."),
    v4: usage(4),
    v6: usage(6),
  }),
  printerColumns: [
    col("Announce", "string", ".status.announce", "Local or Remote."),
    col("IPAM", "string", ".status.ipam", "Cluster, Netbox or the external provider."),
    col("Allocated-V4", "integer", ".status.allocatedIPv4", "IPv4 addresses held by Services."),
    col("Allocated-V6", "integer", ".status.allocatedIPv6", "IPv6 addresses held by Services."),
    col("Addresses", "string", ".status.addresses", "The group's ranges.", 1),
    col("Available-V4", "integer", ".status.availableIPv4", "IPv4 addresses free.", 1),
    col("Available-V6", "integer", ".status.availableIPv6", "IPv6 addresses free.", 1),
    col("Namespaces", "string", ".spec.namespaces", "Namespaces the group serves.", 1),
    col("Enforced", "boolean", ".spec.enforceNamespaces", "Whether namespaces is a boundary.", 1),
    col("Bound", "string", ".status.boundNamespaces", "Namespaces the allocator read.", 1),
    col("Type", "string", ".status.poolType", "local, remote, external or netbox.", 1),
    col("V4 Size", "string", ".status.v4.size", "IPv4 addresses in the pools.", 1),
    col("V6 Size", "string", ".status.v6.size", "IPv6 addresses in the pools.", 1),
  ],
});

export const serviceGroupGvk = gvkOf(serviceGroupCrd);
