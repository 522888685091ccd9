#!/usr/bin/env bash
# Builds the browser SDK into pkg/ (the npm package `livecast`: ESM + .d.ts + .wasm): the
# whole SDK in pkg/ (`livecast`), and the watch-only module in pkg/player (`livecast/player`:
# the Player alone, built without the `broadcast` feature, so without openh264, the
# Broadcaster, the Wallet and ticket signing).
# Usage: scripts/build-wasm.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=--release
[ "${1:-}" = "--dev" ] && profile=--dev
# wasm-pack's own wasm-opt step is off (Cargo.toml): Debian's binaryen 108 corrupts
# wasm-bindgen 0.2.130 output, and wasm-pack would otherwise try to download one.
wasm-pack build --target web "$profile" --out-dir pkg --out-name livecast
# The player module second: wasm-pack leaves the rest of pkg/ alone, and --no-pack keeps a
# second package.json, README and LICENSE out of pkg/player (pkg/package.json serves both).
wasm-pack build --target web "$profile" --out-dir pkg/player --out-name livecast_player --no-pack \
  -- --no-default-features

# Release builds go through the npm package's wasm-opt (binaryen 132, package-lock.json):
# ~15 % smaller and a few % faster (benches/encode.mjs). The feature list is what rustc
# and clang emit for this target; never let /usr/bin/wasm-opt touch these files.
wasm_opt=node_modules/.bin/wasm-opt
if [ "$profile" = --release ] && [ -x "$wasm_opt" ]; then
  for wasm in pkg/livecast_bg.wasm pkg/player/livecast_player_bg.wasm; do
    "$wasm_opt" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$wasm" -o "$wasm"
  done
fi

# The package's entry starts the encode Worker, whose scripts go into pkg/workers/
# (scripts/pkg-workers.mjs says why). pkg/package.json (written by wasm-pack for the full
# module) also exports the player module as `livecast/player`.
node scripts/pkg-workers.mjs pkg
node scripts/pkg-exports.mjs pkg

# hls.js is the reference player of the tests (www/tests/play-levels.html) and of the player
# benchmark, not of the demo: copy it from node_modules (an npm devDependency) next to the
# pages. Generated, not committed.
if [ -f node_modules/hls.js/dist/hls.mjs ]; then
  mkdir -p www/vendor
  cp node_modules/hls.js/dist/hls.mjs www/vendor/hls.mjs
fi
