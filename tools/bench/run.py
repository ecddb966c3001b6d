#!/usr/bin/env python3
"""Side-by-side benchmark: hookprof's modes against no hooks, empty hooks and uftrace.

Builds every variant of the same workloads (with GCC; with clang the cheap sanitizer-coverage
mode, measured against a plain clang build), then runs them interleaved (each round runs every
workload under every variant, in a rotating order) and prints medians. ns/call is the time
above the plain build divided by the instrumented calls, which hookprof counts exactly in
profile mode. Usage: tools/bench/run.py [--rounds N] [--workloads fib,wide,...] [--no-uftrace]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "bazel-bin", "tools", "bench")
FIB32_CALLS = 7049155  # fib(32): 2 * F(33) - 1


CLANG_DIR = tempfile.mkdtemp(prefix="bench-clang-")


def build():
    # The cheap mode needs clang (function-level sanitizer coverage): its binary and a plain
    # clang baseline are built first and copied out, since Bazel 4 keeps one bazel-bin for both
    # compilers.
    clang = ["--repo_env=CC=clang"]
    subprocess.run(["bazel", "build"] + clang + ["//tools/bench:bench_plain",
                                                 "//tools/bench:bench_sancov",
                                                 "//tools/bench:bench_xray_bare",
                                                 "//tools/bench:bench_xray"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in ("bench_plain", "bench_sancov", "bench_xray_bare", "bench_xray"):
        shutil.copy(os.path.join(BIN, name), os.path.join(CLANG_DIR, name))
    subprocess.run(["bazel", "build", "//tools/bench:all"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def variants(with_uftrace):
    hp = os.path.join(BIN, "bench_hookprof")
    out = [
        ("plain", [os.path.join(BIN, "bench_plain")], {}),
        ("floor", [os.path.join(BIN, "bench_floor")], {}),
        ("off", [hp], {"HOOKPROF_MODE": "off"}),
        ("profile", [hp], {"HOOKPROF_MODE": "profile"}),
        ("trace", [hp], {"HOOKPROF_MODE": "trace"}),
        ("timing", [hp], {"HOOKPROF_MODE": "timing"}),
        # GCC's trace-pc: a callback in every block (not only at function entries).
        ("sancov-gcc (every block)", [os.path.join(BIN, "bench_sancov")], {}),
        # The cheap mode, against a plain clang build of the same workload.
        ("plain-clang", [os.path.join(CLANG_DIR, "bench_plain")], {}),
        ("sancov-func-clang", [os.path.join(CLANG_DIR, "bench_sancov")], {}),
        # XRay sleds on every function: without hookprof (nops), then hookprof off and profile.
        ("xray-bare-clang", [os.path.join(CLANG_DIR, "bench_xray_bare")], {}),
        ("xray-off-clang", [os.path.join(CLANG_DIR, "bench_xray")], {"HOOKPROF_MODE": "off"}),
        ("xray-profile-clang", [os.path.join(CLANG_DIR, "bench_xray")],
         {"HOOKPROF_MODE": "profile"}),
    ]
    if with_uftrace:
        out.append(("uftrace", ["uftrace", "record", "--no-libcall", "-d", "{data}",
                                os.path.join(BIN, "bench_uftrace")], {}))
    return out


def run_once(cmd, env_extra, workload):
    data = tempfile.mkdtemp(prefix="bench-uftrace-")
    try:
        cmd = [c.replace("{data}", data) for c in cmd] + [workload]
        env = dict(os.environ)
        env.update(env_extra)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                cwd=data)
        out = proc.stdout.read().decode()
        _, status, _ = os.wait4(proc.pid, 0)
        if status != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), out))
        fields = {}
        for line in out.splitlines():
            if line.startswith("workload="):
                fields = dict(kv.split("=", 1) for kv in line.split())
        written = 0
        for dirpath, _, files in os.walk(data):
            written += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
        return {
            "ns": int(fields["ns"]),
            "calls": int(fields["calls"]),
            "events": int(fields["events"]),
            "thread_ns": [int(x) for x in fields.get("thread_ns", "").split(",") if x],
            # The program's own peak RSS (VmHWM): ru_maxrss would include the forked Python.
            "rss_kib": int(fields["rss_kib"]),
            "written": written,
        }
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workloads", default="fib,wide,thread1,threads,templates")
    ap.add_argument("--no-uftrace", action="store_true")
    args = ap.parse_args()
    with_uftrace = not args.no_uftrace and shutil.which("uftrace") is not None
    build()
    vs = variants(with_uftrace)
    workloads = args.workloads.split(",")
    results = {(w, v[0]): [] for w in workloads for v in vs}
    for r in range(args.rounds):
        for w in workloads:
            order = vs[r % len(vs):] + vs[:r % len(vs)]  # Rotate: no variant always runs first.
            for name, cmd, env in order:
                results[(w, name)].append(run_once(cmd, env, w))
        print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr)

    print("hookprof benchmark: %d interleaved rounds, medians; machine: %s, %d CPUs" %
          (args.rounds, cpu_model(), os.cpu_count()))
    for w in workloads:
        hook_calls = max(x["calls"] for x in results[(w, "profile")])
        if w in ("threads", "thread1"):
            calls_per_thread = FIB32_CALLS
        plains = {b: statistics.median(x["ns"] for x in results[(w, b)])
                  for b in ("plain", "plain-clang")}
        floor_over = None
        uftrace_over = None
        rows = []
        for name, _, _ in vs:
            runs = results[(w, name)]
            ns = statistics.median(x["ns"] for x in runs)
            # The coverage variants count their own callbacks (clang makes fewer calls of some
            # recursions); every other variant runs the hooks' calls.
            if name.startswith("sancov"):
                calls = max(x["calls"] for x in runs)
            elif name.startswith("xray"):  # clang's own call structure, counted by hookprof.
                calls = max(x["calls"] for x in results[(w, "xray-profile-clang")])
            else:
                calls = hook_calls
            base = "plain-clang" if name.endswith("clang") else "plain"
            plain = plains[base]
            if w in ("threads", "thread1"):
                # Per-call cost inside each thread, so one and two threads compare directly.
                per = [statistics.mean(x["thread_ns"]) for x in runs]
                plain_per = statistics.median(
                    statistics.mean(x["thread_ns"]) for x in results[(w, base)])
                over = (statistics.median(per) - plain_per) / calls_per_thread
            else:
                over = (ns - plain) / calls if calls > 0 else float("nan")
            if name == "floor":
                floor_over = over
            if name == "uftrace":
                uftrace_over = over
            rss = statistics.median(x["rss_kib"] for x in runs) / 1024.0
            if name == "trace":
                written = statistics.median(x["events"] for x in runs) * 8
            elif name == "uftrace":
                written = statistics.median(x["written"] for x in runs)
            else:
                written = 0
            rows.append((name, ns, over, rss, written))
        print()
        print("## %s: %s instrumented calls%s" % (
            w, format(hook_calls, ","),
            " (fib(32) on each of %s threads)" % ("two" if w == "threads" else "one")
            if w in ("threads", "thread1") else ""))
        print("| variant | median ms | ns/call above plain | x floor | uftrace / this | "
              "peak RSS MiB | bytes/call written |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, ns, over, rss, written in rows:
            plain_row = name.startswith("plain")
            xf = over / floor_over if floor_over and not plain_row else float("nan")
            xu = uftrace_over / over if uftrace_over and over > 0 and not plain_row else float("nan")
            per_call_calls = hook_calls
            bpc = written / per_call_calls if written and per_call_calls > 0 else 0
            print("| %s | %.1f | %s | %s | %s | %.1f | %s |" % (
                name, ns / 1e6, "-" if name.startswith("plain") else "%.2f" % over,
                "-" if xf != xf else "%.2f" % xf, "-" if xu != xu else "%.1f" % xu, rss,
                "%.1f" % bpc if bpc else "-"))
        med = {name: ns for name, ns, _, _, _ in rows}
        if "xray-bare-clang" in med:
            print("\nXRay: off = %.3fx the same sleds without hookprof; profile = %.2fx plain-clang, "
                  "%.2fx the sleds without hookprof" % (
                      med["xray-off-clang"] / med["xray-bare-clang"],
                      med["xray-profile-clang"] / med["plain-clang"],
                      med["xray-profile-clang"] / med["xray-bare-clang"]))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
