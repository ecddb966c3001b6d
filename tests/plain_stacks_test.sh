#!/usr/bin/env bash
# Stacks without hooks: a program built as its users build it, with no hook at all
# (tests/plain_stacks.cc), run with libhookprof preloaded in mode off. go tool pprof -traces must
# show each event under its real callers (frame-pointer walks): a CPU-bound chain three functions
# deep, the 1,000,000-byte leak, a contended lock, the threads' creator. A thread that spins with
# garbage in %rbp is sampled thousands of times (at 2 kHz) and the program goes on: its stack is
# shown cut, never wrong.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
preload=$(readlink -f "$1")
program=$(readlink -f "$2")
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export HOME="$tmp" PPROF_TMPDIR="$tmp"

# Under a sanitizer its runtime comes first (it insists), and what it owns steps aside: TSan
# holds each signal until the thread's next intercepted call, so a sample's walk starts inside
# TSan's runtime, not where the CPU went; ASan's allocator is not interposed (no heap profile).
sanitizer=$(ldd "$program" | awk '/lib(asan|tsan)\.so/ {print $3; exit}')
case $sanitizer in
  *tsan*)
    echo "skip: under ThreadSanitizer signals are deferred to the next intercepted call"
    exit 0
    ;;
esac
# The program runs for at least 12 s and until its stdin (fd 3 here) is closed.
mkfifo "$tmp/stdin"
HOOKPROF_MODE=off HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_CPU_HZ=2000 HOOKPROF_HEAP_RATE=1 \
  LD_PRELOAD="${sanitizer:+$sanitizer:}$preload" "$program" 12 <"$tmp/stdin" >"$tmp/out" \
  2>"$tmp/err" &
pid=$!
exec 3>"$tmp/stdin"
for _ in $(seq 200); do
  grep -q 'hookprof: serving' "$tmp/err" && grep -q ready "$tmp/out" && break
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
[ -n "$url" ] || { cat "$tmp/err"; fail "the preloaded program did not serve"; }

# Whether the -traces output $1 has a whole stack (not cut) whose frames, from its leaf, start with
# $2, $3, ... (a thread's start: start_thread, or hookprof's own start of threads, not shown).
has_chain() {
  python3 - "$@" <<'PY'
import re, sys
text, want = open(sys.argv[1]).read(), sys.argv[2:]
for block in text.split("-----------+"):
    frames = []
    for line in block.splitlines():
        if not line.strip() or re.match(r"^\s+\w+:\s", line):
            continue  # Labels (thread:, tid:, state:).
        words = line.split()
        if re.match(r"^[0-9.]+[a-zA-Z%]*$", words[0]):
            words = words[1:]  # The sample's value.
        if words:
            frames.append(" ".join(words))
    if any("[stack cut" in f for f in frames):
        continue
    for i in range(len(frames) - len(want) + 1):
        if all(w in frames[i + j] for j, w in enumerate(want)):
            sys.exit(0)
sys.exit(1)
PY
}

go tool pprof -traces "${url}profile?seconds=4" >"$tmp/cpu.txt" 2>&1 || fail "cpu: $(cat "$tmp/cpu.txt")"
has_chain "$tmp/cpu.txt" SpinLeaf SpinMid SpinTop Spinner ||
  { cat "$tmp/cpu.txt"; fail "CPU: SpinLeaf is not under SpinMid <- SpinTop <- Spinner, whole"; }
has_chain "$tmp/cpu.txt" FramelessLeaf FramelessCaller FramelessSpinner ||
  { cat "$tmp/cpu.txt"; fail "CPU: a function without a frame is not under its caller"; }
has_chain "$tmp/cpu.txt" getppid SyscallCaller SyscallSpinner ||
  { cat "$tmp/cpu.txt"; fail "CPU: libc's getppid (no frame) is not under its caller"; }
go tool pprof -raw "${url}profile?seconds=1" >"$tmp/raw.txt" 2>&1 || fail "raw: $(cat "$tmp/raw.txt")"
grep -q 'samples/count cpu/nanoseconds' "$tmp/raw.txt" || { cat "$tmp/raw.txt"; fail "raw"; }
grep -q 'calls/count' "$tmp/raw.txt" && fail "an off-mode CPU profile has a calls column"
echo "ok: CPU stacks of a program without hooks"

if [ -n "$sanitizer" ]; then
  echo "skip: the heap profile (the sanitizer's allocator is not interposed)"
else
  go tool pprof -traces -sample_index=inuse_space "${url}heap" >"$tmp/heap.txt" 2>&1 ||
    fail "heap: $(cat "$tmp/heap.txt")"
  grep -qE '^ +976\.56kB +plain::.*LeakInner' "$tmp/heap.txt" || { cat "$tmp/heap.txt"; fail "no leak"; }
  has_chain "$tmp/heap.txt" LeakInner LeakOuter main ||
    { cat "$tmp/heap.txt"; fail "heap: the leak is not under LeakOuter <- main"; }
  echo "ok: the 1,000,000-byte leak under its callers"
fi

go tool pprof -traces -sample_index=delay "${url}mutex" >"$tmp/mutex.txt" 2>&1 ||
  fail "mutex: $(cat "$tmp/mutex.txt")"
has_chain "$tmp/mutex.txt" LockInner LockOuter Locker ||
  { cat "$tmp/mutex.txt"; fail "mutex: the wait is not under LockOuter <- Locker"; }
echo "ok: the contended lock under its callers"

go tool pprof -traces "${url}threadcreate" >"$tmp/tc.txt" 2>&1 || fail "threadcreate: $(cat "$tmp/tc.txt")"
has_chain "$tmp/tc.txt" StartThreads main || { cat "$tmp/tc.txt"; fail "threadcreate"; }
echo "ok: threadcreate names StartThreads <- main"

exec 3>&-
wait "$pid" || fail "the program exited with $?"
pid=
grep -q done "$tmp/out" || fail "the program did not finish"
# The clobbering thread: every sample there is shown cut (or stops at its own frame), none crashed.
python3 - "$tmp/cpu.txt" <<'PY'
import re, sys
blocks = open(sys.argv[1]).read().split("-----------+")
clobbered = [b for b in blocks if "ClobberFramePointer" in b]
assert clobbered, "no sample in ClobberFramePointer"
for b in clobbered:
    assert "[stack cut" in b or "Clobberer" in b, b
PY
grep 'clobber thread CPU' "$tmp/err"
echo "ok: a thread with garbage in %rbp was sampled and the program finished"
