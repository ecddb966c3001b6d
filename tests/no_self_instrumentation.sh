#!/usr/bin/env bash
# hookprof never instruments itself, even when the user's global --copt=-finstrument-functions
# reaches hookprof's own targets (as --config=instrumented does): build that way, then check
# that no object of the runtime calls a hook, while the test workload (the control) does.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build --config=instrumented //:hookprof //:autostart //tests:workload >/dev/null 2>&1 ||
  bazel build --config=instrumented //:hookprof //:autostart //tests:workload

bin=$(bazel info --config=instrumented bazel-bin 2>/dev/null)
objects=$(find "$bin/_objs" "$bin/instrument/_objs" "$bin/runtime/_objs" "$bin/server/_objs" \
  -name '*.o' | sort)
[ -n "$objects" ] || { echo "no objects found under $bin"; exit 1; }
bad=0
count=0
for o in $objects; do
  count=$((count + 1))
  if nm -u "$o" | grep -qE '__cyg_profile_func_(enter|exit)$'; then
    echo "FAIL: $o calls a compiler hook"
    bad=1
  fi
done
control=$(find "$bin/tests/_objs/workload" -name "*.o" | head -1)
if ! nm -u "$control" | grep -q '__cyg_profile_func_enter$'; then
  echo "FAIL: the control object $control calls no hook: the build was not instrumented"
  bad=1
fi
[ "$bad" -eq 0 ] && echo "ok: $count hookprof objects built with --config=instrumented call no hook"
exit "$bad"
