// Client certificates for the cluster's components, signed by the test control plane's CA
// (tests/harness/controlplane.ts leaves it in <dir>/pki), and kubeconfigs that use them.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Identity {
  /** Common name: the user the apiserver sees, e.g. system:node:node1. */
  cn: string;
  /** Organisation: the group, e.g. system:nodes. */
  org?: string;
}

/** Signs a P-256 client certificate for `id`; returns the PEM certificate and key. */
export function clientCert(
  pkiDir: string,
  file: string,
  id: Identity,
): { cert: string; key: string } {
  const openssl = (args: string[]): void => {
    execFileSync("openssl", args, { cwd: pkiDir, stdio: ["ignore", "ignore", "pipe"] });
  };
  writeFileSync(
    join(pkiDir, `${file}.cnf`),
    [
      "[req]",
      "prompt = no",
      "distinguished_name = dn",
      "[dn]",
      ...(id.org ? [`O = ${id.org}`] : []),
      `CN = ${id.cn}`,
      "[ext]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature",
      "extendedKeyUsage = clientAuth",
      "",
    ].join("\n"),
  );
  openssl([
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    `${file}.key`,
  ]);
  openssl(["req", "-new", "-key", `${file}.key`, "-config", `${file}.cnf`, "-out", `${file}.csr`]);
  openssl([
    "x509",
    "-req",
    "-in",
    `${file}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "7",
    "-extfile",
    `${file}.cnf`,
    "-extensions",
    "ext",
    "-out",
    `${file}.crt`,
  ]);
  return {
    cert: readFileSync(join(pkiDir, `${file}.crt`), "utf8"),
    key: readFileSync(join(pkiDir, `${file}.key`), "utf8"),
  };
}

export function kubeconfig(
  server: string,
  caPem: string,
  cred: { cert: string; key: string },
): string {
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  return `apiVersion: v1
kind: Config
clusters:
- name: purelb-cluster
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caPem)}
users:
- name: user
  user:
    client-certificate-data: ${b64(cred.cert)}
    client-key-data: ${b64(cred.key)}
contexts:
- name: purelb-cluster
  context:
    cluster: purelb-cluster
    user: user
current-context: purelb-cluster
`;
}
