#!/usr/bin/env bash
# /debug/coverage read by its real consumers over a real socket: genhtml (Debian lcov) renders
# the lcov tracefile, go tool pprof -list shows hits on the source lines; plus the text view,
# a ?seconds=N window, POST ?reset=1, a bad parameter, and the file written at exit.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch coverage
export HOME=$tmp PPROF_TMPDIR=$tmp
command -v genhtml >/dev/null || fail "genhtml missing (Debian package lcov; tools/setup.sh installs it)"

start_server /ctx/app env HOOKPROF_COVERAGE_OUT="$tmp/exit.info" "$server_bin"
for _ in $(seq 100); do grep -q ready "$tmp/out" && break; sleep 0.1; done
cov="${base%pprof/}coverage"
echo "coverage at $cov"

# Source paths in DWARF are /proc/self/cwd/tests/...: run the readers from the source root.
cd "${TEST_SRCDIR:-.}/hookprof"
taken=$(grep -n BRANCH_TAKEN tests/coverage_target.cc | cut -d: -f1)

# 1. lcov -> genhtml, without errors or warnings about the tracefile.
curl -sf "$cov?format=lcov" -o "$tmp/coverage.info" || fail "lcov fetch failed"
grep -q "^SF:.*tests/coverage_target.cc$" "$tmp/coverage.info" || fail "no SF record: $(head -20 "$tmp/coverage.info")"
grep -q "^FNDA:3,_ZN15coverage_target8PositiveEi$" "$tmp/coverage.info" || fail "Positive not at 3 entries"
grep -q "^DA:$taken,3$" "$tmp/coverage.info" || fail "line $taken not at 3 hits: $(grep ^DA "$tmp/coverage.info")"
genhtml --quiet -o "$tmp/html" "$tmp/coverage.info" >"$tmp/genhtml.log" 2>&1 ||
  fail "genhtml failed: $(cat "$tmp/genhtml.log")"
! grep -qi "error\|warning" "$tmp/genhtml.log" || fail "genhtml complained: $(cat "$tmp/genhtml.log")"
page=$(find "$tmp/html" -name 'coverage_target.cc.gcov.html' | head -1)
[ -n "$page" ] || fail "genhtml wrote no page for coverage_target.cc"
grep -q "BRANCH_TAKEN" "$page" || fail "genhtml's page lacks the source"
echo "ok: genhtml rendered $(find "$tmp/html" -name '*.html' | wc -l) pages"

# 2. go tool pprof -list: hits on the taken branch's line.
go tool pprof -list 'coverage_target::Classify' "$cov" >"$tmp/list.txt" 2>"$tmp/list.err" ||
  fail "go tool pprof -list failed: $(cat "$tmp/list.err")"
cat "$tmp/list.txt"
# Three calls took the branch: every block on its line ran 3 times (pprof sums a line's blocks;
# builds with function hooks have more than one there).
hits=$(grep -E "^ +[0-9]+ +[0-9]+ +$taken:.*BRANCH_TAKEN" "$tmp/list.txt" | awk '{print $1}')
[ -n "$hits" ] && [ "$hits" -gt 0 ] && [ $((hits % 3)) -eq 0 ] || fail "line $taken: '$hits' hits, not a multiple of 3"
grep -q 'coverage_target::Positive' < <(go tool pprof -top -sample_index=hits "$cov" 2>/dev/null) ||
  fail "pprof -top lacks Positive"

# 3. Text; a window that sees only what ran in it; reset; bad input.
curl -sf "$cov?format=text" >"$tmp/text.txt"
grep -qE '^ +[0-9]+/[0-9?]+ +3  coverage_target::Positive\(int\)$' "$tmp/text.txt" ||
  fail "text: $(cat "$tmp/text.txt")"
curl -sf "$cov?format=text&seconds=2" >"$tmp/window.txt" &
fetch=$!
sleep 0.7
echo "negative 4" >&3
wait $fetch || fail "window fetch failed"
grep -qE ' 4  coverage_target::Negative\(int\)$' "$tmp/window.txt" || fail "window: $(cat "$tmp/window.txt")"
! grep -qE ' [1-9][0-9]*  coverage_target::Positive' "$tmp/window.txt" ||
  fail "window shows Positive, which ran before it"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$cov?reset=1")" = 200 ] || fail "reset failed"
curl -sf "$cov?format=text" >"$tmp/after.txt"
! grep -qE ' [1-9][0-9]*  coverage_target::' "$tmp/after.txt" ||
  fail "counts survived the reset: $(cat "$tmp/after.txt")"
code=$(curl -s -o "$tmp/bad.txt" -w '%{http_code}' "$cov?format=html")
[ "$code" = 400 ] || fail "format=html gave $code"
echo "ok: $(cat "$tmp/bad.txt")"

# 4. HOOKPROF_COVERAGE_OUT: the whole run written at exit (resets do not apply), as lcov.
exec 3>&-
wait $pid || fail "the program failed at exit: $(cat "$tmp/err")"
trap - EXIT
[ -s "$tmp/exit.info" ] || fail "no coverage written at exit: $(cat "$tmp/err")"
grep -q "^FNDA:3,_ZN15coverage_target8PositiveEi$" "$tmp/exit.info" || fail "exit file: Positive not at 3"
grep -q "^FNDA:4,_ZN15coverage_target8NegativeEi$" "$tmp/exit.info" || fail "exit file: Negative not at 4"
genhtml --quiet -o "$tmp/html-exit" "$tmp/exit.info" >"$tmp/genhtml-exit.log" 2>&1 ||
  fail "genhtml failed on the exit file: $(cat "$tmp/genhtml-exit.log")"
echo "ok: coverage written at exit"
echo PASS
