#!/usr/bin/env bash
# Runs one fuzzer (clang, -fsanitize=fuzzer,address,undefined, JAGENT_ENABLE_CHECKS) for a
# bounded time on a seed corpus from fuzz-seeds (transcoder: real and oracle-encoded datagrams;
# tchannel_frame: collector byte streams). Fails on any crash, sanitizer report, JAGENT_CHECK or
# property violation; prints libFuzzer's final stats.
#   run_fuzz.sh <source-dir> <fuzz-build-dir> <fuzz-seeds-binary> <test-data-dir> [seconds] [target]
set -euo pipefail
src=$1 build=$2 seeds=$3 data=$4 seconds=${5:-60} target=${6:-transcoder}
command -v clang++ > /dev/null || { echo "fuzz: FAILED: clang++ not found (tools/setup.sh installs clang)"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DJAGENT_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" --target "${target}_fuzz" > "$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
fuzzer=$build/${target}_fuzz
work=$(mktemp -d /tmp/jagent-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$seeds" "$data" "$work/seeds" "${target/_frame/}"
mkdir -p "$work/corpus" "$work/artifacts"
max_len=65536
[ "$target" = tchannel_frame ] && max_len=262144
[ "$target" = http_request ] && max_len=16384
# -max_len: datagrams are at most 65,507 bytes; TChannel streams get room for a fragmented call,
# HTTP heads for twice the 8 KiB limit. Two jobs would race the build machine's two
# cores with nothing to gain, so one process.
"$fuzzer" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" 2>&1 | tail -25
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
  echo "fuzz: FAILED (exit $status); crashing inputs:"; ls -la "$work/artifacts"
  for f in "$work"/artifacts/*; do [ -f "$f" ] && xxd "$f" | head -20; done
  exit 1
fi
echo "fuzz ($target): no finding in ${seconds}s"
