#!/usr/bin/env bash
# Source-level CPU profiles, read by go tool pprof from the URL alone (no binary, no
# symbolization of its own): per-line CPU inside a function (-list), file:line rows (-lines),
# Function.start_line (-raw's s=), the line of each call in the caller (two calls of one
# function from two lines), libc's write as a leaf under the instrumented function that called
# it, and a function inlined without hooks as an inlined frame of its caller.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch lines
export HOME=$tmp PPROF_TMPDIR=$tmp
src=tests/workload.cc
[ -f "$src" ] || fail "$src is not in the test's runfiles"
line_of() { grep -n "$1" "$src" | head -1 | cut -d: -f1; }

start_server /ctx env HOOKPROF_LATENCY_OUT="$tmp/latency-out.json" "$server_bin"
# 2 s of CPU in a 10 s window: room for a loaded machine.
go tool pprof -raw "${base}profile?seconds=10" >"$tmp/raw.txt" 2>"$tmp/raw.err" &
fetch=$!
sleep 0.5
echo "lines 500" >&3
wait $fetch || fail "go tool pprof -raw failed: $(cat "$tmp/raw.err")"
profile=$(ls "$tmp"/pprof.*.pb.gz | head -1)
pprof() { go tool pprof "$@" "$profile" 2>/dev/null; }

if grep -q 'built with ThreadSanitizer' "$tmp/err"; then
  # TSan defers signals to its next runtime call: a sample's PC is TSan's, not the loop's. Lines
  # are still there; their shares are not checked.
  grep -q "$src:[0-9]" < <(go tool pprof -top -lines "$profile" 2>/dev/null) || fail "no file:line rows"
  echo "PASS (per-line shares not checked under ThreadSanitizer)"
  exit 0
fi

# -list: per-line CPU inside TwoLoops, the loop of three quarters of its work above the other.
pprof -list 'workload::TwoLoops' >"$tmp/list.txt"
cat "$tmp/list.txt"
ms_at() {  # ms in column $3 (1 flat, 2 cum) at source line $2 of a -list output $1
  awk -v n="$2" -v c="$3" '$3 == n":" { v=$c; if (v == ".") v = 0; else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; print v; exit }' "$1"
}
a=$(ms_at "$tmp/list.txt" "$(line_of LOOP-A)" 1)
b=$(ms_at "$tmp/list.txt" "$(line_of LOOP-B)" 1)
[ -n "$a" ] && [ -n "$b" ] || fail "-list shows no CPU on the loops' lines"
awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b && b > 0 && a + b >= 250) }' ||
  fail "loop lines: ${a} ms and ${b} ms, want the first above the second, both > 0"

# -top -lines: rows at file:line.
pprof -top -lines >"$tmp/lines.txt"
grep -q "workload::TwoLoops(int) $src:$(line_of LOOP-A)\$" "$tmp/lines.txt" ||
  fail "-lines has no row at $src:$(line_of LOOP-A): $(head -20 "$tmp/lines.txt")"

# Function.start_line: the line of the definition.
grep -q "workload::TwoLoops(int) $src:[0-9]* s=$(line_of 'uint64_t TwoLoops(int millis) {')(" \
  "$tmp/raw.txt" || fail "TwoLoops' start line is not its definition's"

# The line of each call: Spin called from two lines, a quarter and three quarters of the time.
pprof -list 'workload::SpinTwice' >"$tmp/twice.txt"
cat "$tmp/twice.txt"
first=$(ms_at "$tmp/twice.txt" "$(line_of CALL-FIRST)" 2)
second=$(ms_at "$tmp/twice.txt" "$(line_of CALL-SECOND)" 2)
[ -n "$first" ] && [ -n "$second" ] || fail "-list shows no CPU on SpinTwice's call lines"
awk -v a="$first" -v b="$second" 'BEGIN { exit !(b > 2 * a && a > 0) }' ||
  fail "call lines: ${first} ms and ${second} ms, want about 1:3"

# libc's write as a leaf with CPU under WriteLoop.
pprof -top -focus='workload::WriteLoop' >"$tmp/write.txt"
sed -n 1,12p "$tmp/write.txt"
# (With libc's debug file installed, libc's own inlined frames: __GI___libc_write (inline).)
leaf='[_A-Za-z]*write( \(inline\))?$'
grep -qE "^ +[0-9.]+m?s .* $leaf" "$tmp/write.txt" || fail "no write leaf under WriteLoop"
pprof -traces -focus='workload::WriteLoop' | grep -A3 -E "^ +[0-9.]+m?s +$leaf" |
  grep -q 'workload::WriteLoop' || fail "write's caller is not WriteLoop"

# A function inlined without hooks: an inlined frame of its caller's locations.
pprof -traces -focus='SpinInlined' >"$tmp/inlined.txt"
# (pprof drops "(anonymous namespace)" from names when it prints them.)
grep -A1 -E 'workload::.*MixInline.* \(inline\)$' "$tmp/inlined.txt" |
  grep -q 'workload::SpinInlined(int)' || fail "MixInline is not an inlined frame: $(head -20 "$tmp/inlined.txt")"

# Timing mode: wall/nanoseconds read by go tool pprof (-sample_index=wall) from the URL.
origin=${base%/debug/pprof/}
prints 'mode: timing' curl -sf -X POST "$origin/debug/hookprof/mode?set=timing" ||
  fail "could not switch to timing mode"
go tool pprof -top -sample_index=wall "${base}profile?seconds=4" >"$tmp/wall.txt" 2>&1 &
fetch=$!
sleep 0.5
echo "lines 200" >&3
wait $fetch || fail "go tool pprof -sample_index=wall failed: $(cat "$tmp/wall.txt")"
head -12 "$tmp/wall.txt"
grep -q 'Type: wall' "$tmp/wall.txt" || fail "no wall sample type in timing mode"
grep -qE '^ *[0-9.]+[mun]?s .*workload::TwoLoops\(int\)$' "$tmp/wall.txt" || fail "no wall time on TwoLoops"
# The latency table of the whole run (timing mode since the switch): text, JSON, bad input.
curl -sf "$origin/debug/hookprof/latency" >"$tmp/latency.txt" || fail "latency endpoint"
head -12 "$tmp/latency.txt"
curl -sf "$origin/debug/hookprof/latency?format=json&top=3" |
  python3 -c 'import json, sys; assert len(json.load(sys.stdin)["functions"]) == 3' ||
  fail "top=3 is not 3 rows"
grep -q 'workload::TwoLoops(int)$' "$tmp/latency.txt" || fail "no latency row for TwoLoops"
curl -sf "$origin/debug/hookprof/latency?format=json&sort=calls" >"$tmp/latency.json"
python3 - "$tmp/latency.json" <<'PY' || fail "latency JSON"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["functions"]}
r = rows["workload::TwoLoops(int)"]
assert r["calls"] == 1, r
assert 0 < r["min_ns"] <= r["p50_ns"] <= r["p90_ns"] <= r["p99_ns"] <= r["max_ns"], r
assert r["self_ns"] <= r["total_ns"], r
PY
for bad in "top=abc" "sort=nosuch" "format=xml" "seconds=-1"; do
  code=$(curl -s -o "$tmp/bad.txt" -w '%{http_code}' "$origin/debug/hookprof/latency?$bad")
  [ "$code" = 400 ] || fail "latency?$bad answered $code"
  echo "latency?$bad: 400 $(cat "$tmp/bad.txt")"
done

# The hooks' own time is one frame under the function that called them, never a source line.
grep -q 'instrument/hooks.cc' < <(pprof -top) && fail "hook source lines leak into the profile"

# HOOKPROF_LATENCY_OUT: the whole run's latency table, written at exit.
echo quit >&3
wait $pid || fail "server exited with an error"
trap - EXIT
python3 - "$tmp/latency-out.json" <<'PY' || fail "HOOKPROF_LATENCY_OUT"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["functions"]}
assert rows["workload::TwoLoops(int)"]["calls"] == 1, rows.get("workload::TwoLoops(int)")
PY
echo "PASS"
