#!/usr/bin/env bash
# Side by side with an independent profiler: json_work.cc (RapidJSON, libc, std::sort) built
# plain and run under gperftools' libprofiler (Debian google-perftools), and built with
# -finstrument-functions (RapidJSON and the standard library excluded, as /usr/include) and run
# with hookprof preloaded. Prints both top-10 tables by flat CPU, side by side, with the
# difference in percentage points. hookprof's own hook time is reported on its own line and left
# out of its percentages (the plain build has no hooks to spend it in).
# Then stacks without hooks: one binary built plain with frame pointers, run under libprofiler and
# under hookprof in mode off (frame-pointer walks, docs/stacks.md): both top-10 tables by
# cumulative CPU, the same way.
# Usage: tools/bench/side_by_side/vs_gperftools.sh [rounds] [hz]   (not a test: a measurement)
# Needs Debian's rapidjson-dev and google-perftools (libc6-dbg for libc's internal names).
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-20}
hz=${2:-250}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp PPROF_TMPDIR=$tmp
src=tools/bench/side_by_side/json_work.cc
bazel=${BAZEL:-bazel}  # BAZEL="bazel --output_base=..." for a second tree
$bazel build //:libhookprof_preload.so >/dev/null 2>&1
preload=$($bazel info bazel-bin 2>/dev/null)/libhookprof_preload.so
libprofiler=$(ls /usr/lib/*/libprofiler.so.0 | head -1)
g++ -O2 -g "$src" -o "$tmp/plain"
g++ -O2 -g -fno-omit-frame-pointer "$src" -o "$tmp/plain_fp"
g++ -O2 -g -finstrument-functions -finstrument-functions-exclude-file-list=/usr/include \
  "$src" -o "$tmp/hooked"

CPUPROFILE="$tmp/gperftools.prof" CPUPROFILE_FREQUENCY=$hz LD_PRELOAD=$libprofiler \
  "$tmp/plain" "$rounds" >/dev/null
HOOKPROF_SERVE=0 HOOKPROF_CPU_HZ=$hz HOOKPROF_PROFILE_OUT="$tmp/hookprof.pb.gz" \
  LD_PRELOAD=$preload "$tmp/hooked" "$rounds" >/dev/null
CPUPROFILE="$tmp/gperftools_fp.prof" CPUPROFILE_FREQUENCY=$hz LD_PRELOAD=$libprofiler \
  "$tmp/plain_fp" "$rounds" >/dev/null
HOOKPROF_SERVE=0 HOOKPROF_MODE=off HOOKPROF_CPU_HZ=$hz HOOKPROF_PROFILE_OUT="$tmp/off.pb.gz" \
  LD_PRELOAD=$preload "$tmp/plain_fp" "$rounds" >/dev/null
google-pprof --text --nodecount=1000 "$tmp/plain" "$tmp/gperftools.prof" >"$tmp/g.txt" 2>/dev/null
go tool pprof -top -nodecount=1000 "$tmp/hookprof.pb.gz" >"$tmp/h.txt" 2>/dev/null
google-pprof --text --cum --nodecount=1000 "$tmp/plain_fp" "$tmp/gperftools_fp.prof" \
  >"$tmp/g_cum.txt" 2>/dev/null
go tool pprof -top -cum -nodecount=1000 "$tmp/off.pb.gz" >"$tmp/h_cum.txt" 2>/dev/null

for column in flat cum; do
  if [ "$column" = flat ]; then
    echo "== flat CPU: gperftools on the plain build, hookprof's hooks on the hooked build"
    files=("$tmp/g.txt" "$tmp/h.txt")
  else
    echo "== cumulative CPU, one plain build with frame pointers: gperftools, hookprof in mode off"
    files=("$tmp/g_cum.txt" "$tmp/h_cum.txt")
  fi
python3 - "${files[@]}" "$column" <<'PY'
import re, sys
column = sys.argv[3]

def key(name):
    # Both tools' names for one function: gperftools' pprof drops template arguments, parameter
    # lists and return types, go tool pprof keeps them; libc's aliases of one function differ.
    name = name.replace("[abi:cxx11]", "").strip()
    out, depth = "", 0
    for c in name:
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif depth == 0:
            out += c
    out = out.split("(")[0].strip().split(" ")[-1].split("@")[0]  # Symbol versions too.
    for prefix in ("__GI___libc_", "__GI___", "__libc_", "__GI_"):
        if out.startswith(prefix):
            out = out[len(prefix):]
    return out.lstrip("_") or name

def table(path, hooks_name=None):
    flat, hooks = {}, 0.0
    for line in open(path):
        m = re.match(r"\s*([\d.]+)(ms|s)?\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+(?:ms|s)?\s+[\d.]+%\s+(.*)$", line)
        if not m:
            continue
        v = float(m.group(1)) * (0.001 if m.group(2) == "ms" else 1.0)
        if column == "cum":
            c = re.match(r"\s*[\d.]+(?:ms|s)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(ms|s)?\s+", line)
            v = float(c.group(1)) * (0.001 if c.group(2) == "ms" else 1.0)
        if hooks_name and hooks_name in m.group(4):
            hooks += v
            continue
        k = key(m.group(4))
        if column == "cum":  # Aliases of one function hold the same samples: not summed.
            flat[k] = max(flat.get(k, 0.0), v)
        else:
            flat[k] = flat.get(k, 0.0) + v
    total = sum(flat.values())
    if column == "cum":  # Percentages of all samples, from each tool's header.
        text = open(path).read()
        t = re.search(r"Total: (\d+) samples", text) or re.search(r"of ([\d.]+)(ms|s)? total", text)
        total = float(t.group(1)) * (0.001 if t.lastindex == 2 and t.group(2) == "ms" else 1.0)
        # Above main: the C library's start, which walks by frame pointers cannot reach.
        for k in ("start", "start_main_impl", "start_call_main", "start_main"):
            flat.pop(k, None)
    return {k: 100.0 * v / total for k, v in flat.items()}, hooks, total

g, _, g_total = table(sys.argv[1])
h, hooks, h_total = table(sys.argv[2], "[hookprof: instrumentation hooks]")
rows = sorted(set(sorted(g, key=g.get, reverse=True)[:10]) |
              set(sorted(h, key=h.get, reverse=True)[:10]), key=lambda k: -g.get(k, 0.0))
print(f"{'function':60s} {'gperftools':>10s} {'hookprof':>9s} {'diff':>6s}")
worst = 0.0
for k in rows:
    d = h.get(k, 0.0) - g.get(k, 0.0)
    worst = max(worst, abs(d))
    print(f"{k[:60]:60s} {g.get(k, 0.0):9.1f}% {h.get(k, 0.0):8.1f}% {d:+6.1f}")
print(f"flat totals: gperftools {g_total:g} samples, hookprof {h_total:.2f} s "
      f"(+ {hooks:.2f} s in its hooks, {100 * hooks / (h_total + hooks):.1f}% of its samples)")
print(f"largest difference: {worst:.1f} percentage points")
PY
done

# The cost of sampling with walks in mode off: the plain build with frame pointers under hookprof
# at 100 Hz (the default) against the same with sampling off (HOOKPROF_CPU_HZ=0), and bare; 9
# interleaved runs each, medians of wall time.
echo "== cost in mode off: plain_fp under hookprof at 100 Hz vs HOOKPROF_CPU_HZ=0 vs bare (medians of 9)"
for i in $(seq 9); do
  for variant in bare hz0 hz; do
    case $variant in
      bare) env=() ;;
      hz0) env=(LD_PRELOAD=$preload HOOKPROF_SERVE=0 HOOKPROF_MODE=off HOOKPROF_CPU_HZ=0) ;;
      hz) env=(LD_PRELOAD=$preload HOOKPROF_SERVE=0 HOOKPROF_MODE=off HOOKPROF_CPU_HZ=100) ;;
    esac
    start=$(date +%s%N)
    env "${env[@]}" "$tmp/plain_fp" "$rounds" >/dev/null
    echo "$variant $(($(date +%s%N) - start))" >>"$tmp/cost.txt"
  done
done
python3 - "$tmp/cost.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    variant, ns = line.split()
    runs.setdefault(variant, []).append(int(ns))
m = {k: statistics.median(v) / 1e6 for k, v in runs.items()}
print(f"bare {m['bare']:.1f} ms, hookprof sampling off {m['hz0']:.1f} ms, "
      f"hookprof sampling {m['hz']:.1f} ms: sampling costs "
      f"{100 * (m['hz'] / m['hz0'] - 1):+.2f}% over sampling off, "
      f"{100 * (m['hz'] / m['bare'] - 1):+.2f}% over bare")
PY
