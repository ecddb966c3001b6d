#!/usr/bin/env bash
# Formats hookprof's C++ sources with clang-format (.clang-format: Google, 100 columns).
#   tools/format.sh          rewrites every product file in place
#   tools/format.sh --check  changes nothing; lists the files that are not formatted, fails if any
# Every C++ file the repository tracks or would (the library, cli/, testing/, tools/ and
# tests/; generated code lives in bazel-bin, not here).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' | grep -v '^tests/fuzz/corpus/')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then
      echo "not formatted: $f (run tools/format.sh)"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] && echo "all ${#files[@]} C++ files formatted"
  exit "$bad"
fi
clang-format --style=file -i "${files[@]}"
