#!/usr/bin/env bash
# Runs every Livecast test: native unit tests, wasm tests in headless Chromium, the
# package build and its TypeScript types, and the browser end-to-end tests.
# Installs what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

bash scripts/setup.sh

step "contracts: TicketBroker artifact drift (recompiled with the pinned solc), the anvil harness (node --test tests/contracts), the ABI-only bindings for wasm32"
node --test --test-concurrency=1 tests/contracts/
cargo build -p livecast-broker --no-default-features --target wasm32-unknown-unknown

step "native unit tests (cargo test --workspace)"
cargo test --workspace

step "wasm unit tests in headless Chromium (wasm-pack test)"
wasm-pack test --headless --chrome

step "package build (wasm-pack build --target web, release)"
bash scripts/build-wasm.sh

step "TypeScript: the package's .d.ts type-checks a consumer"
npx tsc -p tests/types/tsconfig.json

step "relay and transcoder binaries for the end-to-end tests (the transcoder optimised: it must keep up in real time)"
cargo build -p livecast-relay
cargo build --release -p livecast-transcoder

step "browser end-to-end tests (node --test tests/e2e)"
node --test --test-concurrency=1 tests/e2e/

step "all tests passed in $((SECONDS - start)) s"
