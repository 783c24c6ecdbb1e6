#!/usr/bin/env bash
# The README's benchmark command: installs what is missing (incl. gnuplot for the chart and perf
# for profiles), builds the agent, jaeger-loadgen and jaeger-collector-sink into build-bench/
# (RelWithDebInfo, so perf can name symbols), then
#   1. tools/bench/run_bench.py: the load sweep (loopback, veth, veth + AF_XDP; 64 KB and ~1 KB;
#      paced steps and a flood) → docs/benchmarks.md, .png, .json;
#   2. tools/bench/ab.py: before/after in one run — the same steps against the agent built from
#      BENCH_BASELINE (default: the last commit before the data plane v2 redesign) in
#      build-bench-base/, interleaved → the "Before / after" section of docs/benchmarks.md;
#   3. tools/bench/transports.py: TChannel, gRPC (api_v2) and OTLP (gRPC, HTTP) side by side at the
#      same load, interleaved → the "Transports side by side" section and benchmarks-transports.png.
# Extra arguments go to run_bench.py, e.g.
#   tools/bench.sh --quick                 # 3 load steps per case, 3 s each (ab.py: --quick too)
#   tools/bench.sh --paths loopback --sizes 64k --configs tuned
# BENCH_AB=0 skips the before/after part, BENCH_TRANSPORTS=0 the transports part. Needs root for the veth/netns case (skipped with a
# printed reason otherwise). Run it on a quiet machine: generator, agent and sink share its CPUs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
baseline=${BENCH_BASELINE:-13f4f79}
"$root/tools/setup.sh" --runtime-only >&2
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
fi
cmake --build "$build" --target jaeger-xdp-agent jaeger-loadgen jaeger-collector-sink jaeger-modern-sink -j"$(nproc)" >&2

before=""
if [ "${BENCH_AB:-1}" != 0 ]; then
  base="$root/build-bench-base"
  if [ ! -x "$base/build/jaeger-xdp-agent" ] || [ "$(cat "$base/rev" 2>/dev/null)" != "$baseline" ]; then
    rm -rf "$base" && mkdir -p "$base"
    git -C "$root" archive "$baseline" | tar -x -C "$base" --one-top-level=src
    cmake -S "$base/src" -B "$base/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJAGENT_BUILD_TESTS=OFF >&2
    cmake --build "$base/build" --target jaeger-xdp-agent -j"$(nproc)" >&2
    echo "$baseline" > "$base/rev"
  fi
  before="$base/build/jaeger-xdp-agent"
fi

python3 "$root/tools/bench/run_bench.py" --build-dir "$build" --out-dir "$root/docs" "$@"
if [ -n "$before" ]; then
  quick=""
  for a in "$@"; do [ "$a" = "--quick" ] && quick="--quick"; done
  python3 "$root/tools/bench/ab.py" --before "$before" --before-rev "$baseline" \
    --after-rev "$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo +changes)" \
    --build-dir "$build" --out-dir "$root/docs" $quick
fi
if [ "${BENCH_TRANSPORTS:-1}" != 0 ]; then
  quick=""
  for a in "$@"; do [ "$a" = "--quick" ] && quick="--quick"; done
  python3 "$root/tools/bench/transports.py" --build-dir "$build" --out-dir "$root/docs" $quick
fi
