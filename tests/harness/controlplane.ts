// A real, throw-away Kubernetes control plane (etcd + kube-apiserver, no
// controllers, no nodes) for tests, in the spirit of controller-runtime's
// envtest. Binaries come from hack/build-tools.sh.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  openSync,
  closeSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, isIP, type AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export interface ControlPlane {
  kubeconfig: string;
  server: string;
  dir: string;
  stop(): Promise<void>;
  /** Stops kube-apiserver only (etcd keeps the data), then starts it again on the same port. */
  restartApiserver(downMs?: number): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, e.g. a small --max-requests-inflight to provoke 429s. */
  apiserverArgs?: string[];
  /** Address kube-apiserver listens on; default 127.0.0.1. */
  bindAddress?: string;
  /** For certs, etcd data, logs and kubeconfig; kept by stop(). Default: a temp dir stop() removes. */
  dir?: string;
  /** More subject alternative names for the serving certificate, e.g. "IP:192.0.2.2". */
  sans?: string[];
  /**
   * Keep the ServiceAccount admission plugin, for a cluster whose controller-manager creates
   * each namespace's ServiceAccounts (Pods then get their tokens mounted).
   */
  serviceAccounts?: boolean;
}

type Tool = "kube-apiserver" | "kubectl" | "helm" | "etcd";

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
/** ClusterIP ranges; inside test network namespaces only, never on a host interface. */
export const SERVICE_CIDRS = "10.96.0.0/16,fd00:10:96::/108";

export function toolPath(name: Tool): string {
  const dir = process.env.PURELB_TOOLS_DIR ?? join(homedir(), ".cache", "purelb-tools");
  const path = join(dir, "bin", name);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(
      `${name} not found at ${path}: run hack/build-tools.sh to build the test control plane tools`,
    );
  }
  return path;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bindAddress = opts.bindAddress ?? "127.0.0.1";
  const etcdBin = toolPath("etcd");
  const apiserverBin = toolPath("kube-apiserver");

  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "purelb-cp-"));
  mkdirSync(dir, { recursive: true });
  const procs: Proc[] = [];

  // A test run that dies without calling stop() must not leave servers behind.
  // Only synchronous work is possible in an 'exit' handler.
  const onExit = (): void => {
    for (const p of procs) if (running(p.child)) p.child.kill("SIGKILL");
    // A just-killed etcd may still be writing, hence the retries; an exit
    // handler that throws would hide the error that ended the run.
    try {
      if (ownsDir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    } catch {
      // best effort: the dir is under os.tmpdir()
    }
  };
  process.on("exit", onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // apiserver first, so it doesn't log etcd connection errors while shutting down
      for (const p of [...procs].reverse()) await terminate(p);
      process.off("exit", onExit);
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const pki = makeCerts(dir, bindAddress, opts.sans ?? []);
    const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;

    procs.push(
      launch(dir, "etcd", etcdBin, [
        "--name=default",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // test data is disposable; fsync dominates start-up and write latency
        "--unsafe-no-fsync",
        "--log-level=warn",
      ]),
    );

    // Otherwise kube-apiserver races etcd and fills its log with gRPC dial errors.
    await waitFor(procs, async () => (await get(etcdUrl, "/health")) === 200);

    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${bindAddress}`,
      `--secure-port=${apiPort}`,
      `--advertise-address=${advertiseAddress(bindAddress)}`,
      // the 'kubernetes' Service endpoints would point at a loopback
      // address, which Endpoints validation rejects every few seconds
      "--endpoint-reconciler-type=none",
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=Node,RBAC",
      `--service-cluster-ip-range=${SERVICE_CIDRS}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      // There is no controller-manager to create each namespace's 'default'
      // ServiceAccount, and the ServiceAccount plugin rejects Pods without it.
      ...(opts.serviceAccounts ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      // PureLB's node agent is privileged; let tests create such Pods.
      "--allow-privileged=true",
      "--profiling=false",
      ...(opts.apiserverArgs ?? []),
    ];
    procs.push(launch(dir, "kube-apiserver", apiserverBin, apiserverArgs));

    const server = `https://${urlHost(bindAddress)}:${apiPort}`;
    const tls = {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
    };
    await waitFor(procs, async () => (await get(server, "/readyz", tls)) === 200);
    // the apiserver creates 'default' from a post-start hook; /readyz may pass first
    await waitFor(
      procs,
      async () => (await get(server, "/api/v1/namespaces/default", tls)) === 200,
    );

    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kubeconfigYaml(server, tls), { mode: 0o600 });
    const restartApiserver = async (downMs = 0): Promise<void> => {
      const i = procs.findIndex(p => p.name === "kube-apiserver");
      await terminate(procs[i]);
      await delay(downMs);
      procs[i] = launch(dir, "kube-apiserver", apiserverBin, apiserverArgs);
      await waitFor(procs, async () => (await get(server, "/readyz", tls)) === 200);
    };
    return { kubeconfig, server, dir, stop, restartApiserver };
  } catch (err) {
    const logs = procs
      .map(p => `--- last lines of ${p.name}.log ---\n${tail(p.log, 25)}`)
      .join("\n");
    await stop();
    throw new Error(`control plane failed to start: ${(err as Error).message}\n${logs}`, {
      cause: err,
    });
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

function launch(dir: string, name: string, bin: string, args: string[]): Proc {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, "a");
  try {
    const child = spawn(bin, args, { cwd: dir, stdio: ["ignore", fd, fd] });
    const exited = new Promise<void>(resolve => {
      child.once("exit", () => resolve());
      // spawn failures emit 'error' and never 'exit'
      child.once("error", () => resolve());
    });
    return { name, child, log, exited };
  } finally {
    closeSync(fd);
  }
}

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

async function terminate(p: Proc): Promise<void> {
  if (!running(p.child)) return;
  p.child.kill("SIGTERM");
  // The timer is cleared, or it would keep the caller's process alive.
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<"timeout">(resolve => {
    timer = setTimeout(() => resolve("timeout"), STOP_GRACE_MS);
  });
  const outcome = await Promise.race([p.exited, grace]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    p.child.kill("SIGKILL");
    await p.exited;
  }
}

async function waitFor(procs: Proc[], check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const dead = procs.find(p => !running(p.child));
    if (dead)
      throw new Error(
        `${dead.name} exited (code ${dead.child.exitCode}, signal ${dead.child.signalCode})`,
      );
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${READY_TIMEOUT_MS / 1000}s`);
    await delay(100);
  }
}

interface Tls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function get(base: string, path: string, tls?: Tls): Promise<number> {
  const url = new URL(path, base);
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2_000 }, res => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

// Every probe socket stays open until all ports are chosen, so the ports
// are distinct; the kernel doesn't reuse a just-released ephemeral port soon.
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const s = createServer();
      return new Promise<typeof s>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => resolve(s));
      });
    }),
  );
  const ports = servers.map(s => (s.address() as AddressInfo).port);
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))));
  return ports;
}

interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

function makeCerts(dir: string, bindAddress: string, extraSans: string[]): Pki {
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });
  // Runs in the pki dir with its plain file names, so no argument needs quoting.
  const openssl = (args: string): void => {
    execFileSync("openssl", args.split(" "), { cwd: pki, stdio: ["ignore", "ignore", "pipe"] });
  };
  // P-256 keys: instant to generate, unlike RSA, and every client here accepts them.
  const key = (name: string): void =>
    openssl(`genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${name}.key`);
  const config = (name: string, subject: string[], ext: string[]): void =>
    writeFileSync(
      join(pki, `${name}.cnf`),
      [
        "[req]",
        "prompt = no",
        "distinguished_name = dn",
        "[dn]",
        ...subject,
        "[ext]",
        ...ext,
        "",
      ].join("\n"),
    );

  key("ca");
  config(
    "ca",
    ["CN = purelb-test-ca"],
    ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign"],
  );
  openssl("req -x509 -new -key ca.key -config ca.cnf -extensions ext -days 7 -out ca.crt");

  const leaf = (name: string, subject: string[], ext: string[]): void => {
    key(name);
    config(name, subject, [
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature",
      ...ext,
    ]);
    openssl(`req -new -key ${name}.key -config ${name}.cnf -out ${name}.csr`);
    openssl(
      `x509 -req -in ${name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 ` +
        `-extfile ${name}.cnf -extensions ext -out ${name}.crt`,
    );
  };
  const sans = [
    "IP:127.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    isIP(bindAddress) ? `IP:${bindAddress}` : `DNS:${bindAddress}`,
    ...extraSans,
  ];
  leaf(
    "apiserver",
    ["CN = kube-apiserver"],
    ["extendedKeyUsage = serverAuth", `subjectAltName = ${[...new Set(sans)].join(", ")}`],
  );
  leaf(
    "admin",
    ["O = system:masters", "CN = purelb-test-admin"],
    ["extendedKeyUsage = clientAuth"],
  );

  key("sa");
  openssl("pkey -in sa.key -pubout -out sa.pub");

  const f = (name: string): string => join(pki, name);
  return {
    caCert: f("ca.crt"),
    serverCert: f("apiserver.crt"),
    serverKey: f("apiserver.key"),
    adminCert: f("admin.crt"),
    adminKey: f("admin.key"),
    saKey: f("sa.key"),
    saPub: f("sa.pub"),
  };
}

function kubeconfigYaml(server: string, tls: Tls): string {
  const b64 = (b: Buffer): string => b.toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: purelb-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(tls.ca)}
users:
- name: purelb-test-admin
  user:
    client-certificate-data: ${b64(tls.cert)}
    client-key-data: ${b64(tls.key)}
contexts:
- name: purelb-test
  context:
    cluster: purelb-test
    user: purelb-test-admin
current-context: purelb-test
`;
}

function isUnspecified(addr: string): boolean {
  return addr === "0.0.0.0" || addr === "::";
}

// Clients reach a wildcard bind through loopback.
function urlHost(bindAddress: string): string {
  const host = isUnspecified(bindAddress) ? "127.0.0.1" : bindAddress;
  return isIP(host) === 6 ? `[${host}]` : host;
}

function advertiseAddress(bindAddress: string): string {
  return isIP(bindAddress) && !isUnspecified(bindAddress) ? bindAddress : "127.0.0.1";
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function delay(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
