import http from "node:http";
import { Log } from "../log";
import { Registry } from "prom-client";

/**
 * PureLB's own Prometheus registry. Pepr's collector has a fixed "pepr_" prefix and no
 * labels, so PureLB serves its metrics on a port of its own (PURELB_METRICS_PORT).
 */
export const registry = new Registry();

/** Upstream's port, on the allocator and the node agent alike: existing scrape configs keep working. */
export const DEFAULT_METRICS_PORT = 7472;

/** The port from PURELB_METRICS_PORT, or upstream's. */
export const metricsPort = (env: NodeJS.ProcessEnv = process.env): number =>
  Number(env.PURELB_METRICS_PORT || DEFAULT_METRICS_PORT);

export function serveMetrics(port: number, host = "0.0.0.0"): http.Server {
  const server = http.createServer((req, res) => {
    if (req.url === "/metrics") {
      registry.metrics().then(
        text => {
          res.setHeader("Content-Type", registry.contentType);
          res.end(text);
        },
        err => {
          res.statusCode = 500;
          res.end(String(err));
        },
      );
      return;
    }
    res.statusCode = req.url === "/healthz" ? 200 : 404;
    res.end(req.url === "/healthz" ? "ok" : "not found");
  });
  server.on("error", err => Log.error({ err: String(err), port }, "metrics server failed"));
  server.listen(port, host);
  return server;
}
