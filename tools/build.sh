#!/usr/bin/env bash
# Configures and builds the project into build/ (Release, i.e. -O3, plus -g so perf can name
# symbols: the build type a packager uses is the one CI builds and tests). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g "$@"
fi
cmake --build "$build" -j"$(nproc)"
