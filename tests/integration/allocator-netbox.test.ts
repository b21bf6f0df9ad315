import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RunningAllocator, runAllocator } from "../../lib/allocator/run";
import { KubeClient } from "../../lib/k8s/client";
import {
  apply,
  applyServiceGroup,
  deleteAllServices,
  clientFor,
  createService,
  ensureNamespace,
  eventsFor,
  getService,
  installCrds,
  remove,
  waitFor,
} from "../harness/kube";
import { FakeNetbox } from "../harness/netbox-server";

const kubeconfig = inject("kubeconfig");
const SG_NS = "purelb-nb-alloc-it";
const NS = "nb-alloc-it";
const TOKEN = "0123456789abcdef0123456789abcdef01234567";

describe.skipIf(!kubeconfig)("allocator with a Netbox group, through a real apiserver", () => {
  let client: KubeClient;
  let running: RunningAllocator;
  let nb: FakeNetbox;

  beforeAll(async () => {
    client = clientFor(kubeconfig);
    await installCrds(client);
    await ensureNamespace(client, SG_NS);
    await ensureNamespace(client, NS);
    nb = await FakeNetbox.start(TOKEN);
    nb.addPrefix({ prefix: "203.0.113.0/29", tenant: "k8s" });
    nb.addPrefix({ prefix: "2001:db8:5::/126", tenant: "k8s" });
    await apply(client, `/api/v1/namespaces/${SG_NS}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "netbox" },
      data: { "user-token": Buffer.from(TOKEN).toString("base64") },
    });
    await applyServiceGroup(client, SG_NS, "enterprise", {
      netbox: { url: nb.url, tenant: "k8s", secretName: "netbox" },
    });
    running = await runAllocator(client, SG_NS);
  });

  afterAll(async () => {
    running?.stop();
    await deleteAllServices(client, NS);
    await nb?.stop();
  });

  const served = (name: string, n = 1) =>
    waitFor(`${name} served`, async () => {
      const s = await getService(client, NS, name);
      return s.ingress.length >= n ? s : undefined;
    });

  it("takes a dual-stack pair from Netbox, writes it to the Service, and gives it back on delete", async () => {
    await createService(client, NS, "erp", {
      annotations: { "purelb.io/service-group": "enterprise" },
      ipFamilyPolicy: "RequireDualStack",
      ipFamilies: ["IPv4", "IPv6"],
    });
    const s = await served("erp", 2);
    expect(s.ingress).toEqual(["203.0.113.1", "2001:db8:5::1"]);
    expect(s.annotations["purelb.io/pool-type"]).toBe("remote");
    const records = nb.ips().filter(ip => ip.description.includes(`service=${NS}/erp`));
    expect(records.map(r => r.address).sort()).toEqual(["2001:db8:5::1/126", "203.0.113.1/29"]);
    expect(records.every(r => r.tenant === "k8s" && r.status === "active")).toBe(true);

    await remove(client, `/api/v1/namespaces/${NS}/services/erp`);
    await waitFor(
      "Netbox records deleted",
      () => !nb.ips().some(ip => ip.description.includes(`service=${NS}/erp`)),
    );
  });

  it("keeps a Service pending while Netbox is down and serves it when Netbox is back", async () => {
    await nb.stop();
    await createService(client, NS, "patient", {
      annotations: { "purelb.io/service-group": "enterprise" },
    });
    const warning = await waitFor("a Warning naming Netbox", async () =>
      (await eventsFor(client, NS, "patient")).find(
        e => e.reason === "AllocationFailed" && /Netbox/.test(e.message),
      ),
    );
    expect(warning.message).not.toContain(TOKEN);
    await nb.start();
    const s = await served("patient");
    expect(s.ingress[0]).toMatch(/^203\.0\.113\./);
  });

  it("after a restart, deletes the records of Services deleted while it was down, and only those", async () => {
    const group = { "purelb.io/service-group": "enterprise" };
    const shared = { ...group, "purelb.io/allow-shared-ip": "web" };
    const recordsOf = (name: string) =>
      nb.ips().filter(ip => ip.description.endsWith(`service=${NS}/${name}`));
    await createService(client, NS, "gone", { annotations: group });
    await createService(client, NS, "kept", { annotations: group });
    await served("gone");
    await served("kept");
    await createService(client, NS, "share-a", { annotations: shared, ports: [{ port: 80 }] });
    const a = await served("share-a");
    await createService(client, NS, "share-b", { annotations: shared, ports: [{ port: 443 }] });
    expect((await served("share-b")).ingress).toEqual(a.ingress);
    expect(recordsOf("gone")).toHaveLength(1);
    expect(recordsOf("share-a")).toHaveLength(1);

    running.stop();
    await remove(client, `/api/v1/namespaces/${NS}/services/gone`);
    await remove(client, `/api/v1/namespaces/${NS}/services/share-a`);
    running = await runAllocator(client, SG_NS);
    await waitFor("the record of the deleted Service swept", () => recordsOf("gone").length === 0);
    // Still held by share-b, though its creator is gone.
    await running.allocator.sweepNetbox();
    expect(recordsOf("share-a")).toHaveLength(1);
    expect(recordsOf("kept")).toHaveLength(1);

    // The last holder did not create the record, so its own release cannot match it; the
    // next sweep does.
    await remove(client, `/api/v1/namespaces/${NS}/services/share-b`);
    await waitFor(
      "share-b released",
      () => running.allocator.book.entry(a.ingress[0]) === undefined,
    );
    await running.allocator.sweepNetbox();
    expect(recordsOf("share-a")).toEqual([]);
    expect(recordsOf("kept")).toHaveLength(1);
  });
});
