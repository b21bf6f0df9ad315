#!/usr/bin/env bash
# Runs each image hack/images/build.sh made, the way the chart's pods run it, without a
# container runtime: the archive is unpacked to a root filesystem, mounted read-only, and the
# image's entrypoint started in its own PID, mount and network namespaces with the chart's
# arguments, user and mounts. With no cluster around, the Pepr and agent processes must get
# as far as talking to the API server; pause, echo and gobgpd are exercised fully.
# Usage (root): bash hack/images/check.sh [built module dir, default dist]
#   The module dir is `npm run build`'s output (pepr-purelb.cjs and purelb-system.yaml).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
index="${PURELB_TOOLS_DIR:-$HOME/.cache/purelb-tools}/images/index.json"
dist="$(cd "${1:-$repo/dist}" && pwd)"

die() {
  echo "check: $*" >&2
  exit 1
}
[[ $EUID -eq 0 ]] || die "needs root (namespaces, chroot)"
[[ -f $index ]] || die "no $index: run bash hack/images/build.sh"
[[ -f $dist/pepr-purelb.cjs && -f $dist/purelb-system.yaml ]] ||
  die "$dist has no built module: run npm run build"

tmp="$(mktemp -d /tmp/purelb-image-check.XXXXXX)"
ns="purelb-img-$$"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up

archive_of() { node -p "require('$index').images.find(i => i.name === '$1').archive"; }

# unpack NAME: the image's root filesystem at $tmp/NAME (layers in order, whiteouts applied)
# and its config at $tmp/NAME.json.
unpack() {
  local name=$1 archive root layer
  archive="$(archive_of "$name")"
  root="$tmp/$name"
  mkdir -p "$root"
  tar -xOf "$archive" manifest.json >"$tmp/$name.manifest.json"
  tar -xOf "$archive" "$(node -p "require('$tmp/$name.manifest.json')[0].Config")" >"$tmp/$name.json"
  while read -r layer; do
    tar -xOf "$archive" "$layer" | tar -x -C "$root"
    # A whiteout .wh.X in a layer deletes X of the layers below.
    find "$root" -name '.wh.*' -print0 | while IFS= read -r -d '' wh; do
      rm -rf "$(dirname "$wh")/$(basename "$wh" | sed 's/^\.wh\.//')" "$wh"
    done
  done < <(node -p "require('$tmp/$name.manifest.json')[0].Layers.join('\n')")
}

# cfg NAME FIELD: a field of the image config, JSON-encoded.
cfg() { node -p "JSON.stringify(require('$tmp/$1.json').config.$2 ?? null)"; }

# run NAME USER LOG [MOUNT:DIR...] -- ARGS...: the entrypoint of image NAME with ARGS in the
# network namespace, as USER (uid:gid), on its root filesystem mounted read-only with the
# image's Env, plus a tmpfs at /app/run and each DIR bound at its MOUNT; in the background.
run() {
  local name=$1 user=$2 logfile=$3
  shift 3
  local binds=()
  while [[ $1 != -- ]]; do
    binds+=("$1")
    shift
  done
  shift
  local root="$tmp/$name" entry
  entry="$(node -p "(require('$tmp/$name.json').config.Entrypoint || []).join('\n')")"
  local envs=()
  mapfile -t envs < <(node -p "(require('$tmp/$name.json').config.Env || []).join('\n')")
  local setup="mount --bind $root $root && mount -o remount,bind,ro $root"
  if [[ -d $root/proc ]]; then
    mkdir -p "$root/app/run"
    setup+=" && mount -t proc proc $root/proc && mount --rbind /dev $root/dev"
    setup+=" && mount -t tmpfs -o size=32m tmpfs $root/app/run"
  fi
  local b
  for b in "${binds[@]}"; do
    mkdir -p "$root${b%%:*}"
    setup+=" && mount --bind ${b#*:} $root${b%%:*}"
  done
  # shellcheck disable=SC2086 # the entrypoint is one word per line
  ip netns exec "$ns" unshare --mount --propagation private --pid --fork \
    sh -c "$setup && exec env -i \"\$@\"" sh "${envs[@]}" "${EXTRA_ENV[@]}" \
    "$(command -v chroot)" --userspec="$user" "$root" $entry "$@" >"$logfile" 2>&1 &
  pids+=($!)
}

# wait_for LOGFILE PATTERN SECONDS PID: true once LOGFILE matches, false when PID ends first.
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -qsE "$2" "$1" && return 0
    kill -0 "$4" 2>/dev/null || { grep -qsE "$2" "$1"; return; }
    sleep 0.1
  done
  return 1
}

pass() { echo "check: ok   $*"; }
fail() {
  echo "check: FAIL $*" >&2
  [[ -z ${2:-} ]] || sed 's/^/    /' "$2" >&2
  exit 1
}

EXTRA_ENV=()

# pause: PID 1 of its namespace, ends cleanly on SIGTERM.
unpack pause
run pause 65535:65535 "$tmp/pause.log" --
sleep 0.3
kill -0 "${pids[-1]}" || fail "pause exited on its own" "$tmp/pause.log"
# unshare --fork does not pass signals on: signal its child, the pause process, as the
# runtime signals a container's PID 1.
kill -TERM "$(cat "/proc/${pids[-1]}/task/${pids[-1]}/children")"
wait "${pids[-1]}" && grep -q "got signal 15" "$tmp/pause.log" && ! grep -q "not PID 1" "$tmp/pause.log" ||
  fail "pause did not stop cleanly on SIGTERM" "$tmp/pause.log"
pass "pause: waits as PID 1, exits 0 on SIGTERM"

# echo: one JSON line per request, over IPv4 and IPv6, naming pod, node and client.
unpack echo
EXTRA_ENV=(PORT=8081 POD_NAME=echo-pod NODE_NAME=node-a)
run echo 65534:65534 "$tmp/echo.log" --
EXTRA_ENV=()
wait_for "$tmp/echo.log" "listening" 10 "${pids[-1]}" || fail "echo did not start" "$tmp/echo.log"
for url in http://127.0.0.1:8081/a 'http://[::1]:8081/b'; do
  reply="$(ip netns exec "$ns" curl -sS -g "$url")"
  node -e '
    const r = JSON.parse(process.argv[1]);
    const want = process.argv[2].includes("[") ? "::1" : "127.0.0.1";
    if (r.pod !== "echo-pod" || r.node !== "node-a" || r.client !== want) process.exit(1);
  ' "$reply" "$url" || fail "echo answered $url with $reply" "$tmp/echo.log"
done
pass "echo: $reply"

# The module as the chart hands it to Pepr's pods: the launcher and the gzipped bundle.
hash="$(sha256sum "$dist/pepr-purelb.cjs" | cut -c1-64)"
mkdir -p "$tmp/load"
gzip -c "$dist/pepr-purelb.cjs" >"$tmp/load/module-$hash.js.gz"
node -e '
  const { parseAllDocuments } = require(process.argv[1] + "/node_modules/yaml");
  const docs = parseAllDocuments(require("fs").readFileSync(process.argv[2], "utf8")).map(d => d.toJS());
  const cm = docs.find(d => d && d.kind === "ConfigMap" && d.data && d.data["launch.cjs"]);
  if (!cm) throw new Error("no launcher ConfigMap in " + process.argv[2]);
  require("fs").writeFileSync(process.argv[3], cm.data["launch.cjs"]);
' "$repo" "$dist/purelb-system.yaml" "$tmp/load/launch.cjs"
# No API server in the namespace: the address is one nothing listens on.
api_env=(KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=6443)
mkdir -p "$tmp/sa"
echo token >"$tmp/sa/token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=check \
  -keyout "$tmp/sa/ca.key" -out "$tmp/sa/ca.crt" -days 1 2>/dev/null
echo default >"$tmp/sa/namespace"
# At /run: in a Debian root /var/run is an absolute link to /run, which outside the chroot
# would lead to the host's /run.
SA=/run/secrets/kubernetes.io/serviceaccount

# controller: the watcher (allocator) pod, as UID 65534, launcher from /app/load.
unpack controller
[[ $(cfg controller WorkingDir) == '"/app"' ]] || fail "controller: working dir $(cfg controller WorkingDir)"
EXTRA_ENV=("${api_env[@]}" PEPR_WATCH_MODE=true LOG_LEVEL=debug PEPR_PRETTY_LOG=false)
run controller 65534:65534 "$tmp/controller.log" "/app/load:$tmp/load" "$SA:$tmp/sa" -- \
  /app/load/launch.cjs "$hash"
EXTRA_ENV=()
# The module got loaded with Pepr's packages and tried the API server: that is as far as it
# gets without a cluster.
if wait_for "$tmp/controller.log" "ECONNREFUSED|connect|6443" 30 "${pids[-1]}" &&
  ! grep -qE "MODULE_NOT_FOUND|Cannot find module|EROFS|EACCES" "$tmp/controller.log"; then
  pass "controller: launcher ran the module, which looked for the API server: $(grep -m1 -oE '.{0,80}(ECONNREFUSED|6443).{0,40}' "$tmp/controller.log")"
else
  fail "controller did not get as far as the API server" "$tmp/controller.log"
fi

# gobgp: the sidecar with the chart's flags, answering its gRPC API on loopback.
unpack gobgp
run gobgp 0:0 "$tmp/gobgp.log" -- --api-hosts=127.0.0.1:50051 --pprof-disable --log-level=info
sleep 1
out="$(ip netns exec "$ns" chroot "$tmp/gobgp" /usr/bin/gobgp -u 127.0.0.1 -p 50051 global 2>&1 || true)"
if [[ $out == *"connection refused"* || -z $out ]]; then fail "gobgp: API did not answer: $out" "$tmp/gobgp.log"; fi
pass "gobgp: gobgpd $("$tmp/gobgp/usr/bin/gobgpd" --version | awk '{print $3}') answered on its API: ${out%%$'\n'*}"

# agent: the DaemonSet's container, as root, launcher from /app/launcher, module from the
# directory instead of the Secret (PURELB_MODULE_DIR), since there is no API server to read
# it from.
unpack agent
EXTRA_ENV=("${api_env[@]}" PURELB_MODE=agent NODE_NAME=node-a PURELB_NAMESPACE=purelb-system
  PURELB_MODULE_DIR=/app/load PURELB_BGP=true PURELB_GOBGP_ADDRESS=127.0.0.1:50051
  PURELB_GOBGP_PROTO_DIR=/usr/share/gocode/src/github.com/osrg/gobgp/api LOG_LEVEL=debug)
run agent 0:0 "$tmp/agent.log" "/app/launcher:$tmp/load" "/app/load:$tmp/load" "$SA:$tmp/sa" -- \
  --optimize-for-size /app/launcher/launch.cjs "$hash"
EXTRA_ENV=()
if wait_for "$tmp/agent.log" "ECONNREFUSED|6443" 30 "${pids[-1]}" &&
  ! grep -qE "MODULE_NOT_FOUND|Cannot find module|EROFS" "$tmp/agent.log"; then
  pass "agent: launcher ran the module in agent mode, which looked for the API server: $(grep -m1 -oE '.{0,80}(ECONNREFUSED|6443).{0,40}' "$tmp/agent.log")"
else
  fail "agent did not get as far as the API server" "$tmp/agent.log"
fi
for m in netlink koffi @grpc/grpc-js @grpc/proto-loader; do
  ip netns exec "$ns" env -i "$(command -v chroot)" "$tmp/agent" /usr/bin/env \
    NODE_PATH=/opt/purelb/node_modules \
    /usr/local/bin/node -e "require('$m')" || fail "agent: require('$m') failed"
done
pass "agent: netlink, koffi and the gRPC packages load from NODE_PATH"
echo "check: all images ran"
