// `npm start`: a local PureLB against a real control plane. Without KUBECONFIG it starts
// the embedded etcd + kube-apiserver; then it runs this module as `pepr dev` does, applies
// the samples and shows what the allocator did. Ctrl-C stops and cleans up.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { ControlPlane, startControlPlane, toolPath } from "../tests/harness/controlplane";
import { apply, clientFor, eventsFor, getService, remove, waitFor } from "../tests/harness/kube";
import { startModule } from "../tests/harness/module";

const root = path.resolve(import.meta.dirname, "..");
const sample = (f: string) => parse(readFileSync(path.join(root, "samples", f), "utf8"));
const say = (s: string) => process.stdout.write(`\n==> ${s}\n`);

async function main(): Promise<void> {
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
  say("Try it");
  console.log(`  export KUBECONFIG=${kubeconfig}`);
  console.log(`  ${kubectl} get ns purelb-system`);
  console.log(`  ${kubectl} get servicegroups -n purelb-system`);
  console.log(`  ${kubectl} describe service ${service.metadata.name}`);
  console.log("\nRunning until Ctrl-C.");

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
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch(err => {
  console.error(`npm start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
