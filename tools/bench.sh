#!/usr/bin/env bash
# The README's benchmark command (issue #7): installs what is missing (incl. gnuplot for the
# chart and perf for profiles), builds the agent, jaeger-loadgen and jaeger-collector-sink into
# build-bench/ (RelWithDebInfo, so perf can name symbols), then runs tools/bench/run_bench.py,
# which writes docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks.json.
# Extra arguments go to run_bench.py, e.g.
#   tools/bench.sh --quick                 # 3 load steps per case, 3 s each
#   tools/bench.sh --paths loopback --sizes 64k --configs tuned
# Needs root for the veth/netns case (skipped with a printed reason otherwise). Run it on a
# quiet machine: the generator, the agent and the sink share its CPUs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
"$root/tools/setup.sh" --runtime-only >&2
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$build" --target jaeger-xdp-agent jaeger-loadgen jaeger-collector-sink -j"$(nproc)" >&2
exec python3 "$root/tools/bench/run_bench.py" --build-dir "$build" --out-dir "$root/docs" "$@"
