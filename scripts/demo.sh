#!/usr/bin/env bash
# Runs the Livecast demo: installs what is missing, builds the wasm package, serves the
# pages on http://127.0.0.1:${PORT:-8080}/ (open it in Chrome, Edge or Firefox).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-wasm.sh
exec node scripts/serve.mjs --port "${PORT:-8080}"
