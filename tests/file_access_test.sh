#!/usr/bin/env bash
# No endpoint reads files outside /proc/self: the running server is traced with strace while
# every endpoint is fetched, and every file it opens meanwhile must be under /proc/self (the
# symbolizer reads mapped binaries through /proc/self/map_files), or be the separate debug file
# of a mapped library, named by that library's build ID (/usr/lib/debug/.build-id/xx/y.debug).
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch files
start_server /ctx "$server_bin"
tracer=
trap 'kill $pid $tracer 2>/dev/null || true' EXIT
echo burst >&3
strace -f -qq -e trace=open,openat,openat2,execve -p "$pid" -o "$tmp/trace" 2>"$tmp/strace.err" &
tracer=$!
sleep 1  # strace attaches to every thread
if grep -q 'Operation not permitted' "$tmp/strace.err"; then
  echo "SKIP: this machine does not allow ptrace ($(head -1 "$tmp/strace.err"))"
  exit 0
fi
for p in "" "profile?seconds=1" "profile?seconds=1&format=legacy" heap "heap?debug=1" allocs \
         goroutine "goroutine?debug=2" threadcreate mutex "mutex?debug=1" block cmdline \
         "symbol?0x1000" "trace?seconds=1" "trace?seconds=1&format=json"; do
  curl -s -o /dev/null -A Go-http-client/1.1 "${base}${p}" || fail "fetch $p"
done
curl -s -o /dev/null -X POST --data-binary 0x1000 "${base%%/ctx/debug/pprof/}/symbolz"
kill $tracer
wait $tracer 2>/dev/null || true
opened=$(grep -oE '(open|openat|openat2|execve)\([^"]*"[^"]*"' "$tmp/trace" | sed 's/.*"\(.*\)"/\1/' | sort -u)
[ -n "$opened" ] || fail "strace saw no file opened at all (not attached?)"
printf "%s\n" "$opened" | sed -n "1,20s/^/opened: /p"  # (no head: a closed pipe fails the test)
# glibc's malloc reads the overcommit setting itself when it shrinks a thread's heap.
outside=$(echo "$opened" | grep -v '^/proc/self/' | grep -vx '/proc/sys/vm/overcommit_memory' |
  grep -vE '^/usr/lib/debug/\.build-id/[0-9a-f]{2}/[0-9a-f]+\.debug$' || true)
[ -z "$outside" ] || fail "files outside /proc/self were opened: $outside"
echo quit >&3
wait $pid
trap - EXIT
echo PASS
