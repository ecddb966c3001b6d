#!/usr/bin/env bash
# `hookprof diff` on the whole-run profiles of two runs of a known program, the second calling
# acme::Leaf(int) twice as often: it reports exactly that function and its path, fails the
# checks that it should and no other, reads its JSON as a CI job would, and answers bad input
# with a one-line reason and exit status 2.
set -euo pipefail
hookprof=$1
workload=$2
source "$(dirname "$0")/lib.sh"
scratch diff

HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_PROFILE_OUT="$tmp/base.pb.gz" "$workload" 5 2>"$tmp/err" ||
  fail "base run: $(cat "$tmp/err")"
HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_PROFILE_OUT="$tmp/new.pb.gz" "$workload" 10 2>"$tmp/err" ||
  fail "new run: $(cat "$tmp/err")"

# status <expected> <args...>: runs hookprof diff, output in $tmp/out and $tmp/stderr.
status() {
  local want=$1 got=0
  shift
  "$hookprof" diff "$@" >"$tmp/out" 2>"$tmp/stderr" || got=$?
  [ "$got" = "$want" ] ||
    fail "hookprof diff $* exited $got, not $want: $(cat "$tmp/out" "$tmp/stderr")"
}

status 0 "$tmp/base.pb.gz" "$tmp/new.pb.gz"
cat "$tmp/out"
prints '^ +500 +1000 +\+100\.0% .* acme::Leaf\(int\)$' cat "$tmp/out" ||
  fail "the text report does not show Leaf's 500 -> 1000 calls"

status 0 --format=json --top=0 "$tmp/base.pb.gz" "$tmp/new.pb.gz"
python3 - "$tmp/out" <<'PY' || fail "JSON report: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["exact_calls"] is True and d["failed"] == [], d
changed = [(r["name"], r["base_calls"], r["new_calls"]) for r in d["functions"]
           if r["base_calls"] != r["new_calls"]]
assert changed == [("acme::Leaf(int)", 500, 1000)], changed
paths = [(r["name"], r["base_calls"], r["new_calls"]) for r in d["paths"]
         if r["base_calls"] != r["new_calls"]]
# main is on the path when the user's global flags hook it too (--config=instrumented).
assert len(paths) == 1 and paths[0][1:] == (500, 1000), paths
assert paths[0][0] in ("acme::Leaf(int) <- acme::Mid(int)",
                       "acme::Leaf(int) <- acme::Mid(int) <- main"), paths
same = {r["name"] for r in d["functions"]}
assert "acme::Mid(int)" not in same or all(
    r["base_calls"] == r["new_calls"] == 100 for r in d["functions"] if r["name"] == "acme::Mid(int)")
PY

status 1 --fail-calls-above=5% "$tmp/base.pb.gz" "$tmp/new.pb.gz"
prints '^FAIL: acme::Leaf\(int\): 500 -> 1000 calls \(\+100\.0%\)$' cat "$tmp/out" ||
  fail "no FAIL line for Leaf: $(cat "$tmp/out")"
[ "$(grep -c '^FAIL' "$tmp/out")" = 1 ] || fail "more than Leaf failed: $(cat "$tmp/out")"
status 0 --fail-calls-above=100% "$tmp/base.pb.gz" "$tmp/new.pb.gz"
status 0 --fail-on='acme::Mid' "$tmp/base.pb.gz" "$tmp/new.pb.gz"
status 1 --fail-on='acme::Leaf' "$tmp/base.pb.gz" "$tmp/new.pb.gz"
status 0 --fail-calls-above=0% "$tmp/new.pb.gz" "$tmp/base.pb.gz"  # Fewer calls never fail.
status 0 --fail-calls-above=0% "$tmp/base.pb.gz" "$tmp/base.pb.gz"
gunzip -c "$tmp/base.pb.gz" >"$tmp/base.pb"
status 0 --fail-calls-above=0% "$tmp/base.pb" "$tmp/base.pb.gz"  # Not gzipped: read too.
echo "ok: calls doubled in one function, reported and failed on it alone"

# Bad input: a one-line reason, status 2.
echo "not a profile" >"$tmp/junk"
head -c 100 "$tmp/base.pb.gz" >"$tmp/cut.pb.gz"
for args in "$tmp/missing.pb.gz $tmp/new.pb.gz" "$tmp/junk $tmp/new.pb.gz" \
  "$tmp/cut.pb.gz $tmp/new.pb.gz" "--fail-calls-abve=5% $tmp/base.pb.gz $tmp/new.pb.gz" \
  "--fail-calls-above=lots $tmp/base.pb.gz $tmp/new.pb.gz" "--fail-on=( $tmp/base.pb.gz $tmp/new.pb.gz" \
  "$tmp/base.pb.gz"; do
  # shellcheck disable=SC2086
  status 2 $args
  prints '^hookprof: ' head -1 "$tmp/stderr" || fail "no one-line reason for '$args'"
  echo "$args -> $(head -1 "$tmp/stderr")"
done
echo "ok: bad input answered with its reason"
