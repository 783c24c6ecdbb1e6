#!/usr/bin/env bash
# The README's "test" command (and what CI runs): installs what is missing, builds once, runs
# every test suite from that build:
#   - ctest in build/: unit, interop (real npm peers), reporter faults, fuzz (60 s, clang),
#     and the privileged suites (BPF, XDP, netns) which run as root here and skip with a printed
#     reason only where the capability is truly missing;
#   - the unit tests again from an ASan+UBSan build (build-asan/).
# Extra arguments go to the main ctest run (e.g. tools/test.sh -L unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
"$root/tools/build.sh"

status=0
(cd "$root/build" && ctest --output-on-failure --timeout 900 "$@") || status=$?

if [ $# -eq 0 ]; then
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) =="
  if [ ! -f "$root/build-asan/build.ninja" ]; then
    cmake -S "$root" -B "$root/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DJAGENT_SANITIZE=ON > /dev/null
  fi
  cmake --build "$root/build-asan" --target unit_tests -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$root/build-asan/tests/unit_tests" --gtest_brief=1 || status=$?
fi
exit $status
