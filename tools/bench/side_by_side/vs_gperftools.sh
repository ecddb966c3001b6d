#!/usr/bin/env bash
# Side by side with an independent profiler: json_work.cc (RapidJSON, libc, std::sort) built
# plain and run under gperftools' libprofiler (Debian google-perftools), and built with
# -finstrument-functions (RapidJSON and the standard library excluded, as /usr/include) and run
# with hookprof preloaded. Prints both top-10 tables by flat CPU, side by side, with the
# difference in percentage points. hookprof's own hook time is reported on its own line and left
# out of its percentages (the plain build has no hooks to spend it in).
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
bazel build //:libhookprof_preload.so >/dev/null 2>&1
preload=$(bazel info bazel-bin 2>/dev/null)/libhookprof_preload.so
libprofiler=$(ls /usr/lib/*/libprofiler.so.0 | head -1)
g++ -O2 -g "$src" -o "$tmp/plain"
g++ -O2 -g -finstrument-functions -finstrument-functions-exclude-file-list=/usr/include \
  "$src" -o "$tmp/hooked"

CPUPROFILE="$tmp/gperftools.prof" CPUPROFILE_FREQUENCY=$hz LD_PRELOAD=$libprofiler \
  "$tmp/plain" "$rounds" >/dev/null
HOOKPROF_SERVE=0 HOOKPROF_CPU_HZ=$hz HOOKPROF_PROFILE_OUT="$tmp/hookprof.pb.gz" \
  LD_PRELOAD=$preload "$tmp/hooked" "$rounds" >/dev/null
google-pprof --text --nodecount=1000 "$tmp/plain" "$tmp/gperftools.prof" >"$tmp/g.txt" 2>/dev/null
go tool pprof -top -nodecount=1000 "$tmp/hookprof.pb.gz" >"$tmp/h.txt" 2>/dev/null

python3 - "$tmp/g.txt" "$tmp/h.txt" <<'PY'
import re, sys

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
    out = out.split("(")[0].strip().split(" ")[-1]
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
        if hooks_name and hooks_name in m.group(4):
            hooks += v
            continue
        k = key(m.group(4))
        flat[k] = flat.get(k, 0.0) + v
    total = sum(flat.values())
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
