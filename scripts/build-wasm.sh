#!/usr/bin/env bash
# Builds the browser SDK into pkg/ (the npm package `livecast`: ESM + .d.ts + .wasm).
# Usage: scripts/build-wasm.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=--release
[ "${1:-}" = "--dev" ] && profile=--dev
# wasm-pack's own wasm-opt step is off (Cargo.toml): Debian's binaryen corrupts
# wasm-bindgen output, and wasm-pack would otherwise try to download one.
wasm-pack build --target web "$profile" --out-dir pkg --out-name livecast
