// multiPool and what it cannot be combined with, told as a user's attempts.
import { describe, expect, it } from "vitest";
import { multiPoolConflict } from "../../lib/ipam/multipool-conflict";
import { step } from "./validate-story";

const plain = { name: "lan", multiPool: false, balancePools: false };

describe("multiPool conflicts", () => {
  it("refuses the multi-pool annotation on a balancePools group, naming both ways out", () => {
    const m = multiPoolConflict({ multiPool: true }, { ...plain, balancePools: true });
    expect(m).toMatch(
      /purelb\.io\/multi-pool cannot be used with ServiceGroup lan: it has balancePools/,
    );
    expect(m).toMatch(/remove the annotation, or balancePools from the group/);
    step("multi-pool: false on that group asks for nothing contradictory", () => {
      expect(
        multiPoolConflict({ multiPool: false }, { ...plain, balancePools: true }),
      ).toBeUndefined();
    });
  });

  it("refuses a sharing key on a multiPool Service, whether the group or the annotation asks", () => {
    expect(multiPoolConflict({ sharingKey: "k" }, { ...plain, multiPool: true })).toMatch(
      /purelb\.io\/allow-shared-ip cannot be used with multiPool \(ServiceGroup lan\)/,
    );
    expect(multiPoolConflict({ sharingKey: "k", multiPool: true }, plain)).toMatch(
      /asked by purelb\.io\/multi-pool/,
    );
    step("the annotation turning multiPool off makes sharing fine again", () => {
      expect(
        multiPoolConflict({ sharingKey: "k", multiPool: false }, { ...plain, multiPool: true }),
      ).toBeUndefined();
    });
    step("and sharing on a plain group is untouched", () => {
      expect(multiPoolConflict({ sharingKey: "k" }, plain)).toBeUndefined();
    });
  });
});
