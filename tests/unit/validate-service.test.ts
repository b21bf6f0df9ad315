import { describe, expect, it } from "vitest";
import { formatProblems } from "../../lib/ipam/problem";
import { toServiceModel } from "../../lib/k8s/service";
import {
  ADMISSION_WARNING_ANNOTATION,
  etpResetReason,
  groupNameOf,
  validateService,
} from "../../lib/validate/service";
import { step } from "./validate-story";

const service = (annotations: Record<string, string>, spec: Record<string, unknown> = {}) => ({
  metadata: { name: "web", namespace: "default", annotations },
  spec: { type: "LoadBalancer", ...spec },
});

describe("Service admission, one story per rule", () => {
  it("annotation syntax is checked on PureLB's Services only", () => {
    const bad = { "purelb.io/addresses": "192.0.2.300", "purelb.io/multi-pool": "yes" };
    step("a LoadBalancer without a class is refused with each bad annotation", () => {
      expect(formatProblems(validateService(service(bad)).problems)).toBe(
        'metadata.annotations["purelb.io/addresses"]: "192.0.2.300" is not an IP address; give one IPv4 and/or one IPv6 address, comma-separated; metadata.annotations["purelb.io/multi-pool"]: "yes" must be "true" or "false"',
      );
    });
    step("PureLB's class is checked too", () => {
      expect(
        validateService(service(bad, { loadBalancerClass: "purelb.io/purelb" })).problems,
      ).toHaveLength(2);
    });
    step("another controller's class and ClusterIP Services are left alone", () => {
      expect(
        validateService(service(bad, { loadBalancerClass: "example.com/other" })).problems,
      ).toEqual([]);
      expect(validateService(service(bad, { type: "ClusterIP" })).problems).toEqual([]);
    });
    step("fixed annotations pass", () => {
      expect(
        validateService(service({ "purelb.io/addresses": "192.0.2.30,2001:db8::30" })).problems,
      ).toEqual([]);
    });
  });

  it("the mutating webhook's note comes back to the client as a warning", () => {
    const v = validateService(service({ [ADMISSION_WARNING_ANNOTATION]: "changed it" }));
    expect(v).toEqual({ problems: [], warnings: ["changed it"] });
  });

  it("externalTrafficPolicy Local becomes Cluster on local groups and shared addresses only", () => {
    const local = { local: { v4pool: { pool: "192.0.2.1", subnet: "192.0.2.0/24" } } };
    const remote = { remote: { v4pool: { pool: "192.0.2.1", subnet: "192.0.2.0/24" } } };
    const svc = (ann: Record<string, string>, etp = "Local") =>
      toServiceModel(service(ann, { externalTrafficPolicy: etp }));
    step("Local on a local group is reset, naming the group and the fix", () => {
      expect(etpResetReason(svc({}), "purelb-system/default", local)).toBe(
        "spec.externalTrafficPolicy: Local was changed to Cluster because ServiceGroup purelb-system/default has local addresses, which one node announces: with Local, traffic reaching that node is dropped when none of the Service's endpoints runs there. To keep the client source address, use a remote ServiceGroup (purelb.io/service-group).",
      );
    });
    step("Local on a remote group is kept", () => {
      expect(etpResetReason(svc({}), "purelb-system/routed", remote)).toBeUndefined();
    });
    step("Netbox groups follow their poolType", () => {
      expect(
        etpResetReason(svc({}), "g", {
          netbox: { url: "https://n", tenant: "t", poolType: "local" },
        }),
      ).toBeDefined();
      expect(
        etpResetReason(svc({}), "g", { netbox: { url: "https://n", tenant: "t" } }),
      ).toBeUndefined();
    });
    step("a shared address forces Cluster whatever the group", () => {
      expect(etpResetReason(svc({ "purelb.io/allow-shared-ip": "k" }), "g", remote)).toMatch(
        /^spec\.externalTrafficPolicy: Local was changed to Cluster because the Service shares its address \(purelb\.io\/allow-shared-ip: "k"\)/,
      );
    });
    step("Cluster and an unknown group are left alone", () => {
      expect(etpResetReason(svc({}, "Cluster"), "g", local)).toBeUndefined();
      expect(etpResetReason(svc({}), "g", undefined)).toBeUndefined();
    });
  });

  it("the group of a Service is its annotation or default", () => {
    expect(groupNameOf({ annotations: {} })).toBe("default");
    expect(groupNameOf({ annotations: { "purelb.io/service-group": "routed" } })).toBe("routed");
    expect(
      groupNameOf({ annotations: { "purelb.io/service-group": "Not A Name" } }),
    ).toBeUndefined();
  });
});
