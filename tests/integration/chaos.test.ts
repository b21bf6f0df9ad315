// Randomized operations against the built allocator on a real apiserver, with restarts
// (one by SIGKILL). After every step: no address has two owners unless they share a key.
// At the end: every Service that can be served is, and every one that is not says why.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseAddress } from "../../lib/ip/address";
import { parseRange, rangeContains } from "../../lib/ip/range";
import { KubeClient } from "../../lib/k8s/client";
import { ServiceGroupSpec } from "../../lib/k8s/servicegroup";
import { ServiceModel, toServiceModel } from "../../lib/k8s/service";
import {
  deleteAllServices,
  ServiceSpecInput,
  applyServiceGroup,
  clientFor,
  ensureNamespace,
  eventsFor,
  installCrds,
  remove,
  serviceObject,
  waitFor,
} from "../harness/kube";
import { Watcher, buildBundle, prepareCluster, startWatcher } from "../harness/watcher";
import { prng } from "../harness/prng";

const kubeconfig = inject("kubeconfig");
const NS = "chaos";
const SEED = Number(process.env.PURELB_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const OPS = Number(process.env.PURELB_CHAOS_OPS ?? 1000);

const GROUPS: Record<string, ServiceGroupSpec[]> = {
  // each group has a few shapes it is edited between; the small pools run out on purpose
  alpha: [
    {
      local: {
        v4pool: { pool: "192.0.2.0/28", subnet: "192.0.2.0/24" },
        v6pool: { pool: "2001:db8:a::/124", subnet: "2001:db8:a::/64" },
      },
    },
    {
      local: {
        v4pool: { pool: "192.0.2.0/27", subnet: "192.0.2.0/24" },
        v6pool: { pool: "2001:db8:a::/124", subnet: "2001:db8:a::/64" },
      },
    },
  ],
  beta: [
    { remote: { v4pool: { pool: "198.51.100.40-198.51.100.47", subnet: "198.51.100.0/24" } } },
    { remote: { v4pool: { pool: "198.51.100.40-198.51.100.43", subnet: "198.51.100.0/24" } } },
  ],
  gamma: [{ remote: { v6pool: { pool: "2001:db8:c::/125", subnet: "2001:db8:c::/64" } } }],
};

describe.skipIf(!kubeconfig)(
  `chaos: ${OPS} random operations with allocator restarts (seed ${SEED})`,
  () => {
    let client: KubeClient;
    let watcher: Watcher;
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const live = new Set<string>();
    const groupShape = new Map<string, number>();
    /** Addresses each Service held when its group changed under it: they may stay outside the pools. */
    const grandfathered = new Set<string>();

    const listServices = async (): Promise<ServiceModel[]> =>
      (
        await client.request<{ items: unknown[] }>("GET", `/api/v1/namespaces/${NS}/services`)
      ).items.map(toServiceModel);

    const setGroup = async (name: string, shape: number) => {
      for (const s of await listServices())
        for (const ip of s.ingress) grandfathered.add(`${s.name}|${ip}`);
      groupShape.set(name, shape);
      await applyServiceGroup(client, "purelb-system", name, GROUPS[name][shape]);
    };

    beforeAll(async () => {
      buildBundle();
      client = clientFor(kubeconfig);
      await installCrds(client);
      await prepareCluster(client);
      await ensureNamespace(client, "purelb-system");
      await ensureNamespace(client, NS);
      for (const g of Object.keys(GROUPS)) await setGroup(g, 0);
      watcher = await startWatcher(kubeconfig);
    }, 180_000);

    afterAll(async () => {
      await watcher?.stop();
      await deleteAllServices(client, NS);
    });

    function checkNoDuplicates(services: ServiceModel[], step: string): void {
      const owners = new Map<string, { name: string; key?: string }[]>();
      for (const s of services)
        for (const ip of s.ingress)
          owners.set(ip, [
            ...(owners.get(ip) ?? []),
            { name: s.name, key: s.annotations["purelb.io/allow-shared-ip"] },
          ]);
      for (const [ip, who] of owners) {
        if (who.length < 2) continue;
        const keys = new Set(who.map(w => w.key));
        expect(
          keys.size === 1 && !keys.has(undefined),
          `seed ${SEED}, ${step}: ${ip} held by ${who.map(w => `${w.name}(${w.key ?? "no key"})`).join(", ")}`,
        ).toBe(true);
      }
    }

    function spec(): ServiceSpecInput {
      const group = pick(["alpha", "alpha", "beta", "gamma", "missing"]);
      const fam = pick(["v4", "v6", "dual", "prefer"] as const);
      const annotations: Record<string, string> = { "purelb.io/service-group": group };
      if (rnd() < 0.15) annotations["purelb.io/allow-shared-ip"] = pick(["k1", "k2"]);
      if (rnd() < 0.1)
        annotations["purelb.io/addresses"] = pick([
          "192.0.2.3",
          "198.51.100.42",
          "203.0.113.250",
          "2001:db8:c::2",
        ]);
      return {
        annotations,
        ports: [{ port: pick([53, 80, 443]), protocol: pick(["TCP", "UDP"] as const) }],
        ipFamilyPolicy:
          fam === "dual"
            ? "RequireDualStack"
            : fam === "prefer"
              ? "PreferDualStack"
              : "SingleStack",
        ipFamilies: fam === "v6" ? ["IPv6"] : fam === "v4" ? ["IPv4"] : ["IPv4", "IPv6"],
      };
    }

    it("keeps one owner per address through creates, deletes, group edits and restarts", async () => {
      const restarts: Record<number, NodeJS.Signals> = {
        [Math.floor(OPS * 0.25)]: "SIGTERM",
        [Math.floor(OPS * 0.5)]: "SIGKILL",
        [Math.floor(OPS * 0.75)]: "SIGTERM",
      };
      let n = 0;
      for (let step = 0; step < OPS; step++) {
        const r = rnd();
        let what: string;
        if (restarts[step]) {
          what = `restart by ${restarts[step]}`;
          await watcher.stop(restarts[step]);
          watcher = await startWatcher(kubeconfig);
        } else if (r < 0.55 || live.size < 5) {
          const name = `s${n++}`;
          what = `create ${name}`;
          await client.request("POST", `/api/v1/namespaces/${NS}/services`, {
            body: serviceObject(NS, name, spec()),
          });
          live.add(name);
        } else if (r < 0.9) {
          const name = pick([...live]);
          what = `delete ${name}`;
          await remove(client, `/api/v1/namespaces/${NS}/services/${name}`);
          live.delete(name);
        } else if (r < 0.97) {
          const g = pick(["alpha", "beta"]);
          what = `edit group ${g}`;
          await setGroup(g, 1 - (groupShape.get(g) ?? 0));
        } else {
          what = "delete and recreate group gamma";
          await remove(client, `/apis/purelb.io/v2/namespaces/purelb-system/servicegroups/gamma`);
          await setGroup("gamma", 0);
        }
        checkNoDuplicates(await listServices(), `after step ${step} (${what})`);
      }
    });

    it("serves every Service that can be served once things settle, and says why for the rest", async () => {
      // settle: nothing changes for two seconds
      let last = "";
      await waitFor(
        "the allocator to settle",
        async () => {
          const now = JSON.stringify((await listServices()).map(s => [s.name, s.ingress]));
          const settled = now === last;
          last = now;
          if (!settled) await new Promise(r => setTimeout(r, 2000));
          return settled;
        },
        90_000,
      );
      const services = await listServices();
      checkNoDuplicates(services, "at the end");
      const inGroup = (group: string, ip: string) => {
        const spec = GROUPS[group]?.[groupShape.get(group) ?? 0];
        const set = spec?.local ?? spec?.remote;
        const pools = [set?.v4pool?.pool, set?.v6pool?.pool].filter((p): p is string => !!p);
        const a = parseAddress(ip)!;
        return pools.some(p => {
          const r = parseRange(p);
          return r.ok && rangeContains(r.range, a);
        });
      };
      for (const s of services) {
        const group = s.annotations["purelb.io/service-group"];
        for (const ip of s.ingress) {
          expect(
            inGroup(group, ip) || grandfathered.has(`${s.name}|${ip}`),
            `seed ${SEED}: ${s.name} has ${ip}, outside group ${group}`,
          ).toBe(true);
        }
        if (s.ingress.length === 0) {
          const events = await eventsFor(client, NS, s.name);
          expect(
            events.some(e => e.type === "Warning" && e.reason === "AllocationFailed"),
            `seed ${SEED}: ${s.name} has no address and no Warning`,
          ).toBe(true);
        }
      }
      // A plain single-stack Service of a group with free addresses of its family must be served.
      const used = new Set(services.flatMap(s => s.ingress));
      for (const s of services.filter(x => x.ingress.length === 0)) {
        const a = s.annotations;
        if (
          a["purelb.io/addresses"] ||
          a["purelb.io/allow-shared-ip"] ||
          s.ipFamilyPolicy !== "SingleStack"
        )
          continue;
        const spec =
          GROUPS[a["purelb.io/service-group"]]?.[groupShape.get(a["purelb.io/service-group"]) ?? 0];
        const set = spec?.local ?? spec?.remote;
        const pool = s.ipFamilies[0] === "IPv6" ? set?.v6pool?.pool : set?.v4pool?.pool;
        const r = pool ? parseRange(pool) : undefined;
        if (!r?.ok) continue;
        const free =
          r.range.end -
          r.range.start +
          1n -
          BigInt([...used].filter(ip => rangeContains(r.range, parseAddress(ip)!)).length);
        expect(
          free <= 0n,
          `seed ${SEED}: ${s.name} is pending although ${pool} has ${free} free`,
        ).toBe(true);
      }
    });
  },
);
