import { ApiError, KubeClient } from "../k8s/client";
import { GroupModel } from "../ipam/group";

/** The key of the token in the Secret named by spec.netbox.secretName. */
export const TOKEN_KEY = "user-token";

/**
 * Where a group's Netbox token comes from: undefined when the group names no Secret.
 * Throws an Error whose message says what to fix; the message never holds the token.
 */
export type TokenSource = (group: GroupModel) => Promise<string | undefined>;

/** Reads the token from the Secret spec.netbox.secretName in the group's namespace, on every call (so rotation needs no restart). */
export function secretTokenSource(client: KubeClient): TokenSource {
  return async group => {
    const name = group.netbox?.secretName;
    if (!name) return undefined;
    const where = `Secret ${group.namespace}/${name}`;
    let secret: { data?: Record<string, string> };
    try {
      secret = await client.request(
        "GET",
        `/api/v1/namespaces/${encodeURIComponent(group.namespace)}/secrets/${encodeURIComponent(name)}`,
      );
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      if (status === 404) {
        throw new Error(
          `${where} (spec.netbox.secretName) does not exist; create it with key ${TOKEN_KEY} holding the Netbox API token`,
        );
      }
      if (status === 401 || status === 403) {
        throw new Error(
          `PureLB may not read ${where} (the apiserver answered ${status}); grant the allocator's ServiceAccount get on secrets in namespace ${group.namespace}`,
        );
      }
      // Only the status: a transport error's text is ours, not the Secret's, but keep it short.
      const why = status
        ? `the apiserver answered ${status}`
        : err instanceof Error
          ? err.message
          : String(err);
      throw new Error(`could not read ${where}: ${why}; PureLB retries`);
    }
    const encoded = secret.data?.[TOKEN_KEY];
    if (encoded === undefined)
      throw new Error(
        `${where} has no key ${TOKEN_KEY}; put the Netbox API token under data.${TOKEN_KEY}`,
      );
    // `echo token | base64` adds a newline, which Netbox would reject: trim it.
    const token = Buffer.from(encoded, "base64").toString("utf8").trim();
    if (!token)
      throw new Error(`${where} key ${TOKEN_KEY} is empty; put the Netbox API token there`);
    return token;
  };
}
