#!/usr/bin/env bash
# The user's story as a test: a separate workspace that uses hookprof through local_repository
# as README says builds its own gtest binary with --config=instrumented, runs it under
# `bazel test` (whole-run profile in the test outputs) and on its own while `go tool pprof`
# fetches its profile over HTTP.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export HOME="$tmp" PPROF_TMPDIR="$tmp"

bazel test --config=instrumented //:consumer_test \
  --test_env=HOOKPROF_ADDR=127.0.0.1:0 --test_env=HOOKPROF_PROFILE_OUT=consumer.pb.gz
outputs=bazel-testlogs/consumer_test/test.outputs
profile=$outputs/consumer.pb.gz
if [ ! -s "$profile" ] && [ -f "$outputs/outputs.zip" ]; then
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$outputs/outputs.zip" "$tmp"
  profile=$tmp/consumer.pb.gz
fi
[ -s "$profile" ] || { echo "FAIL: no whole-run profile in $outputs"; exit 1; }
top=$(go tool pprof -top -sample_index=calls -nodecount=50 bazel-bin/consumer_test "$profile" 2>&1)
echo "$top" | head -12
# Exact counts: 1000 records of 10 fields in ParsesRecords (KeepsRunningWhenAsked ran 0 s).
echo "$top" | grep -qE '^ +10000 .* consumer::ParseField\(unsigned long\)$' ||
  { echo "FAIL: ParseField is not at exactly 10000 calls"; exit 1; }
echo "$top" | grep -qE '^ +1000 .* consumer::ParseRecord\(int\)$' ||
  { echo "FAIL: ParseRecord is not at exactly 1000 calls"; exit 1; }

# The same binary, profiled over HTTP while it runs.
CONSUMER_RUN_SECONDS=8 HOOKPROF_ADDR=127.0.0.1:0 \
  bazel-bin/consumer_test --gtest_filter=ConsumerTest.KeepsRunningWhenAsked \
  >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  grep -q 'hookprof: serving' "$tmp/err" && break
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
[ -n "$url" ] || { echo "FAIL: the test binary did not start serving"; cat "$tmp/err"; exit 1; }
live=$(go tool pprof -top "${url}profile?seconds=2" 2>&1)
echo "$live" | head -12
echo "$live" | grep -q 'consumer::ParseField' ||
  { echo "FAIL: the live profile does not name consumer::ParseField"; exit 1; }
wait "$pid"
pid=
bazel shutdown 2>/dev/null || true
echo "ok: consumer workspace builds, tests and serves profiles through @hookprof"
