// The API-outage gap (root): three lab nodes whose agents (bundled as in production) heartbeat
// each other, a client requesting one IPv4 and one IPv6 VIP every 100 ms, and the
// kube-apiserver frozen (SIGSTOP) for PURELB_BENCH_FREEZE_MS (60 s by default). Figures: the
// longest client gap and the lost requests through the freeze and the minute after it.
import { AgentLab, labWinner } from "../tests/harness/agentlab";
import { ClientLoop, NameServers } from "../tests/harness/client-loop";
import { ensureNamespace, waitFor } from "../tests/harness/kube";
import { netnsUnavailable } from "../tests/harness/netns";
import { HolderSampler, freezeApiserver, heartbeatKey } from "../tests/harness/outage";
import { bundleAgent } from "./agent-bundle";
import { BenchResult, progress } from "./result";

const NODES = ["n1", "n2", "n3"];
const APP = "bench-outage";
const FREEZE_MS = Number(process.env.PURELB_BENCH_FREEZE_MS ?? 60_000);
/** After the API server is back: long enough for every Lease to be renewed and seen. */
const AFTER_MS = 15_000;
const GAP_TARGET_MS = 1_000;
const FAMILIES = [
  { family: "IPv4", ip: "192.0.2.210" },
  { family: "IPv6", ip: "2001:db8::210" },
] as const;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export async function run(): Promise<BenchResult[]> {
  const figures = FAMILIES.flatMap(f => [
    `API frozen ${FREEZE_MS / 1000} s: client gap ${f.family}`,
    `API frozen ${FREEZE_MS / 1000} s: holder changes ${f.family}`,
  ]);
  const why = netnsUnavailable();
  if (why)
    return figures.map(figure => ({
      figure,
      value: NaN,
      unit: "",
      target: "",
      pass: false,
      note: `skipped: ${why}`,
    }));
  progress("bundling the agent");
  const bundle = await bundleAgent("outage");
  const key = heartbeatKey();
  progress("starting control plane, lab, HTTP servers");
  const L = await AgentLab.start({
    nodes: NODES,
    agentArgs: [bundle],
    env: { LOG_LEVEL: "info", PURELB_HEARTBEAT_KEY_FILE: key.file },
  });
  let servers: NameServers | undefined;
  let thaw: (() => void) | undefined;
  try {
    await ensureNamespace(L.client, APP);
    await L.agentConfig({
      local: {
        garp: { enabled: true, count: 2, interval: "200ms", refresh: "60s" },
        // Shorter than the freeze: the addresses last only if the agents renew them.
        addressLifetime: { valid: "12s", preferred: "12s" },
      },
      lease: { duration: "5s", renew: "1.5s" },
    });
    await L.group("local", {
      local: {
        v4pools: [{ pool: "192.0.2.200-192.0.2.239", subnet: "192.0.2.0/24" }],
        v6pools: [{ pool: "2001:db8::200-2001:db8::2ff", subnet: "2001:db8::/64" }],
      },
    });
    await Promise.all(NODES.map(n => L.startAgent(n)));
    servers = await NameServers.start(L.lab);
    const ips = FAMILIES.map(f => f.ip);
    await L.service(APP, "frozen", { group: "local", poolType: "local", ips });
    const probe = new HolderSampler(L, ips, 500);
    probe.stop();
    await waitFor("the VIPs on their winners", () =>
      ips.every(ip => probe.holders(ip).join() === labWinner(ip, NODES)),
    );
    const loops = await Promise.all(ips.map(ip => ClientLoop.start(L.lab, ip)));
    const ready = Date.now();
    await Promise.all(loops.map(l => l.answerAfter(ready, 10_000)));
    // Every agent hears the others (heartbeats every second) before the freeze.
    await sleep(3_000);
    const from = Date.now();
    // Holders from here on: any change through the freeze and after it counts.
    const sampler = new HolderSampler(L, ips, 500);
    progress(`freezing the kube-apiserver for ${FREEZE_MS / 1000} s`);
    thaw = freezeApiserver(L);
    await sleep(FREEZE_MS);
    thaw();
    progress("API server back");
    await sleep(AFTER_MS);
    sampler.stop();
    await Promise.all(loops.map(l => l.stop()));
    return FAMILIES.flatMap((f, i) => {
      const r = loops[i].report(from);
      const changes = sampler.seen(f.ip).length - 1;
      const note = `${r.requests} requests, ${r.failures} lost, answered by ${JSON.stringify(r.answeredBy)}`;
      progress(`${f.family}: longest gap ${r.longestGapMs} ms; ${note}`);
      return [
        {
          figure: figures[i * 2],
          value: r.longestGapMs,
          unit: "ms",
          target: `< ${GAP_TARGET_MS} ms, 0 lost`,
          pass: r.longestGapMs < GAP_TARGET_MS && r.failures === 0,
          note,
        },
        {
          figure: figures[i * 2 + 1],
          value: changes,
          unit: "",
          target: "0",
          pass: changes === 0,
          note: sampler.seen(f.ip).join(" -> "),
        },
      ];
    });
  } finally {
    thaw?.();
    await servers?.stop();
    await L.stop();
    key.remove();
  }
}
