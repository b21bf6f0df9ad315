import { readFileSync } from "node:fs";
import { Log } from "../log";
import { DEFAULT_HEARTBEAT_PORT, DEFAULT_KEY_FILE } from "./defaults";
import { MIN_KEY_BYTES } from "./wire";

export interface HeartbeatSettings {
  key: Buffer;
  port: number;
}

/**
 * The shared key (a file, from the Secret the chart creates) and UDP port. Without a key the
 * agent sends no heartbeats and Leases alone decide, as before: it says so, because then an
 * API server outage withdraws every local address.
 */
export function heartbeatSettings(
  env: NodeJS.ProcessEnv = process.env,
): HeartbeatSettings | undefined {
  const file = env.PURELB_HEARTBEAT_KEY_FILE || DEFAULT_KEY_FILE;
  const port = Number(env.PURELB_HEARTBEAT_PORT || DEFAULT_HEARTBEAT_PORT);
  const off = (why: string): undefined => {
    Log.warn(
      { file },
      `heartbeats off: ${why}; elections follow the node Leases alone, so an API server outage withdraws every local address`,
    );
    return undefined;
  };
  if (env.PURELB_HEARTBEAT === "off") return off("PURELB_HEARTBEAT=off");
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    return off(`PURELB_HEARTBEAT_PORT ${env.PURELB_HEARTBEAT_PORT} is not a port`);
  let key: Buffer;
  try {
    key = Buffer.from(readFileSync(file, "utf8").trim(), "utf8");
  } catch (err) {
    return off(
      `cannot read the heartbeat key (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
  if (key.length < MIN_KEY_BYTES)
    return off(`the heartbeat key is shorter than ${MIN_KEY_BYTES} bytes`);
  return { key, port };
}
