// The Go PureLB v0.17's ServiceGroup fields (spec.namespaces, enforceNamespaces,
// namespaceDefault, spec.external): accepted with the constraints upstream's CRD declares, and
// refused with words that say what to write.
import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { ServiceGroup, ServiceGroupSpec } from "../../lib/k8s/servicegroup";
import { validateServiceGroup } from "../../lib/validate/servicegroup";
import { step } from "./validate-story";

const sg = (spec: unknown): ServiceGroup => ({
  metadata: { name: "tenant-a-l2", namespace: "purelb-system" },
  spec: spec as ServiceGroupSpec,
});
const local = { local: { v4pools: [{ pool: "192.0.2.10-192.0.2.20", subnet: "192.0.2.0/24" }] } };
const denial = (spec: unknown) => formatProblems(validateServiceGroup(sg(spec), []).problems);

describe("ServiceGroup fields of the Go PureLB v0.17", () => {
  it("namespaces is a list of namespace names, at most 1024", () => {
    step("a list of names passes and is kept sorted", () => {
      const v = validateServiceGroup(sg({ ...local, namespaces: ["tenant-b", "tenant-a"] }), []);
      expect(v.problems).toEqual([]);
      expect(v.group?.namespaces).toEqual(["tenant-a", "tenant-b"]);
    });
    step("a name with capitals is refused by its pattern", () => {
      expect(denial({ ...local, namespaces: ["Tenant-A"] })).toBe(
        'spec.namespaces[0]: "Tenant-A" does not match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$: A namespace name.',
      );
    });
    step("a name longer than 63 characters is refused", () => {
      expect(denial({ ...local, namespaces: ["a".repeat(64)] })).toBe(
        `spec.namespaces[0]: "${"a".repeat(64)}" is longer than 63 characters`,
      );
    });
    step("1025 names are too many", () => {
      const many = Array.from({ length: 1025 }, (_, i) => `ns-${i}`);
      expect(denial({ ...local, namespaces: many })).toBe(
        "spec.namespaces: has 1025 items; at most 1024 are allowed",
      );
    });
  });

  it("enforceNamespaces and namespaceDefault need a non-empty namespaces", () => {
    step("enforceNamespaces alone is refused", () => {
      expect(denial({ ...local, enforceNamespaces: true })).toBe(
        "spec.enforceNamespaces: needs a non-empty spec.namespaces, or it would enforce nothing; list the namespaces this group serves",
      );
    });
    step("namespaceDefault with an empty list is refused", () => {
      expect(denial({ ...local, namespaces: [], namespaceDefault: true })).toBe(
        "spec.namespaceDefault: needs a non-empty spec.namespaces, or it would be the default of no namespace; list the namespaces it is the default for",
      );
    });
    step("both false without a list pass", () => {
      expect(denial({ ...local, enforceNamespaces: false, namespaceDefault: false })).toBe("");
    });
    step("both true with a list pass and reach the model", () => {
      const v = validateServiceGroup(
        sg({ ...local, namespaces: ["tenant-a"], enforceNamespaces: true, namespaceDefault: true }),
        [],
      );
      expect(v.problems).toEqual([]);
      expect(v.group).toMatchObject({ enforceNamespaces: true, namespaceDefault: true });
    });
  });

  it("external names a provider, an absolute socket and local or remote", () => {
    step("upstream's example passes, with the default socket when unset", () => {
      const v = validateServiceGroup(
        sg({ external: { provider: "my-ipam", announce: "remote" } }),
        [],
      );
      expect(v.problems).toEqual([]);
      expect(v.group).toMatchObject({
        type: "external",
        external: { provider: "my-ipam", socket: "/var/run/purelb/ipam.sock", announce: "remote" },
      });
    });
    step("provider and announce are required", () => {
      expect(denial({ external: {} })).toBe(
        "spec.external.provider: is required: Name of the IPAM provider, shown in status.ipam. Display only: it is not checked against the sidecar.; spec.external.announce: is required: How the addresses are announced: local (one elected node's interface, ARP/NDP) or remote (kube-lb0 on every node, BGP).",
      );
    });
    step("an empty provider is refused", () => {
      expect(denial({ external: { provider: "", announce: "local" } })).toContain(
        "spec.external.provider: must be at least 1 character long",
      );
    });
    step("a relative socket is refused", () => {
      expect(denial({ external: { provider: "p", announce: "local", socket: "ipam.sock" } })).toBe(
        'spec.external.socket: "ipam.sock" is not an absolute path; give the sidecar\'s socket inside the allocator Pod, e.g. /var/run/purelb/ipam.sock',
      );
    });
    step("announce is local or remote", () => {
      expect(denial({ external: { provider: "p", announce: "bgp" } })).toBe(
        'spec.external.announce: "bgp" is not one of local, remote',
      );
    });
    step("external cannot be combined with local", () => {
      expect(denial({ ...local, external: { provider: "p", announce: "local" } })).toBe(
        "spec: a ServiceGroup needs exactly one of local, remote, external or netbox (found local and external); split it into one ServiceGroup per type",
      );
    });
  });
});
