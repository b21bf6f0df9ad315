import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { crdFileName, crdYaml } from "../../hack/crd-yaml";
import {
  BGPGlobal,
  BGPNeighbor,
  BGPNodeStatusStatus,
  BGPConfigurationSpec,
} from "../../lib/k8s/bgp";
import {
  Schema,
  crds,
  serviceGroupCrd,
  lbNodeAgentCrd,
  bgpConfigurationCrd,
  bgpNodeStatusCrd,
} from "../../lib/k8s/crds";
import { schemaOf } from "../../lib/k8s/crds/schema";
import {
  AddressConfigSpec,
  GarpConfigSpec,
  GarpSpec,
  InterfaceAddressConfig,
  LBNodeAgentSpec,
  LocalAgentSpec,
} from "../../lib/k8s/lbnodeagent";
import {
  AddressPoolSpec,
  ExternalSpec,
  NetboxSpec,
  PoolSetSpec,
  ServiceGroupSpec,
} from "../../lib/k8s/servicegroup";

const dir = path.resolve(import.meta.dirname, "../../crds");

describe("CRD manifests", () => {
  it("crds/*.yaml are exactly what lib/k8s/crds generates (run: npx tsx hack/gen-crds.ts)", () => {
    const onDisk = readdirSync(dir)
      .filter(f => f.endsWith(".yaml"))
      .sort();
    expect(onDisk).toEqual(crds.map(crdFileName).sort());
    for (const c of crds)
      expect(readFileSync(path.join(dir, crdFileName(c)), "utf8"), crdFileName(c)).toBe(crdYaml(c));
  });

  it("keeps every field of the TypeScript source, defaults included", () => {
    for (const c of crds) expect(parse(crdYaml(c))).toEqual(c);
  });

  it("describes every field, so kubectl explain helps", () => {
    const undescribed: string[] = [];
    const walk = (s: Schema, p: string) => {
      if (!s.description?.trim() && !/^\w+\.metadata$/.test(p)) undescribed.push(p);
      for (const [k, child] of Object.entries(s.properties ?? {})) walk(child, `${p}.${k}`);
      if (s.items) walk(s.items, `${p}[]`);
      if (s.additionalProperties) walk(s.additionalProperties, `${p}{}`);
    };
    for (const c of crds) walk(schemaOf(c), c.spec.names.kind);
    expect(undescribed).toEqual([]);
  });

  it("points every printer column at a field of the schema", () => {
    for (const c of crds) {
      for (const col of c.spec.versions[0].additionalPrinterColumns ?? []) {
        if (col.jsonPath === ".metadata.creationTimestamp") continue;
        let s: Schema | undefined = schemaOf(c);
        for (const part of col.jsonPath.slice(1).split(".")) s = s?.properties?.[part];
        expect(s, `${c.spec.names.kind} column ${col.name}`).toBeDefined();
      }
    }
  });

  it("has the same fields as the TypeScript types", () => {
    // Required<> makes the compiler insist on every field of the type, and the object
    // literal refuses extra ones: the schema's property names must match both ways.
    const keys = (s: Schema | undefined) => Object.keys(s?.properties ?? {}).sort();
    const sg = schemaOf(serviceGroupCrd).properties!.spec;
    const pool: Required<AddressPoolSpec> = { pool: "", subnet: "", aggregation: "" };
    const set: Required<PoolSetSpec> = {
      v4pool: pool,
      v6pool: pool,
      v4pools: [],
      v6pools: [],
      multiPool: false,
      balancePools: false,
      skipIPv6DAD: false,
    };
    const netbox: Required<NetboxSpec> = {
      url: "",
      tenant: "",
      prefix: "",
      role: "",
      tag: "",
      aggregation: "",
      poolType: "remote",
      secretName: "",
    };
    expect(keys(sg.properties!.local)).toEqual(Object.keys(set).sort());
    expect(keys(sg.properties!.remote)).toEqual(Object.keys(set).sort());
    expect(keys(sg.properties!.local.properties!.v4pools.items)).toEqual(Object.keys(pool).sort());
    expect(keys(sg.properties!.netbox)).toEqual(Object.keys(netbox).sort());
    const external: Required<ExternalSpec> = { provider: "", socket: "", announce: "local" };
    expect(keys(sg.properties!.external)).toEqual(Object.keys(external).sort());
    const sgSpec: Required<ServiceGroupSpec> = {
      local: set,
      remote: set,
      external,
      netbox,
      namespaces: [],
      enforceNamespaces: false,
      namespaceDefault: false,
    };
    expect(keys(sg)).toEqual(Object.keys(sgSpec).sort());

    const agent = schemaOf(lbNodeAgentCrd).properties!.spec;
    const garp: Required<GarpSpec> = { enabled: true, count: 1, interval: "", refresh: "" };
    const garpConfig: Required<GarpConfigSpec> = {
      enabled: true,
      initialDelay: "",
      count: 1,
      interval: "",
      verifyBeforeSend: true,
      refresh: "",
    };
    const lifetimes: Required<InterfaceAddressConfig> = {
      validLifetime: 0,
      preferredLifetime: 0,
      noPrefixRoute: false,
    };
    const addressConfig: Required<AddressConfigSpec> = {
      localInterface: lifetimes,
      dummyInterface: lifetimes,
    };
    const local: Required<LocalAgentSpec> = {
      localInterface: "",
      dummyInterface: "",
      interfaces: [],
      garpConfig,
      addressConfig,
      extInterface: "",
      garp,
      addressLifetime: {},
    };
    const agentSpec: Required<LBNodeAgentSpec> = { nodeSelector: {}, local, lease: {} };
    expect(keys(agent)).toEqual(Object.keys(agentSpec).sort());
    expect(keys(agent.properties!.local)).toEqual(Object.keys(local).sort());
    expect(keys(agent.properties!.local.properties!.garp)).toEqual(Object.keys(garp).sort());
    const l = agent.properties!.local.properties!;
    expect(keys(l.garpConfig)).toEqual(Object.keys(garpConfig).sort());
    expect(keys(l.addressConfig)).toEqual(Object.keys(addressConfig).sort());
    expect(keys(l.addressConfig.properties!.dummyInterface)).toEqual(Object.keys(lifetimes).sort());

    const bgp = schemaOf(bgpConfigurationCrd).properties!.spec;
    const g: Required<BGPGlobal> = { asn: 1, routerID: "", listenPort: 179 };
    const n: Required<BGPNeighbor> = {
      address: "",
      peerASN: 1,
      passwordSecretRef: {},
      multihop: {},
      holdTime: "",
      keepaliveTime: "",
      families: [],
      nodeSelector: {},
    };
    const spec: Required<BGPConfigurationSpec> = {
      global: g,
      neighbors: [],
      gracefulRestart: {},
      communities: [],
      localPref: 0,
    };
    expect(keys(bgp)).toEqual(Object.keys(spec).sort());
    expect(keys(bgp.properties!.global)).toEqual(Object.keys(g).sort());
    expect(keys(bgp.properties!.neighbors.items)).toEqual(Object.keys(n).sort());

    const status: Required<BGPNodeStatusStatus> = {
      routerID: "",
      routerIDSource: "",
      asn: 1,
      neighbors: [],
      advertised: [],
      speaker: { state: "Running", address: "" },
      problems: [],
      lastUpdate: "",
      heartbeat: "",
    };
    expect(keys(schemaOf(bgpNodeStatusCrd).properties!.status)).toEqual(Object.keys(status).sort());
  });
});
