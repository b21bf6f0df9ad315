// Configuration files of one cluster node: containerd, the CNI template containerd renders
// once the node has its pod CIDRs, the kubelet and kube-proxy. Paths inside the node are the
// usual ones (/run, /var/lib, /var/log are the node's own, bound over the host's in its mount
// namespace); paths into the cluster directory are absolute host paths, which the node sees
// unchanged.
import { POD_CIDR4, POD_CIDR6 } from "./layout";

export const CONTAINERD_SOCKET = "/run/containerd/containerd.sock";
/** Inside the node: where containerd writes the CNI configuration it renders. */
export const CNI_CONF_DIR = "/var/lib/cni-conf";

export function containerdToml(o: { pauseRef: string; cniTemplate: string }): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
# Snapshotters that need kernel features or tools this machine lacks only log errors.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${CONTAINERD_SOCKET}"

# Its default, /opt/containerd, would be one directory shared by every node.
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd-opt"

[${cri}]
  sandbox_image = "${o.pauseRef}"
  # This VM withholds CAP_SYS_RESOURCE: an oom_score_adj below the parent's fails every
  # sandbox with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${CNI_CONF_DIR}"
    conf_template = "${o.cniTemplate}"
`;
}

/**
 * containerd fills in the node's pod CIDRs (one per family) when the kubelet passes them on.
 * No masquerading: pods are routed between nodes (and to the apiserver's namespace) with their
 * own addresses, so a backend sees the real source of what reaches it.
 */
export const CNI_TEMPLATE = `{
  "cniVersion": "0.4.0",
  "name": "purelb-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [{{range $i, $r := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$r}}"}]{{end}}],
        "routes": [{{range $i, $r := .Routes}}{{if $i}}, {{end}}{"dst": "{{$r}}"}{{end}}]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
`;

export function kubeletConfig(o: { cgroupRoot: string; caFile: string }): object {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "cgroupfs",
    // Every node's kubelet shares the host's cgroup hierarchies; each needs a root of its own.
    cgroupRoot: o.cgroupRoot,
    failSwapOn: false,
    // This machine mounts cgroup v1 (with v2 alongside).
    failCgroupV1: false,
    // Lowering it needs CAP_SYS_RESOURCE, which this VM withholds.
    oomScoreAdj: 0,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: o.caFile },
    },
    authorization: { mode: "Webhook" },
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    clusterDomain: "cluster.local",
    // Images are imported, never pulled: garbage-collecting one would break every Pod using it.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // The nodes share the host's disk; its fill level says nothing about a node.
    evictionHard: {
      "memory.available": "100Mi",
      "nodefs.available": "1%",
      "imagefs.available": "1%",
      "nodefs.inodesFree": "1%",
    },
    serializeImagePulls: false,
    shutdownGracePeriod: "0s",
  };
}

export function kubeProxyConfig(o: { kubeconfig: string; node: string }): object {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "nftables",
    clientConnection: { kubeconfig: o.kubeconfig },
    hostnameOverride: o.node,
    clusterCIDR: `${POD_CIDR4},${POD_CIDR6}`,
    oomScoreAdj: 0,
    // Zero leaves each conntrack sysctl alone: nf_conntrack_max is one value for the whole host.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: "0s",
      tcpCloseWaitTimeout: "0s",
      udpTimeout: "0s",
      udpStreamTimeout: "0s",
    },
    metricsBindAddress: "127.0.0.1:10249",
    healthzBindAddress: "0.0.0.0:10256",
  };
}
