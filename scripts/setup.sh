#!/usr/bin/env bash
# Installs what building and testing Livecast needs on a Debian 12 machine, skipping
# whatever is already there (safe to run again). Run as root or with sudo available.
#   - Debian: clang-19 + llvm-19 (openh264's C++ for wasm32), wasi-libc (its libc headers
#     and libc.a), chromium + chromium-driver (browser tests), ffmpeg (media checks)
#   - Debian, for the cross-engine tests (tests/engines): firefox-esr; WebKitGTK's
#     MiniBrowser and WebKitWebDriver (webkit2gtk-driver) under xvfb, with the GStreamer
#     plugins its media stack decodes and encodes H.264 and AAC with
#   - Debian, for the HLS edge cache (deploy/nginx, tests/cluster, benches/viewers.sh):
#     nginx, wrk, iproute2
#   - Debian: postgresql (the relay's `--database postgres://…` tests start their own server
#     in a temporary directory, as the `postgres` user when run as root), haproxy (several
#     relays behind deploy/haproxy/livecast-relays.cfg)
#   - rustup target wasm32-unknown-unknown
#   - cargo: wasm-bindgen-cli (same version as the pinned wasm-bindgen crate), wasm-pack
#   - cargo: garage (S3-compatible object store) for the relay's object-storage tests
#   - npm ci: playwright-core, typescript, binaryen (package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # keep equal to the `wasm-bindgen = "=..."` pin in Cargo.toml
WASM_PACK_VERSION=0.15.1

log() { printf '\n==> %s\n' "$*"; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v clang++-19 >/dev/null || missing+=(clang-19)
command -v llvm-ar-19 >/dev/null || missing+=(llvm-19)
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=(wasi-libc)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# WebKitGTK's and Firefox's media stacks pull their codecs and X pieces in as recommended
# packages, so these are installed with recommends (the list above without).
engines=()
command -v firefox-esr >/dev/null || engines+=(firefox-esr)
command -v WebKitWebDriver >/dev/null || engines+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null || engines+=(xvfb xauth)
for pkg in gstreamer1.0-libav gstreamer1.0-plugins-good gstreamer1.0-plugins-bad; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || engines+=("$pkg")
done
if [ ${#engines[@]} -gt 0 ]; then
  log "apt-get install ${engines[*]} (Firefox and WebKitGTK for the cross-engine tests)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${engines[@]}" >/dev/null
fi

# --- HLS edge cache (deploy/nginx, tests/cluster): nginx, and wrk for benches/viewers.sh.
# The tests start their own nginx (-p PREFIX -c CONF in a temporary directory), never the
# system one; on a machine with systemd the package also enables a default site on port 80,
# which the tests do not use.
edge=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || edge+=(nginx)
command -v wrk >/dev/null || edge+=(wrk)
command -v ip >/dev/null || edge+=(iproute2)
if [ ${#edge[@]} -gt 0 ]; then
  log "apt-get install ${edge[*]} (the HLS edge cache tests and benchmark)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${edge[@]}" >/dev/null
fi
# --- end of the HLS edge cache block.

# --- PostgreSQL and HAProxy for several relays (crates/livecast-relay/tests/postgres.rs).
# The tests run initdb, postgres and haproxy themselves; the system services the packages may
# start are unused.
several=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || several+=(postgresql)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || several+=(haproxy)
if [ ${#several[@]} -gt 0 ]; then
  log "apt-get install ${several[*]} (several relays on one PostgreSQL, behind HAProxy)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${several[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: one crate version its lock file pins is no longer served.
  cargo install --quiet --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "$WASM_PACK_VERSION" ]; then
  log "cargo install wasm-pack $WASM_PACK_VERSION (a few minutes)"
  cargo install --quiet --force --locked wasm-pack --version "$WASM_PACK_VERSION"
fi

# ---- Garage, the object store the relay's S3 tests run against -----------------------------
# crates/livecast-relay/tests/storage_s3.rs starts a single-node Garage per test (see
# tests/common/garage.rs). Built from source by cargo: about 8 minutes on 2 cores, once.
GARAGE_VERSION=2.5.0
GARAGE_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/garage"
if [ "$("$GARAGE_BIN" --version 2>/dev/null | awk '{ sub(/^.*:/, "", $2); print $2 }')" != "$GARAGE_VERSION" ]; then
  log "cargo install garage $GARAGE_VERSION (about 8 minutes on 2 cores)"
  cargo install --quiet --force --locked garage --version "$GARAGE_VERSION"
fi
# ---- end of Garage -------------------------------------------------------------------------

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi
