import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { KubeClient } from "../../lib/k8s/client";
import { NetboxIpam } from "../../lib/netbox/ipam";
import { secretTokenSource } from "../../lib/netbox/token";
import { apply, clientFor, ensureNamespace, remove } from "../harness/kube";
import { FakeNetbox } from "../harness/netbox-server";

const kubeconfig = inject("kubeconfig");
const NS = "purelb-netbox-it";
const TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

describe.skipIf(!kubeconfig)("the Netbox token comes from a Secret on a real apiserver", () => {
  let client: KubeClient;
  let nb: FakeNetbox;

  const secret = (name: string, data: Record<string, string>) =>
    apply(client, `/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name },
      type: "Opaque",
      data,
    });
  const group = (secretName?: string): GroupModel => {
    const parsed = parseGroup(NS, "enterprise", {
      netbox: { url: nb.url, tenant: "k8s", ...(secretName ? { secretName } : {}) },
    });
    if (!parsed.group) throw new Error(JSON.stringify(parsed.problems));
    return parsed.group;
  };

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    await ensureNamespace(client, NS);
    nb = await FakeNetbox.start(TOKEN);
    nb.addPrefix({ prefix: "192.0.2.0/24", tenant: "k8s" });
    nb.addPrefix({ prefix: "2001:db8::/64", tenant: "k8s" });
  });
  afterAll(async () => {
    await nb?.stop();
    for (const name of ["netbox", "nokey", "empty"])
      await remove(client, `/api/v1/namespaces/${NS}/secrets/${name}`);
  });

  it("reads key user-token, base64-decoded and without the newline `echo | base64` adds", async () => {
    await secret("netbox", { "user-token": b64(`${TOKEN}\n`), other: b64("ignored") });
    expect(await secretTokenSource(client)(group("netbox"))).toBe(TOKEN);
    expect(await secretTokenSource(client)(group())).toBeUndefined();
  });

  it("says what to fix when the Secret or its key is missing or empty", async () => {
    const read = secretTokenSource(client);
    await expect(read(group("absent"))).rejects.toThrow(
      `Secret ${NS}/absent (spec.netbox.secretName) does not exist; create it with key user-token holding the Netbox API token`,
    );
    await secret("nokey", { token: b64(TOKEN) });
    await expect(read(group("nokey"))).rejects.toThrow(
      `Secret ${NS}/nokey has no key user-token; put the Netbox API token under data.user-token`,
    );
    await secret("empty", { "user-token": b64(" \n") });
    await expect(read(group("empty"))).rejects.toThrow(
      `Secret ${NS}/empty key user-token is empty; put the Netbox API token there`,
    );
  });

  it("allocates and releases with the Secret's token, and a rotated token takes effect without a restart", async () => {
    await secret("netbox", { "user-token": b64(TOKEN) });
    const ipam = new NetboxIpam(client, { timeoutMs: 2000 });
    const owner = { namespace: "web", name: "shop", uid: randomUUID(), cluster: "it" };
    const v4 = await ipam.allocate(group("netbox"), 4, owner);
    const v6 = await ipam.allocate(group("netbox"), 6, owner);
    expect([v4, v6]).toEqual([
      { ok: true, allocation: { address: "192.0.2.1", prefix: 24 } },
      { ok: true, allocation: { address: "2001:db8::1", prefix: 64 } },
    ]);
    expect(nb.requests.every(r => r.authorization === `Token ${TOKEN}`)).toBe(true);

    const stale = "0000111122223333444455556666777788889999";
    await secret("netbox", { "user-token": b64(stale) });
    const refused = await ipam.release(group("netbox"), "192.0.2.1", owner);
    expect(refused).toMatchObject({ ok: false, reason: "external-ipam" });
    const message = (refused as { message: string }).message;
    expect(message).toMatch(
      new RegExp(`answered 403 .*\\(check the token in Secret ${NS}/netbox key user-token`),
    );
    expect(message).not.toContain(stale);
    expect(message).not.toContain(TOKEN);

    const missing = await ipam.allocate(group("absent"), 4, owner);
    expect(missing).toMatchObject({
      ok: false,
      reason: "external-ipam",
      message: expect.stringMatching(
        /^ServiceGroup enterprise cannot call Netbox: Secret .*\/absent/,
      ),
    });

    await secret("netbox", { "user-token": b64(TOKEN) });
    expect(await ipam.release(group("netbox"), "192.0.2.1", owner)).toBeUndefined();
    expect(await ipam.release(group("netbox"), "2001:db8::1", owner)).toBeUndefined();
    expect(nb.ips()).toEqual([]);
  });
});
