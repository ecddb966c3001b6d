#!/usr/bin/env bash
# What the charts page costs the program: runs the instrumented demo (-c opt) with one viewer
# on <ctx>/debug/charts/ws for N seconds (default 60) and reads, from /proc, the CPU time of
# the metrics sampler thread (hookprof-charts) and of the viewer's connection (hookprof-ws),
# as a percentage of one core, beside the whole process's. Usage: tools/bench/charts_cost.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
bazel build -c opt --config=instrumented //tools/demo:demo >/dev/null 2>&1
tmp=$(mktemp -d)
HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_CONTEXT_PATH=/demo bazel-bin/tools/demo/demo >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $viewer 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q 'hookprof: serving' "$tmp/err" && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
ws="ws${base#http}"
ws="${ws%pprof/}charts/ws"
node --experimental-websocket -e '
  const ws = new WebSocket(process.argv[1]); let frames = 0;
  ws.onmessage = () => frames++;
  process.on("SIGTERM", () => { console.log("viewer frames: " + frames); process.exit(0); });
' "$ws" 2>/dev/null >"$tmp/viewer" &
viewer=$!
sleep 3  # The viewer is connected and past the history frame.
ticks() {  # ticks <comm>: utime + stime of the process's threads named <comm> (or all: "*").
  python3 - "$pid" "$1" <<'PY'
import glob, sys
total = 0
for path in glob.glob("/proc/%s/task/*/stat" % sys.argv[1]):
    try:
        text = open(path).read()
    except OSError:
        continue  # The thread left.
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()  # fields[0] is field 3 (state).
    if sys.argv[2] in ("*", comm):
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15.
print(total)
PY
}
s0=$(ticks hookprof-charts); w0=$(ticks hookprof-ws); p0=$(ticks "*"); t0=$(date +%s.%N)
sleep "$seconds"
s1=$(ticks hookprof-charts); w1=$(ticks hookprof-ws); p1=$(ticks "*"); t1=$(date +%s.%N)
kill -TERM $viewer; wait $viewer || true
hz=$(getconf CLK_TCK)
python3 - "$s0" "$s1" "$w0" "$w1" "$p0" "$p1" "$t0" "$t1" "$hz" <<'PY'
import sys
s0, s1, w0, w1, p0, p1 = map(int, sys.argv[1:7])
t0, t1, hz = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9])
wall = t1 - t0
pct = lambda a, b: 100.0 * (b - a) / hz / wall
print("charts cost over %.0f s with one viewer (%% of one core):" % wall)
print("  sampler (hookprof-charts): %.3f%%" % pct(s0, s1))
print("  viewer connection (hookprof-ws): %.3f%%" % pct(w0, w1))
print("  both: %.3f%%   (the whole demo process: %.1f%%)" % (pct(s0, s1) + pct(w0, w1), pct(p0, p1)))
PY
cat "$tmp/viewer"
