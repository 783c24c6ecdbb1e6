#!/usr/bin/env bash
# Memory per count-only (pod) interface: starts the agent in a network namespace of its own with
# --xdp.interfaces='<nic>,jxm<id>*', creates N veth pairs whose host ends match the pattern (the
# agent attaches to each as it appears), and reports the agent's RSS, the kernel's slab + per-CPU
# memory (whole machine: only meaningful on an idle one) and the BPF maps' memlock (preallocated,
# so independent of N). Then deletes everything.
#   tools/xdp_iface_memory.sh <agent-binary> [N=100]        (root)
set -uo pipefail
agent=$1
n=${2:-100}
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
id=$(( $$ % 10000 ))
ns=jx-m-$id
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2> /dev/null && wait "$pid" 2> /dev/null
  ip netns del "$ns" 2> /dev/null
  mountpoint -q "$work/bpffs" && umount "$work/bpffs"
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add jxm${id}n type veth peer name jxm${id}o
ip -n "$ns" link set jxm${id}n name jxn${id}
ip -n "$ns" addr add 10.211.0.1/24 dev jxn${id}
ip -n "$ns" link set jxn${id} up
mkdir "$work/bpffs" && mount -t bpf bpf "$work/bpffs"
ip netns exec "$ns" env LIBXDP_BPFFS="$work/bpffs" "$agent" --xdp.interfaces="jxn${id},jxm${id}*" \
  --xdp.pin-path="$work/bpffs/p" --reporter.tchannel.host-port=127.0.0.1:9 2> "$work/log" > /dev/null &
pid=$!
for _ in $(seq 100); do grep -q 'agent ready' "$work/log" && break; sleep 0.1; done
kb() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
rss() { awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
memlock() {  # the agent's pinned maps only
  for m in "$work"/bpffs/p/*; do bpftool map show pinned "$m" -j 2> /dev/null; echo; done |
    python3 -c 'import json,sys; print(sum(json.loads(l).get("bytes_memlock",0) for l in sys.stdin if l.strip()))'
}
sync; sleep 1
r0=$(rss) s0=$(kb Slab) p0=$(kb Percpu)
for i in $(seq 1 "$n"); do ip -n "$ns" link add jxm${id}h$i type veth peer name jxr${id}p$i; ip -n "$ns" link set jxm${id}h$i up; done
for _ in $(seq 100); do [[ $(grep -c 'attached (count-only' "$work/log") -ge $n ]] && break; sleep 0.1; done
sleep 1
attached=$(grep -c 'attached (count-only' "$work/log")
r1=$(rss) s1=$(kb Slab) p1=$(kb Percpu)
echo "interfaces attached: $attached of $n"
echo "agent RSS: $r0 -> $r1 KiB: $(( (r1 - r0) * 1024 / n )) bytes per interface"
echo "kernel slab+percpu delta (whole machine, noisy where others run): $(( ((s1 - s0) + (p1 - p0)) * 1024 / n )) bytes per veth pair incl. the veth itself"
echo "BPF maps memlock (the agent's maps, preallocated for 128 interface slots): $(memlock) bytes on $(nproc) CPUs"
bpftool map show pinned "$work/bpffs/p/port_stats" | head -2
grep -o 'XDP/AF_XDP datapath on.*' "$work/log"
