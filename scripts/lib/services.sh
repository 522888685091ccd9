# Shared by scripts/demo.sh and scripts/cluster.sh (sourced, not run): the processes a script
# starts, stopped however it ends; builds that a signal can interrupt; waiting for a port; and
# the wasm package rebuilt only when stale. The sourcing script sets `script_name` first.

# Every process started, stopped (and waited for) however the script ends.
pids=()
build_pid=
cleanup() {
  trap - EXIT INT TERM
  # A build still running: its whole process group (cargo and its compilers).
  if [ -n "$build_pid" ]; then kill -TERM -- "-$build_pid" 2>/dev/null || true; wait "$build_pid" 2>/dev/null || true; fi
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Runs a build in a process group of its own and waits for it: bash runs a trap only once
# its foreground command has finished, so a SIGTERM would otherwise wait for the whole build.
build() {
  if ! command -v setsid >/dev/null; then "$@"; return; fi
  setsid "$@" &
  build_pid=$!
  local status=0
  wait "$build_pid" || status=$?
  build_pid=
  return "$status"
}

# The wasm package: rebuilt only when a file it is built from is newer than its output.
build_wasm_if_stale() {
  local wasm_inputs=(src js crates/livecast-core crates/livecast-openh264 crates/livecast-protocol
    crates/livecast-broker Cargo.toml Cargo.lock package-lock.json scripts/build-wasm.sh scripts/*.mjs)
  local wasm_outputs=(pkg/livecast_bg.wasm pkg/player/livecast_player_bg.wasm pkg/package.json)
  local stale= out
  for out in "${wasm_outputs[@]}"; do
    if [ ! -f "$out" ] || [ -n "$(find "${wasm_inputs[@]}" -type f -newer "$out" -print -quit)" ]; then stale=1; fi
  done
  if [ -n "$stale" ]; then
    build bash scripts/build-wasm.sh
  else
    echo "pkg/ is up to date"
  fi
}

# Waits (up to 20 s) until 127.0.0.1:$2 accepts connections; fails if PID $1 exits first.
# $3 names the service in the message.
await_port() {
  for _ in $(seq 200); do
    kill -0 "$1" 2>/dev/null || { echo "${script_name}: $3 exited before it listened on port $2" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${script_name}: $3 did not listen on port $2 within 20 s" >&2
  return 1
}
