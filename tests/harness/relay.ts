// Lets processes inside network namespaces reach the test apiserver on the host's 127.0.0.1
// without any host interface: unix sockets are filesystem objects, so they cross namespaces.
//   host namespace:   unix socket  -> 127.0.0.1:<apiserver port>   (in the test process)
//   each namespace:   127.0.0.1:<port> -> unix socket                (a small node process)
// The apiserver's certificate names 127.0.0.1, so TLS passes through unchanged.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end);
  b.on("error", end);
  a.on("close", end);
  b.on("close", end);
}

/** In-process relay from a unix socket to a TCP port on the host's loopback. */
export function unixToTcp(socketPath: string, port: number, host = "127.0.0.1"): Promise<Server> {
  rmSync(socketPath, { force: true });
  const server = createServer(conn => pipeBoth(conn, createConnection({ host, port })));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve(server));
  });
}

/**
 * Source of a node program that listens on <host>:<port> (host 127.0.0.1 unless given) and
 * forwards to a unix socket; run with `node -e` inside a namespace (no TypeScript loader
 * needed, so it starts at once).
 */
export const TCP_TO_UNIX_JS = `
const net = require("node:net");
const [port, path, host = "127.0.0.1"] = process.argv.slice(1);
const server = net.createServer(c => {
  const u = net.createConnection(path);
  c.pipe(u); u.pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  for (const s of [c, u]) { s.on("error", end); s.on("close", end); }
});
server.listen(Number(port), host, () => console.log("relay ready"));
`;
