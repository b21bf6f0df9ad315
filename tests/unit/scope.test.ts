// Namespace scoping, one case per rule of the Go PureLB v0.17's ServiceGroup documentation.
import { describe, expect, it } from "vitest";
import { GroupModel, parseGroup } from "../../lib/ipam/group";
import { ambiguityWarnings, resolveGroup } from "../../lib/ipam/scope";
import { ServiceGroupSpec } from "../../lib/k8s/servicegroup";
import { step } from "./validate-story";

let n = 0;
const group = (name: string, scope: Partial<ServiceGroupSpec> = {}): GroupModel => {
  n++;
  const pool = { pool: `192.0.2.${n}`, subnet: "192.0.2.0/24" };
  const { group: g, problems } = parseGroup("purelb-system", name, {
    local: { v4pool: pool },
    ...scope,
  });
  expect(problems).toEqual([]);
  return g!;
};

describe("which ServiceGroup a Service gets", () => {
  it("no group lists any namespace: the annotation, else default (as before v0.17)", () => {
    const groups = [group("default"), group("web")];
    expect(resolveGroup("shop", undefined, groups)).toEqual({
      ok: true,
      name: "default",
      via: "default",
    });
    expect(resolveGroup("shop", "web", groups)).toEqual({
      ok: true,
      name: "web",
      via: "annotation",
    });
  });

  it("a group listing a namespace is that namespace's default; elsewhere nothing changes", () => {
    const groups = [group("default"), group("tenant-a-pool", { namespaces: ["tenant-a"] })];
    expect(resolveGroup("tenant-a", undefined, groups)).toMatchObject({
      name: "tenant-a-pool",
      via: "namespace",
    });
    expect(resolveGroup("shop", undefined, groups)).toMatchObject({ name: "default" });
    // a default, not a boundary: the annotation still reaches across, both ways
    expect(resolveGroup("tenant-a", "default", groups)).toMatchObject({ ok: true });
    expect(resolveGroup("shop", "tenant-a-pool", groups)).toMatchObject({ ok: true });
  });

  it("two groups list a namespace: namespaceDefault picks; the other is reached by annotation", () => {
    const groups = [
      group("default"),
      group("tenant-a-l2", { namespaces: ["tenant-a"], namespaceDefault: true }),
      group("tenant-a-bgp", { namespaces: ["tenant-a"] }),
    ];
    expect(resolveGroup("tenant-a", undefined, groups)).toMatchObject({ name: "tenant-a-l2" });
    expect(resolveGroup("tenant-a", "tenant-a-bgp", groups)).toMatchObject({
      name: "tenant-a-bgp",
      via: "annotation",
    });
  });

  it("two groups and none marked: default with a warning naming both, or refused when enforcing", () => {
    const open = [
      group("default"),
      group("tenant-a-l2", { namespaces: ["tenant-a"] }),
      group("tenant-a-bgp", { namespaces: ["tenant-a"] }),
    ];
    expect(resolveGroup("tenant-a", undefined, open)).toEqual({
      ok: true,
      name: "default",
      via: "default (ambiguous binding)",
      warning:
        "ServiceGroups tenant-a-bgp, tenant-a-l2 all list namespace tenant-a and none is marked namespaceDefault; set namespaceDefault: true on exactly one, or name one with purelb.io/service-group; this Service uses ServiceGroup default meanwhile",
    });
    const fenced = [
      group("default"),
      group("tenant-a-l2", { namespaces: ["tenant-a"], enforceNamespaces: true }),
      group("tenant-a-bgp", { namespaces: ["tenant-a"] }),
    ];
    expect(resolveGroup("tenant-a", undefined, fenced)).toEqual({
      ok: false,
      reason: "namespace-denied",
      message:
        "ServiceGroups tenant-a-bgp, tenant-a-l2 all list namespace tenant-a and none is marked namespaceDefault; set namespaceDefault: true on exactly one, or name one with purelb.io/service-group; namespace tenant-a enforces, so it does not fall back to ServiceGroup default",
    });
  });

  it("both marked namespaceDefault is as ambiguous as none", () => {
    const groups = [
      group("default"),
      group("a1", { namespaces: ["tenant-a"], namespaceDefault: true }),
      group("a2", { namespaces: ["tenant-a"], namespaceDefault: true }),
    ];
    const r = resolveGroup("tenant-a", undefined, groups);
    expect(r).toMatchObject({ ok: true, name: "default" });
    expect(r.ok && r.warning).toContain("a1 and a2 are all marked namespaceDefault");
  });

  it("enforcement fences the namespace both ways, set on any one of its groups", () => {
    const groups = [
      group("default"),
      group("tenant-a-l2", {
        namespaces: ["tenant-a"],
        enforceNamespaces: true,
        namespaceDefault: true,
      }),
      // no enforceNamespaces of its own, fenced all the same
      group("tenant-a-bgp", { namespaces: ["tenant-a"] }),
    ];
    step("outsiders cannot name either group", () => {
      for (const name of ["tenant-a-l2", "tenant-a-bgp"])
        expect(resolveGroup("shop", name, groups)).toMatchObject({
          ok: false,
          reason: "namespace-denied",
          message: expect.stringContaining(`ServiceGroup ${name} serves only namespaces tenant-a`),
        });
    });
    step("insiders cannot reach out to default", () => {
      expect(resolveGroup("tenant-a", "default", groups)).toEqual({
        ok: false,
        reason: "namespace-denied",
        message:
          "namespace tenant-a is confined (enforceNamespaces) to ServiceGroups tenant-a-bgp, tenant-a-l2, not default; set purelb.io/service-group to one of those",
      });
    });
    step("insiders get their default and may name the other", () => {
      expect(resolveGroup("tenant-a", undefined, groups)).toMatchObject({ name: "tenant-a-l2" });
      expect(resolveGroup("tenant-a", "tenant-a-bgp", groups)).toMatchObject({ ok: true });
    });
    step("other namespaces keep default", () => {
      expect(resolveGroup("shop", undefined, groups)).toMatchObject({ ok: true, name: "default" });
    });
  });

  it("binding default itself while enforcing refuses every other namespace's unannotated Services", () => {
    const groups = [group("default", { namespaces: ["ops"], enforceNamespaces: true })];
    expect(resolveGroup("ops", undefined, groups)).toMatchObject({ ok: true, name: "default" });
    expect(resolveGroup("shop", undefined, groups)).toMatchObject({
      ok: false,
      reason: "namespace-denied",
    });
  });

  it("a group that does not exist is passed on, for the caller's unknown-group message", () => {
    expect(resolveGroup("shop", "nope", [group("default")])).toMatchObject({
      ok: true,
      name: "nope",
    });
  });

  it("admission warns about a group that leaves a namespace without a clear default", () => {
    const l2 = group("tenant-a-l2", { namespaces: ["tenant-a"] });
    const bgp = group("tenant-a-bgp", { namespaces: ["tenant-a"], enforceNamespaces: true });
    expect(ambiguityWarnings(bgp, [l2])).toEqual([
      "ServiceGroups tenant-a-bgp, tenant-a-l2 all list namespace tenant-a and none is marked namespaceDefault; set namespaceDefault: true on exactly one, or name one with purelb.io/service-group. Until then unannotated Services in tenant-a are refused (the namespace enforces).",
    ]);
    const marked = group("tenant-a-l2", { namespaces: ["tenant-a"], namespaceDefault: true });
    expect(ambiguityWarnings(bgp, [marked])).toEqual([]);
  });
});
