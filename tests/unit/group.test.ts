import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseGroup } from "../../lib/ipam/group";
import { ServiceGroupSpec } from "../../lib/k8s/servicegroup";

describe("parsing a ServiceGroup into the allocator's model", () => {
  it("reads singular and array pools of both families with their interface prefix", () => {
    const { group } = parseGroup("purelb-system", "default", {
      local: {
        v4pool: { pool: "192.0.2.240-192.0.2.250", subnet: "192.0.2.0/24", aggregation: "default" },
        v6pools: [{ pool: "2001:db8::/120", subnet: "2001:db8::/64", aggregation: "/128" }],
      },
    });
    expect(group?.ranges.map(r => [r.path, r.family, r.prefix])).toEqual([
      ["spec.local.v4pool", 4, 24],
      ["spec.local.v6pools[0]", 6, 128],
    ]);
  });

  it("turns any malformed object into problems, never an exception", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (a, b) => {
        const r = parseGroup("ns", "g", {
          local: { v4pools: a, v6pool: b },
        } as unknown as ServiceGroupSpec);
        expect(r.group !== undefined || r.problems.length > 0).toBe(true);
        for (const p of r.problems) expect(p.path).toMatch(/^spec/);
      }),
    );
  });
});
