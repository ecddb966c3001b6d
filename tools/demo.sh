#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build the instrumented demo, run it
# serving its profiles on 127.0.0.1:8900 under /demo until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build --config=instrumented //tools/demo:demo
exec bazel-bin/tools/demo/demo "$@"
