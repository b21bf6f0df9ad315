import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAddress } from "../../lib/ip/address";
import { parseCidr } from "../../lib/ip/cidr";
import { AddressBook, Port } from "../../lib/ipam/address-book";
import { AllocationRequest, allocate } from "../../lib/ipam/allocate";
import { chooseFamilies } from "../../lib/ipam/families";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { PoolSetSpec } from "../../lib/k8s/servicegroup";

const group = (
  set: PoolSetSpec,
  type: "local" | "remote" = "local",
  name = "default",
): GroupModel => {
  const g = parseGroup("purelb-system", name, { [type]: set });
  if (!g.group) throw new Error(JSON.stringify(g.problems));
  return g.group;
};

const tcp = (port: number): Port => ({ protocol: "TCP", port });

function request(
  g: GroupModel,
  service: string,
  over: Partial<AllocationRequest> = {},
): AllocationRequest {
  return {
    service,
    group: g,
    families: [4],
    all: true,
    requested: new Map(),
    ports: [tcp(80)],
    multiPool: false,
    liveSubnets: [],
    keep: [],
    ...over,
  };
}

const added = (r: ReturnType<typeof allocate>) =>
  r.ok ? r.added : [`FAIL ${r.reason}: ${r.message}`];

describe("allocating from one range", () => {
  const g = group({ v4pools: [{ pool: "192.0.2.240/30", subnet: "192.0.2.0/24" }] });

  it("hands out the lowest free address, reuses released ones, and says when the pool is empty", () => {
    const book = new AddressBook();
    // step 1: four Services fill the /30
    const got = ["a", "b", "c", "d"].map(s => added(allocate(book, request(g, s)))[0]);
    expect(got).toEqual(["192.0.2.240", "192.0.2.241", "192.0.2.242", "192.0.2.243"]);
    // step 2: a fifth finds the pool exhausted, with its size in the message
    const full = allocate(book, request(g, "e"));
    expect(full.ok).toBe(false);
    expect(!full.ok && full.reason).toBe("pool-exhausted");
    expect(!full.ok && full.message).toMatch(
      /all 4 addresses of 192\.0\.2\.240-192\.0\.2\.243 are in use/,
    );
    // step 3: releasing b frees exactly its address for the next Service
    expect(book.release("b")).toEqual(["192.0.2.241"]);
    expect(added(allocate(book, request(g, "e")))).toEqual(["192.0.2.241"]);
  });

  it("gives a requested address only if it is in the pool and free", () => {
    const book = new AddressBook();
    const want = (ip: string) => new Map([[4 as const, parseAddress(ip)!]]);
    expect(added(allocate(book, request(g, "a", { requested: want("192.0.2.242") })))).toEqual([
      "192.0.2.242",
    ]);
    const taken = allocate(book, request(g, "b", { requested: want("192.0.2.242") }));
    expect(!taken.ok && taken.reason).toBe("address-in-use");
    expect(!taken.ok && taken.message).toMatch(/in use by a/);
    const outside = allocate(book, request(g, "b", { requested: want("198.51.100.1") }));
    expect(!outside.ok && outside.reason).toBe("outside-pool");
    expect(!outside.ok && outside.message).toMatch(/192\.0\.2\.240-192\.0\.2\.243/);
    // the dynamic allocation skips the requested one
    expect(added(allocate(book, request(g, "c")))).toEqual(["192.0.2.240"]);
  });

  it("treats /31, /32, /127 and /128 pools as the addresses they hold", () => {
    for (const [pool, subnet, n] of [
      ["192.0.2.8/31", "192.0.2.0/24", 2],
      ["192.0.2.9/32", "192.0.2.0/24", 1],
      ["2001:db8::/127", "2001:db8::/64", 2],
      ["2001:db8::5/128", "2001:db8::/64", 1],
    ] as const) {
      const fam = pool.includes(":") ? 6 : 4;
      const gg = group(fam === 4 ? { v4pool: { pool, subnet } } : { v6pool: { pool, subnet } });
      const book = new AddressBook();
      const results = Array.from({ length: n + 1 }, (_, i) =>
        allocate(book, request(gg, `s${i}`, { families: [fam] })),
      );
      expect(results.filter(r => r.ok).length, pool).toBe(n);
    }
  });
});

describe("sharing an address", () => {
  const g = group({ v4pool: { pool: "192.0.2.240-192.0.2.250", subnet: "192.0.2.0/24" } });

  it("lets Services with one key share when their ports differ, TCP and UDP on one port included", () => {
    const book = new AddressBook();
    const dnsTcp = allocate(
      book,
      request(g, "ns/dns-tcp", { sharingKey: "dns", ports: [{ protocol: "TCP", port: 53 }] }),
    );
    const dnsUdp = allocate(
      book,
      request(g, "ns/dns-udp", { sharingKey: "dns", ports: [{ protocol: "UDP", port: 53 }] }),
    );
    expect(added(dnsTcp)).toEqual(added(dnsUdp));
    const clash = allocate(
      book,
      request(g, "ns/other", { sharingKey: "dns", ports: [{ protocol: "UDP", port: 53 }] }),
    );
    expect(!clash.ok && clash.reason).toBe("sharing-conflict");
    expect(!clash.ok && clash.message).toMatch(/ns\/dns-udp already uses UDP\/53/);
    // the address stays until the last sharer goes
    expect(book.release("ns/dns-tcp")).toEqual([]);
    expect(book.release("ns/dns-udp")).toEqual(["192.0.2.240"]);
  });

  it("never shares without a key, nor across keys", () => {
    const book = new AddressBook();
    allocate(book, request(g, "a", { sharingKey: "k1" }));
    const ip = new Map([[4 as const, parseAddress("192.0.2.240")!]]);
    const noKey = allocate(book, request(g, "b", { requested: ip, ports: [tcp(81)] }));
    const otherKey = allocate(
      book,
      request(g, "c", { requested: ip, sharingKey: "k2", ports: [tcp(82)] }),
    );
    expect(!noKey.ok && noKey.reason).toBe("address-in-use");
    expect(!otherKey.ok && otherKey.reason).toBe("address-in-use");
  });
});

describe("families", () => {
  const dual = group({
    v4pool: { pool: "192.0.2.240/29", subnet: "192.0.2.0/24" },
    v6pool: { pool: "2001:db8::f0-2001:db8::ff", subnet: "2001:db8::/64" },
  });

  it("follows ipFamilyPolicy: SingleStack one, PreferDualStack what the group has, RequireDualStack both or none", () => {
    const both = new Set([4, 6] as const);
    const v4 = new Set([4] as const);
    expect(chooseFamilies("SingleStack", ["IPv6"], both, "g")).toMatchObject({ families: [6] });
    expect(chooseFamilies("PreferDualStack", ["IPv4", "IPv6"], v4, "g")).toMatchObject({
      families: [4],
      all: false,
    });
    expect(chooseFamilies("RequireDualStack", ["IPv4", "IPv6"], v4, "g")).toMatchObject({
      ok: false,
      reason: "family-not-in-group",
    });
    expect(chooseFamilies(undefined, [], both, "g")).toMatchObject({ families: [4] });
  });

  it("rolls back the first family when RequireDualStack cannot get the second", () => {
    const book = new AddressBook();
    // fill the IPv6 range with 16 Services
    for (let i = 0; i < 16; i++)
      expect(allocate(book, request(dual, `v6-${i}`, { families: [6] })).ok).toBe(true);
    const r = allocate(book, request(dual, "both", { families: [4, 6], all: true }));
    expect(!r.ok && r.reason).toBe("pool-exhausted");
    expect(book.addressesOf("both")).toEqual([]);
    expect(book.entry("192.0.2.240")).toBeUndefined();
    // PreferDualStack keeps what it could get
    expect(added(allocate(book, request(dual, "some", { families: [4, 6], all: false })))).toEqual([
      "192.0.2.240",
    ]);
  });
});

describe("multiPool and balancePools", () => {
  const twoSubnets: PoolSetSpec = {
    v4pools: [
      { pool: "192.0.2.10-192.0.2.19", subnet: "192.0.2.0/24" },
      { pool: "198.51.100.10-198.51.100.19", subnet: "198.51.100.0/24" },
    ],
  };
  const live = (...c: string[]) => c.map(s => parseCidr(s)!);

  it("gives one address per range with a live node (local), every range (remote)", () => {
    const book = new AddressBook();
    const local = group({ ...twoSubnets, multiPool: true });
    expect(
      added(
        allocate(
          book,
          request(local, "a", { multiPool: true, liveSubnets: live("198.51.100.0/24") }),
        ),
      ),
    ).toEqual(["198.51.100.10"]);
    const none = allocate(book, request(local, "b", { multiPool: true, liveSubnets: [] }));
    expect(!none.ok && none.reason).toBe("no-live-node");
    const remote = group({ ...twoSubnets, multiPool: true }, "remote", "routed");
    expect(added(allocate(book, request(remote, "c", { multiPool: true })))).toEqual([
      "192.0.2.10",
      "198.51.100.11",
    ]);
  });

  it("re-evaluation adds the newly possible range and keeps what the Service has", () => {
    const book = new AddressBook();
    const local = group({ ...twoSubnets, multiPool: true });
    allocate(book, request(local, "a", { multiPool: true, liveSubnets: live("192.0.2.0/24") }));
    const again = allocate(
      book,
      request(local, "a", {
        multiPool: true,
        liveSubnets: live("192.0.2.0/24", "198.51.100.0/24"),
        keep: book.addressesOf("a"),
      }),
    );
    expect(added(again)).toEqual(["198.51.100.10"]);
    expect(book.addressesOf("a")).toEqual(["192.0.2.10", "198.51.100.10"]);
  });

  it("balancePools picks the range with the fewest addresses in use", () => {
    const book = new AddressBook();
    const balanced = group({ ...twoSubnets, balancePools: true });
    const got = ["a", "b", "c", "d"].map(s => added(allocate(book, request(balanced, s)))[0]);
    expect(got).toEqual(["192.0.2.10", "198.51.100.10", "192.0.2.11", "198.51.100.11"]);
  });
});

describe("never a duplicate", () => {
  it("holds for any sequence of allocations and releases", () => {
    const g = group({
      v4pools: [
        { pool: "192.0.2.0/29", subnet: "192.0.2.0/24" },
        { pool: "192.0.2.8-192.0.2.12", subnet: "192.0.2.0/24" },
      ],
      v6pool: { pool: "2001:db8::/126", subnet: "2001:db8::/64" },
      balancePools: true,
    });
    const op = fc.record({
      svc: fc.integer({ min: 0, max: 20 }),
      release: fc.boolean(),
      key: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
      port: fc.integer({ min: 1, max: 3 }),
      fams: fc.constantFrom<(4 | 6)[]>([4], [6], [4, 6]),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), ops => {
        const book = new AddressBook();
        for (const o of ops) {
          const s = `svc-${o.svc}`;
          if (o.release) book.release(s);
          else if (!book.addressesOf(s).length)
            allocate(
              book,
              request(g, s, {
                sharingKey: o.key,
                ports: [tcp(o.port)],
                families: o.fams,
                all: false,
              }),
            );
          // invariant: every address has one holder, or all holders share one key with distinct ports
          const holders = new Map<string, string[]>();
          for (let i = 0; i <= 20; i++)
            for (const a of book.addressesOf(`svc-${i}`))
              holders.set(a, [...(holders.get(a) ?? []), `svc-${i}`]);
          for (const [a, hs] of holders) {
            const e = book.entry(a)!;
            expect(e.holders.size).toBe(hs.length);
            if (hs.length > 1) {
              expect(e.sharingKey).toBeDefined();
              const ports = [...e.holders.values()].flat().map(p => `${p.protocol}/${p.port}`);
              expect(new Set(ports).size).toBe(ports.length);
            }
          }
        }
      }),
    );
  });
});
