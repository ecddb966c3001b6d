#!/usr/bin/env bash
# <ctx>/debug/hookprof/functions read and driven with curl: the instrumented functions with their
# calls; under XRay, HOOKPROF_UNHOOK switches a function off at start and POST unhook/hook/reset
# switch functions at run time (calls stop and resume, the others stay exact); with the
# compiler's hooks the list says why nothing can be switched and a POST gets 409 with the reason
# (and HOOKPROF_UNHOOK a warning). Bad requests get a 4xx with a one-line reason.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch functions

start_server /app env 'HOOKPROF_UNHOOK=^workload::Leaf\(' "$server_bin"
functions=${base%/pprof/}/hookprof/functions

# calls <function>: its whole-run calls from the JSON list.
calls() {
  curl -sf "$functions?format=json" | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin)["functions"] if r["name"] == sys.argv[1]]
print(rows[0]["calls"] if rows else 0)' "$1"
}
# expect_calls <function> <n> <when>: its whole-run calls are n.
expect_calls() {
  local got
  got=$(calls "$1")
  [ "$got" = "$2" ] || fail "$1 has $got calls $3, not $2"
}
# post <expected status> <query> [<body regex>]: POSTs, the body in $tmp/post.
post() {
  local code
  code=$(curl -s -o "$tmp/post" -w '%{http_code}' -X POST "$functions?$2")
  [ "$code" = "$1" ] || fail "POST ?$2 answered $code, not $1: $(cat "$tmp/post")"
  [ -z "${3:-}" ] || prints "$3" cat "$tmp/post" || fail "POST ?$2: $(cat "$tmp/post")"
  echo "POST ?$2: $code $(cat "$tmp/post")"
}

run burst  # Outer 1, Middle 100, Leaf 1000 calls.
if prints '^backend: xray$' curl -sf "$functions"; then
  prints 'UNHOOKED +workload::Leaf\(\)$' curl -sf "$functions" ||
    fail "HOOKPROF_UNHOOK did not switch Leaf off: $(curl -sf "$functions")"
  expect_calls 'workload::Leaf()' 0 "while unhooked at start"
  expect_calls 'workload::Middle(int)' 100 "after one burst"
  post 200 'hook=workload::Leaf' '^hooked 1 functions$'
  run burst
  expect_calls 'workload::Leaf()' 1000 "after hook="
  post 200 'unhook=^workload::(Leaf|Middle)\(' '^unhooked 2 functions$'
  run burst
  expect_calls 'workload::Leaf()' 1000 "while unhooked"
  expect_calls 'workload::Middle(int)' 200 "while unhooked"
  expect_calls 'workload::Outer(int, int)' 3 "after three bursts"
  post 200 'reset=1' '^hooked 2 functions$'
  run burst
  expect_calls 'workload::Leaf()' 2000 "after reset=1"
  echo "ok: XRay functions switched off at start and at run time, and on again"
else
  sed -n 1,3p <<<"$(curl -sf "$functions")"
  prints '^switchable: no: ' curl -sf "$functions" || fail "the list does not say why"
  prints 'HOOKPROF_UNHOOK not applied' cat "$tmp/err" || fail "no warning for HOOKPROF_UNHOOK"
  expect_calls 'workload::Leaf()' 1000 "after one burst"
  post 409 'unhook=workload::Leaf'
  echo "ok: compiler hooks listed with their calls; switching refused with the reason"
fi

post 400 'unhook=('
post 400 'hook=a&unhook=b'
post 400 'reset=2'
post 400 ''
for bad in "format=xml:400" "unhook=x:405" "color=red:400"; do
  code=$(curl -s -o "$tmp/bad" -w '%{http_code}' "$functions?${bad%:*}")
  [ "$code" = "${bad#*:}" ] || fail "GET ?${bad%:*} answered $code: $(cat "$tmp/bad")"
  echo "GET ?${bad%:*}: $code $(cat "$tmp/bad")"
done
echo "ok: bad requests answered with their reason"
echo quit >&3
wait "$pid" || fail "the server did not exit cleanly: $(cat "$tmp/err")"
