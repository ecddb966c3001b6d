# Shared by the shell tests (source it): a scratch directory, fail, and a hookprof program
# started on a free port under a context path.

fail() { echo "FAIL: $*"; exit 1; }

# Whether the command (arguments 2...) prints a line matching the extended regex $1. Not
# `command | grep -q`: grep -q stops at the first match, the command then dies of SIGPIPE if it
# was still writing, and pipefail turns a match into a failure (a control object with 55 sled
# sections "had no sleds" now and then).
prints() {
  local out
  out=$("${@:2}")
  grep -qE -- "$1" <<<"$out"
}

# scratch <name>: a fresh directory in the test's temporary space, as $tmp.
scratch() {
  tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/$1.XXXXXX")
}

# start_server <context path> <command...>: runs the command with HOOKPROF_ADDR on a free port,
# stdin from the fifo $tmp/in (written through fd 3), stdout $tmp/out, stderr $tmp/err; kills it
# when the test exits. Sets $pid and $base (the URL of <ctx>/debug/pprof/). Extra environment:
# start_server /ctx env HOOKPROF_X=1 binary.
start_server() {
  local ctx=$1
  shift
  mkfifo "$tmp/in"
  HOOKPROF_ADDR=127.0.0.1:0 HOOKPROF_CONTEXT_PATH=$ctx "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  exec 3>"$tmp/in"
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q 'hookprof: serving' "$tmp/err" && break; sleep 0.1; done
  base=$(grep -o 'http://[^ ]*/debug/pprof/' "$tmp/err" | head -1)
  [ -n "$base" ] || fail "server did not start: $(cat "$tmp/err")"
}

# run <command>: sends a command line to the server start_server started (through fd 3) and
# waits for its "done" (up to ${run_wait_s:-15} seconds).
commands=0
run() {
  echo "$1" >&3
  commands=$((commands + 1))
  for _ in $(seq $((${run_wait_s:-15} * 20))); do
    [ "$(grep -c '^done$' "$tmp/out" || true)" -ge "$commands" ] && return 0
    sleep 0.05
  done
  fail "command '$1' did not finish"
}
