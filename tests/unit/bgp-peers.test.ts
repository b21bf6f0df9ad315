import { describe, expect, it } from "vitest";
import { PeerSpec } from "../../lib/bgp/config";
import { ApiPeer } from "../../lib/bgp/gobgp";
import {
  globalDiff,
  goDuration,
  observePeer,
  peerAddress,
  peerDiff,
  sessionState,
  toApiPeer,
} from "../../lib/bgp/peers";
import { buildStatus, statusKey, statusPatch } from "../../lib/bgp/status";

const spec = (over: Partial<PeerSpec> = {}): PeerSpec => ({
  address: "192.0.2.1",
  family: 4,
  peerAsn: 64512,
  localAsn: 64513,
  password: "",
  multihopTtl: 0,
  holdTime: 90,
  keepalive: 30,
  families: [4, 6],
  gracefulRestart: { enabled: false, restartTime: 0 },
  ...over,
});

describe("peers", () => {
  it("spells out what gobgpd would default, so an unchanged peer reads back unchanged", () => {
    const p = toApiPeer(spec({ gracefulRestart: { enabled: true, restartTime: 30 } }));
    expect(p.conf).toEqual({
      neighbor_address: "192.0.2.1",
      peer_asn: 64512,
      local_asn: 64513,
      auth_password: "",
      type: "EXTERNAL",
    });
    expect(p.transport).toEqual({ local_address: "0.0.0.0" });
    expect(p.timers?.config).toMatchObject({ hold_time: 90, keepalive_interval: 30 });
    expect(p.graceful_restart).toEqual({ enabled: true, restart_time: 30, deferral_time: 360 });
    expect(p.afi_safis?.map(a => a.config?.family?.afi)).toEqual(["AFI_IP", "AFI_IP6"]);
    expect(p.afi_safis?.every(a => a.mp_graceful_restart?.config?.enabled)).toBe(true);
    expect(toApiPeer(spec({ peerAsn: 64513 })).conf?.type).toBe("INTERNAL");
    expect(toApiPeer(spec({ address: "2001:db8::1", family: 6 })).transport?.local_address).toBe(
      "::",
    );
    // What gobgpd reports for the peer it was given compares equal.
    for (const s of [
      spec(),
      spec({
        multihopTtl: 5,
        password: "x",
        families: [6],
        gracefulRestart: { enabled: true, restartTime: 60 },
      }),
    ]) {
      expect(peerDiff(toApiPeer(s), s)).toEqual([]);
    }
  });

  it("names what changed; multihop is told apart because UpdatePeer ignores it", () => {
    const running = toApiPeer(spec());
    expect(peerDiff(running, spec({ holdTime: 9, keepalive: 3 }))).toEqual([
      "holdTime",
      "keepaliveTime",
    ]);
    expect(peerDiff(running, spec({ peerAsn: 65000, password: "p" }))).toEqual([
      "peerASN",
      "password",
    ]);
    expect(peerDiff(running, spec({ multihopTtl: 2 }))).toEqual(["multihop"]);
    expect(peerDiff(running, spec({ families: [4] }))).toEqual(["families"]);
    expect(
      peerDiff(running, spec({ gracefulRestart: { enabled: true, restartTime: 90 } })),
    ).toEqual(["gracefulRestart"]);
  });

  it("reads gobgpd's view of a session", () => {
    const p: ApiPeer = {
      conf: { neighbor_address: "2001:DB8::1" },
      state: { session_state: "ESTABLISHED", messages: { received: { notification: 1 } } },
      timers: { state: { uptime: { seconds: 1_700_000_000, nanos: 500_000_000 } } },
      afi_safis: [
        { state: { advertised: 3, received: 1 } },
        { state: { advertised: 2, received: 0 } },
      ],
    };
    expect(observePeer(p)).toEqual({
      address: "2001:db8::1",
      state: "Established",
      sinceMs: 1_700_000_000_500,
      sent: 5,
      received: 1,
      notificationsIn: 1,
      notificationsOut: 0,
    });
    expect(peerAddress({ state: { neighbor_address: "<nil>" } })).toBe("");
    expect(sessionState("OPENCONFIRM")).toBe("OpenConfirm");
    expect(sessionState(undefined)).toBe("Unknown");
  });

  it("knows when the global settings need a restart", () => {
    const want = { asn: 64513, routerId: "192.0.2.11", routerIdSource: "config", listenPort: 179 };
    expect(
      globalDiff({ asn: 64513, router_id: "192.0.2.11", listen_port: 179 }, want),
    ).toBeUndefined();
    expect(globalDiff({ asn: 64512, router_id: "192.0.2.12", listen_port: 179 }, want)).toBe(
      "ASN 64512 -> 64513, router ID 192.0.2.12 -> 192.0.2.11",
    );
  });

  it.each([
    [0, "0s"],
    [45_900, "45s"],
    [125_000, "2m5s"],
    [3 * 3600_000 + 7000, "3h0m7s"],
    [-5, "0s"],
  ])("goDuration(%d) = %s", (ms, text) => expect(goDuration(ms)).toBe(text));
});

describe("status", () => {
  const plan = {
    source: "purelb-system/default",
    global: {
      asn: 64513,
      routerId: "192.0.2.11",
      routerIdSource: "template (Node InternalIP)",
      listenPort: 179,
    },
    peers: [spec(), spec({ address: "192.0.2.2" })],
    keep: [],
    route: { communities: [], largeCommunities: [] },
    problems: [],
  };
  const observed = new Map([
    [
      "192.0.2.1",
      {
        address: "192.0.2.1",
        state: "Established" as const,
        sinceMs: 1000,
        sent: 2,
        received: 0,
        notificationsIn: 0,
        notificationsOut: 0,
      },
    ],
  ]);

  it("reports each neighbour of the plan with what gobgpd says of it", () => {
    const st = buildStatus({
      plan,
      speaker: { state: "Running", address: "127.0.0.1:50051" },
      observed,
      peerErrors: new Map([["192.0.2.2", "gobgpd did not accept the peer: x"]]),
      advertised: ["203.0.113.10/32"],
      now: 62_000,
    });
    expect(st).toMatchObject({
      routerID: "192.0.2.11",
      routerIDSource: "template (Node InternalIP)",
      asn: 64513,
      advertised: ["203.0.113.10/32"],
      neighbors: [
        {
          address: "192.0.2.1",
          state: "Established",
          uptime: "1m1s",
          prefixesSent: 2,
          prefixesReceived: 0,
        },
        { address: "192.0.2.2", state: "Unknown", lastError: "gobgpd did not accept the peer: x" },
      ],
    });
  });

  it("says on every neighbour when gobgpd does not answer", () => {
    const st = buildStatus({
      plan,
      speaker: { state: "Unreachable", address: "a", message: "gobgpd's API at a does not answer" },
      observed,
      peerErrors: new Map(),
      advertised: [],
      now: 0,
    });
    expect(st.neighbors!.map(n => [n.state, n.lastError])).toEqual([
      ["Unknown", "gobgpd's API at a does not answer"],
      ["Unknown", "gobgpd's API at a does not answer"],
    ]);
  });

  it("ignores ticking uptimes when deciding that the status changed, and patches absent fields away", () => {
    const a = buildStatus({
      plan,
      speaker: { state: "Running", address: "" },
      observed,
      peerErrors: new Map(),
      advertised: [],
      now: 5000,
    });
    const b = buildStatus({
      plan,
      speaker: { state: "Running", address: "" },
      observed,
      peerErrors: new Map(),
      advertised: [],
      now: 9000,
    });
    expect(statusKey(a)).toBe(statusKey(b));
    expect(statusKey(a)).not.toBe(statusKey({ ...a, advertised: ["x"] }));
    const none = buildStatus({
      plan: { ...plan, global: undefined, peers: [] },
      speaker: { state: "Stopped", address: "" },
      observed,
      peerErrors: new Map(),
      advertised: [],
      now: 0,
    });
    expect(statusPatch(none)).toMatchObject({ routerID: null, asn: null, neighbors: [] });
  });
});
