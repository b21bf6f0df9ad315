// What the test cluster needs from the machine, checked before anything is started.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bgpUnavailable } from "../harness/bird";
import { imagesUnavailable } from "./images";
import { toolsDir } from "./layout";

const COMMANDS: [string, string][] = [
  ["containerd", "containerd"],
  ["ctr", "containerd"],
  ["runc", "runc"],
  ["nft", "nftables"],
  ["iptables", "iptables"],
  ["conntrack", "conntrack"],
  ["nsenter", "util-linux"],
  ["unshare", "util-linux"],
  ["curl", "curl"],
];

/** Why the cluster cannot run here, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  const why = bgpUnavailable();
  if (why) return why;
  for (const [cmd, pkg] of COMMANDS)
    if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0)
      return `needs ${cmd} (Debian package ${pkg}; hack/setup.sh installs it)`;
  for (const plugin of ["bridge", "host-local", "portmap", "loopback"])
    if (!existsSync(join("/usr/lib/cni", plugin)))
      return `needs the CNI plugin ${plugin} (Debian package containernetworking-plugins)`;
  for (const tool of [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "helm",
  ])
    if (!existsSync(join(toolsDir(), "bin", tool)))
      return `needs ${tool} in ${join(toolsDir(), "bin")} (hack/build-tools.sh builds it)`;
  return imagesUnavailable();
}
