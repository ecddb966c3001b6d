#!/usr/bin/env bash
# HOOKPROF_EXCLUSIONS_OUT: the whole run's exclusion list, written at exit, lists the tiny
# function called tens of thousands of times and not the one that sleeps, as GCC's flag (.gcc),
# and GCC, given the flag, leaves exactly that function without hooks.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch exclusions
start_server /ctx env HOOKPROF_EXCLUSIONS_OUT="$tmp/list.gcc" "$server_bin"
run_wait_s=60  # ThreadSanitizer.
run "slow 2 5000"  # 4 threads x 2 x 5,000 calls of workload::Tick, 4 x 2 calls of workload::Nap.
echo quit >&3
wait $pid || fail "server exited with an error: $(cat "$tmp/err")"
trap - EXIT
grep -q "wrote the whole run's exclusion list to $tmp/list.gcc" "$tmp/err" || fail "not written: $(cat "$tmp/err")"
flag=$(cat "$tmp/list.gcc")
echo "$flag"
case "$flag" in
  -finstrument-functions-exclude-function-list=*) ;;
  *) fail "not GCC's flag: $flag" ;;
esac
grep -qx 'workload::Tick' < <(tr '=,' '\n\n' <<<"$flag") || fail "workload::Tick not listed"
grep -q 'workload::Nap' <<<"$flag" && fail "workload::Nap (8 calls of 2 ms) listed"

# The flag does what it says to GCC: the listed function gets no hooks, the others keep theirs.
cat >"$tmp/t.cc" <<'CC'
namespace workload {
__attribute__((noinline)) void Tick() { asm volatile(""); }
__attribute__((noinline)) void Nap() { asm volatile(""); }
}  // namespace workload
int main() { workload::Tick(); workload::Nap(); }
CC
g++ -O1 -finstrument-functions "$flag" -c "$tmp/t.cc" -o "$tmp/t.o"
hooked() { objdump -dr --no-show-raw-insn "$tmp/t.o" | awk -v f="<$1>:" '$2 == f {on=1; next} /^$/ {on=0} on && /__cyg_profile_func_enter/ {print "yes"; exit}'; }
[ -z "$(hooked _ZN8workload4TickEv)" ] || fail "GCC still hooks workload::Tick"
[ "$(hooked _ZN8workload3NapEv)" = yes ] || fail "GCC no longer hooks workload::Nap"
echo "PASS"
