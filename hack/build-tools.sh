#!/usr/bin/env bash
# Builds the binaries the test control plane (tests/harness) and the test
# cluster (tests/cluster) run: kube-apiserver, kubectl, etcd and, for the
# cluster, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
# from hack/tools/go.mod; helm from hack/tools/helm/go.mod. Each lands in a cache outside git, keyed by version:
#   ${PURELB_TOOLS_DIR:-$HOME/.cache/purelb-tools}/<name>-<version>/<name>
# with stable symlinks in .../bin/. A binary already in the cache is not
# rebuilt, so a second run only re-links.
#
# Debian packages needed: ca-certificates openssl
#   (ca-certificates for the Go module proxy; openssl is what the harness
#   uses to make certificates at run time). Go >= 1.24 must be on PATH too;
#   Debian bookworm's golang (1.19) is too old for these modules.
# Each cold build takes ~2-3 min and ~1 GB of RAM on 2 cores; kubelet ~200 s
# and 1.5 GB, kube-controller-manager ~100 s and 1.9 GB.
# PURELB_TOOLS_ONLY="kube-apiserver kubectl etcd helm" limits the run to those
# (the control plane alone, without the cluster's binaries).
#
# --peers builds, instead, the systems bench/peer.ts compares us with: MetalLB's
# controller from hack/tools/metallb/go.mod (~4 min cold), with its CRDs copied
# beside it (.../metallb-controller-<version>/crds/). Only on request, so that
# setup and CI do not pay for a binary only that bench suite runs.
set -euo pipefail

peers=false
for arg in "$@"; do
  case $arg in
    --peers) peers=true ;;
    *) echo "build-tools: unknown argument $arg (usage: build-tools.sh [--peers])" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/tools"
cache="${PURELB_TOOLS_DIR:-$HOME/.cache/purelb-tools}"

die() { echo "build-tools: $*" >&2; exit 1; }

command -v go >/dev/null || die "go not found on PATH (need Go >= 1.24)"
gominor="$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')"
[[ $gominor =~ ^[0-9]+$ && $gominor -ge 24 ]] ||
  die "need Go >= 1.24 (go.mod tool directives), found $(go env GOVERSION)"

# Version a go.mod requires for a module; read from the file so that a cached
# run needs neither the network nor the module cache.
modver() {
  local v
  v="$(awk -v m="$2" '{ for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v[0-9]/) { print $(i + 1); exit } }' "$1/go.mod")"
  [[ -n $v ]] || die "$2 not found in $1/go.mod"
  echo "$v"
}

k8s="$(modver "$tools" k8s.io/kubernetes)"
etcd="$(modver "$tools" go.etcd.io/etcd/server/v3)"
helm="$(modver "$tools/helm" helm.sh/helm/v3)"

# Without these the binaries report v0.0.0-master, which trips version checks
# in kubectl and in charts' kubeVersion constraints.
k8s_minor="$(echo "$k8s" | cut -d. -f2)"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$helm"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

mkdir -p "$cache/bin"
tmp=""
trap '[[ -z $tmp ]] || rm -f "$tmp"' EXIT

# build NAME VERSION MODULE_DIR PACKAGE EXTRA_LDFLAGS
build() {
  local name=$1 version=$2 moddir=$3 pkg=$4 ldflags=$5
  local out="$cache/$name-$version/$name"
  if [[ -x $out ]]; then
    echo "cached   $name $version"
  else
    echo "building $name $version ($pkg) ..."
    mkdir -p "$(dirname "$out")"
    # Build to a temp name and rename, so an interrupted build never looks cached.
    tmp="$out.partial.$$"
    local start=$SECONDS
    (cd "$moddir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w $ldflags" -o "$tmp" "$pkg")
    mv -f "$tmp" "$out"
    tmp=""
    echo "built    $name $version in $((SECONDS - start))s"
  fi
  ln -sfn "../$name-$version/$name" "$cache/bin/$name"
}

if $peers; then
  metallb="$(modver "$tools/metallb" go.universe.tf/metallb)"
  # its version string is a constant in the source, so no -X is needed
  build metallb-controller "$metallb" "$tools/metallb" go.universe.tf/metallb/controller ""
  crds="$cache/metallb-controller-$metallb/crds"
  if [[ ! -d $crds ]]; then
    src="$(cd "$tools/metallb" && go list -m -f '{{.Dir}}' go.universe.tf/metallb)/config/crd/bases"
    mkdir -p "$crds.partial.$$"
    cp "$src"/*.yaml "$crds.partial.$$/"
    mv "$crds.partial.$$" "$crds"
  fi
  echo "  $cache/bin/metallb-controller -> $(readlink "$cache/bin/metallb-controller")"
  echo "  CRDs in $crds"
  exit 0
fi

k8s_cmds=(kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy)
all=("${k8s_cmds[@]}" etcd helm)
read -r -a wanted <<<"${PURELB_TOOLS_ONLY:-${all[*]}}"
for name in "${wanted[@]}"; do
  case " ${all[*]} " in *" $name "*) ;; *) die "PURELB_TOOLS_ONLY: unknown tool $name" ;; esac
done
for name in "${wanted[@]}"; do
  case $name in
    etcd) build etcd "$etcd" "$tools" ./etcd "" ;;
    helm) build helm "$helm" "$tools/helm" helm.sh/helm/v3/cmd/helm "$helm_ldflags" ;;
    *) build "$name" "$k8s" "$tools" "k8s.io/kubernetes/cmd/$name" "$k8s_ldflags" ;;
  esac
done

command -v openssl >/dev/null ||
  echo "build-tools: note: tests/harness also needs openssl (apt-get install openssl)" >&2
echo "tools in $cache/bin:"
for name in "${wanted[@]}"; do
  echo "  $cache/bin/$name -> $(readlink "$cache/bin/$name")"
done
