#!/usr/bin/env bash
# End-to-end test of the XDP/AF_XDP datapath, on a veth pair between two network namespaces that
# this script creates and deletes:
#
#   ns xe2e-s-<pid>: e2e-span-sender ── veth ──▶ ns xe2e-a-<pid>: XDP program on the agent's veth
#                                                 ├─ span datagrams ─▶ AF_XDP ─▶ agent
#                                                 └─ 60 KB datagram (fragmented at MTU 1500)
#                                                    ─▶ kernel reassembly ─▶ UDP socket ─▶ agent
#                                               agent ── TChannel ──▶ tchannel-node collector
#
#   tests/e2e/xdp_e2e.sh <agent-binary> <e2e-span-sender> [auto|native|skb]
#
# Checks, with `bpftool map dump pinned` on the agent's pins (a private bpffs mounted in the work
# dir; libxdp is pointed at it with LIBXDP_BPFFS) and the collector's span count:
#   1. every span reaches the collector; the small batches were redirected into AF_XDP
#      (port_stats.redirected, user_stats.received_xsk), the 60 KB one came through the socket
#      path and was counted as pass_fragment (and its other fragments as later_fragment);
#   2. a crashed agent (SIGKILL) leaves its program attached; the next one replaces it, and a
#      clean exit (SIGTERM, status 0) detaches it and removes the pins;
#   3. degradation: no bpffs / no BPF privilege → one "XDP/AF_XDP datapath off" line, and the
#      agent still serves through its sockets.
# Exit 0 = pass, 1 = fail, 77 = skipped (the reason is printed). Work dir kept on failure (and
# with XDP_E2E_KEEP=1).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
SKIP=77

die() { echo "xdp_e2e: FAIL $*" >&2; exit 1; }
skip() { echo "xdp_e2e: SKIP $*"; exit $SKIP; }
log() { echo "xdp_e2e: $*"; }

[[ $# -ge 2 ]] || die "usage: xdp_e2e.sh <agent-binary> <e2e-span-sender> [auto|native|skb]"
agent_bin=$1
sender_bin=$2
mode=${3:-auto}
[[ -x $agent_bin ]] || die "agent binary '$agent_bin' not found (build target jaeger-xdp-agent)"
[[ -x $sender_bin ]] || die "sender '$sender_bin' not found (build target e2e-span-sender)"
[[ $(id -u) -eq 0 ]] || skip "not root: network namespaces, veth, XDP and AF_XDP need CAP_NET_ADMIN and CAP_BPF"
for tool in ip bpftool node python3 setpriv mountpoint; do
  command -v $tool > /dev/null || die "$tool not found (tools/setup.sh installs it)"
done
(cd "$root/tests/interop" && node -e "require('tchannel/as/thrift')" 2> /dev/null) ||
  die "npm peers missing in tests/interop/node_modules: run tools/setup-npm.sh"

id=$$
ns_a=xe2e-a-$id      # the agent's namespace
ns_s=xe2e-s-$id      # the sender's namespace
va=xe2e${id}a        # veth ends (<= 15 chars)
vs=xe2e${id}s
addr_a=10.201.0.1
addr_s=10.201.0.2
work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-xdp-e2e.XXXXXX")
bpffs=$work/bpffs
pin=$bpffs/jaeger-agent
agent_pid=""
collector_pid=""
ok=0

stop_pid() {  # SIGTERM, then SIGKILL after 5 s; only processes this script started
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null || return 0
  kill -TERM "$pid" 2> /dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
}
cleanup() {
  stop_pid "$agent_pid"
  stop_pid "$collector_pid"
  ip netns del "$ns_a" 2> /dev/null   # deletes the veth pair (and any XDP program on it)
  ip netns del "$ns_s" 2> /dev/null
  mountpoint -q "$bpffs" && umount "$bpffs"
  if [[ $ok == 1 && -z ${XDP_E2E_KEEP:-} ]]; then rm -rf "$work"; else echo "xdp_e2e: logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=../lib/common.sh
source "$root/tests/lib/common.sh"  # now_ms, lines, wait_for

# --- namespaces, veth, bpffs ----------------------------------------------------------------
ip netns add "$ns_a" || die "ip netns add"
ip netns add "$ns_s" || die "ip netns add"
ip link add "$va" netns "$ns_a" type veth peer name "$vs" netns "$ns_s" || die "ip link add veth"
ip -n "$ns_a" addr add $addr_a/24 dev "$va"
ip -n "$ns_s" addr add $addr_s/24 dev "$vs"
for ns in "$ns_a" "$ns_s"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$va" up
ip -n "$ns_s" link set "$vs" up
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs" || skip "cannot mount a bpffs"
log "namespaces $ns_a/$ns_s, veth $va/$vs, bpffs $bpffs, XDP mode $mode"

# --- collector ------------------------------------------------------------------------------
received=$work/received.jsonl
ip netns exec "$ns_a" node "$root/tests/interop/collector.js" 0 "$received" "$work/collector-stats.json" \
  > "$work/collector.out" 2> "$work/collector.err" &
collector_pid=$!
wait_for "grep -q '^ready ' '$work/collector.out'" 15 || die "collector did not start: $(tail -3 "$work/collector.err")"
collector_port=$(awk '/^ready /{print $2; exit}' "$work/collector.out")

# --- agent ----------------------------------------------------------------------------------
run=0
# io_uring tears a ring down asynchronously, so the previous agent's UDP sockets can stay bound
# for a moment after it exited: wait until the ports are free before starting the next one.
wait_ports_free() {
  wait_for "! ip netns exec '$ns_a' ss -Hlun | grep -Eq ':(5775|6831|6832) '" 10 ||
    die "UDP ports still bound: $(ip netns exec "$ns_a" ss -Hlun)"
}
start_agent() {  # start_agent <log-name> [extra flags...]; XDP on the agent's veth
  local name=$1
  shift
  wait_ports_free
  ip netns exec "$ns_a" env LIBXDP_BPFFS="$bpffs" "$agent_bin" \
    --xdp.interfaces="$va" --xdp.mode="$mode" --xdp.pin-path="$pin" \
    --reporter.tchannel.host-port=127.0.0.1:"$collector_port" "$@" \
    > "$work/$name.out" 2> "$work/$name.log" &
  agent_pid=$!
  wait_for "grep -q 'agent ready' '$work/$name.log' || ! kill -0 $agent_pid 2> /dev/null" 20 ||
    die "agent did not get ready: $(tail -5 "$work/$name.log")"
  kill -0 "$agent_pid" 2> /dev/null || die "agent exited: $(tail -5 "$work/$name.log")"
}
send() {  # send <args for e2e-span-sender>; prints its summary line
  ip netns exec "$ns_s" "$sender_bin" --host $addr_a "$@" || die "sender failed: $*"
}
# The named counters from `bpftool map dump pinned … -j` ("formatted" is the BTF-named form).
# packets <map> <port|-> <field>: <field>.packets summed over entries (of that port) and CPUs.
packets() {
  bpftool map dump pinned "$pin/$1" -j | python3 -c '
import json, sys
port, field = sys.argv[1], sys.argv[2]
total = 0
for entry in json.load(sys.stdin):
    for cpu in entry["formatted"]["values"]:
        v = cpu["value"]
        if port == "-" or v["port"] == int(port):
            total += v[field]["packets"]
print(total)' "$2" "$3"
}
port_counter() { packets port_stats "$1" "$2"; }
global_counter() { packets global_stats - "$1"; }
user_counter() {  # user_counter <port> <field>: user_stats.ports[port].field
  bpftool map dump pinned "$pin/user_stats" -j | python3 -c '
import json, sys
for p in json.load(sys.stdin)[0]["formatted"]["value"]["ports"]:
    if p["port"] == int(sys.argv[1]):
        print(p[sys.argv[2]])' "$1" "$2"
}
expect() {  # expect <what> <got> <want>
  [[ $2 == "$3" ]] || die "$1: got $2, want $3 (agent log: $work/agent$run.log)"
  log "ok: $1 = $2"
}

start_agent agent0
grep -q 'XDP/AF_XDP datapath on' "$work/agent0.log" || die "XDP not on: $(grep XDP "$work/agent0.log")"
log "$(grep -o 'XDP/AF_XDP datapath on.*' "$work/agent0.log")"
wait_for "[[ -e $pin/port_stats ]]" 5 || die "no pins under $pin"

# --- 1. spans through AF_XDP, the 60 KB datagram through the socket path ----------------------
out_compact=$(send --port 6831 --batches 40 --spans 5)
out_binary=$(send --port 6832 --protocol binary --batches 10 --spans 3)
out_big=$(send --port 6831 --batches 0 --big-bytes 60000)
log "compact: $out_compact; binary: $out_binary; big: $out_big"
big_bytes=$(sed -E 's/.*largest=([0-9]+).*/\1/' <<< "$out_big")
big_spans=$(sed -E 's/.*spans=([0-9]+).*/\1/' <<< "$out_big")
want_spans=$(( 40 * 5 + 10 * 3 + big_spans ))
wait_for "(( \$(lines '$received') >= $want_spans ))" 20 ||
  die "collector has $(lines "$received") of $want_spans spans"
sleep 0.3  # the agent's stats thread mirrors userspace counters every 100 ms
expect "spans at the collector" "$(lines "$received")" "$want_spans"
expect "6831 redirected into AF_XDP" "$(port_counter 6831 redirected)" 40
expect "6832 redirected into AF_XDP" "$(port_counter 6832 redirected)" 10
expect "6831 passed without a socket" "$(port_counter 6831 pass_no_socket)" 0
expect "6831 passed as first fragment" "$(port_counter 6831 pass_fragment)" 1
# 60 KB of UDP in 1480-byte IPv4 fragments: all but the first have no UDP header.
expect "later fragments" "$(global_counter later_fragment)" $(( (big_bytes + 8 + 1479) / 1480 - 1 ))
expect "6831 received through AF_XDP (user_stats)" "$(user_counter 6831 received_xsk)" 40
expect "6831 received, both paths (user_stats)" "$(user_counter 6831 received)" 41
expect "6832 received through AF_XDP (user_stats)" "$(user_counter 6832 received_xsk)" 10
expect "decode queue full (user_stats)" "$(user_counter 6831 queue_full)" 0
# The same counters in the agent's own Prometheus metrics (the BPF maps are polled every 500 ms).
metrics() {
  ip netns exec "$ns_a" python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:14271/metrics", timeout=2).read().decode())' \
    > "$work/metrics.txt" 2> /dev/null
}
for want in "jaeger_agent_xdp_packets_total{interface=\"$va\",port=\"6831\",result=\"redirected\"} 40" \
            "jaeger_agent_xdp_packets_total{interface=\"$va\",port=\"6831\",result=\"pass_fragment\"} 1" \
            "jaeger_agent_xsk_packets_processed_total{model=\"jaeger\",protocol=\"compact\"} 40"; do
  wait_for "metrics && grep -qF '$want' '$work/metrics.txt'" 5 || die "/metrics lacks: $want"
  log "ok: /metrics: $want"
done
bpftool map dump pinned "$pin/port_stats" > "$work/port_stats.txt"
grep -q '"redirected": {' "$work/port_stats.txt" || die "bpftool output has no named counters"

# --- 2. crash, stale replacement, clean exit ------------------------------------------------
kill -KILL "$agent_pid"
wait "$agent_pid" 2> /dev/null
agent_pid=""
ip -n "$ns_a" link show "$va" | grep -q 'prog/xdp' || die "after SIGKILL the program should still be attached"
[[ -e $pin/port_stats ]] || die "after SIGKILL the pins should still be there"
run=1
start_agent agent1
grep -q 'replacing a stale agent_xdp program' "$work/agent1.log" || die "stale program not replaced: $(grep XDP "$work/agent1.log")"
grep -q 'XDP/AF_XDP datapath on' "$work/agent1.log" || die "XDP not on after the restart"
before=$(lines "$received")
send --port 6831 --batches 5 --spans 2 > /dev/null
wait_for "(( \$(lines '$received') >= before + 10 ))" 20 || die "spans after the restart did not arrive"
expect "6831 redirected after the restart (fresh counters)" "$(port_counter 6831 redirected)" 5
kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=""
expect "agent exit status after SIGTERM" "$rc" 0
ip -n "$ns_a" link show "$va" | grep -q 'prog/xdp' && die "XDP program still attached after a clean exit"
[[ -e $pin ]] && die "pins left after a clean exit: $(ls "$pin")"
[[ -z $(ls "$bpffs/xdp" 2> /dev/null) ]] || die "libxdp dispatcher pins left: $(ls "$bpffs/xdp")"
log "ok: clean exit detached the program and removed the pins"

# --- 3. degradation: the agent keeps serving through its sockets ------------------------------
degraded() {  # degraded <name> <expected cause regex> <command prefix...>
  local name=$1 cause=$2
  shift 2
  wait_ports_free
  ip netns exec "$ns_a" "$@" "$agent_bin" --xdp.interfaces="$va" --xdp.pin-path="$degraded_pin" \
    --reporter.tchannel.host-port=127.0.0.1:"$collector_port" > "$work/$name.out" 2> "$work/$name.log" &
  agent_pid=$!
  wait_for "grep -q 'agent ready' '$work/$name.log' || ! kill -0 $agent_pid 2> /dev/null" 20 ||
    die "$name: agent did not get ready"
  local n
  n=$(grep -c 'XDP/AF_XDP datapath off' "$work/$name.log")
  [[ $n == 1 ]] || die "$name: want one 'datapath off' line, got $n: $(cat "$work/$name.log")"
  grep -Eq "datapath off: .*$cause.*; receiving spans through the kernel UDP sockets" "$work/$name.log" ||
    die "$name: the line does not name the cause ($cause): $(grep 'datapath off' "$work/$name.log")"
  log "ok: $(grep -o 'XDP/AF_XDP datapath off.*' "$work/$name.log")"
  before=$(lines "$received")
  send --port 6831 --batches 3 --spans 2 > /dev/null
  wait_for "(( \$(lines '$received') >= before + 6 ))" 20 || die "$name: spans did not arrive through the sockets"
  kill -TERM "$agent_pid"
  wait "$agent_pid" || die "$name: agent exit status $?"
  agent_pid=""
  ip -n "$ns_a" link show "$va" | grep -q 'prog/xdp' && die "$name: an XDP program was left attached"
  log "ok: $name: served through the sockets, exited cleanly"
}
mkdir -p "$work/plain-dir"
degraded_pin=$work/plain-dir/jaeger-agent
degraded no-bpffs "no bpffs at $work/plain-dir" env LIBXDP_BPFFS="$bpffs"
degraded_pin=$pin
degraded no-privilege "Operation not permitted" setpriv --bounding-set -bpf,-sys_admin,-net_admin,-perfmon --

ok=1
log "PASS"
