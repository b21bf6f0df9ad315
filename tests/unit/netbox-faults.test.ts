import { randomUUID } from "node:crypto";
import http from "node:http";
import { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NetboxAllocations } from "../../lib/allocator/netbox";
import { AddressBook } from "../../lib/ipam/address-book";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { NetboxSpec } from "../../lib/k8s/servicegroup";
import { NetboxIpam, NetboxOwner } from "../../lib/netbox/ipam";
import { FakeNetbox } from "../harness/netbox-server";

const TOKEN = "s3cr3t-t0k3n-0123456789abcdef01234567";

const owner = (name: string): NetboxOwner => ({
  namespace: "web",
  name,
  uid: randomUUID(),
  cluster: "east",
});

function message(r: { ok: boolean } | void): string {
  if (!r || r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  const f = r as { ok: false; reason: string; message: string };
  expect(f.reason).toBe("external-ipam");
  return f.message;
}

describe("NetboxIpam when Netbox misbehaves", () => {
  let nb: FakeNetbox;
  const group = (spec: Partial<NetboxSpec> = {}): GroupModel => {
    const parsed = parseGroup("purelb-system", "enterprise", {
      netbox: { url: nb.url, tenant: "k8s", secretName: "netbox", ...spec },
    });
    if (!parsed.group) throw new Error(JSON.stringify(parsed.problems));
    return parsed.group;
  };
  const ipamWith = (token: string | undefined, timeoutMs?: number) =>
    new NetboxIpam(undefined, { tokenFor: async () => token, timeoutMs });

  beforeEach(async () => {
    nb = await FakeNetbox.start(TOKEN);
    nb.addPrefix({ prefix: "192.0.2.0/24", tenant: "k8s" });
  });
  afterEach(() => nb.stop());

  it("says Netbox is unreachable while it is down, and allocates once it is back", async () => {
    const ipam = ipamWith(TOKEN);
    const o = owner("patient");
    await nb.stop();
    const m = message(await ipam.allocate(group(), 4, o));
    expect(m).toMatch(
      new RegExp(
        `^Netbox at ${nb.url.replace(/[.]/g, "\\.")} is unreachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\) trying to find the IPv4 prefixes of tenant k8s;`,
      ),
    );
    expect(m).toMatch(/check spec\.netbox\.url and that Netbox is up, PureLB retries$/);
    expect(message(await ipam.release(group(), "192.0.2.1", o))).toMatch(/is unreachable/);
    await nb.start();
    expect(await ipam.allocate(group(), 4, o)).toEqual({
      ok: true,
      allocation: { address: "192.0.2.1", prefix: 24 },
    });
    // Down again between allocation and release, then back: release still works.
    await nb.stop();
    expect(message(await ipam.release(group(), "192.0.2.1", o))).toMatch(/is unreachable/);
    await nb.start();
    expect(await ipam.release(group(), "192.0.2.1", o)).toBeUndefined();
    expect(nb.ips()).toEqual([]);
  });

  it("does not fail on a connection Netbox closed while it restarted", async () => {
    const ipam = ipamWith(TOKEN);
    for (let i = 0; i < 5; i++) {
      expect((await ipam.allocate(group(), 4, owner(`r${i}`))).ok).toBe(true);
      await nb.stop();
      await nb.start();
    }
    expect(nb.ips()).toHaveLength(5);
  });

  it("says which Secret to check when the token is refused, and never shows the token", async () => {
    const wrong = `${TOKEN}-old`;
    const m = message(await ipamWith(wrong).allocate(group(), 4, owner("a")));
    expect(m).toBe(
      `Netbox at ${nb.url} answered 403 to GET /api/ipam/prefixes/ trying to find the IPv4 prefixes of tenant k8s: Invalid v1 token (check the token in Secret purelb-system/netbox key user-token, and that its user has the Netbox permissions ipam.view_prefix, ipam.view_ipaddress, ipam.add_ipaddress, ipam.delete_ipaddress, tenancy.view_tenant (and ipam.view_vrf when the prefixes are in a VRF))`,
    );
    expect(m).not.toContain(wrong);
    expect(m).not.toContain(TOKEN);
    // Even if Netbox (or a proxy) echoes the token back, it does not reach the message.
    nb.failNext(1, 403, { detail: `Invalid token ${wrong}` });
    const echoed = message(await ipamWith(wrong).allocate(group(), 4, owner("b")));
    expect(echoed).not.toContain(wrong);
    nb.failNext(1, 400, { description: [`bad value near ${wrong}`] });
    const echoed400 = message(await ipamWith(wrong).allocate(group(), 4, owner("c")));
    expect(echoed400).toContain("<token>");
    expect(echoed400).not.toContain(wrong);

    const none = message(
      await ipamWith(undefined).allocate(group({ secretName: undefined }), 4, owner("d")),
    );
    expect(none).toMatch(
      /answered 403 .*: Authentication credentials were not provided\. \(no token is configured: put the Netbox API token in a Secret under key user-token and name it in spec\.netbox\.secretName\)$/,
    );
    expect(nb.requests.at(-1)?.authorization).toBeUndefined();
  });

  it("sends v2 tokens as Bearer", async () => {
    const v2 = "nbt_abc123.0123456789abcdef";
    const nb2 = await FakeNetbox.start(v2);
    try {
      nb2.addPrefix({ prefix: "192.0.2.0/24", tenant: "k8s" });
      const g = parseGroup("purelb-system", "g", {
        netbox: { url: nb2.url, tenant: "k8s" },
      }).group!;
      expect((await ipamWith(v2).allocate(g, 4, owner("v2"))).ok).toBe(true);
      expect(nb2.requests[0].authorization).toBe(`Bearer ${v2}`);
    } finally {
      await nb2.stop();
    }
  });

  it("turns a token that cannot be read into a Failure", async () => {
    const ipam = new NetboxIpam(undefined, {
      tokenFor: () =>
        Promise.reject(
          new Error(
            "Secret purelb-system/netbox (spec.netbox.secretName) does not exist; create it with key user-token",
          ),
        ),
    });
    expect(message(await ipam.allocate(group(), 4, owner("a")))).toBe(
      "ServiceGroup enterprise cannot call Netbox: Secret purelb-system/netbox (spec.netbox.secretName) does not exist; create it with key user-token",
    );
    expect(message(await new NetboxIpam(undefined).allocate(group(), 4, owner("b")))).toMatch(
      /without a Kubernetes client/,
    );
    expect(nb.requests).toEqual([]);
  });

  it("gives up on a request after its timeout", async () => {
    const ipam = ipamWith(TOKEN, 200);
    nb.hangNext(1);
    const started = Date.now();
    const m = message(await ipam.allocate(group(), 4, owner("slow")));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(m).toBe(
      `Netbox at ${nb.url} did not answer GET /api/ipam/prefixes/ within 200 ms trying to find the IPv4 prefixes of tenant k8s; check that Netbox is healthy and reachable, PureLB retries`,
    );
    // The allocation POST hangs: no address now, and the retry works.
    const o = owner("slow-post");
    let posts = 0;
    const hangPost = new NetboxIpam(undefined, {
      tokenFor: async () => TOKEN,
      timeoutMs: 200,
      fetch: (input, init) => {
        if (init?.method === "POST" && posts++ === 0) nb.hangNext(1);
        return fetch(input, init);
      },
    });
    expect(message(await hangPost.allocate(group(), 4, o))).toMatch(
      /did not answer POST \/api\/ipam\/prefixes\/\d+\/available-ips\/ within 200 ms trying to allocate an address from 192\.0\.2\.0\/24/,
    );
    expect((await hangPost.allocate(group(), 4, o)).ok).toBe(true);
    expect(nb.ips()).toHaveLength(1);
  });

  it("explains 5xx, 404 and non-Netbox answers", async () => {
    const ipam = ipamWith(TOKEN);
    nb.failNext(1, 503, { detail: "Service Unavailable" });
    expect(message(await ipam.allocate(group(), 4, owner("a")))).toBe(
      `Netbox at ${nb.url} is up but failing: Service Unavailable (503 to GET /api/ipam/prefixes/ trying to find the IPv4 prefixes of tenant k8s); check Netbox's logs, PureLB retries with back-off`,
    );
    // The failure is on the POST this time; nothing is allocated, and the next try works.
    nb.onRequest = r => {
      if (r.method === "GET" && r.path === "/api/ipam/ip-addresses/") {
        nb.onRequest = undefined;
        nb.failNext(1, 500);
      }
    };
    expect(message(await ipam.allocate(group(), 4, owner("b")))).toMatch(
      /is up but failing: injected failure 500 \(500 to POST \/api\/ipam\/prefixes\/\d+\/available-ips\/ trying to allocate an address from 192\.0\.2\.0\/24\); check Netbox's logs, PureLB retries with back-off$/,
    );
    expect(nb.ips()).toEqual([]);
    expect((await ipam.allocate(group(), 4, owner("c"))).ok).toBe(true);

    const wrongPath = group({ url: `${nb.url}/v9` });
    expect(message(await ipam.allocate(wrongPath, 4, owner("d")))).toBe(
      `Netbox at ${nb.url}/v9 answered 404 to GET /api/v9/ipam/prefixes/ trying to find the IPv4 prefixes of tenant k8s: this URL does not serve the Netbox API (got an HTML page); set spec.netbox.url to the Netbox API root, e.g. https://netbox.example.com/api`,
    );
    // A bare host means its /api.
    expect(
      (await ipam.allocate(group({ url: nb.url.replace(/\/api$/, "") }), 4, owner("e"))).ok,
    ).toBe(true);

    // Something that is not Netbox's API: the UI answers HTML, or redirects to its login page.
    const ui = http.createServer((req, res) => {
      if (req.url?.startsWith("/login"))
        res.writeHead(200, { "Content-Type": "text/html" }).end("<html>login</html>");
      else if (req.url?.startsWith("/redirect")) res.writeHead(302, { Location: "/login/" }).end();
      else res.writeHead(200, { "Content-Type": "text/html" }).end("<!DOCTYPE html><html></html>");
    });
    await new Promise<void>(resolve => ui.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(ui.address() as AddressInfo).port}`;
      expect(message(await ipam.allocate(group({ url: `${base}/netbox` }), 4, owner("f")))).toBe(
        `Netbox at ${base}/netbox answered GET /netbox/ipam/prefixes/ with an HTML page: this URL does not serve the Netbox API; set spec.netbox.url to the Netbox API root, e.g. https://netbox.example.com/api`,
      );
      expect(
        message(await ipam.allocate(group({ url: `${base}/redirect` }), 4, owner("g"))),
      ).toMatch(
        /answered 302 to GET \/redirect\/ipam\/prefixes\/ .*\(a redirect\); set spec\.netbox\.url to the Netbox API root/,
      );
    } finally {
      await new Promise<void>(resolve => ui.close(() => resolve()));
    }
  });

  it("says which tenant, role or tag Netbox does not have, and sweeps the other groups", async () => {
    const ipam = ipamWith(TOKEN);
    nb.ref("role", "vip");
    const cases: [Partial<NetboxSpec>, string][] = [
      [{ tenant: "nobody" }, "tenant `nobody` (spec.netbox.tenant"],
      [{ role: "anycast" }, "role `anycast` (spec.netbox.role"],
      [{ tag: "purelb" }, "tag `purelb` (spec.netbox.tag"],
    ];
    for (const [spec, what] of cases)
      expect(message(await ipam.allocate(group(spec), 4, owner("a")))).toBe(
        `Netbox at ${nb.url} has no ${what} of ServiceGroup enterprise); create it in Netbox or fix spec.netbox of ServiceGroup enterprise`,
      );
    expect(message(await ipam.owned(group({ tenant: "nobody" }), "east"))).toMatch(
      /has no tenant `nobody`/,
    );
    // One group naming a tenant Netbox lacks does not stop the sweep of the others.
    const o = owner("kept");
    expect((await ipam.allocate(group(), 4, o)).ok).toBe(true);
    const book = new AddressBook();
    const sweeper = new NetboxAllocations(ipam, book, "east");
    expect(await sweeper.sweep([group({ tenant: "nobody" }), group()], () => false)).toBe(1);
    expect(nb.ips()).toEqual([]);
  });

  it("names a database outage, a tenant the token's user may not view, and keeps Netbox's 403 words", async () => {
    const ipam = ipamWith(TOKEN);
    nb.failNext(1, 500, {
      error:
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused',
      exception: "OperationalError",
      netbox_version: "4.7.3",
      python_version: "3.12.1",
    });
    expect(message(await ipam.allocate(group(), 4, owner("db")))).toBe(
      `Netbox at ${nb.url} is up but failing: database unavailable (500 to GET /api/ipam/prefixes/ trying to find the IPv4 prefixes of tenant k8s); check Netbox's logs, PureLB retries with back-off`,
    );
    // NetBox resolves a create's related objects among those the user may view.
    nb.onRequest = r => {
      if (r.method === "GET" && r.path === "/api/ipam/ip-addresses/") {
        nb.onRequest = undefined;
        nb.failNext(1, 400, {
          tenant: ["Related object not found using the provided attributes: {'slug': 'k8s'}"],
        });
      }
    };
    expect(message(await ipam.allocate(group(), 4, owner("hidden")))).toMatch(
      /answered 400 to POST \/api\/ipam\/prefixes\/\d+\/available-ips\/ trying to allocate an address from 192\.0\.2\.0\/24: tenant: Related object not found using the provided attributes: \{'slug': 'k8s'\}; the tenant exists, so the token's user lacks tenancy\.view_tenant \(it needs the Netbox permissions ipam\.view_prefix, ipam\.view_ipaddress, ipam\.add_ipaddress, ipam\.delete_ipaddress, tenancy\.view_tenant \(and ipam\.view_vrf when the prefixes are in a VRF\)\)$/,
    );
    nb.failNext(1, 403, { detail: "You do not have permission to perform this action." });
    expect(message(await ipam.allocate(group({ tag: "purelb" }), 4, owner("p")))).toMatch(
      /answered 403 to GET \/api\/ipam\/prefixes\/ trying to find the IPv4 prefixes of tenant k8s: You do not have permission to perform this action\. \(.*tenancy\.view_tenant, extras\.view_tag \(and/,
    );
  });

  it("follows Netbox's pages", async () => {
    for (let i = 0; i < 1200; i++)
      nb.addIp({
        address: `10.${i >> 8}.${i & 255}.1/32`,
        tenant: "k8s",
        description: `PureLB uid=u${i} cluster=east service=a/b${i}`,
      });
    const owned = await ipamWith(TOKEN).owned(group(), "east");
    expect(owned.ok && owned.records.length).toBe(1200);
    expect(
      nb.requests.filter(r => r.path === "/api/ipam/ip-addresses/").map(r => r.query.get("offset")),
    ).toEqual(["0", "1000"]);
  });
});
