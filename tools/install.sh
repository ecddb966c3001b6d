#!/usr/bin/env bash
# Installs hookprof for builds Bazel does not run (CMake, Make, autotools):
#   PREFIX/lib/libhookprof.so           the preloadable library (//:libhookprof_preload.so)
#   PREFIX/include/hookprof.h           the public header (and hookprof_options.inc)
#   PREFIX/include/hookprof/testing.h   exact counts as GoogleTest assertions (and recorder.h)
#   PREFIX/bin/hookprof                 the command line (`hookprof diff BASE NEW`)
#   PREFIX/lib/pkgconfig/hookprof.pc    so `pkg-config --cflags --libs hookprof` works
# Usage: tools/install.sh PREFIX   (then see README, "Any build system")
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: tools/install.sh PREFIX" >&2; exit 2; }
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
bazel build -c opt //:libhookprof_preload.so //cli:hookprof
bin=$(bazel info -c opt bazel-bin)
install -D -m 0755 "$bin/libhookprof_preload.so" "$prefix/lib/libhookprof.so"
install -D -m 0755 "$bin/cli/hookprof" "$prefix/bin/hookprof"
install -D -m 0644 hookprof.h "$prefix/include/hookprof.h"
install -D -m 0644 testing/recorder.h "$prefix/include/hookprof/recorder.h"
install -D -m 0644 testing/testing.h "$prefix/include/hookprof/testing.h"
install -D -m 0644 hookprof_options.inc "$prefix/include/hookprof_options.inc"
mkdir -p "$prefix/lib/pkgconfig"
cat >"$prefix/lib/pkgconfig/hookprof.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: hookprof
Description: pprof profiles, traces and coverage from compiler instrumentation
Version: 0.1
Cflags: -I\${includedir} -std=c++17
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lhookprof
PC
echo "installed hookprof in $prefix: LD_PRELOAD=$prefix/lib/libhookprof.so, or pkg-config hookprof"
