#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), niced, on a nightly toolchain:
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
# New inputs that widen coverage are added to fuzz/corpus/{target}/ (minimise with
# `cargo +nightly fuzz cmin <target>` before committing); a crash stops the run and is
# saved under fuzz/artifacts/{target}/. Replaying the corpora needs no nightly:
# `cargo test -p livecast-fuzz` (part of scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(ts_demux sps fmp4_probe transmux playlist protobuf)
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  printf '\n==> fuzz %s for %s s\n' "$t" "$seconds"
  # -malloc_limit_mb: one allocation of 512 MB from a 256 KiB input is a bug too; the RSS
  # limit is higher because AddressSanitizer's quarantine and the corpus grow the process.
  nice -n 19 cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2560 -malloc_limit_mb=512 -max_len=262144 -timeout=10 -print_final_stats=1
done
