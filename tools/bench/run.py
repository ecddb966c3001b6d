#!/usr/bin/env python3
"""Side-by-side benchmark: hookprof's modes against no hooks, empty hooks and uftrace.

Builds every variant of the same workloads (with GCC; with clang the cheap sanitizer-coverage
mode, measured against a plain clang build), then runs them interleaved (each round runs every
workload under every variant, in a rotating order) and prints medians. ns/call is the time
above the plain build divided by the instrumented calls, which hookprof counts exactly in
profile mode. The real-code workloads (json, graph: RapidJSON and Boost.Graph, the libraries'
own code instrumented; -ndebug: built with -DNDEBUG) print each variant as x plain too, and the
targets' ratios. Usage: tools/bench/run.py [--rounds N] [--workloads fib,wide,json,...]
[--no-uftrace] [--small] (--small: a hundredth of the real-code work, to check the pipeline).
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "bazel-bin", "tools", "bench")
FIB32_CALLS = 7049155  # fib(32): 2 * F(33) - 1


CLANG_DIR = tempfile.mkdtemp(prefix="bench-clang-")
SMALL = False
REAL = ("json", "graph")
REAL_GCC = ["real_plain", "real_floor", "real_hookprof"]
REAL_CLANG = REAL_GCC + ["real_xray_bare", "real_xray"]


NDEBUG_TOO = True  # Build the -DNDEBUG copies: only when a -ndebug workload is asked for.


def with_ndebug(names):
    return names + ([n + "_ndebug" for n in names] if NDEBUG_TOO else [])


def build():
    # The cheap mode, XRay and the clang rows of the real code need clang: those binaries and a
    # plain clang baseline are built first and copied out, since Bazel 4 keeps one bazel-bin for
    # both compilers.
    clang = ["--repo_env=CC=clang"]
    clang_bins = ["bench_plain", "bench_sancov", "bench_xray_bare", "bench_xray"]
    clang_bins += with_ndebug(REAL_CLANG)
    subprocess.run(["bazel", "build"] + clang + ["//tools/bench:" + b for b in clang_bins],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in clang_bins:
        shutil.copy(os.path.join(BIN, name), os.path.join(CLANG_DIR, name))
    build_xray_excluded()
    gcc_bins = ["bench_plain", "bench_floor", "bench_hookprof", "bench_sancov", "bench_uftrace"]
    subprocess.run(["bazel", "build"] +
                   ["//tools/bench:" + b for b in gcc_bins + with_ndebug(REAL_GCC)],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    build_excluded()


EXCLUDED = []  # Function names GCC was told to leave without hooks (README: Fewer hooks).


def build_excluded():
    """The loop: profile each real workload (GCC, asserts on), take the exclusion list hookprof
    writes at exit, and rebuild the workloads with it (real_excluded*)."""
    for w in REAL:
        out = os.path.join(CLANG_DIR, w + ".gcc")
        env = dict(os.environ, HOOKPROF_MODE="profile", HOOKPROF_EXCLUSIONS_OUT=out)
        subprocess.run([os.path.join(BIN, "real_hookprof"), w] + (["small"] if SMALL else []),
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        flag = open(out).read().strip()
        names = re.split(r"(?<!\\),", flag.split("=", 1)[1])  # "\," is a comma of a name.
        EXCLUDED.extend(n for n in names if n and n not in EXCLUDED)
    # Bazel splits --per_file_copt's options at commas too, and reads "\," as a comma: a name's
    # escaped comma reaches GCC as "\," when written "\\,".
    opts = ",".join("-finstrument-functions-exclude-function-list=" + n.replace("\\,", "\\\\,")
                    for n in EXCLUDED)
    per_file = ["--per_file_copt=real_workloads_excluded\\.cc@" + opts] if opts else []
    subprocess.run(["bazel", "build"] + per_file +
                   ["//tools/bench:" + b for b in with_ndebug(["real_excluded"])],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


XRAY_EXCLUDED = []  # Mangled names XRay was told to leave without sleds.


def build_xray_excluded():
    """The same loop for XRay: profile each real workload (XRay at its default threshold, with
    and without asserts: which functions keep sleds depends on what was inlined), take the
    attribute lists hookprof writes at exit ([never] fun:<mangled>), and rebuild the XRay variant
    with them (real_xray_excluded*). Needs the clang build in CLANG_DIR."""
    for w, binary in [(w, b) for w in REAL for b in with_ndebug(["real_xray"])]:
        out = os.path.join(CLANG_DIR, binary + "." + w + ".xray")
        env = dict(os.environ, HOOKPROF_MODE="profile", HOOKPROF_EXCLUSIONS_OUT=out)
        subprocess.run([os.path.join(CLANG_DIR, binary), w] + (["small"] if SMALL else []),
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in open(out).read().splitlines():
            if line.startswith("fun:") and line not in XRAY_EXCLUDED:
                XRAY_EXCLUDED.append(line)
    # In the tree, declared by the library (BUILD): clang reports it as an included file.
    attr = os.path.join(ROOT, "tools", "bench", "xray_excluded.inc")
    with open(attr, "w") as f:
        f.write("[never]\n" + "".join(line + "\n" for line in XRAY_EXCLUDED))
    names = with_ndebug(["real_xray_excluded"])
    subprocess.run(["bazel", "build", "--repo_env=CC=clang",
                    "--per_file_copt=real_workloads_xray_excluded\\.cc@-fxray-attr-list="
                    "tools/bench/xray_excluded.inc"] +
                   ["//tools/bench:" + n for n in names], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in names:
        shutil.copy(os.path.join(BIN, name), os.path.join(CLANG_DIR, name))


def xray_unhook_pattern():
    """HOOKPROF_UNHOOK naming, exactly, the functions of the XRay attribute list: the same
    functions switched off at run time instead of built without sleds."""
    mangled = [line[len("fun:"):] for line in XRAY_EXCLUDED]
    names = subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True, text=True,
                           check=True).stdout.splitlines()
    special = set("\\.^$|?*+()[]{}")
    escape = lambda n: "".join("\\" + c if c in special else c for c in n)
    return "^(" + "|".join(escape(n) for n in names) + ")$" if names else "^$"


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


def real_variants(workload):
    """The real-code rows: GCC's hooks and clang's (after inlining, XRay at its default threshold),
    each against the plain build of the same compiler."""
    nd = "_ndebug" if workload.endswith("-ndebug") else ""
    gcc = lambda b: os.path.join(BIN, b + nd)
    cl = lambda b: os.path.join(CLANG_DIR, b + nd)
    return [
        ("plain", [gcc("real_plain")], {}),
        ("floor", [gcc("real_floor")], {}),
        ("off", [gcc("real_hookprof")], {"HOOKPROF_MODE": "off"}),
        # `off` with every hook call left in place (before they were taken out as they run).
        ("off-calls-kept", [gcc("real_hookprof")],
         {"HOOKPROF_MODE": "off", "HOOKPROF_REMOVE_HOOKS": "0"}),
        ("profile", [gcc("real_hookprof")], {"HOOKPROF_MODE": "profile"}),
        # The cost budget at 10 % of the CPU (runtime/budget): exact calls where they are cheap.
        ("profile-budget10", [gcc("real_hookprof")],
         {"HOOKPROF_MODE": "profile", "HOOKPROF_BUDGET_PERCENT": "10"}),
        # Rebuilt with the exclusion list hookprof wrote (build_excluded).
        ("profile-excluded", [gcc("real_excluded")], {"HOOKPROF_MODE": "profile"}),
        ("plain-clang", [cl("real_plain")], {}),
        ("floor-clang", [cl("real_floor")], {}),
        ("off-clang", [cl("real_hookprof")], {"HOOKPROF_MODE": "off"}),
        ("off-calls-kept-clang", [cl("real_hookprof")],
         {"HOOKPROF_MODE": "off", "HOOKPROF_REMOVE_HOOKS": "0"}),
        ("profile-clang", [cl("real_hookprof")], {"HOOKPROF_MODE": "profile"}),
        ("profile-budget10-clang", [cl("real_hookprof")],
         {"HOOKPROF_MODE": "profile", "HOOKPROF_BUDGET_PERCENT": "10"}),
        ("xray-bare-clang", [cl("real_xray_bare")], {}),
        ("xray-off-clang", [cl("real_xray")], {"HOOKPROF_MODE": "off"}),
        ("xray-profile-clang", [cl("real_xray")], {"HOOKPROF_MODE": "profile"}),
        ("xray-profile-budget10-clang", [cl("real_xray")],
         {"HOOKPROF_MODE": "profile", "HOOKPROF_BUDGET_PERCENT": "10"}),
        # Rebuilt with the attribute list hookprof wrote (build_xray_excluded).
        ("xray-profile-excluded-clang", [cl("real_xray_excluded")], {"HOOKPROF_MODE": "profile"}),
        # The same functions left unhooked at run time (HOOKPROF_UNHOOK), no rebuild.
        ("xray-profile-unhooked-clang", [cl("real_xray")],
         {"HOOKPROF_MODE": "profile", "HOOKPROF_UNHOOK": xray_unhook_pattern()}),
    ]


def is_real(workload):
    return workload.split("-")[0] in REAL


def run_once(cmd, env_extra, workload):
    data = tempfile.mkdtemp(prefix="bench-uftrace-")
    try:
        cmd = [c.replace("{data}", data) for c in cmd] + [workload.split("-")[0]]
        if is_real(workload) and SMALL:
            cmd.append("small")
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
            "sink": fields.get("sink"),
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
    ap.add_argument("--workloads", default="json,json-ndebug,graph,graph-ndebug,"
                    "fib,wide,thread1,threads,templates,labels")
    ap.add_argument("--no-uftrace", action="store_true")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--warmup", type=float, default=0,
                    help="real-code workloads: run them this many seconds first and time the "
                    "next run alone (the cost budget's steady state)")
    ap.add_argument("--only", default="",
                    help="real-code workloads: these variants (comma-separated) and the plain "
                    "builds alone")
    args = ap.parse_args()
    global SMALL, NDEBUG_TOO
    SMALL = args.small
    NDEBUG_TOO = any(w.endswith("-ndebug") for w in args.workloads.split(","))
    if args.warmup > 0:
        os.environ["BENCH_WARMUP_SECONDS"] = str(args.warmup)
    with_uftrace = not args.no_uftrace and shutil.which("uftrace") is not None
    build()
    workloads = args.workloads.split(",")
    vs_of = {w: real_variants(w) if is_real(w) else variants(with_uftrace) for w in workloads}
    if args.only:
        keep = set(args.only.split(",")) | {"plain", "plain-clang"}
        vs_of = {w: [v for v in vs if not is_real(w) or v[0] in keep] for w, vs in vs_of.items()}
    results = {(w, v[0]): [] for w in workloads for v in vs_of[w]}
    for r in range(args.rounds):
        for w in workloads:
            vs = vs_of[w]
            order = vs[r % len(vs):] + vs[:r % len(vs)]  # Rotate: no variant always runs first.
            for name, cmd, env in order:
                results[(w, name)].append(run_once(cmd, env, w))
        print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr)

    # Every variant computes the same thing: hooks that changed a result would be a bug.
    for w in workloads:
        sinks = {(name, x["sink"]) for name, _, _ in vs_of[w] for x in results[(w, name)]}
        if len({sink for _, sink in sinks}) != 1:
            raise RuntimeError("%s: variants disagree on the result: %s" % (w, sorted(sinks)))

    print("hookprof benchmark: %d interleaved rounds, medians; machine: %s, %d CPUs" %
          (args.rounds, cpu_model(), os.cpu_count()))
    for w in [w for w in workloads if is_real(w)]:
        report_real(w, results)
    for w in [w for w in workloads if not is_real(w)]:
        vs = vs_of[w]
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


def report_real(w, results):
    med = {name: statistics.median(x["ns"] for x in runs)
           for (wl, name), runs in results.items() if wl == w}
    # Every variant is priced per call of the fully hooked build it belongs to (--only may
    # leave some out: 0, and the column says nan).
    calls = collections.defaultdict(int, {
        name: max(x["calls"] for x in results[(w, name)])
        for name in ("profile", "profile-excluded", "profile-clang", "xray-profile-clang",
                     "xray-profile-excluded-clang", "xray-profile-unhooked-clang")
        if (w, name) in results})
    calls_of = lambda name: (calls["xray-profile-excluded-clang"] if name.startswith("xray") and
                             "excluded" in name else
                             calls["xray-profile-unhooked-clang"] if "unhooked" in name else
                             calls["xray-profile-clang"] if name.startswith("xray") else
                             calls["profile-clang"] if name.endswith("clang") else
                             calls["profile-excluded"] if name == "profile-excluded" else
                             calls["profile"])
    print()
    if not calls["profile"]:  # --only left the fully hooked builds out.
        print("## %s%s%s" % (w, " (small)" if SMALL else "",
                             " (after a %s s warm-up)" % os.environ["BENCH_WARMUP_SECONDS"]
                             if "BENCH_WARMUP_SECONDS" in os.environ else ""))
    else:
        print("## %s%s: %s calls hooked by GCC (%s with the %d-function exclusion list), %s by "
              "clang after inlining, %s XRay sleds run (%s with the %d-function attribute "
              "list)" % (
                  w, " (small)" if SMALL else "", format(calls["profile"], ","),
                  format(calls["profile-excluded"], ","), len(EXCLUDED),
                  format(calls["profile-clang"], ","), format(calls["xray-profile-clang"], ","),
                  format(calls["xray-profile-excluded-clang"], ","), len(XRAY_EXCLUDED)))
    print("| variant | median ms | x plain | ns/call above plain | x floor (per call) | "
          "peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    over = {}
    for (wl, name), runs in results.items():
        if wl != w:
            continue
        base = "plain-clang" if name.endswith("clang") else "plain"
        n = calls_of(name)
        over[name] = (med[name] - med[base]) / n if n > 0 else float("nan")
    for (wl, name), runs in results.items():
        if wl != w:
            continue
        base = "plain-clang" if name.endswith("clang") else "plain"
        floor = "floor-clang" if name.endswith("clang") and not name.startswith("xray") else \
            None if name.startswith("xray") or name == "profile-excluded" else "floor"
        plain_row = name.startswith("plain")
        xf = "-" if plain_row or floor is None or over.get(floor, 0) <= 0 else \
            "%.2f" % (over[name] / over[floor])
        print("| %s | %.1f | %.3f | %s | %s | %.1f |" % (
            name, med[name] / 1e6, med[name] / med[base],
            "-" if plain_row else "%.2f" % over[name], xf,
            statistics.median(x["rss_kib"] for x in runs) / 1024.0))
    if "profile-budget10" in med:
        print("\nBudget 10 %%: GCC hooks %.2fx plain (profile %s, off %s); clang hooks %.2fx "
              "plain-clang; XRay %.2fx plain-clang" % (
                  med["profile-budget10"] / med["plain"],
                  "%.2fx" % (med["profile"] / med["plain"]) if "profile" in med else "not run",
                  "%.2fx" % (med["off"] / med["plain"]) if "off" in med else "not run",
                  med.get("profile-budget10-clang", float("nan")) / med["plain-clang"],
                  med.get("xray-profile-budget10-clang", float("nan")) / med["plain-clang"]))
    if not set(calls) >= {"profile", "profile-excluded", "xray-profile-excluded-clang"} or \
            "xray-bare-clang" not in med:
        return
    print("\nTargets: XRay off = %.3fx the sleds without hookprof (<= 1.02); XRay profile = %.2fx "
          "plain-clang (<= 1.3), %.2fx with the attribute list, %.2fx with the same functions "
          "unhooked at run time (%s XRay calls recorded); GCC hooks profile = %.2fx the "
          "floor per call (<= 1.3); with the exclusion list %.2fx plain (<= 1.3); clang hooks "
          "profile = %.2fx plain-clang" % (
              med["xray-off-clang"] / med["xray-bare-clang"],
              med["xray-profile-clang"] / med["plain-clang"],
              med["xray-profile-excluded-clang"] / med["plain-clang"],
              med["xray-profile-unhooked-clang"] / med["plain-clang"],
              format(calls["xray-profile-unhooked-clang"], ","),
              over["profile"] / over["floor"], med["profile-excluded"] / med["plain"],
              med["profile-clang"] / med["plain-clang"]))


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
