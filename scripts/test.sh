#!/usr/bin/env bash
# Runs every Livecast test: native unit tests, wasm tests in headless Chromium, the
# package build and its TypeScript types, and the browser end-to-end tests.
# Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# A test run builds from scratch: incremental caches would only add disk use.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

# The builds below need about 6 GB of disk (debug + release + wasm targets). Say so up front
# rather than letting a linker die half-way with SIGBUS on a full disk.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt 6000000 ]; then
  printf 'warning: only %s MB free under %s; the build needs about 6 GB\n' "$((free_kb / 1024))" "$PWD" >&2
fi

bash scripts/setup.sh

step "contracts: TicketBroker artifact drift (recompiled with the pinned solc), the anvil harness (node --test tests/contracts), the ABI-only bindings for wasm32"
node --test --test-concurrency=1 tests/contracts/
cargo build -p livecast-broker --no-default-features --target wasm32-unknown-unknown

step "rust-version: every crate declares at least what its dependencies need (scripts/check-msrv.mjs)"
node scripts/check-msrv.mjs

step "object storage: Garage for the relay's S3 tests (those run in the next step: crates/livecast-relay/tests/storage_s3.rs)"
garage --version | grep -q ':2.5.0 ' || { echo "garage 2.5.0 is not installed (scripts/setup.sh installs it)" >&2; exit 1; }

step "native unit tests (cargo test --workspace)"
cargo test --workspace

step "the encode worker's policies in Node (node --test tests/unit): frame pacing, parallel-encoder reorder, capture clock"
node --test tests/unit/

step "wasm unit tests in headless Chromium (wasm-pack test)"
bash scripts/wasm-test.sh

step "package build (wasm-pack build --target web, release)"
bash scripts/build-wasm.sh

step "TypeScript: the package's .d.ts type-checks a consumer"
npx tsc -p tests/types/tsconfig.json

step "relay and transcoder binaries for the end-to-end tests (the transcoder optimised: it must keep up in real time)"
cargo build -p livecast-relay
cargo build --release -p livecast-transcoder

step "the npm package as apps use it (node --test tests/package): the tarball's files, Vite build/dev, webpack 5 and plain ESM apps broadcasting to a relay and playing back, strict TypeScript on the README's examples"
node --test --test-concurrency=1 tests/package/

step "scale-out (node --test tests/cluster): a real relay behind two real nginx edges (deploy/nginx/livecast-edge.conf), 500 viewers of a live stream, origin requests counted; scripts/cluster.sh with a Garage node and a relay killed"
node --test --test-concurrency=1 tests/cluster/

step "browser end-to-end tests (node --test tests/e2e)"
node --test --test-concurrency=1 tests/e2e/

step "other engines: Firefox ESR and WebKitGTK end-to-end (node --test tests/engines): broadcast, play, H264Encoder, Wallet"
node --test --test-concurrency=1 --test-timeout=300000 tests/engines/

step "all tests passed in $((SECONDS - start)) s"
