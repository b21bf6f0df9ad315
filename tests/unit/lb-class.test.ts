// Which Services are PureLB's, by spec.loadBalancerClass and upstream's defaultAnnouncer switch.
import { describe, expect, it } from "vitest";
import { isManaged } from "../../lib/allocator/plan";
import { servesClass, servesClassless } from "../../lib/k8s/lb-class";
import { toServiceModel } from "../../lib/k8s/service";

const svc = (loadBalancerClass?: string) =>
  toServiceModel({
    metadata: { namespace: "ns", name: "web", uid: "u", resourceVersion: "1" },
    spec: { type: "LoadBalancer", ...(loadBalancerClass ? { loadBalancerClass } : {}) },
  });

describe("loadBalancerClass", () => {
  it("serves the Go PureLB v2 class and the v1/seed class, no other", () => {
    expect(isManaged(svc("purelb.io/purelbv2"))).toBe(true);
    expect(isManaged(svc("purelb.io/purelb"))).toBe(true);
    expect(isManaged(svc("metallb.io/metallb"))).toBe(false);
  });

  it("serves Services without a class unless defaultAnnouncer is something else than PureLB", () => {
    expect(servesClassless({})).toBe(true);
    expect(servesClassless({ PURELB_DEFAULT_ANNOUNCER: "PureLB" })).toBe(true);
    expect(servesClassless({ PURELB_DEFAULT_ANNOUNCER: "other" })).toBe(false);
    expect(servesClass(undefined, false)).toBe(false);
    expect(servesClass("purelb.io/purelbv2", false)).toBe(true);
  });

  it("the allocator reads the switch from its environment", () => {
    const before = process.env.PURELB_DEFAULT_ANNOUNCER;
    try {
      process.env.PURELB_DEFAULT_ANNOUNCER = "none";
      expect(isManaged(svc())).toBe(false);
      expect(isManaged(svc("purelb.io/purelbv2"))).toBe(true);
    } finally {
      if (before === undefined) delete process.env.PURELB_DEFAULT_ANNOUNCER;
      else process.env.PURELB_DEFAULT_ANNOUNCER = before;
    }
    expect(isManaged(svc())).toBe(true);
  });
});
