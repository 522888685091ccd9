#!/usr/bin/env bash
# Runs the Livecast demo: installs what is missing, builds the wasm package, the relay and
# the transcoder, starts one transcoder node and the relay (open mode) on
# http://127.0.0.1:${PORT:-8080}/ serving the pages:
#   /www/broadcast.html  go live from the camera (creates a stream; transcoding on by default)
#   /www/watch.html      watch it, with the ABR ladder when transcoded
#   /www/index.html      the encoder alone: camera → H.264 file
# Data (streams, renditions, the node's key) is kept in ${LIVECAST_DEMO_DATA:-./relay-data}.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build-wasm.sh
cargo build --release -p livecast-relay -p livecast-transcoder
port="${PORT:-8080}"
node_port="${TRANSCODER_PORT:-8935}"
data="${LIVECAST_DEMO_DATA:-./relay-data}"
mkdir -p "$data"

target/release/livecast-transcoder --listen "127.0.0.1:${node_port}" --data-dir "$data/transcoder" &
transcoder_pid=$!
trap 'kill "$transcoder_pid" 2>/dev/null || true' EXIT INT TERM

echo
echo "Livecast demo: open http://127.0.0.1:${port}/www/broadcast.html in Chrome, Edge or Firefox (Ctrl+C stops)"
target/release/livecast-relay --listen "127.0.0.1:${port}" --data-dir "$data/relay" --open \
  --transcoder "http://127.0.0.1:${node_port}"
