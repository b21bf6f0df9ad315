import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseAddress } from "../../lib/ip/address";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { NetboxSpec } from "../../lib/k8s/servicegroup";
import {
  NetboxIpam,
  NetboxOwner,
  NetboxResult,
  descriptionUid,
  netboxFamilies,
  ownerDescription,
} from "../../lib/netbox/ipam";
import { FakeNetbox } from "../harness/netbox-server";

const TOKEN = "0123456789abcdef0123456789abcdef01234567";

const owner = (name: string, cluster = "east"): NetboxOwner => ({
  namespace: "web",
  name,
  uid: randomUUID(),
  cluster,
});
const addr = (text: string) => parseAddress(text)!;

function ok(r: NetboxResult) {
  if (!r.ok) throw new Error(`expected an allocation, got ${r.reason}: ${r.message}`);
  return r.allocation;
}

function failure(r: NetboxResult | void | { ok: boolean }) {
  if (!r || r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r as { ok: false; reason: string; message: string };
}

describe("NetboxIpam against a Netbox look-alike", () => {
  let nb: FakeNetbox;
  let ipam: NetboxIpam;
  const group = (spec: Partial<NetboxSpec> = {}): GroupModel => {
    const parsed = parseGroup("purelb-system", "enterprise", {
      netbox: { url: nb.url, tenant: "k8s", secretName: "netbox", ...spec },
    });
    if (!parsed.group) throw new Error(JSON.stringify(parsed.problems));
    return parsed.group;
  };

  beforeEach(async () => {
    nb = await FakeNetbox.start(TOKEN);
    nb.addPrefix({ prefix: "192.0.2.0/24", tenant: "k8s" });
    nb.addPrefix({ prefix: "2001:db8:1::/64", tenant: "k8s" });
    ipam = new NetboxIpam(undefined, { tokenFor: async () => TOKEN });
  });
  afterEach(() => nb.stop());

  it("allocates the next free address of the tenant's prefix and records who has it", async () => {
    const o = owner("shop");
    expect(ok(await ipam.allocate(group(), 4, o))).toEqual({ address: "192.0.2.1", prefix: 24 });
    expect(ok(await ipam.allocate(group(), 4, owner("blog")))).toEqual({
      address: "192.0.2.2",
      prefix: 24,
    });
    const [rec] = nb.ips();
    expect(rec).toMatchObject({
      address: "192.0.2.1/24",
      tenant: "k8s",
      status: "active",
      vrf: null,
    });
    expect(rec.description).toBe(`PureLB uid=${o.uid} cluster=east service=web/shop`);
    expect(descriptionUid(rec.description)).toBe(o.uid);
    // Every request carried the token, the v1 way.
    expect(new Set(nb.requests.map(r => r.authorization))).toEqual(new Set([`Token ${TOKEN}`]));
    // The atomic endpoint did the choosing.
    expect(nb.requests.filter(r => r.method === "POST").map(r => r.path)).toEqual([
      expect.stringMatching(/^\/api\/ipam\/prefixes\/\d+\/available-ips\/$/),
      expect.stringMatching(/^\/api\/ipam\/prefixes\/\d+\/available-ips\/$/),
    ]);
  });

  it("gives one address per family for dual-stack, IPv6 in canonical form", async () => {
    const o = owner("dual");
    expect(ok(await ipam.allocate(group(), 4, o))).toEqual({ address: "192.0.2.1", prefix: 24 });
    expect(ok(await ipam.allocate(group(), 6, o))).toEqual({
      address: "2001:db8:1::1",
      prefix: 64,
    });
    expect(nb.ips().map(i => i.address)).toEqual(["192.0.2.1/24", "2001:db8:1::1/64"]);
    expect(netboxFamilies(group())).toEqual(new Set([4, 6]));
    expect(netboxFamilies(group({ prefix: "192.0.2.0/24" }))).toEqual(new Set([4]));
  });

  it("uses only prefixes of the tenant, role, tag and family asked for", async () => {
    nb.addPrefix({ prefix: "198.51.100.0/24", tenant: "other" });
    nb.addPrefix({ prefix: "203.0.113.0/28", tenant: "k8s", role: "vip", tags: ["purelb"] });
    nb.addPrefix({ prefix: "203.0.113.16/28", tenant: "k8s", role: "vip" });
    expect(ok(await ipam.allocate(group({ role: "vip", tag: "purelb" }), 4, owner("a")))).toEqual({
      address: "203.0.113.1",
      prefix: 28,
    });
    expect(ok(await ipam.allocate(group({ role: "vip" }), 4, owner("b")))).toEqual({
      address: "203.0.113.2",
      prefix: 28,
    });
    // The tag also marks the record, for audits in Netbox.
    expect(nb.ips()[0].tags).toEqual(["purelb"]);
    nb.ref("tag", "nope");
    const none = failure(await ipam.allocate(group({ role: "vip", tag: "nope" }), 4, owner("c")));
    expect(none.reason).toBe("external-ipam");
    expect(none.message).toBe(
      `Netbox at ${nb.url} has no IPv4 prefix of tenant k8s with role vip and tag nope; create one in Netbox, or fix spec.netbox of ServiceGroup enterprise`,
    );
  });

  it("allocates from spec.netbox.prefix when set, with the aggregation when given", async () => {
    nb.addPrefix({ prefix: "198.51.100.0/24", tenant: "someone-else" });
    expect(ok(await ipam.allocate(group({ prefix: "198.51.100.0/24" }), 4, owner("a")))).toEqual({
      address: "198.51.100.1",
      prefix: 24,
    });
    expect(
      ok(
        await ipam.allocate(
          group({ prefix: "198.51.100.0/24", aggregation: "/32" }),
          4,
          owner("b"),
        ),
      ),
    ).toEqual({ address: "198.51.100.2", prefix: 32 });
    expect(ok(await ipam.allocate(group({ aggregation: "/128" }), 6, owner("c")))).toEqual({
      address: "2001:db8:1::1",
      prefix: 128,
    });

    const family = failure(
      await ipam.allocate(group({ prefix: "198.51.100.0/24" }), 6, owner("d")),
    );
    expect(family.reason).toBe("family-not-in-group");
    const missing = failure(await ipam.allocate(group({ prefix: "10.9.0.0/16" }), 4, owner("e")));
    expect(missing.message).toBe(
      `Netbox at ${nb.url} has no prefix 10.9.0.0/16 (spec.netbox.prefix of ServiceGroup enterprise); create it in Netbox or fix the ServiceGroup`,
    );
    const tooWide = failure(await ipam.allocate(group({ aggregation: "/16" }), 4, owner("f")));
    expect(tooWide.reason).toBe("invalid-group");
    expect(tooWide.message).toMatch(
      /aggregation \/16 is shorter than the Netbox prefix 192\.0\.2\.0\/24/,
    );
    const tooLong = failure(await ipam.allocate(group({ aggregation: "/64" }), 4, owner("g")));
    expect(tooLong.message).toMatch(/"\/64" does not fit an IPv4 address/);
    // Nothing was allocated for the refused requests.
    expect(nb.ips()).toHaveLength(3);
  });

  it("claims a requested address only when Netbox has it free", async () => {
    const o = owner("fixed");
    expect(ok(await ipam.allocate(group(), 4, o, addr("192.0.2.77")))).toEqual({
      address: "192.0.2.77",
      prefix: 24,
    });
    expect(nb.ips().map(i => i.address)).toEqual(["192.0.2.77/24"]);
    // Asking again for the same owner is idempotent.
    expect(ok(await ipam.allocate(group(), 4, o, addr("192.0.2.77")))).toEqual({
      address: "192.0.2.77",
      prefix: 24,
    });
    expect(nb.ips()).toHaveLength(1);

    const taken = failure(await ipam.allocate(group(), 4, owner("rival"), addr("192.0.2.77")));
    expect(taken.reason).toBe("address-in-use");
    expect(taken.message).toMatch(
      /^requested address 192\.0\.2\.77 is already in Netbox at .* \(record \d+, another Service \(PureLB uid=.* service=web\/fixed\)\); request another address or remove the request$/,
    );

    nb.addIp({ address: "192.0.2.80/24", description: "router" });
    const manual = failure(await ipam.allocate(group(), 4, owner("x"), addr("192.0.2.80")));
    expect(manual.message).toMatch(/192\.0\.2\.80 is already in Netbox .*"router"/);

    const outside = failure(await ipam.allocate(group(), 4, owner("y"), addr("10.0.0.1")));
    expect(outside.reason).toBe("outside-pool");
    expect(outside.message).toBe(
      "requested address 10.0.0.1 is not in the Netbox prefixes of tenant k8s (192.0.2.0/24) of ServiceGroup enterprise; request an address inside them or remove the request",
    );

    expect(ok(await ipam.allocate(group(), 6, owner("v6"), addr("2001:db8:1:0::beef")))).toEqual({
      address: "2001:db8:1::beef",
      prefix: 64,
    });
    expect(nb.ips().map(i => i.address)).toEqual([
      "192.0.2.77/24",
      "192.0.2.80/24",
      "2001:db8:1::beef/64",
    ]);
  });

  it("withdraws its claim when another record of the address appears at the same time", async () => {
    let injected = false;
    nb.onRequest = r => {
      // Between our create and our re-check, another cluster creates the same address.
      if (
        r.method === "GET" &&
        r.path === "/api/ipam/ip-addresses/" &&
        r.query.get("address") === "192.0.2.50" &&
        nb.ips().length === 1 &&
        !injected
      ) {
        injected = true;
        nb.addIp({
          address: "192.0.2.50/24",
          tenant: "k8s",
          description: "PureLB uid=someone-else cluster=west service=a/b",
        });
      }
    };
    const lost = failure(await ipam.allocate(group(), 4, owner("late"), addr("192.0.2.50")));
    expect(injected).toBe(true);
    expect(lost.reason).toBe("address-in-use");
    expect(nb.ips().map(i => i.description)).toEqual([
      "PureLB uid=someone-else cluster=west service=a/b",
    ]);
  });

  it("two claims of one requested address never both win", async () => {
    const results = await Promise.all(
      [owner("a"), owner("b"), owner("c")].map(o =>
        ipam.allocate(group(), 4, o, addr("192.0.2.9")),
      ),
    );
    const winners = results.filter(r => r.ok);
    expect(winners.length).toBeLessThanOrEqual(1);
    expect(nb.ips()).toHaveLength(winners.length);
  });

  it("reports Netbox's refusal of a duplicate (ENFORCE_GLOBAL_UNIQUE)", async () => {
    nb.enforceUnique = true;
    let sneaked = false;
    nb.onRequest = r => {
      if (r.method === "POST" && !sneaked) {
        sneaked = true;
        nb.addIp({ address: "192.0.2.60/24", description: "someone" });
      }
    };
    const r = failure(await ipam.allocate(group(), 4, owner("dup"), addr("192.0.2.60")));
    expect(r.reason).toBe("address-in-use");
    expect(r.message).toMatch(/Duplicate IP address found in global table: 192\.0\.2\.60\/24/);
  });

  it("releases only the records it created, and releasing twice is fine", async () => {
    const o = owner("gone");
    const a = ok(await ipam.allocate(group(), 4, o));
    const b = ok(await ipam.allocate(group(), 6, o));
    // Someone else's record of the same address (another VRF, say) is not ours to delete.
    nb.addIp({ address: "192.0.2.1/24", vrf: 7, description: "not PureLB" });
    expect(await ipam.release(group(), a.address, o)).toBeUndefined();
    expect(nb.ips().map(i => [i.address, i.description])).toEqual([
      ["2001:db8:1::1/64", expect.stringContaining(o.uid)],
      ["192.0.2.1/24", "not PureLB"],
    ]);
    expect(await ipam.release(group(), a.address, o)).toBeUndefined();
    expect(await ipam.release(group(), "2001:0db8:0001::0001", o)).toBeUndefined();
    expect(nb.ips().map(i => i.description)).toEqual(["not PureLB"]);
    // Another owner cannot release a record it did not create.
    const c = ok(await ipam.allocate(group(), 6, owner("kept")));
    expect(c.address).toBe(b.address);
    expect(await ipam.release(group(), c.address, o)).toBeUndefined();
    expect(nb.ips()).toHaveLength(2);
    expect(failure(await ipam.release(group(), "not-an-ip", o)).message).toMatch(
      /not an IP address/,
    );
  });

  it("a new instance (a restarted allocator) releases what the old one allocated, and does not allocate twice", async () => {
    const o = owner("survivor");
    const first = ok(await ipam.allocate(group(), 4, o));
    const restarted = new NetboxIpam(undefined, { tokenFor: async () => TOKEN });
    // A crash between the allocation and the Service write: the retry gets the same record.
    expect(ok(await restarted.allocate(group(), 4, o))).toEqual(first);
    expect(nb.ips()).toHaveLength(1);
    const other = owner("other", "west");
    ok(await restarted.allocate(group(), 4, other));
    const owned = await restarted.owned(group(), "east");
    expect(owned.ok && owned.records.map(r => [r.address, r.uid])).toEqual([
      [first.address, o.uid],
    ]);
    expect(await restarted.release(group(), first.address, o)).toBeUndefined();
    expect(await restarted.release(group(), "192.0.2.2", other)).toBeUndefined();
    expect(nb.ips()).toEqual([]);
  });

  it("fails with what to do when the pool is exhausted, and moves on to the next prefix", async () => {
    nb.addPrefix({ prefix: "203.0.113.0/30", tenant: "small" });
    nb.addPrefix({ prefix: "203.0.113.8/31", tenant: "small" });
    const g = group({ tenant: "small" });
    const got = [];
    for (const n of ["a", "b", "c", "d"]) got.push(ok(await ipam.allocate(g, 4, owner(n))).address);
    // A /30 has two usable addresses; a /31 has two too.
    expect(got).toEqual(["203.0.113.1", "203.0.113.2", "203.0.113.8", "203.0.113.9"]);
    const full = failure(await ipam.allocate(g, 4, owner("e")));
    expect(full.reason).toBe("external-ipam");
    expect(full.message).toBe(
      `Netbox at ${nb.url} has no free IPv4 address in the prefixes of tenant small (203.0.113.0/30, 203.0.113.8/31); free addresses in Netbox or add a prefix`,
    );
    const one = failure(await ipam.allocate(group({ prefix: "203.0.113.0/30" }), 4, owner("f")));
    expect(one.message).toBe(
      `Netbox at ${nb.url} has no free IPv4 address in the prefix 203.0.113.0/30; free addresses in Netbox or add a prefix`,
    );
  });

  it("never hands out one address twice, however many allocations run at once", async () => {
    const owners = Array.from({ length: 20 }, (_, i) => owner(`svc${i}`));
    const results = await Promise.all(owners.map(o => ipam.allocate(group(), 4, o)));
    const addresses = results.map(r => ok(r).address);
    expect(new Set(addresses).size).toBe(20);
    expect(new Set(nb.ips().map(i => i.address)).size).toBe(20);

    // Two clusters sharing the Netbox at once.
    const east = new NetboxIpam(undefined, { tokenFor: async () => TOKEN });
    const west = new NetboxIpam(undefined, { tokenFor: async () => TOKEN });
    const both = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? east : west).allocate(group(), 6, owner(`s${i}`, i % 2 ? "east" : "west")),
      ),
    );
    expect(new Set(both.map(r => ok(r).address)).size).toBe(20);
    expect(nb.ips()).toHaveLength(40);
  });

  it("writes a description Netbox accepts even for long names, with the uid first", () => {
    const o: NetboxOwner = {
      namespace: "n".repeat(63),
      name: "s".repeat(63),
      uid: randomUUID(),
      cluster: "c".repeat(100),
    };
    const d = ownerDescription(o);
    expect(d.length).toBe(200);
    expect(descriptionUid(d)).toBe(o.uid);
    expect(descriptionUid("made by hand")).toBeUndefined();
  });
});
