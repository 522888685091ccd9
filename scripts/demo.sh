#!/usr/bin/env bash
# Runs the Livecast demo: installs what is missing, builds what changed (the wasm package,
# the relay and the transcoder, with the same profiles and features as scripts/test.sh, so
# a second start rebuilds nothing), starts a local chain, one transcoder node and the relay
# (open mode) on http://127.0.0.1:${PORT:-8080}/ serving the pages:
#   /www/broadcast.html  go live from the camera (creates a stream; transcoding on by default)
#   /www/watch.html      watch it, with the ABR ladder when transcoded
#   /www/index.html      the encoder alone: camera → H.264 file
# Ports: PORT (relay and pages, 8080), TRANSCODER_PORT (the node, 8935), ANVIL_PORT (the
# chain, 8545); the printed URL carries the chain's RPC URL to the page, which shows the rest.
# Data (streams, renditions, the node's key) is kept in ${LIVECAST_DEMO_DATA:-./relay-data}.
# Payments: a local chain (anvil from node_modules, a block a second) with a freshly deployed
# TicketBroker; the node charges ${PRICE_PER_UNIT:-1} wei per output pixel, is paid in
# tickets that win with probability ${WIN_PROB:-0.1} (demo value, so redemptions show
# within seconds) and redeems them with anvil's dev account 1.
# Ctrl+C, or SIGTERM to this script (`kill PID`), stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

port="${PORT:-8080}"
node_port="${TRANSCODER_PORT:-8935}"
anvil_port="${ANVIL_PORT:-8545}"
data="${LIVECAST_DEMO_DATA:-./relay-data}"

script_name=demo
# shellcheck source=lib/services.sh
source scripts/lib/services.sh

bash scripts/setup.sh

build_wasm_if_stale
# The same two builds as scripts/test.sh (building both packages in one cargo command
# unifies their features differently and would recompile both).
build cargo build -p livecast-relay
build cargo build --release -p livecast-transcoder

mkdir -p "$data"

# Local chain: the anvil binary the npm package installs for this platform.
rpc_url="http://127.0.0.1:${anvil_port}"
anvil_os="$(uname -s | tr '[:upper:]' '[:lower:]')"
anvil_arch="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
anvil_bin="node_modules/@foundry-rs/anvil-${anvil_os}-${anvil_arch}/bin/anvil"
[ -x "$anvil_bin" ] || { echo "anvil not found at $anvil_bin: run npm ci" >&2; exit 1; }
rm -f "$data/anvil.json"
"$anvil_bin" --host 127.0.0.1 --port "$anvil_port" --block-time 1 --config-out "$data/anvil.json" --silent &
pids+=($!)
await_port "${pids[-1]}" "$anvil_port" "anvil (ANVIL_PORT)"
for _ in $(seq 100); do [ -s "$data/anvil.json" ] && break; sleep 0.1; done
broker="$(target/release/livecast-transcoder broker deploy --rpc-url "$rpc_url" --dev-account 0 \
  --anvil-leave-round-zero --out "$data/broker-address")"
# The node's key is anvil's dev account 1 (it pays the redemption gas).
(umask 077; node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).private_keys[1].slice(2))' \
  "$data/anvil.json" > "$data/anvil-node.key")

target/release/livecast-transcoder --listen "127.0.0.1:${node_port}" --data-dir "$data/transcoder" \
  --eth-rpc-url "$rpc_url" --broker-address "$broker" --eth-key-file "$data/anvil-node.key" \
  --price-per-unit "${PRICE_PER_UNIT:-1}" --win-prob-fraction "${WIN_PROB:-0.1}" &
pids+=($!)
await_port "${pids[-1]}" "$node_port" "the transcoder (TRANSCODER_PORT)"

target/debug/livecast-relay --listen "127.0.0.1:${port}" --data-dir "$data/relay" --open \
  --transcoder "http://127.0.0.1:${node_port}" &
pids+=($!)
await_port "${pids[-1]}" "$port" "the relay (PORT)"

page="http://127.0.0.1:${port}/www/broadcast.html?broker=${broker}&pay=1&rpc=${rpc_url}"
echo
echo "Livecast demo: open ${page} in Chrome, Edge or Firefox (Ctrl+C stops)"
echo "TicketBroker ${broker} on ${rpc_url} (chain id 31337), transcoder on 127.0.0.1:${node_port};"
echo "add &wallet=dev to the URL to use the local dev wallet (anvil's test account; development only)"

# Runs until one of them exits (or a signal ends the script); then the rest are stopped.
status=0
wait -n "${pids[@]}" || status=$?
echo "demo: a service exited (status ${status}); stopping the others" >&2
exit 1
