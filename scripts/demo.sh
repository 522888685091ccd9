#!/usr/bin/env bash
# Runs the Livecast demo: installs what is missing, builds the wasm package and the relay,
# and starts the relay in open mode on http://127.0.0.1:${PORT:-8080}/ serving the pages:
#   /www/broadcast.html  go live from the camera (creates a stream on this relay)
#   /www/watch.html      watch it (the broadcast page links to it)
#   /www/index.html      the encoder alone: camera → H.264 file
# Streams are kept in ${LIVECAST_DEMO_DATA:-./relay-data}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-wasm.sh
cargo build --release -p livecast-relay
port="${PORT:-8080}"
echo
echo "Livecast demo: open http://127.0.0.1:${port}/www/broadcast.html in Chrome, Edge or Firefox (Ctrl+C stops)"
exec target/release/livecast-relay --listen "127.0.0.1:${port}" --data-dir "${LIVECAST_DEMO_DATA:-./relay-data}" --open
