#!/usr/bin/env bash
# Any build system, as README's "Any build system" says: hookprof installed with
# tools/install.sh, a CMake project (tests/cmake_project) built with the compiler flag alone and
# run with LD_PRELOAD=libhookprof.so: exact call counts in the whole-run profile, a live CPU
# profile over HTTP, the heap and mutex profiles; a program built with
# `pkg-config --cflags --libs hookprof` that calls hookprof::Use itself; GCC's exclusion loop on
# template code; a program built with clang's XRay alone, run with hookprof preloaded; the
# processes a preloaded program starts, which inherit the preload; a program with its own
# profile.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
export HOME="$tmp" PPROF_TMPDIR="$tmp"
source tests/lib.sh

tools/install.sh "$tmp/prefix" >/dev/null 2>&1 || tools/install.sh "$tmp/prefix"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
prints '-lhookprof' pkg-config --cflags --libs hookprof || fail "pkg-config hookprof"
cmake -S tests/cmake_project -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-finstrument-functions -fno-omit-frame-pointer" >"$tmp/cmake.log" 2>&1 ||
  { cat "$tmp/cmake.log"; fail "cmake configure"; }
cmake --build "$tmp/build" -j2 >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "cmake build"; }
preload=$tmp/prefix/lib/libhookprof.so
records=$tmp/build/records

# 1. The whole run, written at exit: exact counts.
HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/whole.pb.gz" LD_PRELOAD="$preload" "$records" >/dev/null
top=$(go tool pprof -top -sample_index=calls -nodecount=40 "$records" "$tmp/whole.pb.gz" 2>&1)
grep -qE '^ +10000 .* records::ParseField\(unsigned long\)$' <<<"$top" ||
  { echo "$top"; fail "ParseField is not at exactly 10000 calls"; }
grep -qE '^ +1000 .* records::ParseRecord\(int\)$' <<<"$top" || fail "ParseRecord calls"
echo "ok: whole-run profile of the preloaded CMake program has exact counts"

# 2. Live, over HTTP: CPU, heap (every allocation sampled) and mutex.
RECORDS_SECONDS=8 HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_CONTEXT_PATH=/rec HOOKPROF_HEAP_RATE=1 \
  LD_PRELOAD="$preload" "$records" >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  grep -q 'hookprof: serving' "$tmp/err" && grep -q ready "$tmp/out" && break
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
[ -n "$url" ] || { cat "$tmp/err"; fail "the preloaded program did not serve"; }
cpu=$(go tool pprof -top "${url}profile?seconds=2" 2>&1)
grep -q 'records::ParseRecord' <<<"$cpu" || { echo "$cpu"; fail "live CPU profile"; }
heap=$(go tool pprof -top -sample_index=inuse_space -unit=B "${url}heap" 2>&1)
grep -qE ' 100[0-9]{4}B +[0-9.]+% +records::KeepBuffers\(\)$' <<<"$heap" ||
  { echo "$heap"; fail "heap: KeepBuffers does not hold its 100 x 10000 B (and its vector)"; }
mutex=$(go tool pprof -top -sample_index=delay "${url}mutex" 2>&1)
grep -q 'records::WaitForLock' <<<"$mutex" || { echo "$mutex"; fail "mutex profile"; }
wait "$pid"
pid=
echo "ok: live CPU, heap and mutex profiles of the preloaded CMake program"

# 3. The API through pkg-config.
"$tmp/build/uses_api" || fail "uses_api"
echo "ok: a CMake program built with pkg-config hookprof calls hookprof::Use"

# 3b. Exact counts in a GoogleTest binary (hookprof/testing.h): the counts hold, and a count
# above its bound fails with the call path responsible.
HOOKPROF_ADDR=127.0.0.1:0 "$tmp/build/counts_test" >"$tmp/counts.txt" 2>&1 ||
  { cat "$tmp/counts.txt"; fail "counts_test"; }
if HOOKPROF_ADDR=127.0.0.1:0 "$tmp/build/counts_test" --gtest_also_run_disabled_tests \
  --gtest_filter='*PricesTooOften' >"$tmp/counts.txt" 2>&1; then
  cat "$tmp/counts.txt"
  fail "a count above its bound passed"
fi
prints 'Actual: 4 calls of shop::Price: 4 x via shop::Price <- shop::Total' cat "$tmp/counts.txt" ||
  { cat "$tmp/counts.txt"; fail "the failure does not name the call path"; }
grep -A3 "Expected: is <= 2" "$tmp/counts.txt"
echo "ok: a CMake GoogleTest binary asserts exact counts; a failure names the call path"

# 4. The exclusion loop on template code built by GCC: the whole run's list names the tiny
# members as GCC prints them (from the DWARF: default template arguments left out, as in
# "ns::Buf<ns::Enc<> >::Put" for ns::Buf<ns::Enc<char>, ns::Alloc>::Put), and GCC, given the
# list, builds them without hooks while the function that does the work keeps its own.
g++ -O1 -g -finstrument-functions tests/gcc_names/templates.cc -o "$tmp/templates"
HOOKPROF_SERVE=0 HOOKPROF_EXCLUSIONS_OUT="$tmp/list.gcc" LD_PRELOAD="$preload" "$tmp/templates" \
  >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "the template program"; }
flag=$(cat "$tmp/list.gcc")
grep -qx 'ns::Buf<ns::Enc<> >::Put' < <(tr ',=' '\n\n' <<<"$flag") || fail "GCC's name of Put: $flag"
g++ -O1 -g -finstrument-functions "$flag" -c tests/gcc_names/templates.cc -o "$tmp/templates.o"
hooked=$(objdump -dr --no-show-raw-insn "$tmp/templates.o" |
  awk '/^[0-9a-f]+ <.*>:$/ {fn = $2} /__cyg_profile_func_enter/ {print fn}' | sort -u | c++filt)
grep -q 'ns::Slow()' <<<"$hooked" || fail "ns::Slow lost its hooks: $flag"
if echo "$hooked" | grep -E 'Put|Parse|Step|operator\(\)|Count|capacity'; then
  echo "$flag"
  fail "GCC still hooks the tiny functions above"
fi
echo "ok: GCC, given the whole run's exclusion list, unhooks the tiny template members"

# 5. XRay, preloaded: a program built with clang's XRay and no flag of ours (sleds on every
# function) runs with hookprof preloaded; hookprof's trampolines, reached from compiler-rt's,
# leave every argument and result register as they found it (the program checks each result)
# and count every call, a tail call through %r11 included.
clang++ -O2 -g -fxray-instrument -fxray-instruction-threshold=1 -I. tests/calling_convention.cc \
  tests/calling_convention_main.cc -o "$tmp/calling_convention"
for mode in profile timing trace; do
  HOOKPROF_SERVE=0 HOOKPROF_MODE=$mode HOOKPROF_PROFILE_OUT="$tmp/xray.pb.gz" \
    LD_PRELOAD="$preload" "$tmp/calling_convention" 1000 >"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "XRay program under hookprof, $mode mode"; }
done
top=$(go tool pprof -top -sample_index=calls -nodecount=40 "$tmp/calling_convention" \
  "$tmp/xray.pb.gz" 2>&1)
for fn in 'Mix8(double' 'Third(long double)' 'Turn(calling_convention::Vec)' 'SumDoubles(int, ...)' \
  'Dispatch(long' 'Weigh(long'; do
  prints '^ +1000 ' grep -F "$fn" <<<"$top" || { echo "$top"; fail "calls of $fn"; }
done
echo "ok: an XRay program with hookprof preloaded: results intact, every call counted"

# 6. Processes a preloaded program starts inherit LD_PRELOAD and HOOKPROF_*: a shell, a sleep
# and the program itself exec'd again, all ending after it. They stay out of the way: one
# server, the parent's profile intact, nothing printed by them.
g++ -O1 -g -finstrument-functions -I. tests/processes.cc tests/processes_work.cc -o "$tmp/processes"
HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_PROFILE_OUT="$tmp/spawn.pb.gz" LD_PRELOAD="$preload" \
  "$tmp/processes" spawn >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "spawn, preloaded"; }
for _ in $(seq 100); do pgrep -f "work 7" >/dev/null || break; sleep 0.1; done
top=$(go tool pprof -top -sample_index=calls "$tmp/processes" "$tmp/spawn.pb.gz" 2>&1)
grep -qE '^ +1000 .* processes::Work\(int\)$' <<<"$top" || { echo "$top"; fail "the parent's profile was replaced"; }
[ "$(grep -c 'hookprof: serving' "$tmp/err" || true)" -eq 1 ] || { cat "$tmp/err"; fail "more than one process served"; }
if grep -q 'cannot listen' "$tmp/err"; then cat "$tmp/err"; fail "a child tried to serve"; fi
echo "ok: the shell, sleep and program a preloaded program starts leave its port and profile alone"
status=0
(ulimit -c 0; HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/segv.pb.gz" LD_PRELOAD="$preload" \
  exec "$tmp/processes" segv >"$tmp/out" 2>"$tmp/err") || status=$?
[ "$status" -eq 139 ] || { cat "$tmp/err"; fail "segv, preloaded: status $status, want 139"; }
top=$(go tool pprof -top -sample_index=calls "$tmp/processes" "$tmp/segv.pb.gz" 2>&1)
grep -qE '^ +1000 .* processes::Work\(int\)$' <<<"$top" || { echo "$top"; fail "no profile after the fault"; }
echo "ok: a preloaded program that faults has its whole-run profile written, and dies of SIGSEGV"

# 7. A program with its own profile.proto (pprof's file name and package, in protobuf's
# generated pool) starts under the preload, keeps its messages and is profiled.
mkdir -p "$tmp/gen/tests/own_proto"
protoc --proto_path=tests/own_proto --cpp_out="$tmp/gen/tests/own_proto" profile.proto
g++ -O1 -g -finstrument-functions -I. -c tests/own_proto/encode.cc -o "$tmp/encode.o"
g++ -O1 -g -I. -I"$tmp/gen" tests/own_proto/program.cc "$tmp/gen/tests/own_proto/profile.pb.cc" \
  "$tmp/encode.o" -lprotobuf -o "$tmp/own_proto"
HOOKPROF_SERVE=0 HOOKPROF_PROFILE_OUT="$tmp/own.pb.gz" LD_PRELOAD="$preload" "$tmp/own_proto" \
  >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "own profile.proto, preloaded"; }
grep -q 'package perftools.profiles, 2 messages; sum 499500' "$tmp/out" || fail "its own messages"
top=$(go tool pprof -top -sample_index=calls "$tmp/own_proto" "$tmp/own.pb.gz" 2>&1)
grep -qE '^ +1000 .* own::Encode\(int\)$' <<<"$top" || { echo "$top"; fail "Encode's calls, preloaded"; }
echo "ok: a program with its own profile.proto runs under the preload and is profiled"
