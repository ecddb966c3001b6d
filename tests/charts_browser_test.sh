#!/usr/bin/env bash
# The charts page in a real browser: starts the instrumented demo under a context path, runs
# tests/charts_browser_test.js in headless Chromium, keeps the screenshot as a test output
# (bazel-testlogs/tests/charts_browser_test/test.outputs/charts.png).
set -euo pipefail
demo=$1
script=$2
fail() { echo "FAIL: $*"; exit 1; }
command -v chromium >/dev/null || fail "chromium missing (Debian package chromium; tools/setup.sh installs it)"
# playwright-core comes from tools/charts (npm ci in tools/setup.sh): find the real tree through
# the runfiles link of its package.json.
charts=$(dirname "$(readlink -f "${TEST_SRCDIR:-.}/hookprof/tools/charts/package.json")")
export PLAYWRIGHT_CORE="$charts/node_modules/playwright-core"
[ -d "$PLAYWRIGHT_CORE" ] || fail "playwright-core missing: run tools/setup.sh (npm ci in tools/charts)"
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/charts.XXXXXX")
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_CONTEXT_PATH=/ctx/app "$demo" >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 'hookprof: serving' "$tmp/err" && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
[ -n "$base" ] || fail "demo did not start: $(cat "$tmp/err")"
page="${base%pprof/}charts/"
echo "charts at $page"
HOME=$tmp node "$script" "$page" "$out/charts.png"
[ -s "$out/charts.png" ] || fail "no screenshot"
echo "screenshot: $out/charts.png"
