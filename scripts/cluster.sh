#!/usr/bin/env bash
# Runs the scaled-out Livecast setup on this one machine, for a person to try what
# deploy/README.md describes:
#   - three Garage nodes (S3-compatible object storage), every object on all three
#     (replication_factor 3): one node can die and the bucket still reads and writes
#   - PostgreSQL, the metadata of both relays
#   - two relays on that database and that bucket (--database postgres://…, --storage s3://…)
#   - HAProxy in front of the relays (deploy/haproxy/livecast-relays.cfg): broadcasters and
#     pages use it
#   - one nginx HLS edge cache in front of HAProxy (deploy/nginx/livecast-edge.conf): viewers
#   - one transcoder node (free: --price-per-unit 0; scripts/demo.sh shows payments)
# Ports: PORT (HAProxy, pages and uploads: 8080), EDGE_PORT (the edge: 8090), the relays
# RELAY_PORT and RELAY_PORT+1 (8081, 8082), TRANSCODER_PORT (8935), PG_PORT (5433), and
# GARAGE_PORT (3900): node i (0, 1, 2) uses GARAGE_PORT+10*i (S3), +1 (RPC), +3 (admin), and
# GARAGE_PORT+30 is a TCP balancer over their S3 ports, which the relays use.
# Everything lives in a fresh temporary directory (or LIVECAST_CLUSTER_DATA, emptied first),
# removed at exit. When it is ready it prints the URLs and a line `cluster ready`, and the
# process ids in DATA/pids (name pid per line) for trying faults (kill -9 a Garage node or a
# relay). Ctrl+C, or SIGTERM to this script, stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

port="${PORT:-8080}"
edge_port="${EDGE_PORT:-8090}"
relay_port="${RELAY_PORT:-8081}"
node_port="${TRANSCODER_PORT:-8935}"
pg_port="${PG_PORT:-5433}"
garage_port="${GARAGE_PORT:-3900}"

script_name=cluster
# shellcheck source=lib/services.sh
source scripts/lib/services.sh

bash scripts/setup.sh
build_wasm_if_stale
# The same builds as scripts/test.sh and scripts/demo.sh.
build cargo build -p livecast-relay
build cargo build --release -p livecast-transcoder

if [ -n "${LIVECAST_CLUSTER_DATA:-}" ]; then
  data="$LIVECAST_CLUSTER_DATA"
  rm -rf "$data"
  mkdir -p "$data"
  remove_data=
else
  data="$(mktemp -d "${TMPDIR:-/tmp}/livecast-cluster.XXXXXX")"
  remove_data=1
fi
data="$(cd "$data" && pwd)"
chmod 755 "$data"
finish() {
  cleanup
  if [ -n "$remove_data" ]; then rm -rf "$data"; fi
}
trap finish EXIT
: > "$data/pids"
started() { pids+=("$2"); echo "$1 $2" >> "$data/pids"; }

# --- Garage: three nodes, replication 3.
garage_bin="$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")"
[ -x "$garage_bin" ] || { echo "cluster: garage not found (scripts/setup.sh installs it)" >&2; exit 1; }
rpc_secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
for i in 1 2 3; do
  dir="$data/garage$i"
  mkdir -p "$dir"
  base=$((garage_port + 10 * (i - 1)))
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 3
rpc_bind_addr = "127.0.0.1:$((base + 1))"
rpc_public_addr = "127.0.0.1:$((base + 1))"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$base"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((base + 3))"
TOML
  RUST_LOG=garage=warn "$garage_bin" -c "$dir/garage.toml" server >> "$dir/garage.log" 2>&1 &
  started "garage$i" $!
  await_port "$!" "$base" "garage node $i (GARAGE_PORT)"
done
garage() { "$garage_bin" -c "$data/garage1/garage.toml" "$@"; }
# Retries a command for up to 20 s (a node that listens may not answer RPC yet).
retry() {
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  "$@"
}
# Node $1's `ID@ADDR`, once it answers.
node_id() {
  local out
  for _ in $(seq 100); do
    out="$("$garage_bin" -c "$data/garage$1/garage.toml" node id -q 2>/dev/null)" && { echo "$out"; return 0; }
    sleep 0.2
  done
  echo "cluster: garage node $1 does not answer" >&2
  return 1
}
ids=()
for i in 1 2 3; do ids+=("$(node_id "$i")"); done
for i in 2 3; do retry garage node connect "${ids[$((i - 1))]}"; done
for i in 1 2 3; do garage layout assign -z "dc$i" -c 1G "${ids[$((i - 1))]%%@*}" >/dev/null; done
garage layout apply --version 1 >/dev/null
retry garage bucket create segments
key_id="GK$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
key_secret="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
garage key import --yes -n livecast-cluster "$key_id" "$key_secret" >/dev/null
garage bucket allow --read --write --owner segments --key "$key_id" >/dev/null

# The relays reach the S3 API through a TCP balancer over the three nodes, so that any one
# node may die (Garage's docs put a reverse proxy there too).
s3_port=$((garage_port + 30))
cat > "$data/haproxy-s3.cfg" <<CFG
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
frontend s3
    bind 127.0.0.1:${s3_port}
    default_backend garage
backend garage
    balance roundrobin
    default-server check inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
    server garage1 127.0.0.1:${garage_port}
    server garage2 127.0.0.1:$((garage_port + 10))
    server garage3 127.0.0.1:$((garage_port + 20))
CFG
haproxy -db -f "$data/haproxy-s3.cfg" > "$data/haproxy-s3.log" 2>&1 &
started haproxy-s3 $!
await_port "$!" "$s3_port" "HAProxy in front of Garage (GARAGE_PORT+30)"

# --- PostgreSQL (initdb refuses root: as root it runs as the `postgres` user).
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$pg_bin/initdb" ] || pg_bin="$(dirname "$(command -v initdb)")"
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi
mkdir -p "$data/postgres"
[ ${#as_pg[@]} -eq 0 ] || chown postgres "$data/postgres"
"${as_pg[@]}" "$pg_bin/initdb" -D "$data/postgres/data" -U livecast --auth=trust --encoding=UTF8 --locale=C >/dev/null
"${as_pg[@]}" "$pg_bin/postgres" -D "$data/postgres/data" -p "$pg_port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories= > "$data/postgres/postgres.log" 2>&1 &
started postgres $!
await_port "$!" "$pg_port" "PostgreSQL (PG_PORT)"
"$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U livecast livecast
database="postgres://livecast@127.0.0.1:${pg_port}/livecast"

# --- The transcoder, free.
target/release/livecast-transcoder --listen "127.0.0.1:${node_port}" --data-dir "$data/transcoder" \
  --price-per-unit 0 > "$data/transcoder.log" 2>&1 &
started transcoder $!
await_port "$!" "$node_port" "the transcoder (TRANSCODER_PORT)"

# --- Two relays on the database and the bucket.
export LIVECAST_RELAY_DATABASE="$database" LIVECAST_RELAY_STORAGE="s3://segments"
export AWS_ENDPOINT_URL="http://127.0.0.1:${s3_port}" AWS_REGION=garage
export AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$key_secret"
for i in 1 2; do
  p=$((relay_port + i - 1))
  target/debug/livecast-relay --listen "127.0.0.1:${p}" --data-dir "$data/relay$i" --open \
    --public-url "http://127.0.0.1:${port}" --transcoder "http://127.0.0.1:${node_port}" > "$data/relay$i.log" 2>&1 &
  started "relay$i" $!
  await_port "$!" "$p" "relay $i (RELAY_PORT)"
done

# --- HAProxy in front of them.
LIVECAST_HAPROXY_LISTEN="127.0.0.1:${port}" LIVECAST_RELAY_1="127.0.0.1:${relay_port}" \
  LIVECAST_RELAY_2="127.0.0.1:$((relay_port + 1))" \
  haproxy -db -f deploy/haproxy/livecast-relays.cfg > "$data/haproxy.log" 2>&1 &
started haproxy $!
await_port "$!" "$port" "HAProxy (PORT)"

# --- One nginx edge in front of HAProxy.
mkdir -p "$data/edge/logs" "$data/edge/temp" "$data/edge/cache"
LIVECAST_ORIGIN="127.0.0.1:${port}" LIVECAST_EDGE_LISTEN="127.0.0.1:${edge_port}" \
  LIVECAST_CACHE_DIR="$data/edge/cache" LIVECAST_CACHE_MAX_SIZE=1g \
  envsubst '${LIVECAST_ORIGIN} ${LIVECAST_EDGE_LISTEN} ${LIVECAST_CACHE_DIR} ${LIVECAST_CACHE_MAX_SIZE}' \
  < deploy/nginx/livecast-edge.conf > "$data/edge/nginx.conf"
nginx_user=nobody
[ "$(id -u)" != 0 ] || nginx_user=root
nginx -p "$data/edge" -c "$data/edge/nginx.conf" -g "daemon off; user ${nginx_user};" 2> "$data/edge/stderr.log" &
started edge $!
await_port "$!" "$edge_port" "the nginx edge (EDGE_PORT)"

echo
echo "Livecast cluster, all on 127.0.0.1 (data and logs in ${data}):"
echo "  broadcast:   http://127.0.0.1:${port}/www/broadcast.html   (through HAProxy to either relay)"
echo "  watch:       http://127.0.0.1:${port}/www/watch.html?id=ID&src=http://127.0.0.1:${edge_port}/hls/ID/master.m3u8"
echo "               (the page from HAProxy, the HLS through the edge cache; ID from the broadcast page)"
echo "  relays:      http://127.0.0.1:${relay_port}/healthz  http://127.0.0.1:$((relay_port + 1))/healthz"
echo "  HLS edge:    http://127.0.0.1:${edge_port}/hls/ID/master.m3u8"
echo "  S3 (Garage): http://127.0.0.1:${s3_port} (bucket segments; a balancer over the nodes on ${garage_port}, $((garage_port + 10)), $((garage_port + 20)))"
echo "  PostgreSQL:  ${database}"
echo "  transcoder:  http://127.0.0.1:${node_port}"
echo "  process ids: ${data}/pids (try kill -9 on a garage node or a relay; the stream goes on)"
echo "cluster ready (Ctrl+C stops everything)"

# Runs until a signal ends the script. A process that dies (a fault being tried) is reported
# and the rest keep running.
while true; do
  while read -r name pid; do
    if ! kill -0 "$pid" 2>/dev/null && ! grep -qx "$name" "$data/gone" 2>/dev/null; then
      echo "cluster: $name (pid $pid) is gone; the others keep running" >&2
      echo "$name" >> "$data/gone"
    fi
  done < "$data/pids"
  sleep 1
done
