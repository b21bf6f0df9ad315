// Shared by the agent and the chart (hack/post-build.ts), without loading the agent's code.

/** UDP port of the heartbeats, on every node (host network). */
export const DEFAULT_HEARTBEAT_PORT = 7934;
/** Where the agent reads the shared key: the chart mounts the Secret here. */
export const HEARTBEAT_KEY_DIR = "/etc/purelb/heartbeat";
export const DEFAULT_KEY_FILE = `${HEARTBEAT_KEY_DIR}/key`;
/** The Secret the chart creates, with one key `key`: 64 random characters kept across upgrades. */
export const HEARTBEAT_SECRET = "purelb-heartbeat";
