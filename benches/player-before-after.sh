#!/usr/bin/env bash
# The Player benchmark (benches/player.mjs) and the bundle sizes of two versions of the SDK
# in one run: an earlier commit (BASE, built in a temporary git worktree) and this
# checkout, the same benchmark script, browser, fixtures and machine for both, one after
# the other. For a refactor that must not cost speed or size: the figures of both print
# side by side at the end.
#
# Usage: bash benches/player-before-after.sh BASE [player.mjs options, e.g. --only startup,seek --runs 3]
# (after bash scripts/setup.sh; builds both wasm packages in release mode, a few minutes each)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: benches/player-before-after.sh BASE [player.mjs options]}
shift
here=$(pwd)
base_sha=$(git rev-parse --short "$base")
head_sha=$(git rev-parse --short HEAD)
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "==> before: $base_sha (worktree), after: $head_sha$(git diff --quiet HEAD || echo ' + uncommitted changes')"
git worktree add --detach "$work/before" "$base" >/dev/null
ln -s "$here/node_modules" "$work/before/node_modules"
# The same benchmark for both: this checkout's script and its helpers (the test page is in them).
rm -rf "$work/before/benches" "$work/before/tests/support"
cp -r benches "$work/before/benches"
cp -r tests/support "$work/before/tests/support"

# One target directory: the dependencies are compiled once for both builds.
export CARGO_TARGET_DIR="$here/target"
echo "==> building the wasm package of $base_sha"
(cd "$work/before" && bash scripts/build-wasm.sh >"$work/build-before.log" 2>&1) || { tail -30 "$work/build-before.log"; exit 1; }
echo "==> building the wasm package of $head_sha"
bash scripts/build-wasm.sh >"$work/build-after.log" 2>&1 || { tail -30 "$work/build-after.log"; exit 1; }

echo "==> benchmark, before ($base_sha)"
(cd "$work/before" && BENCH_SKIP_BUILD=1 node benches/player.mjs "$@") | tee "$work/before.txt"
echo "==> benchmark, after ($head_sha)"
BENCH_SKIP_BUILD=1 node benches/player.mjs "$@" | tee "$work/after.txt"

echo
echo "==> side by side (rows of the tables above; before | after)"
paste -d'\n' <(grep '^|' "$work/before.txt" | sed "s/^/before $base_sha /") <(grep '^|' "$work/after.txt" | sed "s/^/after  $head_sha /")
