#!/usr/bin/env bash
# A program with its own profile.proto (pprof's file name and package, descriptors in protobuf's
# generated pool) starts with hookprof linked through //:autostart, keeps its own messages, and
# its whole-run profile is written and read by go tool pprof.
set -euo pipefail
program=$1
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/own_proto.XXXXXX")
export HOME="$tmp" PPROF_TMPDIR="$tmp" HOOKPROF_SERVE=0 HOOKPROF_TEST_DEFAULTS=0
fail() { echo "FAIL: $*"; exit 1; }

status=0
HOOKPROF_PROFILE_OUT="$tmp/own.pb.gz" "$program" >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || { cat "$tmp/out" "$tmp/err"; fail "the program exited $status"; }
grep -qx 'own profile.proto: package perftools.profiles, 2 messages; sum 499500' "$tmp/out" ||
  { cat "$tmp/out"; fail "the program's own profile.proto is not the one in its pool"; }
top=$(go tool pprof -top -sample_index=calls -nodefraction=0 "$program" "$tmp/own.pb.gz" 2>&1)
grep -qE '^ +1000 .* own::Encode\(int\)$' <<<"$top" || { echo "$top"; fail "Encode's calls"; }
echo "ok: a program with its own profile.proto runs and is profiled"
