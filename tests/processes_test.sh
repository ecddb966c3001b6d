#!/usr/bin/env bash
# The profiled program comes first, when it forks, execs and is signalled (tests/processes.cc,
# hookprof linked through //:autostart):
#   1. SIGTERM to a forked child ends the child, not the parent (which writes its profile);
#   2. programs it starts that load hookprof too (itself, exec'd again) neither serve, nor
#      write over its files, nor print; with HOOKPROF_CHILDREN=1 and %p, each writes its own;
#   3. a misspelt HOOKPROF_ variable is named, with the closest known one, once;
#   4. a child forked during a trace window is not left in trace mode;
#   5. quick_exit writes the whole-run profile as exit does;
#   6. so do abort() and a fault, which still end the process by their signal;
#   7. thread churn: memory follows the threads alive, not the threads ever started, and every
#      call and thread creation is still counted;
#   8. a signal handler's calls are all recorded or counted as lost, in timing mode;
#   9. a thread that blocks SIGPROF is named in the CPU profile (it gets no samples);
#  10. a signal sent to the process waits for a program thread: hookprof's threads block it.
set -euo pipefail
program=$1
source "$(dirname "$0")/lib.sh"
scratch processes
export HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_TEST_DEFAULTS=0
unset HOOKPROF_ROOT_PID

# calls_of <profile> <function>: its exact calls, from go tool pprof.
calls_of() {
  local top
  top=$(go tool pprof -top -sample_index=calls -nodecount=1000 -nodefraction=0 "$1" 2>&1)
  sed -n "s/^ *\([0-9]*\) .* $2\$/\1/p" <<<"$top" | head -1
}

# waits until no process has `work 7` in its command line: the shell `spawn` starts, its
# background subshell, and the program it execs, which outlive the parent
wait_children() {
  for _ in $(seq 100); do
    pgrep -f "work 7" >/dev/null || return 0
    sleep 0.1
  done
  fail "the children did not end"
}

# 1. fork + SIGTERM.
status=0
HOOKPROF_PROFILE_OUT="$tmp/term.pb.gz" timeout 30 "$program" fork-term >"$tmp/out" 2>"$tmp/err" ||
  status=$?
[ "$status" -eq 0 ] || { cat "$tmp/out" "$tmp/err"; fail "the parent exited $status (143: the child's SIGTERM ended it)"; }
grep -qx 'child signaled 15' "$tmp/out" || { cat "$tmp/out"; fail "the child did not die of its SIGTERM"; }
grep -qx 'parent alive' "$tmp/out" || fail "the parent did not run on"
[ "$(calls_of "$tmp/term.pb.gz" 'processes::Work(int)')" = 1000 ] || fail "the parent's profile"
echo "ok: SIGTERM to a forked child ends the child; the parent runs on and writes its profile"

# 2. exec'd children: they outlive the parent, and by default leave its files and port alone.
HOOKPROF_PROFILE_OUT="$tmp/spawn.pb.gz" HOOKPROF_PORT=8911 "$program" spawn >"$tmp/out" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "spawn"; }
wait_children
[ "$(calls_of "$tmp/spawn.pb.gz" 'processes::Work(int)')" = 1000 ] ||
  fail "the parent's whole-run profile was replaced: $(calls_of "$tmp/spawn.pb.gz" 'processes::Work(int)') calls of Work"
serving=$(grep -c 'hookprof: serving' "$tmp/err" || true)
[ "$serving" -eq 1 ] || { cat "$tmp/err"; fail "$serving processes served, want the parent alone"; }
# 3. The misspelt variable, named once (by the parent; the children are quiet).
warned=$(grep -c 'HOOKPROF_PORT is not a hookprof variable (did you mean HOOKPROF_[A-Z_]*?)' "$tmp/err" || true)
[ "$warned" -eq 1 ] || { cat "$tmp/err"; fail "HOOKPROF_PORT named $warned times, want once"; }
echo "ok: an exec'd child neither serves nor overwrites the parent's profile; HOOKPROF_PORT is named once"

HOOKPROF_CHILDREN=1 HOOKPROF_PROFILE_OUT="$tmp/each.%p.pb.gz" "$program" spawn >"$tmp/out" 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "spawn with HOOKPROF_CHILDREN=1"; }
wait_children
counts=$(for f in "$tmp"/each.*.pb.gz; do calls_of "$f" 'processes::Work(int)'; done | sort -n | tr '\n' ' ')
[ "$counts" = "7 1000 " ] || { ls "$tmp"; fail "with %p and HOOKPROF_CHILDREN=1, Work's calls per file: $counts (want 7 1000)"; }
echo "ok: with HOOKPROF_CHILDREN=1 and %p each process writes its own profile"

# 5. quick_exit skips atexit handlers: the whole-run profile is written all the same.
HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/quick.pb.gz" "$program" quick-exit 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "quick-exit"; }
[ -f "$tmp/quick.pb.gz" ] || { cat "$tmp/err"; fail "no profile after quick_exit"; }
[ "$(calls_of "$tmp/quick.pb.gz" 'processes::Work(int)')" = 1000 ] || fail "the profile after quick_exit"
echo "ok: the whole-run profile is written at quick_exit"

# 6. abort() and a fault (SIGSEGV): the whole-run profile is written, then the process ends by
# the signal, as it would have (134, 139). Where a sanitizer handles the signal, it keeps it.
ulimit -c 0
for crash in abort:134 segv:139; do
  what=${crash%:*}
  status=0
  HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/$what.pb.gz" timeout 60 "$program" "$what" \
    >"$tmp/out" 2>"$tmp/err" || status=$?
  if grep -qx "$what handler: another" "$tmp/out"; then
    [ "$status" -ne 0 ] || fail "$what: the process did not end"
    echo "skip: $what has a sanitizer's handler, which hookprof leaves alone (status $status)"
    continue
  fi
  grep -qx "$what handler: one-shot" "$tmp/out" || { cat "$tmp/out"; fail "hookprof left $what unhandled"; }
  [ "$status" -eq "${crash#*:}" ] || { cat "$tmp/out" "$tmp/err"; fail "$what: status $status, want ${crash#*:}"; }
  [ "$(calls_of "$tmp/$what.pb.gz" 'processes::Work(int)')" = 1000 ] ||
    { cat "$tmp/err"; fail "no whole-run profile after $what"; }
  echo "ok: the whole-run profile is written at $what, and it still ends the process"
done

# 7. 5,000 threads, one after another (each state was ~32 KiB resident, 160 MiB in all).
start_server /ctx env HOOKPROF_PROFILE_OUT="$tmp/churn.pb.gz" "$program" churn 5000
for _ in $(seq 600); do grep -q 'resident set grew' "$tmp/out" && break; sleep 0.1; done
grew=$(sed -n 's/^5000 threads: resident set grew by \([0-9-]*\) KiB.*$/\1/p' "$tmp/out")
[ -n "$grew" ] || { cat "$tmp/out" "$tmp/err"; fail "churn did not finish"; }
want=24  # MiB; a sanitizer keeps memory of its own for each thread (ASan: 38 MiB more).
if grep -q 'sanitizer' "$tmp/out"; then want=80; fi
[ "$grew" -lt $((want * 1024)) ] || fail "5,000 threads grew the resident set by $grew KiB (want < $want MiB)"
created=$(curl -sf "${base}threadcreate?debug=1" | head -1)
[ "$created" = "threadcreate profile: total 5001" ] || fail "threadcreate says '$created', want 5001"
exec 3>&-
wait "$pid" || { cat "$tmp/err"; fail "churn"; }
trap - EXIT
[ "$(calls_of "$tmp/churn.pb.gz" 'processes::Work(int)')" = 50010 ] || fail "calls of Work after churn"
echo "ok: 5,000 threads one after another grew memory by $grew KiB; every call and creation counted"
rm -f "$tmp/in"

# 8. SIGALRM at 2 kHz, its handler calling Work, in timing mode: every call is in the profile
# or in its count of calls made by handlers inside a hook.
HOOKPROF_SERVE=0 HOOKPROF_MODE=timing HOOKPROF_PROFILE_OUT="$tmp/alarm.pb.gz" "$program" alarm \
  >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "alarm"; }
handler=$(sed -n 's/^alarm: main 2000000, handler \([0-9]*\), .*$/\1/p' "$tmp/out")
[ "${handler:-0}" -gt 0 ] || { cat "$tmp/out"; fail "the alarm never rang"; }
recorded=$(calls_of "$tmp/alarm.pb.gz" 'processes::Work(int)')
lost=$(go tool pprof -raw "$tmp/alarm.pb.gz" 2>&1 |
  sed -n 's/^Comment: hookprof: \([0-9]*\) calls made by signal handlers.*/\1/p')
accounted=$((recorded + ${lost:-0}))
# Exact with every backend (GCC's and clang's hooks, XRay). The gap seen before in clang builds
# (6 of 48) was handlers run on hookprof's own threads: they block the program's signals now.
[ "$accounted" -eq $((2000000 + handler)) ] ||
  fail "Work: $recorded recorded + ${lost:-0} counted lost != 2000000 + $handler from the handler"
echo "ok: $handler handler calls: $((recorded - 2000000)) recorded, ${lost:-0} counted as made inside a hook"

# 10. SIGUSR1 to the process while the main thread blocks it: with the server, the exit files'
# watcher running, it stays pending until the main thread takes it.
HOOKPROF_PROFILE_OUT="$tmp/own.pb.gz" "$program" own-threads >"$tmp/out" \
  2>"$tmp/err" || { cat "$tmp/err"; fail "own-threads"; }
grep -qx "SIGUSR1 ran on the main thread" "$tmp/out" || { cat "$tmp/out"; fail "$(cat "$tmp/out")"; }
echo "ok: a signal to the process is left to the program's threads"

# 9. A thread that blocks SIGPROF.
HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/blocked.pb.gz" "$program" blocked 2>"$tmp/err" ||
  { cat "$tmp/err"; fail "blocked"; }
go tool pprof -raw "$tmp/blocked.pb.gz" 2>&1 |
  grep -q '1 threads block SIGPROF, so their CPU time is not sampled (calls are still counted): blocker (' ||
  fail "the thread that blocks SIGPROF is not named in the profile"
[ "$(calls_of "$tmp/blocked.pb.gz" 'processes::Work(int)')" = 1000 ] || fail "the blocker's calls"
echo "ok: a thread that blocks SIGPROF is named in the CPU profile; its calls are counted"

# 4. fork during a trace window.
start_server /ctx "$program" fork-in-trace /ctx
curl -sf -o "$tmp/trace.pb" "${base}trace?seconds=2"
wait "$pid" || { cat "$tmp/out" "$tmp/err"; fail "fork-in-trace"; }
grep -qx 'parent mode: trace' "$tmp/out" || { cat "$tmp/out"; fail "the window did not switch the parent to trace"; }
grep -qx 'child mode: profile' "$tmp/out" || { cat "$tmp/out"; fail "the child forked during the window stayed timed"; }
echo "ok: a child forked during a trace window records in the mode from before the window"
trap - EXIT
echo "PASS"
