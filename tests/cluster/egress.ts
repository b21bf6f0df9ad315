// The apiserver's way out to the nodes. kube-apiserver runs on the host's loopback, which has
// no route into the namespaces, yet it opens connections to kubelets (logs, exec,
// port-forward) and to Pods (admission webhooks, aggregated APIs). Its egress selector sends
// all of that ("cluster" traffic) as HTTP CONNECT requests, with the address already resolved
// to a node or Pod IP, over a unix socket; unix sockets are filesystem objects, so the proxy
// behind it can run in the apiserver's namespace on the LAN, which routes every pod CIDR.

/** kube-apiserver's --egress-selector-config-file: cluster traffic through `socket`. */
export function egressSelectorConfig(socket: string): string {
  return `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: ${socket}
`;
}

/**
 * Source of the CONNECT proxy, run with `node -e` inside the namespace: it listens on the unix
 * socket argv[1], reads one CONNECT request per connection and then relays bytes both ways.
 */
export const CONNECT_PROXY_JS = `
const net = require("node:net");
const [path] = process.argv.slice(1);
require("node:fs").rmSync(path, { force: true });
net.createServer(c => {
  let head = Buffer.alloc(0);
  c.on("error", () => c.destroy());
  const onData = d => {
    head = Buffer.concat([head, d]);
    const end = head.indexOf("\\r\\n\\r\\n");
    if (end < 0) { if (head.length > 8192) c.destroy(); return; }
    c.off("data", onData);
    c.pause();
    const m = /^CONNECT (\\S+) HTTP\\/1\\.[01]\\r\\n/.exec(head.toString("latin1", 0, end + 2));
    if (!m) { c.end("HTTP/1.1 405 Method Not Allowed\\r\\n\\r\\n"); return; }
    const target = new URL("http://" + m[1]);
    const u = net.connect(Number(target.port), target.hostname.replace(/^\\[|\\]$/g, ""));
    let open = false;
    u.once("connect", () => {
      open = true;
      c.write("HTTP/1.1 200 Connection Established\\r\\n\\r\\n");
      const rest = head.subarray(end + 4);
      if (rest.length) u.write(rest);
      c.pipe(u); u.pipe(c); c.resume();
    });
    u.on("error", () => { if (!open) c.end("HTTP/1.1 502 Bad Gateway\\r\\n\\r\\n"); else c.destroy(); });
    u.on("close", () => c.destroy());
    c.on("close", () => u.destroy());
  };
  c.on("data", onData);
}).listen(path, () => console.log("proxy ready"));
`;
