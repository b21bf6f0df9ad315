import { PeprValidateRequest, a } from "pepr";
import { describe, expect, it } from "vitest";
import { describeError, guarded } from "../../capabilities/validation";

const request = () =>
  new PeprValidateRequest<a.GenericKind>({
    uid: "u",
    kind: { group: "purelb.io", version: "v2", kind: "ServiceGroup" },
    resource: { group: "purelb.io", version: "v2", resource: "servicegroups" },
    name: "g",
    namespace: "purelb-system",
    operation: "CREATE",
    userInfo: {},
    object: { metadata: { name: "g" } },
  } as never);

describe("admission handlers", () => {
  it("answer a check that throws with a denial in words, never an empty message", async () => {
    const apiDown = {
      ok: false,
      status: 503,
      statusText: "Service Unavailable",
      data: { message: "etcd is down" },
    };
    const res = await guarded("ServiceGroup", () => {
      throw apiDown;
    })(request());
    expect(res).toEqual({
      allowed: false,
      statusCode: undefined,
      statusMessage:
        "PureLB could not check this ServiceGroup: the Kubernetes API answered 503 Service Unavailable: etcd is down; retry, and if it keeps failing read the logs of the pepr-purelb Pods in pepr-system",
      warnings: undefined,
    });
  });

  it("pass a check's answer through untouched", async () => {
    const req = request();
    expect(await guarded("ServiceGroup", r => r.Approve(["w"]))(req)).toEqual({
      allowed: true,
      warnings: ["w"],
    });
  });

  it("describe errors, API answers and anything else", () => {
    expect(describeError(new Error("boom"))).toBe("boom");
    expect(describeError({ status: 404, statusText: "Not Found", data: "no such group" })).toBe(
      "the Kubernetes API answered 404 Not Found: no such group",
    );
    expect(describeError("plain")).toBe("plain");
  });
});
