// Vitest globalSetup: one real control plane for the whole test run.
// Set PURELB_NO_CONTROLPLANE=1 to skip it (tests that need it then skip).
import type { TestProject } from "vitest/node";
import { startControlPlane, toolPath } from "./controlplane.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig; "" when PURELB_NO_CONTROLPLANE is set. */
    kubeconfig: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (process.env.PURELB_NO_CONTROLPLANE) {
    project.provide("kubeconfig", "");
    return;
  }
  // Fail before starting anything if a tool is missing; tests shell out to kubectl and helm too.
  for (const tool of ["etcd", "kube-apiserver", "kubectl", "helm"] as const) toolPath(tool);

  const started = Date.now();
  const cp = await startControlPlane();
  console.log(
    `control plane ready in ${((Date.now() - started) / 1000).toFixed(1)}s at ${cp.server} (kubeconfig ${cp.kubeconfig})`,
  );

  // Test workers and the kubectl/helm they spawn inherit this.
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = cp.kubeconfig;
  project.provide("kubeconfig", cp.kubeconfig);

  return async () => {
    if (previous === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previous;
    await cp.stop();
  };
}
