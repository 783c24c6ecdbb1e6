#!/usr/bin/env bash
# Installs what the agent and its tests need, idempotently: Debian packages (only the missing
# ones, so a second run does no network I/O) and the npm peers used by the interop tests.
# Usage: tools/setup.sh [--runtime-only]
#   --runtime-only: only what building and running the agent needs (tools/run.sh, the image's build
#   stage): no test peers or test tools (node/npm, kubectl, Prometheus, container tools).
set -euo pipefail
runtime_only=0; [ "${1:-}" = "--runtime-only" ] && runtime_only=1
here=$(cd "$(dirname "$0")" && pwd)

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config git ccache
  clang llvm bpftool libbpf-dev libxdp-dev xdp-tools libelf-dev zlib1g-dev
  liburing-dev libthrift-dev thrift-compiler libboost-dev
  libspdlog-dev libfmt-dev libexpected-dev libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev
  iproute2 python3 yamllint python3-yaml
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler  # gRPC/OTLP transports; protoc for the tests' schemas
  libnghttp2-dev  # the native gRPC client (HTTP/2)
  python3-grpcio python3-protobuf  # test peers: a gRPC collector, protobuf decoding
  gnuplot-nox linux-perf  # benchmarks: chart, profiles (tools/bench.sh)
)
no_start_policy=""
if [ $runtime_only -eq 0 ]; then
# Node.js and npm run the interop peers. This machine image ships nodesource's nodejs, which
# bundles npm and conflicts with Debian's npm package: install Debian's only where they are absent.
command -v node > /dev/null 2>&1 || BUILD_PKGS+=(nodejs)
command -v npm > /dev/null 2>&1 || BUILD_PKGS+=(npm)
# kubectl (for `kubectl kustomize` in the deploy tests): this machine image ships one (google-cloud-cli);
# Debian's kubernetes-client conflicts with it, so install that only when there is none.
command -v kubectl > /dev/null 2>&1 || BUILD_PKGS+=(kubernetes-client)
# promtool (package prometheus) checks the agent's /metrics in the tests. The package also ships
# a Prometheus server that Debian starts on install unless policy-rc.d forbids it (containers
# do): forbid it for this install where nothing else does.
if ! command -v promtool > /dev/null 2>&1; then
  BUILD_PKGS+=(prometheus)
  if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && no_start_policy=1
    trap 'if [ -n "$no_start_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  fi
fi
# tests/deploy (ops): the .deb's fresh Debian root and the image's base (debootstrap), the image
# build and run (podman, buildah; runc: crun refuses this machine's hybrid cgroups), `systemd-analyze verify`
# of the unit (systemd).
BUILD_PKGS+=(debootstrap podman buildah runc systemd)
fi

missing=()
for p in "${BUILD_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ $runtime_only -eq 0 ]; then
  "$here/setup-npm.sh"
fi
