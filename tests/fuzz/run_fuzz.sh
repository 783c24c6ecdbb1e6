#!/usr/bin/env bash
# Runs the transcoder fuzzers (clang, -fsanitize=fuzzer,address,undefined) for a bounded time on
# a seed corpus of real and oracle-encoded datagrams. Fails on any crash, sanitizer report or
# property violation; prints libFuzzer's final stats.
#   run_fuzz.sh <source-dir> <fuzz-build-dir> <fuzz-seeds-binary> <test-data-dir> [seconds]
set -euo pipefail
src=$1 build=$2 seeds=$3 data=$4 seconds=${5:-60}
command -v clang++ > /dev/null || { echo "fuzz: FAILED: clang++ not found (tools/setup.sh installs clang)"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$src" -B "$build" -G Ninja -DJAGENT_FUZZ_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" --target transcoder_fuzz proto_fuzz > "$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
work=$(mktemp -d /tmp/jagent-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$seeds" "$data" "$work/seeds"

# run <fuzzer> <seconds>: one process (two jobs would race the build machine's two cores with
# nothing to gain); -max_len 65536: datagrams are at most 65,507 bytes.
run() {
  local name=$1 secs=$2
  rm -rf "$work/corpus" "$work/artifacts"
  mkdir -p "$work/corpus" "$work/artifacts"
  echo "== $name, ${secs}s =="
  "$build/$name" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$work/seeds" 2>&1 | tail -25
  local status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
    echo "fuzz: $name FAILED (exit $status); crashing inputs:"; ls -la "$work/artifacts"
    for f in "$work"/artifacts/*; do [ -f "$f" ] && xxd "$f" | head -20; done
    exit 1
  fi
  echo "fuzz: $name: no finding in ${secs}s"
}
run transcoder_fuzz "$seconds"
# The protobuf transcoders (api_v2, OTLP) share the Thrift reader rules; half the time is enough.
run proto_fuzz $(( (seconds + 1) / 2 ))
