#!/usr/bin/env bash
# <ctx>/metrics read by Prometheus' own tools: promtool accepts the text format, and a real
# Prometheus server (Debian's, on a free loopback port, 1 s scrapes, negotiating OpenMetrics as
# it does by default) stores what the workload did: exact call counts, and the duration of
# 10 ms naps in the bucket that the latency table's p50 is in; with HOOKPROF_METRICS_LABELS,
# a function's calls per endpoint label (hookprof.h's LabelScope).
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  fail "prometheus and promtool are needed (Debian package prometheus; tools/test.sh installs it)"
scratch prometheus
start_server /fleet env HOOKPROF_MODE=timing HOOKPROF_METRICS_LABELS=endpoint \
  HOOKPROF_METRICS_FUNCTIONS='^workload::(Outer|Middle|Leaf|Nap)\(' "$server_bin"
metrics=${base%/debug/pprof/}/metrics
hostport=${base#http://}
hostport=${hostport%%/*}

run burst  # 1 Outer, 100 Middle, 1000 Leaf calls.
run burst
run "naps 20"
curl -sf "$metrics" >"$tmp/text"
promtool check metrics <"$tmp/text" || fail "promtool rejects the text format"
curl -sf -H 'Accept: application/openmetrics-text; version=1.0.0' "$metrics" >"$tmp/om"
[ "$(tail -1 "$tmp/om")" = "# EOF" ] || fail "OpenMetrics exposition without # EOF"
echo "ok: promtool check metrics"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hookprof
    metrics_path: /fleet/metrics
    static_configs:
      - targets: ["$hostport"]
YML
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool rejects the config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prom=$!
trap 'kill $pid $prom 2>/dev/null || true' EXIT
api="http://127.0.0.1:$port/api/v1/query"

# query <PromQL>: the first result's value, or "" if none.
query() {
  curl -sf --data-urlencode "query=$1" "$api" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
# until_equal <PromQL> <value>: waits up to 60 s (scrapes are 1 s apart) for it.
until_equal() {
  local got=""
  for _ in $(seq 120); do
    got=$(query "$1" 2>/dev/null || true)
    [ "$got" = "$2" ] && { echo "ok: $1 = $2"; return 0; }
    sleep 0.5
  done
  fail "$1 is '$got', not $2 ($(cat "$tmp/prometheus.log"))"
}
until_equal 'up{job="hookprof"}' 1
until_equal 'hookprof_function_calls_total{function="workload::Leaf()"}' 2000
until_equal 'hookprof_function_calls_total{function="workload::Outer(int, int)"}' 2
run burst
until_equal 'hookprof_function_calls_total{function="workload::Leaf()"}' 3000
# What Prometheus stored grew by exactly the burst's calls between two of its own samples.
until_equal 'max_over_time(hookprof_function_calls_total{function="workload::Middle(int)"}[1h]) - min_over_time(hookprof_function_calls_total{function="workload::Middle(int)"}[1h])' 100
until_equal 'hookprof_function_duration_seconds_count{function="workload::Nap(int)"}' 20

# The median nap from Prometheus' histogram lies in the bucket of the latency table's p50.
p50=$(curl -sf "${base%/pprof/}/hookprof/latency?format=json" | python3 -c '
import json, sys
for f in json.load(sys.stdin)["functions"]:
    if f["name"] == "workload::Nap(int)": print(f["p50_ns"] / 1e9)')
q=$(query 'histogram_quantile(0.5, hookprof_function_duration_seconds_bucket{function="workload::Nap(int)"})')
python3 - "$p50" "$q" <<'PY' || fail "histogram_quantile gives $q s, the latency table's p50 is $p50 s"
import bisect, sys
p50, q = float(sys.argv[1]), float(sys.argv[2])
ladder = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
          1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
assert p50 >= 0.0099, p50  # A nap of 10 ms takes at least that (p50: within 1/64).
# The table's p50 is a bucket's midpoint, within 1/64 of the calls' values: naps a hair over
# 10 ms may all lie on either side of the 10 ms bound.
buckets = {bisect.bisect_left(ladder, p50 * f) for f in (1 - 1 / 64, 1, 1 + 1 / 64)}
assert bisect.bisect_left(ladder, q) in buckets, (q, p50)
PY
echo "ok: histogram_quantile(0.5) of 10 ms naps = $q s, in the bucket of p50 $p50 s"

# Labels: the calls under each endpoint are series of their own, exact.
run "labelled 20"  # Leaf: 1000 calls under /search, 3000 under /put.
until_equal 'hookprof_function_calls_total{function="workload::Leaf()",endpoint="/put"}' 3000
until_equal 'hookprof_function_calls_total{function="workload::Leaf()",endpoint="/search"}' 1000
until_equal 'sum(hookprof_function_calls_total{function="workload::Leaf()"})' 7000
curl -sf "$metrics" | promtool check metrics || fail "promtool rejects the labelled series"
