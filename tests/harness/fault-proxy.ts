// An HTTPS reverse proxy in front of kube-apiserver that can answer 429 or hold watches
// open without passing anything on: the faults that make a watch stall silently.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { selfSignedCert } from "./tls";

export type FaultMode = "pass" | "throttle" | "stall-watches";

export interface FaultProxy {
  /** A kubeconfig that reaches the apiserver through the proxy. */
  kubeconfig: string;
  mode: FaultMode;
  /** Ends every open watch stream, as a dropped connection would. */
  dropWatches(): void;
  stop(): Promise<void>;
}

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
}

export async function startFaultProxy(upstreamKubeconfig: string): Promise<FaultProxy> {
  const cfg = parse(readFileSync(upstreamKubeconfig, "utf8")) as Kubeconfig;
  const upstream = new URL(cfg.clusters[0].cluster.server);
  const b64 = (s: string) => Buffer.from(s, "base64");
  const ca = b64(cfg.clusters[0].cluster["certificate-authority-data"]);
  const cert = b64(cfg.users[0].user["client-certificate-data"]);
  const key = b64(cfg.users[0].user["client-key-data"]);
  const dir = mkdtempSync(path.join(tmpdir(), "purelb-proxy-"));
  const tls = selfSignedCert(dir);

  const open = new Set<{ destroy(): void }>();
  const proxy: FaultProxy = {
    kubeconfig: path.join(dir, "kubeconfig"),
    mode: "pass",
    dropWatches: () => open.forEach(s => s.destroy()),
    stop: async () => {
      open.forEach(s => s.destroy());
      await new Promise(r => server.close(r));
      server.closeAllConnections();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const agent = new https.Agent({ ca, cert, key, keepAlive: true });
  const server = https.createServer(
    { key: readFileSync(tls.key), cert: readFileSync(tls.cert) },
    (req, res) => {
      const watch = /[?&]watch=(1|true)/.test(req.url ?? "");
      if (proxy.mode === "throttle") {
        res.writeHead(429, { "Content-Type": "application/json", "Retry-After": "1" });
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "TooManyRequests",
            code: 429,
            message: "too many requests",
          }),
        );
        return;
      }
      if (watch && proxy.mode === "stall-watches") {
        // headers and then silence: the client cannot tell this from a quiet cluster
        res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
        open.add(res.socket!);
        res.socket!.once("close", () => open.delete(res.socket!));
        return;
      }
      const up = https.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          agent,
        },
        upRes => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          // an upstream that dies mid-stream must close the client's stream too, or this
          // proxy would itself stall the watch (the "stall-watches" fault does that on purpose)
          upRes.once("aborted", () => res.destroy());
          upRes.once("error", () => res.destroy());
        },
      );
      up.on("error", () => res.destroy());
      if (watch) {
        open.add(res.socket!);
        res.socket!.once("close", () => {
          open.delete(res.socket!);
          up.destroy();
        });
      }
      req.pipe(up);
    },
  );
  await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(
    proxy.kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`,
  );
  return proxy;
}
