import { Log } from "../log";
import { KubeClient } from "../k8s/client";
import { Informer } from "../k8s/informer";
import { ServiceGroup } from "../k8s/servicegroup";
import { outOfScope } from "./metrics";

type Scope = { namespace: string; name: string; type: "local" | "remote" | "external" };

const typeOf = (sg: ServiceGroup): Scope["type"] =>
  sg.spec?.remote ? "remote" : sg.spec?.netbox ? "external" : "local";

/**
 * Watches ServiceGroups outside the install namespace, which the allocator ignores, and
 * counts them in purelb_servicegroups_out_of_scope: a group created in the wrong namespace
 * otherwise only shows as Services that never get an address.
 */
export function watchOutOfScope(client: KubeClient, namespace: string): Informer<Scope> {
  const seen = new Map<string, Scope>();
  const informer = new Informer<Scope>(
    client,
    "/apis/purelb.io/v2/servicegroups",
    raw => {
      const sg = raw as ServiceGroup;
      return {
        namespace: sg.metadata.namespace ?? "",
        name: sg.metadata.name,
        type: typeOf(sg),
      };
    },
    {
      upsert: (key, s) => {
        const before = seen.get(key);
        if (before) outOfScope.remove(before);
        seen.delete(key);
        if (s.namespace === namespace) return;
        seen.set(key, s);
        outOfScope.set(s, 1);
      },
      remove: key => {
        const before = seen.get(key);
        if (before) outOfScope.remove(before);
        seen.delete(key);
      },
    },
    "servicegroups (all namespaces)",
  );
  // Only a metric depends on it: a missing right to list every namespace must not stop allocation.
  informer
    .start()
    .catch(err => Log.warn({ err: String(err) }, "cannot list ServiceGroups of other namespaces"));
  return informer;
}
