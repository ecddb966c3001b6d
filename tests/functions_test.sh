#!/usr/bin/env bash
# <ctx>/debug/hookprof/functions read and driven with curl: the instrumented functions with their
# calls; under XRay and the compiler's hooks alike, HOOKPROF_UNHOOK switches a function off at
# start and POST unhook/hook/reset switch functions at run time (calls stop and resume, the
# others stay exact). Compiler hooks: the hook calls leave the code and come back (also in
# `off`), and with HOOKPROF_REMOVE_HOOKS=0 nothing switches and everything says why. Bad
# requests get a 4xx with a one-line reason.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch functions

start_server /app env 'HOOKPROF_UNHOOK=^workload::Leaf\(' 'HOOKPROF_HOOK=^workload::Outer\(' \
  "$server_bin"
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
backend=$(curl -sf "$functions" | sed -n 's/^backend: //p')
echo "backend: $backend"
prints 'UNHOOKED .*  workload::Leaf\(\)( |$)' curl -sf "$functions" ||
  fail "HOOKPROF_UNHOOK did not switch Leaf off: $(curl -sf "$functions")"
expect_calls 'workload::Leaf()' 0 "while unhooked at start"
expect_calls 'workload::Middle(int)' 100 "after one burst"
post 200 'hook=workload::Leaf' '^hooked 1 functions '
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
echo "ok: $backend: functions switched off at start and at run time, and on again"

mode=${base%/pprof/}/hookprof/mode
if [ "$backend" = "compiler hooks" ]; then
  # The hook calls themselves leave the code: Leaf's are out while it is switched off, and
  # `off` takes out every one it meets; recording puts them back and counts stay exact.
  post 200 'unhook=^workload::Leaf\(' '^unhooked 1 functions$'
  run burst
  curl -sf "$functions?format=json" | python3 -c '
import json, sys
rows = {r["name"]: r for r in json.load(sys.stdin)["functions"]}
leaf = rows["workload::Leaf()"]
assert leaf["sites_removed"] >= 1, leaf
assert leaf["sites_removed"] + leaf["sites_left_alone"] == leaf["sites"], leaf
assert rows["workload::Outer(int, int)"]["sites_removed"] == 0, rows["workload::Outer(int, int)"]
print("Leaf: %d of %d hook calls out of the code" % (leaf["sites_removed"], leaf["sites"]))' ||
    fail "Leaf's hook calls are still in the code"
  post 200 'reset=1' '^hooked 1 functions$'
  curl -sf -X POST "$mode?set=off" >/dev/null
  # Every site of the workload's functions is out, or left alone and counted (a tail-called
  # exit, a site whose two bytes straddle a cache line). A site goes when it runs and the site
  # lock is free: under clang hookprof's own code is hooked too, and the server's threads take
  # their own sites out at the same moment, so a short burst may pass before its sites go; the
  # next one takes them. The program-wide count is printed, not compared (a site hookprof's code
  # met in `profile` stays until that code runs in `off`).
  all_out() {
    curl -sf "$functions?format=json" | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
m = re.search(r"met (\d+), removed now (\d+)", d["hook_calls"])
print("off: %s hook calls met, %s out of the code; %s" % (m.group(1), m.group(2), d["hook_calls"]))
assert int(m.group(2)) > 0, d["hook_calls"]
for r in d["functions"]:
    if r["name"].startswith("workload::") and r["sites"] > 0:
        assert r["sites_removed"] + r["sites_left_alone"] == r["sites"], r'
  }
  for attempt in $(seq 20); do
    run burst
    if all_out >/dev/null 2>&1; then break; fi
  done
  all_out || fail "off left hook calls in after $attempt bursts"
  echo "off: the workload's hook calls out after $attempt bursts"
  curl -sf "$mode"
  curl -sf -X POST "$mode?set=profile" >/dev/null
  [ "$(curl -sf "$mode")" = "mode: profile" ] || fail "hook calls still out: $(curl -sf "$mode")"
  run burst
  expect_calls 'workload::Leaf()' 3000 "after off and back"
  expect_calls 'workload::Outer(int, int)' 6 "after off and back"
  echo "ok: hook calls taken out of the code and put back"
fi

# The exclusions endpoint's advice applied at once: over a window of many Tick calls, POST
# apply=1 switches the functions it lists off; Tick's calls then stop.
exclusions=${base%/pprof/}/hookprof/exclusions
curl -s -o "$tmp/apply" -w '%{http_code}' -X POST \
  "$exclusions?seconds=2&min_calls=1000&apply=1" >"$tmp/apply_code" &
curl_pid=$!
sleep 0.3
run 'slow 100 2000'
wait "$curl_pid"
[ "$(cat "$tmp/apply_code")" = 200 ] || fail "POST apply=1: $(cat "$tmp/apply_code") $(cat "$tmp/apply")"
head -1 "$tmp/apply"
prints '^switched off ([1-9][0-9]*) of the \1 functions below' cat "$tmp/apply" ||
  fail "apply=1 switched nothing off: $(cat "$tmp/apply")"
prints 'workload::Tick' cat "$tmp/apply" || fail "Tick not among the exclusions: $(cat "$tmp/apply")"
prints 'UNHOOKED .*  workload::Tick\(\)  \[by exclusions, ' curl -sf "$functions" || fail "Tick still hooked"
ticks=$(calls 'workload::Tick()')
run 'slow 10 100'
expect_calls 'workload::Tick()' "$ticks" "once switched off by the exclusions"
code=$(curl -s -o "$tmp/get" -w '%{http_code}' "$exclusions?seconds=1&apply=1")
[ "$code" = 405 ] || fail "GET apply=1 answered $code: $(cat "$tmp/get")"
post 200 'reset=1'
echo "ok: the exclusions endpoint's functions switched off without a rebuild"

# The cost budget: Tick's hooks are most of its time, far over 1 % of the CPU; the budget
# switches it off within a few checks (one a second), never the pinned Nap, says so in the list
# and in the profile's comments, and puts it back when the budget is lifted.
post 400 'budget=abc' 'must be an integer in \[0, 100\]'
post 400 'budget=101'
post 200 'hook=^workload::Nap\(' 'pinned'
post 200 'budget=1' '^budget: 1 % of the program'"'"'s CPU'
for attempt in $(seq 60); do
  run 'slow 100 2000'
  if prints 'UNHOOKED .*  workload::Tick\(\)  \[by budget, ' curl -sf "$functions"; then break; fi
done
curl -sf "$functions" | sed -n '/^budget:/p'
prints 'UNHOOKED .*  workload::Tick\(\)  \[by budget, 20[0-9-]*T' curl -sf "$functions" ||
  fail "the budget did not switch Tick off: $(curl -sf "$functions" | head -12)"
prints '^ +[0-9]+  pinned .*  workload::Nap\(int\)$' curl -sf "$functions" ||
  fail "Nap not pinned: $(curl -sf "$functions" | grep Nap)"
prints '^ +[0-9]+  pinned .*  workload::Outer\(int, int\)$' curl -sf "$functions" ||
  fail "HOOKPROF_HOOK did not pin Outer: $(curl -sf "$functions" | grep Outer)"
go tool pprof -comments "${base}profile?seconds=1" >"$tmp/comments" 2>&1 ||
  fail "pprof: $(cat "$tmp/comments")"
prints 'functions unhooked .*workload::Tick\(\) \(budget, ' cat "$tmp/comments" ||
  fail "the profile does not say Tick is unhooked: $(cat "$tmp/comments")"
curl -sf "$functions?format=json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
b = d["budget"]
assert b["percent"] == 1 and b["checks"] >= 1 and b["hook_ns"] > 0 and b["unhooked"] >= 1, b
print("budget JSON:", b)
tick = [r for r in d["functions"] if r["name"] == "workload::Tick()"][0]
assert d["hook_ns"] > 0 and tick["hook_ms"] > 0 and "own_ns_per_call" in tick, (d["hook_ns"], tick)
print("Tick:", tick)'
post 200 'budget=0' '^budget: none'
prints '^ +[0-9]+  hooked .*  workload::Tick\(\)$' curl -sf "$functions" ||
  fail "Tick not hooked again with the budget lifted"
post 200 'reset=1'
echo "ok: the budget switched the cheapest hot function off, kept the pinned one, and said so"

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

if [ "$backend" = "compiler hooks" ]; then
  # HOOKPROF_REMOVE_HOOKS=0: nothing can be switched, and everything says why.
  scratch functions_kept
  commands=0
  start_server /app env 'HOOKPROF_UNHOOK=^workload::Leaf\(' HOOKPROF_REMOVE_HOOKS=0 "$server_bin"
  functions=${base%/pprof/}/hookprof/functions
  prints 'HOOKPROF_UNHOOK not applied: HOOKPROF_REMOVE_HOOKS=0 keeps every hook call' \
    cat "$tmp/err" || fail "no warning for HOOKPROF_UNHOOK: $(cat "$tmp/err")"
  run burst
  expect_calls 'workload::Leaf()' 1000 "with the hooks kept"
  prints '^switchable: no: HOOKPROF_REMOVE_HOOKS=0' curl -sf "$functions" || fail "no reason listed"
  post 409 'unhook=workload::Leaf' 'HOOKPROF_REMOVE_HOOKS=0'
  prints '^hook calls: kept in place: HOOKPROF_REMOVE_HOOKS=0' \
    curl -sf "${base%/pprof/}/hookprof/mode" || fail "the mode does not say the calls stay"
  echo quit >&3
  wait "$pid" || fail "the server did not exit cleanly: $(cat "$tmp/err")"
  echo "ok: HOOKPROF_REMOVE_HOOKS=0 keeps the hook calls and says so"
fi
