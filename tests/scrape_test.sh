#!/usr/bin/env bash
# Scrapes every endpoint the way Parca and Grafana Pyroscope/Alloy do (their scrape configs' defaults,
# as docs/integrations.md lists them):
# plain GETs of the named profiles and /debug/pprof/profile?seconds=<interval - 1>, under the
# context path as a path prefix, and checks their rules: status 200, a Content-Type that starts
# with application/octet-stream, a gzip-compressed profile.proto body (never HTML or JSON with
# 200), and a non-2xx status for what is not served.
set -euo pipefail
server_bin=$1
source "$(dirname "$0")/lib.sh"
scratch scrape
start_server /fleet/app "$server_bin"

scrape() {  # path, expected to be a profile
  local url="${base}$1" code type
  # Both scrapers are Go programs: Go's HTTP client and its User-Agent.
  code=$(curl -s -A Go-http-client/1.1 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
    --max-time 20 "$url")
  type=$(grep -i '^Content-Type:' "$tmp/headers" | tr -d '\r' | cut -d' ' -f2-)
  [ "$code" = 200 ] || fail "$1: status $code"
  case "$type" in application/octet-stream*) ;; *) fail "$1: Content-Type $type" ;; esac
  [ "$(head -c2 "$tmp/body" | od -An -tx1 | tr -d ' ')" = 1f8b ] || fail "$1: body is not gzip"
  gzip -dc "$tmp/body" >"$tmp/raw" || fail "$1: body does not gunzip"
  go tool pprof -raw "$tmp/body" >/dev/null 2>&1 || fail "$1: pprof cannot parse it"
  echo "ok: $1 ($(stat -c %s "$tmp/body") bytes)"
}
export HOME=$tmp PPROF_TMPDIR=$tmp
# Pyroscope's default CPU scrape: seconds = interval (15 s) - 1; Parca's: the interval (10 s).
# Shorter here to keep the test short; the rules are the same.
scrape "profile?seconds=2"
scrape "goroutine"
scrape "heap"
scrape "allocs"
scrape "threadcreate"
scrape "mutex"
scrape "block"
scrape "mutex?seconds=1"
scrape "block?seconds=1"
# What is not served must never come back as a 200 (scrapers would store garbage).
for missing in nosuchprofile; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${base}${missing}")
  [ "$code" = 404 ] || fail "$missing: status $code, want 404"
done
echo quit >&3
wait $pid
trap - EXIT
echo PASS
