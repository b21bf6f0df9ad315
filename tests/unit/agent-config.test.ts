import { describe, expect, it } from "vitest";
import { parseAgentConfig } from "../../lib/agent/config";

describe("parseAgentConfig", () => {
  it("gives the defaults without an LBNodeAgent", () => {
    const { config, problems } = parseAgentConfig(undefined);
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      localInterface: "default",
      extInterface: "kube-lb0",
      garp: { enabled: true, count: 1, intervalMs: 1000, refreshMs: 60_000 },
      validLft: 300,
      preferredLft: 300,
      lease: { durationSeconds: 5, renewMs: 1500 },
    });
  });

  it("reads every field", () => {
    const { config } = parseAgentConfig({
      local: {
        localInterface: "^eth[0-9]$",
        extInterface: "lb9",
        garp: { enabled: false, count: 3, interval: "250ms", refresh: "0s" },
        addressLifetime: { valid: "0s", preferred: "0s" },
      },
      lease: { duration: "10s", renew: "2s" },
    });
    expect((config.localInterface as RegExp).test("eth0")).toBe(true);
    expect(config).toMatchObject({
      extInterface: "lb9",
      garp: { enabled: false, count: 3, intervalMs: 250, refreshMs: 0 },
      validLft: 0,
      preferredLft: 0,
      lease: { durationSeconds: 10, renewMs: 2000 },
    });
  });

  it("falls back, and says why, on bad values", () => {
    const { config, problems } = parseAgentConfig({
      local: { localInterface: "([", garp: { count: 0 }, addressLifetime: { valid: "5s" } },
      lease: { duration: "3s", renew: "4s" },
    });
    expect(config.localInterface).toBe("default");
    expect(config.garp.count).toBe(1);
    expect(config.validLft).toBe(10);
    expect(config.lease.renewMs).toBe(1000);
    expect(problems.length).toBe(4);
  });

  it("never lets the preferred lifetime exceed the valid one", () => {
    expect(
      parseAgentConfig({ local: { addressLifetime: { valid: "60s", preferred: "600s" } } }).config
        .preferredLft,
    ).toBe(60);
  });
});
