#!/usr/bin/env bash
# Receive benchmark: AF_XDP (copy mode) vs io_uring vs plain recvmmsg, side by side, on a veth
# pair between two network namespaces this script creates and deletes.
#
#   tools/bench_receive.sh [build-dir]        (root; default build dir: build/)
#   BENCH_SECONDS=10 BENCH_SIZES="100 1000" BENCH_MODES="xsk uring recvmmsg" tools/bench_receive.sh
#
# Layout (2 CPUs): sender (sendmmsg of 32, one thread) pinned to CPU 0 in the sender namespace;
# the receiving veth switched to threaded NAPI with its kthread pinned to CPU 1, and the receiver
# pinned to CPU 1 too, so the whole receive side (XDP, skb path, copy into the UMEM or socket,
# the application) is on CPU 1 and its CPU time is attributable: the receiver's own CPU time
# (getrusage) + the NAPI kthread's (/proc/PID/schedstat). Other processes on the machine do not
# count towards the per-packet cost, only towards throughput (they compete for the CPUs).
# The agent's XDP program is attached in every mode; for the socket modes it passes (no AF_XDP
# socket), which is exactly the agent's fallback path.
# Prints a markdown table (docs/receive-benchmark.md holds a recorded run).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
bin=$build/bench-receive
seconds=${BENCH_SECONDS:-10}
sizes=${BENCH_SIZES:-"100 1000"}
modes=${BENCH_MODES:-"xsk uring recvmmsg"}
warmup=2

[[ $(id -u) -eq 0 ]] || { echo "bench_receive: needs root (netns, veth, XDP, AF_XDP)" >&2; exit 1; }
[[ -x $bin ]] || { echo "bench_receive: $bin missing: cmake --build $build --target bench-receive" >&2; exit 1; }
(( $(nproc) >= 2 )) || { echo "bench_receive: needs 2 CPUs (sender on 0, receive side on 1)" >&2; exit 1; }

id=$$
ns_r=jbr-r-$id
ns_s=jbr-s-$id
vr=jbr${id}r
vs=jbr${id}s
work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-bench-receive.XXXXXX")
cleanup() {
  ip netns del "$ns_r" 2> /dev/null || true
  ip netns del "$ns_s" 2> /dev/null || true
  mountpoint -q "$work/bpffs" && umount "$work/bpffs"
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns_r"
ip netns add "$ns_s"
ip link add "$vr" netns "$ns_r" type veth peer name "$vs" netns "$ns_s"
ip -n "$ns_r" addr add 10.202.0.1/24 dev "$vr"
ip -n "$ns_s" addr add 10.202.0.2/24 dev "$vs"
ip -n "$ns_r" link set "$vr" up
ip -n "$ns_s" link set "$vs" up
mkdir -p "$work/bpffs"
mount -t bpf bpf "$work/bpffs"
# The sender needs the receiver's MAC before it can blast: resolve once.
ip netns exec "$ns_s" "$bin" send --dst 10.202.0.1 --port 9 --size 10 --seconds 0.2 > /dev/null

echo "| payload | path | delivered (pps) | receiver CPU (ns/pkt) | NAPI CPU (ns/pkt) | receive CPU per packet |"
echo "|---|---|---|---|---|---|"
for size in $sizes; do
  for mode in $modes; do
    ip netns exec "$ns_r" env LIBXDP_BPFFS="$work/bpffs" taskset -c 1 "$bin" recv --mode "$mode" --iface "$vr" \
      --port 9000 --seconds "$seconds" --warmup $warmup --napi-cpu 1 > "$work/recv.out" 2> "$work/recv.err" &
    rpid=$!
    sleep 0.5
    ip netns exec "$ns_s" taskset -c 0 "$bin" send --dst 10.202.0.1 --port 9000 --size "$size" \
      --seconds $(( seconds + warmup + 1 )) > "$work/send.out" &
    spid=$!
    wait $rpid || { cat "$work/recv.err" >&2; exit 1; }
    wait $spid
    line=$(cat "$work/recv.out")
    get() { sed -E "s/.*\\b$1=([^ ]+).*/\\1/" <<< "$line"; }
    label=$mode
    case $mode in
      xsk) label="AF_XDP copy ($(get xdp) XDP)" ;;
      uring) label="XDP_PASS → io_uring multishot recvmsg" ;;
      recvmmsg) label="XDP_PASS → recvmmsg(64)" ;;
    esac
    printf "| %s B | %s | %.0f | %s | %s | %.2f µs |\n" "$size" "$label" "$(get pps)" "$(get app_ns_per_pkt)" \
      "$(get napi_ns_per_pkt)" "$(echo "$(get ns_per_pkt) / 1000" | bc -l)"
  done
done
