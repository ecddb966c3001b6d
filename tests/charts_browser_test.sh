#!/usr/bin/env bash
# The charts page in a real browser: starts the instrumented demo under a context path, runs
# tests/charts_browser_test.js in headless Chromium, keeps the screenshot as a test output
# (bazel-testlogs/tests/charts_browser_test/test.outputs/charts.png).
set -euo pipefail
demo=$1
script=$2
source "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null || fail "chromium missing (Debian package chromium; tools/setup.sh installs it)"
# playwright-core comes from tools/charts (npm ci in tools/setup.sh): find the real tree through
# the runfiles link of its package.json.
charts=$(dirname "$(readlink -f "${TEST_SRCDIR:-.}/hookprof/tools/charts/package.json")")
export PLAYWRIGHT_CORE="$charts/node_modules/playwright-core"
[ -d "$PLAYWRIGHT_CORE" ] || fail "playwright-core missing: run tools/setup.sh (npm ci in tools/charts)"
scratch charts
out=${TEST_UNDECLARED_OUTPUTS_DIR:-$tmp}
start_server /ctx/app "$demo"
page="${base%pprof/}charts/"
# Timing mode: the slowest-calls table has rows.
prints 'mode: timing' curl -sf -X POST "${base%pprof/}hookprof/mode?set=timing" || fail "timing mode"
sleep 4  # Open the page late: it must show the history the program kept meanwhile.
echo "charts at $page"
HOME=$tmp node "$script" "$page" "$out/charts.png"
[ -s "$out/charts.png" ] || fail "no screenshot"
echo "screenshot: $out/charts.png"
