#!/usr/bin/env bash
# Installs what hookprof's build, demo and tests need, when missing: Debian's packages, and the
# charts page's npm packages (tools/charts).
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

packages=(
  bazel-bootstrap libabsl-dev libboost-dev libprotobuf-dev protobuf-compiler zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libre2-dev libdw-dev
  golang-go google-perftools graphviz binutils curl python3 clang uftrace
  libasan8 libtsan2 libubsan1 libclang-rt-14-dev strace lcov chromium clang-format cmake pkg-config
  rapidjson-dev prometheus
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The charts page embeds uPlot, and its browser test drives Chromium with playwright-core: both
# from npm, at the versions tools/charts/package-lock.json pins (npm ci: the lockfile exactly).
charts="$(cd "$(dirname "$0")" && pwd)/charts"
stamp=$charts/node_modules/.hookprof-lock
if ! cmp -s "$charts/package-lock.json" "$stamp" 2>/dev/null; then
  command -v npm >/dev/null || { echo "setup: npm (Node.js 20) is missing" >&2; exit 1; }
  echo "setup: npm ci in $charts"
  (cd "$charts" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$charts/package-lock.json" "$stamp"
fi
