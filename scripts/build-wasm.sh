#!/usr/bin/env bash
# Builds the browser SDK into pkg/ (the npm package `livecast`: ESM + .d.ts + .wasm).
# Usage: scripts/build-wasm.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=--release
[ "${1:-}" = "--dev" ] && profile=--dev
# wasm-pack's own wasm-opt step is off (Cargo.toml): Debian's binaryen 108 corrupts
# wasm-bindgen 0.2.130 output, and wasm-pack would otherwise try to download one.
wasm-pack build --target web "$profile" --out-dir pkg --out-name livecast

# Release builds go through the npm package's wasm-opt (binaryen 132, package-lock.json):
# ~15 % smaller and a few % faster (benches/encode.mjs). The feature list is what rustc
# and clang emit for this target; never let /usr/bin/wasm-opt touch this file.
wasm_opt=node_modules/.bin/wasm-opt
if [ "$profile" = --release ] && [ -x "$wasm_opt" ]; then
  "$wasm_opt" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    pkg/livecast_bg.wasm -o pkg/livecast_bg.wasm
fi

# hls.js is the reference player of the tests (www/tests/play-levels.html) and of the player
# benchmark, not of the demo: copy it from node_modules (an npm devDependency) next to the
# pages. Generated, not committed.
if [ -f node_modules/hls.js/dist/hls.mjs ]; then
  mkdir -p www/vendor
  cp node_modules/hls.js/dist/hls.mjs www/vendor/hls.mjs
fi
