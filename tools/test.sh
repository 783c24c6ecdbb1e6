#!/usr/bin/env bash
# The README's "test" command (and what CI runs): installs what is missing, builds once, runs
# every test suite from that build. Privileged suites (BPF, XDP, netns) run when root; they skip
# with a printed reason only where the capability is truly missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh"
"$root/tools/build.sh"
cd "$root/build"
ctest --output-on-failure --timeout 900 "$@"
