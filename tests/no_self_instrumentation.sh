#!/usr/bin/env bash
# hookprof never instruments itself, even when the user's global flags reach hookprof's own
# targets: --config=instrumented with --config=sancov-gcc (GCC: function hooks and trace-pc),
# then --config=instrumented-clang with --config=sancov (clang: edge guards). No object of the
# runtime may call a coverage callback, nor (GCC) a function hook, while the test workload and
# the coverage target (the controls) do. clang has no flag that turns its function hooks off
# again: there the runtime's attribute and per-thread guard do it (tested by the suite). And
# XRay's sleds (--config=xray).
set -euo pipefail

source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
bad=0

# Every configuration writes to the same bazel-out paths: the controls' objects are removed
# before each build so that what is inspected is what this configuration compiled.
fresh_build() {  # fresh_build <config flags...>
  local bin
  bin=$(bazel info "$@" bazel-bin 2>/dev/null)
  rm -rf "$bin/tests/_objs/workload" "$bin/tests/_objs/coverage_target"
  bazel build "$@" //:hookprof //:autostart //tests:workload //tests:coverage_target >/dev/null 2>&1 ||
    bazel build "$@" //:hookprof //:autostart //tests:workload //tests:coverage_target
}

# What a failed control looked like, and how Bazel compiled it.
explain() {  # explain <object> <config flags...>
  local o=$1
  shift
  ls -l --full-time "$(dirname "$o")"
  objdump -h "$o" | grep -E 'xray|text' || true
  bazel aquery "$@" 'mnemonic("CppCompile", //tests:workload)' --output=text 2>/dev/null |
    grep -E 'Outputs:|Command Line' -A1 | head -20 || true
}

check() {  # check <forbidden symbols, as an extended regex> <config flags...>
  local forbidden=$1
  shift
  fresh_build "$@"
  local bin objects count=0
  bin=$(bazel info "$@" bazel-bin 2>/dev/null)
  objects=$(find "$bin/_objs" "$bin/instrument" "$bin/runtime" "$bin/server" -path "*/_objs/*" \
    -name '*.o' | sort)
  [ -n "$objects" ] || { echo "no objects found under $bin"; bad=1; return; }
  for o in $objects; do
    count=$((count + 1))
    if prints "$forbidden" nm -u "$o"; then
      echo "FAIL ($*): $o calls a compiler hook or coverage callback"
      bad=1
    fi
  done
  local control
  control=$(find "$bin/tests/_objs/workload" -name "*.o" -print -quit)
  if ! prints '__cyg_profile_func_enter$' nm -u "$control"; then
    echo "FAIL ($*): the control $control calls no hook: the build was not instrumented"
    explain "$control" "$@"
    bad=1
  fi
  control=$(find "$bin/tests/_objs/coverage_target" -name "*.o" -print -quit)
  if ! prints '__sanitizer_cov_trace_pc(_guard)?$' nm -u "$control"; then
    echo "FAIL ($*): the control $control calls no coverage callback"
    bad=1
  fi
  [ "$bad" -eq 0 ] && echo "ok ($*): none of $count hookprof objects calls $forbidden"
}

# XRay (--config=xray), first: tools/test.sh runs this right after the XRay suite, whose
# objects it reuses. No hookprof object carries sleds (an xray_instr_map section); the test
# workload, the control, does.
fresh_build --config=xray
bin=$(bazel info --config=xray bazel-bin 2>/dev/null)
count=0
for o in $(find "$bin/_objs" "$bin/instrument" "$bin/runtime" "$bin/server" -path "*/_objs/*" -name '*.o'); do
  count=$((count + 1))
  if prints xray_instr_map objdump -h "$o"; then
    echo "FAIL (--config=xray): $o has XRay sleds"
    bad=1
  fi
done
control=$(find "$bin/tests/_objs/workload" -name "*.o" -print -quit)
prints xray_instr_map objdump -h "$control" ||
  {
    echo "FAIL (--config=xray): the control $control has no sleds"
    explain "$control" --config=xray
    bad=1
  }
[ "$bad" -eq 0 ] && echo "ok (--config=xray): none of $count hookprof objects has XRay sleds"

check '__cyg_profile_func_(enter|exit)$|__sanitizer_cov_trace_pc$' \
  --config=instrumented --config=sancov-gcc
check '__sanitizer_cov_trace_pc_guard$' --config=instrumented-clang --config=sancov
exit "$bad"
