import { Workload } from "./cluster";

export interface ComponentVersion {
  component: "admission" | "allocator" | "lbnodeagent";
  name: string;
  images: string[];
  /** The tag of PureLB's own image (the agent's), the release it runs. */
  version?: string;
}

export interface VersionReport {
  plugin: string;
  kubernetes?: string;
  components: ComponentVersion[];
  warnings: string[];
}

type WithPod = Workload & {
  spec?: { template?: { spec?: { containers?: { name: string; image?: string }[] } } };
};

const tagOf = (image: string): string | undefined => {
  const at = image.lastIndexOf(":");
  return at > image.lastIndexOf("/") ? image.slice(at + 1) : undefined;
};

/**
 * Plugin, API server and component versions. The admission and allocator pods run Pepr's
 * controller image (its tag is Pepr's version); the agent's image tag is PureLB's, which
 * the plugin compares with its own.
 */
export function versionReport(input: {
  plugin: string;
  kubernetes?: string;
  workloads: { component: ComponentVersion["component"]; items: Workload[] }[];
}): VersionReport {
  const warnings: string[] = [];
  const components: ComponentVersion[] = [];
  for (const { component, items } of input.workloads) {
    if (!items.length) {
      warnings.push(
        `${component}: not installed (no ${component === "lbnodeagent" ? "DaemonSet" : "Deployment"} found)`,
      );
      continue;
    }
    for (const w of items as WithPod[]) {
      const images = (w.spec?.template?.spec?.containers ?? []).map(c => c.image ?? "");
      const own = component === "lbnodeagent" ? images[0] : undefined;
      const version = own ? tagOf(own) : undefined;
      components.push({
        component,
        name: `${w.metadata.namespace}/${w.metadata.name}`,
        images,
        ...(version ? { version } : {}),
      });
      if (version && version.replace(/^v/, "") !== input.plugin)
        warnings.push(
          `version skew: the plugin is ${input.plugin}, the node agent runs ${version}; use the plugin of the installed release`,
        );
    }
  }
  return {
    plugin: input.plugin,
    ...(input.kubernetes ? { kubernetes: input.kubernetes } : {}),
    components,
    warnings,
  };
}
