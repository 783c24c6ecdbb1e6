#!/usr/bin/env bash
# The README's "test" command (and what CI runs): installs what is missing, builds once, runs
# every test suite from that build:
#   - the unit tests from an ASan+UBSan build (build-asan/);
#   - ctest in build/, two tests at a time (most wait on peers and timers; tests that build or need
#     the machine alone are RUN_SERIAL, the fuzzers share a lock): unit, lint, interop (real npm,
#     gRPC and OTLP peers), reporter faults, hostile, fuzz (clang, 150 s in all), deploy/ops, the
#     image built and run with podman (label image), and the privileged suites (BPF, XDP, netns)
#     which run as root here and skip with a printed reason only where the capability is truly
#     missing. Its summary is the last line.
# Extra arguments go to ctest and skip the sanitizer pass (e.g. tools/test.sh -L unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
"$root/tools/build.sh"

status=0
if [ $# -eq 0 ]; then
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) =="
  if [ ! -f "$root/build-asan/build.ninja" ]; then
    cmake -S "$root" -B "$root/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJAGENT_SANITIZE=ON > /dev/null
  fi
  cmake --build "$root/build-asan" --target unit_tests -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$root/build-asan/tests/unit_tests" --gtest_brief=1 || status=$?
fi

echo "== all suites (ctest in build/) =="
(cd "$root/build" && ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@") || status=$?
exit $status
