import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { toServiceModel } from "../../lib/k8s/service";
import { ServiceGroup, ServiceGroupSpec } from "../../lib/k8s/servicegroup";
import {
  strandedServices,
  strandedWarning,
  validateServiceGroup,
} from "../../lib/validate/servicegroup";
import { step } from "./validate-story";

const NS = "purelb-system";
const sg = (name: string, spec: unknown, namespace = NS): ServiceGroup => ({
  apiVersion: "purelb.io/v2",
  kind: "ServiceGroup",
  metadata: { name, namespace },
  spec: spec as ServiceGroupSpec,
});
const v4 = (pool: string, subnet = "192.0.2.0/24", aggregation?: string) => ({
  pool,
  subnet,
  ...(aggregation ? { aggregation } : {}),
});
const denial = (g: ServiceGroup, others: ServiceGroup[] = []) =>
  formatProblems(validateServiceGroup(g, others).problems);

describe("ServiceGroup validation, one story per rule", () => {
  it("a group has exactly one of local, remote, external and netbox", () => {
    step("both local and remote are refused, naming both", () => {
      expect(
        denial(
          sg("g", { local: { v4pool: v4("192.0.2.1") }, remote: { v4pool: v4("192.0.2.2") } }),
        ),
      ).toBe(
        "spec: a ServiceGroup needs exactly one of local, remote, external or netbox (found local and remote); split it into one ServiceGroup per type",
      );
    });
    step("an empty spec says none is set", () => {
      expect(denial(sg("g", {}))).toContain("(none is set)");
    });
    step("one type passes", () => {
      expect(
        validateServiceGroup(sg("g", { local: { v4pool: v4("192.0.2.1") } }), []).problems,
      ).toEqual([]);
    });
  });

  it("a pool must parse", () => {
    step("a range that ends before it starts is refused with the order rule", () => {
      expect(denial(sg("g", { local: { v4pools: [v4("192.0.2.9-192.0.2.1")] } }))).toBe(
        'spec.local.v4pools[0].pool: "192.0.2.9-192.0.2.1" starts after it ends (first must be <= last)',
      );
    });
    step("the fixed range passes", () => {
      expect(denial(sg("g", { local: { v4pools: [v4("192.0.2.1-192.0.2.9")] } }))).toBe("");
    });
  });

  it("each family sits in its own slot", () => {
    step("an IPv6 pool under v4pools is told to move", () => {
      expect(
        denial(
          sg("g", {
            remote: { v4pools: [{ pool: "2001:db8::1-2001:db8::5", subnet: "2001:db8::/64" }] },
          }),
        ),
      ).toBe(
        'spec.remote.v4pools[0].subnet: "2001:db8::/64" is not IPv4; v4pools need IPv4 subnets; spec.remote.v4pools[0].pool: "2001:db8::1-2001:db8::5" is not IPv4; move it to v6pools',
      );
    });
  });

  it("a pool lies inside its subnet", () => {
    step("a pool outside is refused, naming both", () => {
      expect(denial(sg("g", { local: { v4pool: v4("198.51.100.1-198.51.100.5") } }))).toBe(
        "spec.local.v4pool.pool: 198.51.100.1-198.51.100.5 is not inside its subnet 192.0.2.0/24; every pool address must be in the subnet",
      );
    });
  });

  it("aggregation is default or a prefix no shorter than the subnet's", () => {
    step("/16 on a /24 subnet is refused with the allowed span", () => {
      expect(
        denial(sg("g", { remote: { v4pool: v4("192.0.2.1", "192.0.2.0/24", "/16") } })),
      ).toContain('spec.remote.v4pool.aggregation: "/16" is shorter than the subnet\'s /24');
    });
    step("/32 passes", () => {
      expect(denial(sg("g", { remote: { v4pool: v4("192.0.2.1", "192.0.2.0/24", "/32") } }))).toBe(
        "",
      );
    });
  });

  it("multiPool and balancePools exclude each other", () => {
    expect(
      denial(sg("g", { local: { multiPool: true, balancePools: true, v4pool: v4("192.0.2.1") } })),
    ).toMatch(
      /^spec\.local\.balancePools: multiPool and balancePools cannot both be true; .*choose one$/,
    );
  });

  it("skipIPv6DAD is for local pools only", () => {
    expect(denial(sg("g", { remote: { skipIPv6DAD: true, v4pool: v4("192.0.2.1") } }))).toBe(
      "spec.remote.skipIPv6DAD: applies only to local pools (remote addresses are not on a shared link); remove it",
    );
  });

  it("pools of one group do not overlap", () => {
    expect(
      denial(sg("g", { local: { v4pools: [v4("192.0.2.0/28"), v4("192.0.2.10-192.0.2.20")] } })),
    ).toBe(
      "spec.local.v4pools[1].pool: 192.0.2.10-192.0.2.20 overlaps spec.local.v4pools[0] (192.0.2.0-192.0.2.15); pools must not share addresses",
    );
  });

  it("pools of two groups in one namespace do not overlap", () => {
    const existing = sg("web", { local: { v4pools: [v4("192.0.2.0/28")] } });
    const candidate = sg("api", {
      local: { v4pools: [v4("192.0.2.100"), v4("192.0.2.8-192.0.2.20")] },
    });
    step("the new group is refused, naming the other group and both ranges", () => {
      expect(denial(candidate, [existing])).toBe(
        "spec.local.v4pools[1].pool: 192.0.2.8-192.0.2.20 overlaps ServiceGroup web (spec.local.v4pools[0].pool 192.0.2.0-192.0.2.15); an address must belong to one ServiceGroup only: shrink or move one of the pools",
      );
    });
    step("the group itself (an update) is not compared with its stored version", () => {
      expect(denial(existing, [existing])).toBe("");
    });
    step("a group in another namespace does not count", () => {
      expect(denial(candidate, [sg("web", existing.spec, "elsewhere")])).toBe("");
    });
    step("an existing group that is itself broken is ignored rather than crashing", () => {
      expect(denial(candidate, [sg("broken", { local: { v4pools: "nope" } })])).toBe("");
    });
  });

  it("fields have the types the CRD declares, and typos are caught", () => {
    step("a misspelt pool list is named with the likely fix", () => {
      expect(denial(sg("g", { local: { v4pols: [v4("192.0.2.1")] } }))).toBe(
        "spec.local.v4pols: is not a field here; did you mean v4pools? (known: v4pool, v6pool, v4pools, v6pools, multiPool, balancePools, skipIPv6DAD)",
      );
    });
    step("a string where a list belongs says what the list is", () => {
      expect(denial(sg("g", { local: { v4pools: "192.0.2.1" } }))).toMatch(
        /^spec\.local\.v4pools: is a string, it must be an array: IPv4 ranges/,
      );
    });
    step("a missing subnet is required, with what it is", () => {
      expect(denial(sg("g", { local: { v4pools: [{ pool: "192.0.2.1" }] } }))).toMatch(
        /^spec\.local\.v4pools\[0\]\.subnet: is required: CIDR of the IPv4 network/,
      );
    });
  });

  it("netbox needs a URL and tenant, and warns without a token", () => {
    step("a bad URL is refused with an example", () => {
      expect(denial(sg("g", { netbox: { url: "netbox", tenant: "k8s" } }))).toBe(
        'spec.netbox.url: "netbox" is not an http(s) URL; give the Netbox API root, e.g. https://netbox.example.com/api',
      );
    });
    step("without secretName it passes with a warning", () => {
      const v = validateServiceGroup(
        sg("g", { netbox: { url: "https://netbox.example.com/api", tenant: "k8s" } }),
        [],
      );
      expect(v.problems).toEqual([]);
      expect(v.warnings).toEqual([expect.stringMatching(/^spec\.netbox\.secretName is not set/)]);
    });
  });
});

describe("Services stranded by a group change", () => {
  const svc = (name: string, group: string, ingress: string[]) =>
    toServiceModel({
      metadata: { namespace: "default", name, annotations: { "purelb.io/allocated-from": group } },
      spec: { type: "LoadBalancer" },
      status: { loadBalancer: { ingress: ingress.map(ip => ({ ip })) } },
    });

  it("counts the Services of this group whose addresses the new pools no longer hold, and only warns", () => {
    const narrowed = validateServiceGroup(
      sg("default", {
        local: {
          v4pool: v4("192.0.2.10-192.0.2.19"),
          v6pool: { pool: "2001:db8::/120", subnet: "2001:db8::/64" },
        },
      }),
      [],
    ).group!;
    const services = [
      svc("inside", "default", ["192.0.2.10", "2001:db8::1"]),
      svc("outside", "default", ["192.0.2.200", "2001:db8::1"]),
      svc("other-group", "web", ["192.0.2.200"]),
      svc("unallocated", "default", []),
    ];
    let stranded: ReturnType<typeof strandedServices> = [];
    step(
      "only the Service of this group with an address outside is listed, with that address",
      () => {
        stranded = strandedServices(narrowed, services);
        expect(stranded).toEqual([{ service: "default/outside", addresses: ["192.0.2.200"] }]);
      },
    );
    step("the warning counts them and says they keep their addresses", () => {
      expect(strandedWarning(stranded)).toBe(
        "1 Service keeps addresses outside the new pools: default/outside (192.0.2.200). They keep them and keep working; to move one into the new pools, create a replacement Service, move traffic to it, then delete the old one.",
      );
    });
    step("a long list is cut after five names", () => {
      const many = Array.from({ length: 7 }, (_, i) => svc(`s${i}`, "default", ["192.0.2.200"]));
      expect(strandedWarning(strandedServices(narrowed, many))).toMatch(
        /^7 Services keep .*default\/s4 \(192\.0\.2\.200\), and 2 more\. /,
      );
    });
    step("nothing stranded means no warning", () => {
      expect(strandedWarning([])).toBeUndefined();
    });
  });
});

describe("ServiceGroup validation never crashes", () => {
  const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.string());
  const poolText = fc.oneof(
    address,
    fc.tuple(address, address).map(([a, b]) => `${a}-${b}`),
    fc.tuple(address, fc.integer({ min: -1, max: 130 })).map(([a, n]) => `${a}/${n}`),
  );
  const poolSpec = fc.record(
    {
      pool: fc.oneof(poolText, fc.anything()),
      subnet: fc.oneof(
        fc.tuple(address, fc.integer({ min: 0, max: 129 })).map(([a, n]) => `${a}/${n}`),
        fc.anything(),
      ),
      aggregation: fc.oneof(
        fc.constantFrom("default", "/32", "/128", "/0", "/x", ""),
        fc.anything(),
      ),
    },
    { requiredKeys: [] },
  );
  const poolSet = fc.record(
    {
      v4pool: poolSpec,
      v6pool: poolSpec,
      v4pools: fc.oneof(fc.array(poolSpec, { maxLength: 4 }), fc.anything()),
      v6pools: fc.oneof(fc.array(poolSpec, { maxLength: 4 }), fc.anything()),
      multiPool: fc.oneof(fc.boolean(), fc.anything()),
      balancePools: fc.boolean(),
      skipIPv6DAD: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  // Plausible pools reach the deep checks (overlaps between groups, aggregation); the
  // rest throws every type at every field.
  const plausiblePool = (pairs: [string, string][], host: string) =>
    fc
      .record({ pair: fc.constantFrom(...pairs), aggregation: fc.constantFrom("default", host) })
      .map(({ pair, aggregation }) => ({
        pool: pair[0],
        subnet: pair[1],
        aggregation,
      }));
  const plausible = fc.record({
    local: fc.record(
      {
        v4pools: fc.array(
          plausiblePool(
            [
              ["192.0.2.1-192.0.2.9", "192.0.2.0/24"],
              ["192.0.2.16/28", "192.0.2.0/24"],
              ["198.51.100.1", "198.51.100.0/24"],
            ],
            "/32",
          ),
          { maxLength: 2 },
        ),
        v6pools: fc.array(
          plausiblePool(
            [
              ["2001:db8::/120", "2001:db8::/64"],
              ["2001:db8:1::1-2001:db8:1::9", "2001:db8:1::/64"],
            ],
            "/128",
          ),
          { maxLength: 2 },
        ),
      },
      { requiredKeys: [] },
    ),
  });
  const spec = fc.oneof(
    plausible,
    fc.record({ local: poolSet, remote: poolSet, netbox: fc.anything() }, { requiredKeys: [] }),
    fc.anything(),
  );
  const group = fc
    .record({ name: fc.constantFrom("a", "b", "default"), spec })
    .map(({ name, spec }) => sg(name, spec));

  it("returns problems whose paths start with spec or metadata for any ServiceGroup-shaped object", () => {
    let accepted = 0;
    fc.assert(
      fc.property(group, fc.array(group, { maxLength: 3 }), (g, others) => {
        const v = validateServiceGroup(g, others);
        for (const p of v.problems) {
          expect(p.path).toMatch(/^(spec|metadata)(\.|\[|$)/);
          expect(p.message.length).toBeGreaterThan(0);
        }
        if (v.problems.length === 0) {
          expect(v.group).toBeDefined();
          accepted++;
        }
      }),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(50);
  });
});
