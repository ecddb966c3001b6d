#!/usr/bin/env bash
# The user's story as a test: a separate workspace uses a pristine copy of hookprof (its
# tracked files only: nothing was ever run inside it, no node_modules) through
# local_repository as README says, builds its own gtest binaries with GCC and with clang
# (--config=instrumented, --config=instrumented-clang, --config=xray; no hookprof --define), runs two of them
# at once under `bazel test` with hookprof's defaults (each on its own port, each whole-run
# profile in its outputs) and one on its own while `go tool pprof` fetches its profile over HTTP;
# and a test asserting exact counts with @hookprof//:testing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; (cd "$tmp/consumer" 2>/dev/null && bazel shutdown 2>/dev/null); rm -rf "$tmp"' EXIT
export HOME="$tmp" PPROF_TMPDIR="$tmp"

mkdir -p "$tmp/hookprof" "$tmp/consumer"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$tmp/hookprof")
cp -r "$here"/. "$tmp/consumer/"
sed -i 's|path = "../.."|path = "../hookprof"|' "$tmp/consumer/WORKSPACE"
cd "$tmp/consumer"

outputs_profile() {  # <test name>: the whole-run profile in that test's outputs
  local outputs=bazel-testlogs/$1/test.outputs
  if [ ! -s "$outputs/hookprof.pb.gz" ] && [ -f "$outputs/outputs.zip" ]; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
      "$outputs/outputs.zip" "$tmp/$1"
    echo "$tmp/$1/hookprof.pb.gz"
  else
    echo "$outputs/hookprof.pb.gz"
  fi
}

for config in instrumented-clang instrumented xray; do
  echo "--- bazel test --config=$config (two tests at once, default settings)"
  # XRay: sleds on the small parsing functions too (the default threshold is 200 instructions).
  extra=()
  [ $config = xray ] && extra=(--copt=-fxray-instruction-threshold=1)
  bazel test --config=$config "${extra[@]}" --local_test_jobs=2 //:consumer_test //:consumer_second_test \
    //:consumer_counts_test
  ports=""
  for t in consumer_test consumer_second_test; do
    profile=$(outputs_profile $t)
    [ -s "$profile" ] || { echo "FAIL ($config): no whole-run profile for $t"; exit 1; }
    top=$(go tool pprof -top -sample_index=calls -nodecount=50 bazel-bin/$t "$profile" 2>&1)
    # Exact counts: 1000 records of 10 fields in ParsesRecords (KeepsRunningWhenAsked ran 0 s).
    grep -qE '^ +10000 .* consumer::ParseField\(unsigned long\)$' <<<"$top" ||
      { echo "FAIL ($config, $t): ParseField is not at exactly 10000 calls"; echo "$top"; exit 1; }
    grep -qE '^ +1000 .* consumer::ParseRecord\(int\)$' <<<"$top" ||
      { echo "FAIL ($config, $t): ParseRecord is not at exactly 1000 calls"; exit 1; }
    port=$(grep -o 'serving http://127.0.0.1:[0-9]*' bazel-testlogs/$t/test.log | grep -o '[0-9]*$' || true)
    [ -n "$port" ] || { echo "FAIL ($config): $t's log does not say where it served"; exit 1; }
    ports="$ports $port"
  done
  echo "ok ($config): both tests profiled, served on ports$ports"
done
echo "$top" | head -8

# The GCC binary, profiled over HTTP while it runs.
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
grep -q 'consumer::ParseField' <<<"$live" ||
  { echo "FAIL: the live profile does not name consumer::ParseField"; exit 1; }
wait "$pid"
pid=
echo "ok: a pristine hookprof builds with GCC and clang in a consumer workspace, its tests run at once with their profiles, and it serves profiles over HTTP"
