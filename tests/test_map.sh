#!/usr/bin/env bash
# docs/testing.md's map of where a folder's tests are: a row for every product package (a BUILD
# file outside tests/, tools/, docs/ and bazel/), each naming tests that are targets in tests/.
# Run from the source tree (tools/test.sh), since it reads the tree itself, not a build's inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The map's rows: "folder test test ...", from "| `folder` (...) | `test`, `test` |".
rows=$(sed -n '/^| folder | tests |$/,/^$/p' docs/testing.md | sed -n 's/^| `\([^`]*\)`[^|]*| \(.*\) |$/\1 \2/p' |
  tr -d '`,')
[ -n "$rows" ] || { echo "FAIL: docs/testing.md has no '| folder | tests |' table"; exit 1; }
targets=$(bazel query '//tests/...' 2>/dev/null | sed 's/.*://')
bad=0

while read -r folder tests; do
  [ -f "$folder/BUILD" ] || { echo "FAIL: docs/testing.md has a row for $folder, no package"; bad=1; }
  [ -n "$tests" ] || { echo "FAIL: $folder's row names no test"; bad=1; }
  for t in $tests; do
    grep -qx -- "$t" <<<"$targets" ||
      { echo "FAIL: docs/testing.md names $t for $folder, which is no target in tests/"; bad=1; }
  done
done <<<"$rows"

packages=0
for build in $(find . -name BUILD -not -path './bazel-*' -not -path './tests/*' -not -path './tools/*' \
  -not -path './docs/*' -not -path './bazel/*' -not -path './node_modules/*' | sort); do
  folder=$(dirname "${build#./}")
  packages=$((packages + 1))
  awk -v f="$folder" '$1 == f { found = 1 } END { exit !found }' <<<"$rows" ||
    { echo "FAIL: docs/testing.md has no row for $folder"; bad=1; }
done
[ "$bad" -eq 0 ] && echo "ok: docs/testing.md maps all $packages product packages to their tests"
exit "$bad"
