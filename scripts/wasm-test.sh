#!/usr/bin/env bash
# The SDK's wasm unit tests in headless Chromium (wasm-pack test --headless --chrome).
#
# wasm-bindgen-test-runner serves the test page from a small HTTP server whose thread pool
# can leave a connection unserved when several arrive at once (the page then stays on
# "Loading scripts..." until the driver gives up). webdriver.json bounds the page load at
# 60 s, and this script runs the tests again, at most twice, only when the page never
# loaded: no test had started. A test that fails or hangs once running fails the step.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for attempt in 1 2 3; do
  wasm-pack test --headless --chrome 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] && exit 0
  if grep -q 'Loading scripts...Failed to detect test as having been run' "$log" \
    && ! grep -qE '^test .* \.\.\. ' "$log"; then
    printf '\nwasm-test: the test page did not load (attempt %s of 3, no test started); running it again\n' "$attempt" >&2
    continue
  fi
  exit "$status"
done
echo 'wasm-test: the test page did not load in 3 attempts' >&2
exit 1
