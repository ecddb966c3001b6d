#!/usr/bin/env bash
# Installs what hookprof's build, demo and tests need from Debian's packages, when missing.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

packages=(
  bazel-bootstrap libabsl-dev libboost-dev libprotobuf-dev protobuf-compiler zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  golang-go google-perftools graphviz binutils curl python3 clang uftrace
  libasan8 libtsan2 libubsan1 libclang-rt-14-dev strace lcov
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
