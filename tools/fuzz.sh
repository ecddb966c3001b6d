#!/usr/bin/env bash
# Builds the libFuzzer targets under tests/fuzz (clang, ASan + UBSan) and runs each one for N
# seconds (default 20) on its corpus in tests/fuzz/corpus/<target>; new inputs go to a scratch
# copy, crashes to $HOOKPROF_FUZZ_OUT (default: a temporary directory). A finding fails it.
# Long runs: tools/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
targets=(request_fuzzer symbol_fuzzer encoder_fuzzer)
bazel build --config=fuzz "${targets[@]/#/\/\/tests\/fuzz:}"
out=${HOOKPROF_FUZZ_OUT:-$(mktemp -d /tmp/hookprof-fuzz.XXXXXX)}
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/$t/corpus"
  cp tests/fuzz/corpus/$t/* "$out/$t/corpus/"
  echo "=== $t: ${seconds} s"
  if bazel-bin/tests/fuzz/$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$out/$t/" "$out/$t/corpus" >"$out/$t/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$out/$t/log" | tail -2
  else
    echo "FINDING in $t: see $out/$t/log"
    grep -E 'ERROR|==[0-9]+==|fuzzer: ' "$out/$t/log" | head -5
    status=1
  fi
done
exit $status
