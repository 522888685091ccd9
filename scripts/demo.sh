#!/usr/bin/env bash
# Runs the Livecast demo: installs what is missing, builds the wasm package, the relay and
# the transcoder, starts one transcoder node and the relay (open mode) on
# http://127.0.0.1:${PORT:-8080}/ serving the pages:
#   /www/broadcast.html  go live from the camera (creates a stream; transcoding on by default)
#   /www/watch.html      watch it, with the ABR ladder when transcoded
#   /www/index.html      the encoder alone: camera → H.264 file
# Data (streams, renditions, the node's key) is kept in ${LIVECAST_DEMO_DATA:-./relay-data}.
# Payments: a local chain (anvil from node_modules, http://127.0.0.1:${ANVIL_PORT:-8545},
# a block a second) with a freshly deployed TicketBroker; the node charges
# ${PRICE_PER_UNIT:-1} wei per output pixel, is paid in tickets that win with probability
# ${WIN_PROB:-0.1} (demo value, so redemptions show within seconds) and redeems them with
# anvil's dev account 1.
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

# Local chain: the anvil binary the npm package installs for this platform, stopped by its PID.
anvil_port="${ANVIL_PORT:-8545}"
rpc_url="http://127.0.0.1:${anvil_port}"
anvil_os="$(uname -s | tr '[:upper:]' '[:lower:]')"
anvil_arch="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
anvil_bin="node_modules/@foundry-rs/anvil-${anvil_os}-${anvil_arch}/bin/anvil"
[ -x "$anvil_bin" ] || { echo "anvil not found at $anvil_bin: run npm ci" >&2; exit 1; }
rm -f "$data/anvil.json"
"$anvil_bin" --host 127.0.0.1 --port "$anvil_port" --block-time 1 --config-out "$data/anvil.json" --silent &
anvil_pid=$!
transcoder_pid=
trap 'kill $transcoder_pid "$anvil_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do [ -s "$data/anvil.json" ] && (exec 3<>"/dev/tcp/127.0.0.1/${anvil_port}") 2>/dev/null && break; sleep 0.1; done
broker="$(target/release/livecast-transcoder broker deploy --rpc-url "$rpc_url" --dev-account 0 \
  --anvil-leave-round-zero --out "$data/broker-address")"
# The node's key is anvil's dev account 1 (it pays the redemption gas).
(umask 077; node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).private_keys[1].slice(2))' \
  "$data/anvil.json" > "$data/anvil-node.key")

target/release/livecast-transcoder --listen "127.0.0.1:${node_port}" --data-dir "$data/transcoder" \
  --eth-rpc-url "$rpc_url" --broker-address "$broker" --eth-key-file "$data/anvil-node.key" \
  --price-per-unit "${PRICE_PER_UNIT:-1}" --win-prob-fraction "${WIN_PROB:-0.1}" &
transcoder_pid=$!

echo
echo "Livecast demo: open http://127.0.0.1:${port}/www/broadcast.html?broker=${broker}&pay=1 in Chrome, Edge or Firefox (Ctrl+C stops)"
echo "TicketBroker ${broker} on ${rpc_url} (chain id 31337); add &wallet=dev to use the local dev wallet"
target/release/livecast-relay --listen "127.0.0.1:${port}" --data-dir "$data/relay" --open \
  --transcoder "http://127.0.0.1:${node_port}"
