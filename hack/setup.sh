#!/usr/bin/env bash
# Everything a fresh Debian machine needs to run `npm start` and `npm test`: Debian packages,
# the npm dependencies, and the control-plane binaries (built once, then cached).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# openssl: the test control plane makes its certificates with it.
# iproute2, tcpdump: the node agent's network-namespace tests.
# gobgpd, bird2: BGP tests (gobgpd per node, BIRD as the upstream router), each run by the
#   tests inside their own namespaces with their own config and sockets; the host services
#   the packages may start are neither used nor disturbed.
# golang-github-osrg-gobgp-dev: gobgp's .proto files, loaded at run time (lib/bgp/proto.ts).
# prometheus (with promtool): the metrics tests start their own on 127.0.0.1 and check the
#   alert rules with promtool; the packaged service is not used.
# containerd runc containernetworking-plugins iptables nftables conntrack curl: the test
#   cluster's nodes (tests/cluster); the harness starts each daemon inside a node's own
#   namespaces with its own configuration; the packages' services stay unused.
# mmdebstrap buildah gcc libc6-dev: the test cluster's container images (hack/images/build.sh).
packages=(ca-certificates openssl iproute2 tcpdump gobgpd golang-github-osrg-gobgp-dev bird2 prometheus
  containerd runc containernetworking-plugins iptables nftables conntrack curl
  mmdebstrap buildah gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "setup: Go >= 1.24 is needed on PATH to build the test control plane" >&2; exit 1; }
npm ci --no-audit --no-fund
bash hack/build-tools.sh
# The one-machine cluster's images (cached; seconds when nothing changed). Building them
# needs root, as does the cluster itself.
if ((EUID == 0)); then
  bash hack/images/build.sh
else
  echo "setup: not root, so the cluster images are not built (hack/images/build.sh needs root)"
fi
