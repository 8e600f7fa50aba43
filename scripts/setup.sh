#!/usr/bin/env bash
# Installs and builds what tail2 needs, skipping every step that is already done, so `npm start`,
# `npm test` and `npm run bench` work on a fresh Debian machine (as root) and stay fast afterwards:
#   Debian packages (apt-get) -> npm packages (npm ci) -> BPF objects + skeletons (bpf/Makefile)
#   -> tail2-reader (native/reader/Makefile) -> native addon (node-gyp) -> TypeScript (tsc)
#   -> tail2 record's bundle (scripts/build-record.mjs) -> browser code (views/client/: tsc checks it, rolldown bundles it).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'tail2 setup: %s\n' "$*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
# Build: clang/llvm/bpftool (BPF), libbpf/libelf/zlib (the addon), libdw/libiberty/nlohmann-json
# (tail2-reader), make/g++.
# Run and test: linux-perf (benchmark baseline), time (GNU time measures benchmark CPU), golang-go (`go tool pprof` reads our pprof files),
# redis-server (tail2d's own notification queue), chromium and DejaVu fonts (web page tests, PNG text),
# util-linux (setpriv, unshare, taskset in tests), libxml2-utils (xmllint checks SVG and HTML output),
# systemd (systemd-analyze verifies the unit), python3 (a datagram socket standing in for systemd),
# libc6-dbg (libc's own function names, which the unwinding tests expect in glibc's frames),
# libjemalloc2 (the allocation probes are tested on a process that preloads it; redis-server's too).
packages=(clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libdw-dev libiberty-dev nlohmann-json3-dev make g++
  linux-perf time golang-go redis-server chromium fonts-dejavu-core libxml2-utils util-linux systemd python3 libc6-dbg libjemalloc2)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]}; run this as root (or install them) and try again"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- npm packages ----------------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- BPF objects and skeletons (make skips what is current) ----------------------------------
make -s -C bpf

# --- tail2-reader, the process that reads profiled processes' files (make skips what is current)
make -s -C native/reader

# --- native addon ----------------------------------------------------------------------------
addon=native/build/Release/tail2_native.node
if [ ! -f "$addon" ] || [ -n "$(find native bpf build/bpf -path native/reader -prune -o -newer "$addon" \( -name '*.cc' -o -name '*.h' -o -name '*.gyp' \) -print -quit)" ]; then
  log "building the native addon"
  gyp=(node-gyp)
  command -v node-gyp >/dev/null || gyp=(node "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js")
  nodedir=()
  [ -f /usr/include/node/node_api.h ] && nodedir=(--nodedir=/usr)
  (cd native && "${gyp[@]}" rebuild "${nodedir[@]}" --loglevel=error >/dev/null)
fi

# --- TypeScript ------------------------------------------------------------------------------
stamp=dist/.tsc-stamp
# views/client/ too: the server renderers import its flame-style.ts.
if [ ! -f "$stamp" ] || [ -n "$(find daemon triggers notifiers bench harness views/client tsconfig.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  log "compiling TypeScript"
  npx tsc -p tsconfig.json
  touch "$stamp"
fi

# --- `tail2 record` as one bundle (dist/bundle/), loaded by the CLI in place of its ~150 modules
record_stamp=dist/.record-stamp
if [ ! -f "$record_stamp" ] || [ "$stamp" -nt "$record_stamp" ] || [ scripts/build-record.mjs -nt "$record_stamp" ]; then
  log "bundling tail2 record"
  rm -rf dist/bundle
  node scripts/build-record.mjs
  touch "$record_stamp"
fi

# --- Browser code: the incident page's script (dist/static/) and the SVG flamegraphs' (dist/embedded/)
client_stamp=dist/.client-stamp
if [ ! -f "$client_stamp" ] || [ -n "$(find views/client scripts/build-client.mjs package-lock.json -newer "$client_stamp" -print -quit 2>/dev/null)" ]; then
  log "checking and bundling the browser code"
  npx tsc -p views/client/tsconfig.json
  node scripts/build-client.mjs
  touch "$client_stamp"
fi
