#!/usr/bin/env bash
# Labels read by the real client: go tool pprof -tags lists the label sets of a program that
# set them (hookprof.h's LabelScope), -tagfocus keeps one set's exact calls and its CPU (about
# 1 to 3 for work of 1 to 3), -tagroot puts each endpoint at the root; the latency table
# (timing mode) has a row per function and endpoint, and keeps one endpoint's calls.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch labels
export HOME=$tmp PPROF_TMPDIR=$tmp

start_server /app env HOOKPROF_PROFILE_OUT="$tmp/whole.pb.gz" HOOKPROF_MODE=timing "$server_bin"
run "labelled 300"

latency=${base%/pprof/}/hookprof/latency
curl -sf "$latency?format=json&by=endpoint" >"$tmp/by.json" || fail "latency?by=endpoint"
curl -sf "$latency?format=json&label=endpoint:/put&label=tenant:" >"$tmp/none.json"
curl -sf "$latency?format=json&label=endpoint:/put" >"$tmp/put.json" || fail "latency?label="
python3 - "$tmp/by.json" "$tmp/put.json" "$tmp/none.json" <<'PY' || fail "latency by label: $(cat "$tmp/by.json")"
import json, sys
by = {(r["name"], r["labels"]["endpoint"]): r for r in json.load(open(sys.argv[1]))["functions"]}
assert by[("workload::Leaf()", "/search")]["calls"] == 1000, by
assert by[("workload::Leaf()", "/put")]["calls"] == 3000, by
put = [r for r in json.load(open(sys.argv[2]))["functions"] if r["name"] == "workload::Leaf()"]
assert len(put) == 1 and put[0]["calls"] == 3000 and "labels" not in put[0], put
for r in by.values():
    assert r["self_ns"] <= r["total_ns"] and r["p50_ns"] <= r["max_ns"], r
# tenant= (empty) matches no set: /put has no tenant.
assert json.load(open(sys.argv[3]))["functions"] == [], sys.argv[3]
PY
prints 'workload::Leaf\(\)  \[endpoint=/put\]$' curl -sf "$latency?by=endpoint" ||
  fail "the text table does not name the endpoint of its rows"
for bad in "label=nocolon" "label=:value" "by="; do
  code=$(curl -s -o "$tmp/bad.txt" -w '%{http_code}' "$latency?$bad")
  [ "$code" = 400 ] || fail "latency?$bad answered $code"
  echo "latency?$bad: 400 $(cat "$tmp/bad.txt")"
done
echo "ok: latency rows per endpoint, and one endpoint's calls"
echo quit >&3
wait "$pid" || fail "the server did not exit cleanly: $(cat "$tmp/err")"
profile=$tmp/whole.pb.gz
[ -s "$profile" ] || fail "no whole-run profile: $(cat "$tmp/err")"

go tool pprof -tags "$profile" >"$tmp/tags.txt" 2>&1 || fail "go tool pprof -tags: $(cat "$tmp/tags.txt")"
cat "$tmp/tags.txt"
grep -qE '^ *endpoint: Total' "$tmp/tags.txt" || fail "-tags lists no endpoint"
grep -qE ': /search$' "$tmp/tags.txt" || fail "-tags lacks endpoint /search"
grep -qE ': /put$' "$tmp/tags.txt" || fail "-tags lacks endpoint /put"
grep -qE ': 42$' "$tmp/tags.txt" || fail "-tags lacks tenant 42"

# Exact calls per set.
calls() {
  go tool pprof -top -sample_index=calls -tagfocus="$1" "$profile" 2>/dev/null |
    awk '/ workload::Leaf\(\)$/ { print $1 }'
}
[ "$(calls endpoint=/search)" = 1000 ] || fail "Leaf under /search: '$(calls endpoint=/search)', not 1000"
[ "$(calls endpoint=/put)" = 3000 ] || fail "Leaf under /put: '$(calls endpoint=/put)', not 3000"
# A value that reads as a number is taken for a numeric range by -tagfocus: anchored, it is a
# regular expression on the string (docs/labels.md says so).
[ "$(calls 'tenant=^42$')" = 1000 ] || fail "Leaf under tenant 42: '$(calls 'tenant=^42$')', not 1000"
echo "ok: exact calls per label set: 1000 under /search, 3000 under /put"

# CPU per set, in milliseconds: each thread's Spin burns its own CPU time, so the ratio holds on a
# busy machine too (samples count thread CPU time, periods the kernel merged into one signal
# included: before they were, ASan measured 60 vs 730 ms once). Loosely: 10 ms samples of 0.3 s
# and 0.9 s, and a thread's last periods may end after its last signal.
cpu_ms() {
  go tool pprof -top -sample_index=cpu -tagfocus="$1" "$profile" 2>/dev/null |
    awk '/^Showing nodes accounting for/ { v = $5; sub(/,$/, "", v); if (v ~ /ms$/) { sub(/ms$/, "", v); print v }
         else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 } }'
}
search=$(cpu_ms endpoint=/search)
put=$(cpu_ms endpoint=/put)
echo "CPU: /search ${search} ms, /put ${put} ms"
awk -v s="$search" -v p="$put" 'BEGIN { exit !(s > 0 && p / s >= 2 && p / s <= 5) }' ||
  fail "CPU under /put (${put} ms) is not about 3 times that under /search (${search} ms)"

# -tagroot: each endpoint a root of the call graph, above the functions it ran.
go tool pprof -traces -sample_index=calls -tagroot=endpoint "$profile" >"$tmp/traces.txt" 2>&1
grep -A1 -E '^ +1000 +workload::Leaf\(\)$' "$tmp/traces.txt" >/dev/null ||
  fail "no trace of Leaf with its 1000 calls"
awk '/workload::Leaf\(\)$/ { leaf = 1 } leaf && /^ +\/search$/ { found = 1 } /^---/ { leaf = 0 }
     END { exit !found }' "$tmp/traces.txt" || fail "-tagroot does not put /search above Leaf"
echo "ok: -tagroot=endpoint"
