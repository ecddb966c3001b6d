#!/usr/bin/env bash
# Soak benchmark (not a test): the instrumented demo is scraped as a fleet would, hard: a
# request every 100 ms for DURATION seconds (default 600), cycling through the CPU profile
# (1 s windows, so about ten overlap), heap, allocs, goroutine, threadcreate, mutex, block, a
# 1 s trace with a duration filter and the index. Prints the demo's RSS every 30 s, and at the
# end its first, last and peak RSS and the answers' status counts.
#   tools/bench/soak.sh [DURATION]      (SOAK_DEMO=path runs an already built demo)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-600}
demo=${SOAK_DEMO:-}
if [ -z "$demo" ]; then
  bazel build --config=instrumented //tools/demo:demo >/dev/null 2>&1
  demo=bazel-bin/tools/demo/demo
fi
tmp=$(mktemp -d)
HOOKPROF_ADDR=127.0.0.1:0 "$demo" >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 'hookprof: serving' "$tmp/err" && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
[ -n "$base" ] || { echo "demo did not start: $(cat "$tmp/err")"; exit 1; }
paths=("profile?seconds=1" heap allocs goroutine threadcreate mutex block
       "trace?seconds=1&min_ns=100000" "")
rss() { awk '/^VmRSS/ { print $2 }' /proc/$pid/status; }
first=$(rss)
peak=$first
start=$(date +%s)
next_report=$((start + 30))
i=0
echo "soak: ${duration} s against $base, RSS at start ${first} KiB"
while [ $(( $(date +%s) - start )) -lt "$duration" ]; do
  p=${paths[$((i % ${#paths[@]}))]}
  (curl -s -A Go-http-client/1.1 -o /dev/null -w '%{http_code}\n' --max-time 30 "${base}${p}" >>"$tmp/codes") &
  i=$((i + 1))
  sleep 0.1
  r=$(rss)
  [ "$r" -gt "$peak" ] && peak=$r
  if [ "$(date +%s)" -ge "$next_report" ]; then
    echo "  t=$(( $(date +%s) - start )) s  requests=$i  RSS ${r} KiB"
    next_report=$((next_report + 30))
  fi
done
wait_start=$(date +%s)
while [ "$(jobs -rp | grep -vc "^$pid$" || true)" -gt 0 ] && [ $(( $(date +%s) - wait_start )) -lt 40 ]; do sleep 0.5; done
last=$(rss)
echo "soak: ${i} requests; RSS first ${first} KiB, last ${last} KiB, peak ${peak} KiB"
echo "soak: answers: $(sort "$tmp/codes" | uniq -c | tr '\n' ' ')"
kill -0 $pid || { echo "soak: the demo died"; exit 1; }
