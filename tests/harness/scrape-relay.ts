// Lets a Prometheus on the host's 127.0.0.1 scrape a port inside a lab namespace (a node
// agent's /metrics) without any host interface, the reverse of relay.ts:
//   host namespace:  127.0.0.1:<free port> -> unix socket        (in the test process)
//   node namespace:  unix socket -> 127.0.0.1:<port>             (a small node process)
import { type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import path from "node:path";
import { readLog, waitFor } from "./agentlab";
import { Lab, stopChild } from "./netns";

const UNIX_TO_TCP_JS = `
const net = require("node:net");
const [path, port] = process.argv.slice(1);
const server = net.createServer(c => {
  const t = net.createConnection(Number(port), "127.0.0.1");
  c.pipe(t); t.pipe(c);
  const end = () => { c.destroy(); t.destroy(); };
  for (const s of [c, t]) { s.on("error", end); s.on("close", end); }
});
server.listen(path, () => console.log("scrape relay ready"));
`;

export interface ScrapeRelay {
  /** host:port on the host's 127.0.0.1 */
  address: string;
  stop(): Promise<void>;
}

export async function scrapeRelay(lab: Lab, ns: string, port: number): Promise<ScrapeRelay> {
  const socket = path.join(lab.dir, `scrape-${ns}-${port}.sock`);
  rmSync(socket, { force: true });
  const log = `scrape-relay-${ns}-${port}`;
  const inner: ChildProcess = lab.spawn(
    ns,
    process.execPath,
    ["-e", UNIX_TO_TCP_JS, socket, String(port)],
    {},
    log,
  );
  await waitFor(
    `scrape relay in ${ns}`,
    () => readLog(lab.logPath(log)).includes("scrape relay ready"),
    10_000,
  );
  const open = new Set<{ destroy(): void }>();
  const outer: Server = createServer(c => {
    const u = createConnection(socket);
    open.add(c);
    c.on("close", () => open.delete(c));
    c.pipe(u);
    u.pipe(c);
    const end = () => {
      c.destroy();
      u.destroy();
    };
    for (const s of [c, u]) {
      s.on("error", end);
      s.on("close", end);
    }
  });
  await new Promise<void>(r => outer.listen(0, "127.0.0.1", r));
  const hostPort = (outer.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${hostPort}`,
    stop: async () => {
      // Prometheus keeps its connection alive: close() alone would wait for it.
      for (const c of open) c.destroy();
      await new Promise(r => outer.close(r));
      await stopChild(inner, "SIGKILL");
    },
  };
}
