// The demo without a node network: this module (admission + allocator) in-process, as
// `pepr dev` runs it, against the cluster of KUBECONFIG or, without one, an embedded etcd +
// kube-apiserver on 127.0.0.1. It shows what the allocator did; nothing announces the address.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { ControlPlane, startControlPlane, toolPath } from "../../tests/harness/controlplane";
import { apply, clientFor, eventsFor, getService, remove, waitFor } from "../../tests/harness/kube";
import { startModule } from "../../tests/harness/module";
import { say } from "./output";

const root = path.resolve(import.meta.dirname, "../..");
const sample = (f: string) => parse(readFileSync(path.join(root, "samples", f), "utf8"));

export async function runLocal(opts: { once: boolean }): Promise<void> {
  let cp: ControlPlane | undefined;
  if (!process.env.KUBECONFIG) {
    say("No KUBECONFIG: starting the embedded control plane (etcd + kube-apiserver on 127.0.0.1)");
    cp = await startControlPlane();
    process.env.KUBECONFIG = cp.kubeconfig;
  }
  const kubeconfig = process.env.KUBECONFIG!;
  const client = clientFor(kubeconfig);
  say(`Cluster ${client.server.href}`);

  say("Installing the CRDs and running the module (admission + allocator) as `pepr dev` does");
  const mod = await startModule(kubeconfig);

  const group = sample("servicegroup-default.yaml");
  const service = sample("service.yaml");
  await apply(client, "/apis/purelb.io/v2/namespaces/purelb-system/servicegroups", group);
  say("Applied ServiceGroup purelb-system/default (samples/servicegroup-default.yaml)");
  await remove(client, `/api/v1/namespaces/default/services/${service.metadata.name}`);
  await apply(client, "/api/v1/namespaces/default/services", service);
  say(`Applied Service default/${service.metadata.name} (samples/service.yaml)`);

  const svc = await waitFor(
    "the sample Service's address",
    async () => {
      const s = await getService(client, "default", service.metadata.name);
      return s.ingress.length ? s : undefined;
    },
    60_000,
  );
  say("What PureLB did");
  console.log(`  status.loadBalancer.ingress: ${svc.ingress.join(", ")}`);
  for (const [k, v] of Object.entries(svc.annotations)) console.log(`  ${k}: ${v}`);
  for (const e of await eventsFor(client, "default", service.metadata.name))
    console.log(`  event ${e.type} ${e.reason}: ${e.message}`);

  let kubectl = "kubectl";
  try {
    kubectl = toolPath("kubectl");
  } catch {
    /* fall back to the kubectl on PATH */
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say("Stopping");
    await remove(client, `/api/v1/namespaces/default/services/${service.metadata.name}`).catch(
      () => undefined,
    );
    await mod.stop();
    await cp?.stop();
    process.exit(0);
  };
  if (opts.once) return stop();
  say("Try it");
  console.log(`  export KUBECONFIG=${kubeconfig}`);
  console.log(`  ${kubectl} get ns purelb-system`);
  console.log(`  ${kubectl} get servicegroups -n purelb-system`);
  console.log(`  ${kubectl} describe service ${service.metadata.name}`);
  console.log("\nRunning until Ctrl-C.");
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}
