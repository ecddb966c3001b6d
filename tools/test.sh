#!/usr/bin/env bash
# Every test on a fresh machine: installs what is missing, then runs
#   1. the unit and integration tests (bazel test //...),
#   2. the same suite with the user's global instrumentation applied to hookprof's own targets
#      (--config=instrumented, GCC; --config=instrumented-clang, clang, which runs no exit hooks
#      while unwinding; --config=xray, clang's XRay sleds instead of hooks), plus the check
#      that none of hookprof's objects calls a hook or carries a sled,
#   3. the suite under AddressSanitizer + UndefinedBehaviorSanitizer (--config=asan) and under
#      ThreadSanitizer (--config=tsan), hookprof's own code included,
#   4. each libFuzzer target for 10 s (clang) on its corpus (a smoke run: CI time is bounded),
#   5. the consumer workspace under tests/consumer, which uses hookprof exactly as README says,
#   6. any build system: tools/install.sh, a CMake project built with the flag alone and run
#      with LD_PRELOAD=libhookprof.so, one built with pkg-config, GCC's exclusion loop and an
#      XRay program preloaded (tests/preload_test.sh),
#   7. the benchmark pipeline on real code (tools/bench/run.py --small: RapidJSON and Boost.Graph
#      built plain, with GCC's and clang's hooks and with XRay sleds, hookprof in each mode; every
#      variant must compute the same result; a hundredth of the work, no timing asserted),
#   8. the format check: every C++ file as clang-format (.clang-format) leaves it, and the map of
#      where each product folder's tests are (docs/testing.md) against the tree.
#
# HOOKPROF_TEST_LOAD=1 runs it all with a CPU hog on every core (one busy process per core, at
# the suite's own priority), as on a shared CI machine: timing checks compare with what a
# thread really got, never with what the wall clock promised, so the suite must pass so too.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

if [ "${HOOKPROF_TEST_LOAD:-0}" = 1 ]; then
  hogs=()
  for _ in $(seq "$(nproc)"); do
    (while :; do :; done) &
    hogs+=($!)
  done
  trap 'kill "${hogs[@]}" 2>/dev/null || true' EXIT
  echo "=== under load: ${#hogs[@]} CPU hogs (pids ${hogs[*]})"
fi

failed=0
passed=0
times=()
suite_start=$SECONDS
step() {
  local name=$1 start=$SECONDS
  shift
  echo "=== ${name}"
  if "$@"; then
    passed=$((passed + 1))
    echo "=== ok in $((SECONDS - start)) s: ${name}"
  else
    echo "=== FAILED in $((SECONDS - start)) s: ${name}"
    failed=$((failed + 1))
  fi
  times+=("$(printf '%6d s  %s' $((SECONDS - start)) "${name}")")
}

step "bazel test //..." bazel test //...
step "bazel test --config=instrumented //..." bazel test --config=instrumented //...
step "bazel test --config=instrumented-clang //..." bazel test --config=instrumented-clang //...
step "bazel test --config=xray //..." bazel test --config=xray //...
step "hookprof's objects call no hook or coverage callback, carry no XRay sled" tests/no_self_instrumentation.sh
step "bazel test --config=asan //..." bazel test --config=asan //...
step "bazel test --config=tsan //..." bazel test --config=tsan //...
step "fuzzers, 10 s each (tools/fuzz.sh)" tools/fuzz.sh 10
step "consumer workspace" tests/consumer/run.sh
step "any build system: CMake, LD_PRELOAD, pkg-config" tests/preload_test.sh
# The -DNDEBUG copies of the real code are the same sources and build: the full benchmark
# (docs/performance.md) runs them.
step "benchmark pipeline on real code, small: every variant computes the same result" \
  python3 tools/bench/run.py --rounds 1 --small --no-uftrace --workloads json,graph
step "C++ files formatted (tools/format.sh --check)" tools/format.sh --check
step "docs/testing.md maps every product folder to its tests" tests/test_map.sh

echo "=== step times"
printf '%s\n' "${times[@]}"
printf '%6d s  total\n' $((SECONDS - suite_start))
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
