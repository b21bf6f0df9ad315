import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * A throw-away self-signed P-256 certificate for a test server on localhost, written into
 * `dir` as `tls.key` and `tls.crt`.
 */
export function selfSignedCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, "tls.key");
  const cert = path.join(dir, "tls.crt");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { key, cert };
}
