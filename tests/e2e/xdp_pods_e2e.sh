#!/usr/bin/env bash
# XDP where the spans are (issue 12), in network namespaces this script creates and deletes:
#
#   ns jx-c-<id> (client) ── veth jxc<id>a ──▶ ns jx-a-<id> (node: agent, XDP, forwarding)
#                                                  │  --xdp.interfaces=jxc<id>a,jxp<id>*
#                                                  └── veth jxt<id>a ──▶ ns jx-t-<id> (third)
#   ns jx-p-<id> (pod, created AFTER the agent) ── veth jxp<id>h (matches the pattern) ──▶ node
#
#   (a) span-port datagrams from the client to the third namespace's address cross the steered
#       interface: all arrive there, none at the agent, port_stats.not_ours counts them (IPv4
#       and IPv6);
#   (b) the pod's veth host end appears after the agent started: it is attached count-only, the
#       pod's spans are counted per interface and per source and delivered; deleting the pod
#       releases it and the agent keeps serving the client;
#   (c) `bpftool map dump pinned <pin>/source_stats` shows the pod's address with its counts;
#   (d) a 60 KB datagram from the pod shows first/later fragment counts per source, and
#       jaeger_agent_ip_reassembly_total{result="fails"} moves when the node namespace's
#       net.ipv4.ipfrag_high_thresh is set to 0 (per netns; the namespace is deleted after).
#
#   tests/e2e/xdp_pods_e2e.sh <agent-binary> <e2e-span-sender>
# Exit 0 = pass, 1 = fail, 77 = skipped (reason printed). Work dir kept on failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
SKIP=77

die() { echo "xdp_pods_e2e: FAIL $*" >&2; exit 1; }
skip() { echo "xdp_pods_e2e: SKIP $*"; exit $SKIP; }
log() { echo "xdp_pods_e2e: $*"; }

[[ $# -ge 2 ]] || die "usage: xdp_pods_e2e.sh <agent-binary> <e2e-span-sender>"
agent_bin=$1
sender_bin=$2
[[ -x $agent_bin ]] || die "agent binary '$agent_bin' not found"
[[ -x $sender_bin ]] || die "sender '$sender_bin' not found"
[[ $(id -u) -eq 0 ]] || skip "not root: network namespaces, veth and XDP need CAP_NET_ADMIN and CAP_BPF"
for tool in ip bpftool python3 mountpoint; do
  command -v $tool > /dev/null || die "$tool not found (tools/setup.sh installs it)"
done

id=$(( $$ % 100000 ))
ns_a=jx-a-$id ns_c=jx-c-$id ns_t=jx-t-$id ns_p=jx-p-$id
ca=jxc${id}a cc=jxc${id}c ta=jxt${id}a tt=jxt${id}t ph=jxp${id}h pp=jxp${id}p
work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-xdp-pods.XXXXXX")
bpffs=$work/bpffs
pin=$bpffs/jaeger-agent
agent_pid=""
listener_pid=""
ok=0

stop_pid() {
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2> /dev/null || return 0
  kill -TERM "$pid" 2> /dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
}
cleanup() {
  stop_pid "$agent_pid"
  stop_pid "$listener_pid"
  for ns in "$ns_p" "$ns_c" "$ns_t" "$ns_a"; do ip netns del "$ns" 2> /dev/null; done  # veths go with them
  mountpoint -q "$bpffs" && umount "$bpffs"
  if [[ $ok == 1 ]]; then rm -rf "$work"; else echo "xdp_pods_e2e: logs kept in $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=../lib/common.sh
source "$root/tests/lib/common.sh"  # now_ms, lines, wait_for

# --- topology -------------------------------------------------------------------------------
for ns in "$ns_a" "$ns_c" "$ns_t"; do ip netns add "$ns" || die "ip netns add $ns"; ip -n "$ns" link set lo up; done
ip link add "$ca" netns "$ns_a" type veth peer name "$cc" netns "$ns_c" || die "veth $ca"
ip link add "$ta" netns "$ns_a" type veth peer name "$tt" netns "$ns_t" || die "veth $ta"
ip -n "$ns_a" addr add 10.210.1.1/24 dev "$ca"
ip -n "$ns_c" addr add 10.210.1.2/24 dev "$cc"
ip -n "$ns_a" addr add 10.210.2.1/24 dev "$ta"
ip -n "$ns_t" addr add 10.210.2.2/24 dev "$tt"
for l in "$ca" "$ta"; do ip -n "$ns_a" link set "$l" up; done
ip -n "$ns_c" link set "$cc" up
ip -n "$ns_t" link set "$tt" up
ip -n "$ns_c" route add default via 10.210.1.1
ip -n "$ns_t" route add default via 10.210.2.1
ip netns exec "$ns_a" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || die "ip_forward"
# IPv6 too (nodad: usable at once).
ip -n "$ns_a" addr add fd10:210:1::1/64 dev "$ca" nodad
ip -n "$ns_c" addr add fd10:210:1::2/64 dev "$cc" nodad
ip -n "$ns_a" addr add fd10:210:2::1/64 dev "$ta" nodad
ip -n "$ns_t" addr add fd10:210:2::2/64 dev "$tt" nodad
ip -n "$ns_c" -6 route add default via fd10:210:1::1
ip -n "$ns_t" -6 route add default via fd10:210:2::1
mkdir -p "$bpffs"
mount -t bpf bpf "$bpffs" || skip "cannot mount a bpffs"

# --- agent: steered on the client's interface, count-only on jxp<id>* --------------------------
# 6832 on [::] (dual-stack: its local_addrs mask covers IPv6 and IPv4 addresses), the others on
# 0.0.0.0 (IPv4 only: an IPv6 datagram to them would be not_ours).
ip netns exec "$ns_a" env LIBXDP_BPFFS="$bpffs" "$agent_bin" \
  --xdp.interfaces="$ca,jxp${id}*" --xdp.pin-path="$pin" \
  --processor.jaeger-binary.server-host-port='[::]:6832' \
  --reporter.tchannel.host-port=127.0.0.1:9 > "$work/agent.out" 2> "$work/agent.log" &
agent_pid=$!
wait_for "grep -q 'agent ready' '$work/agent.log' || ! kill -0 $agent_pid 2> /dev/null" 20 ||
  die "agent did not get ready: $(tail -5 "$work/agent.log")"
kill -0 "$agent_pid" 2> /dev/null || die "agent exited: $(tail -5 "$work/agent.log")"
grep -q 'XDP/AF_XDP datapath on' "$work/agent.log" || die "XDP not on: $(grep XDP "$work/agent.log")"
log "$(grep -o 'XDP/AF_XDP datapath on.*' "$work/agent.log")"

metrics() {
  ip netns exec "$ns_a" python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:14271/metrics", timeout=2).read().decode())' \
    > "$work/metrics.txt" 2> /dev/null
}
metric() {  # metric <series with labels>: its value (0 when absent), from a fresh scrape
  metrics || die "/metrics did not answer"
  awk -v s="$1" 'index($0, s" ") == 1 {print $2; found=1} END {if (!found) print 0}' "$work/metrics.txt"
}
ifindex() { ip -n "$ns_a" -o link show "$1" | awk -F: '{print $1}'; }
port_counter() {  # port_counter <ifindex> <port> <field>: packets summed over CPUs
  bpftool map dump pinned "$pin/port_stats" -j | python3 -c '
import json, sys
ifx, port, field = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(sum(c["value"][field]["packets"] for e in json.load(sys.stdin) for c in e["formatted"]["values"]
          if c["value"]["ifindex"] == ifx and c["value"]["port"] == port))' "$1" "$2" "$3"
}
expect() {
  [[ $2 == "$3" ]] || die "$1: got $2, want $3 (agent log: $work/agent.log)"
  log "ok: $1 = $2"
}
processed='jaeger_agent_thrift_udp_server_packets_processed_total{model="jaeger",protocol="compact"}'
sleep 0.2

# --- (a) not ours: client → third namespace, across the steered interface ----------------------
ip netns exec "$ns_t" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.210.2.2", 6831))
s.settimeout(8)
n = 0
print("ready", flush=True)
try:
    while n < int(sys.argv[1]):
        s.recv(65535); n += 1
except socket.timeout:
    pass
print(n, flush=True)' 50 > "$work/third.out" &
listener_pid=$!
wait_for "grep -q ready '$work/third.out'" 5 || die "third-namespace listener did not start"
before=$(metric "$processed")
ip netns exec "$ns_c" "$sender_bin" --host 10.210.2.2 --port 6831 --batches 50 --spans 2 > /dev/null || die "sender"
wait "$listener_pid"
listener_pid=""
expect "(a) datagrams at the third namespace" "$(tail -1 "$work/third.out")" 50
sleep 0.6  # the stats thread snapshots port_stats every 500 ms
expect "(a) not_ours on $ca" "$(port_counter "$(ifindex "$ca")" 6831 not_ours)" 50
expect "(a) redirected on $ca" "$(port_counter "$(ifindex "$ca")" 6831 redirected)" 0
expect "(a) datagrams at the agent" "$(( $(metric "$processed") - before ))" 0
expect "(a) /metrics not_ours" "$(metric "jaeger_agent_xdp_packets_total{interface=\"$ca\",port=\"6831\",result=\"not_ours\"}")" 50
# The same over IPv6, to port 6832 (the agent's socket there is bound to [::]).
send6() {  # send6 <ns> <addr> <port> <count>: plain UDP datagrams (not_ours never decodes them)
  ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"x" * 100, (sys.argv[1], int(sys.argv[2])))' "$2" "$3" "$4" || die "send6 $*"
}
ip netns exec "$ns_t" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("fd10:210:2::2", 6832))
s.settimeout(5)
n = 0
print("ready", flush=True)
try:
    while n < 20:
        s.recv(65535); n += 1
except socket.timeout:
    pass
print(n, flush=True)' > "$work/third6.out" &
listener_pid=$!
wait_for "grep -q ready '$work/third6.out'" 5 || die "IPv6 listener did not start"
send6 "$ns_c" fd10:210:2::2 6832 20
wait "$listener_pid"
listener_pid=""
expect "(a) IPv6 datagrams at the third namespace" "$(tail -1 "$work/third6.out")" 20
expect "(a) IPv6 not_ours on $ca" "$(port_counter "$(ifindex "$ca")" 6832 not_ours)" 20
expect "(a) IPv6 redirected on $ca" "$(port_counter "$(ifindex "$ca")" 6832 redirected)" 0

# --- (b) a pod that appears after the agent started ------------------------------------------
ip netns add "$ns_p" || die "ip netns add $ns_p"
ip -n "$ns_p" link set lo up
ip link add "$ph" netns "$ns_a" type veth peer name "$pp" netns "$ns_p" || die "veth $ph"
ip -n "$ns_a" addr add 10.210.3.1/24 dev "$ph"
ip -n "$ns_p" addr add 10.210.3.2/24 dev "$pp"
ip -n "$ns_a" addr add fd10:210:3::1/64 dev "$ph" nodad
ip -n "$ns_p" addr add fd10:210:3::2/64 dev "$pp" nodad
ip -n "$ns_a" link set "$ph" up
ip -n "$ns_p" link set "$pp" up
wait_for "grep -q 'XDP on $ph: attached (count-only' '$work/agent.log'" 5 || die "pod interface not attached: $(grep XDP "$work/agent.log")"
log "ok: $(grep -o "XDP on $ph: attached.*" "$work/agent.log")"
ip -n "$ns_a" link show "$ph" | grep -q 'xdp' || die "no XDP program on $ph"
before=$(metric "$processed")
ip netns exec "$ns_p" "$sender_bin" --host 10.210.3.1 --port 6831 --batches 30 --spans 2 > /dev/null || die "pod sender"
wait_for "(( \$(metric '$processed') - before >= 30 ))" 10 || die "(b) pod spans not delivered: $(( $(metric "$processed") - before ))"
expect "(b) pod datagrams delivered" "$(( $(metric "$processed") - before ))" 30
sleep 0.6
expect "(b) pass_unsteered on $ph" "$(port_counter "$(ifindex "$ph")" 6831 pass_unsteered)" 30
expect "(b) /metrics per interface" \
  "$(metric "jaeger_agent_xdp_packets_total{interface=\"$ph\",port=\"6831\",result=\"pass_unsteered\"}")" 30
wait_for "[[ \$(metric 'jaeger_agent_xdp_source_datagrams_total{source=\"10.210.3.2\"}') == 30 ]]" 5 ||
  die "(b) /metrics per source: $(grep source_datagrams "$work/metrics.txt")"
log "ok: (b) /metrics jaeger_agent_xdp_source_datagrams_total{source=\"10.210.3.2\"} 30"
# IPv6 from the pod to the node's address on its veth: ours (the address came by RTM_NEWADDR).
send6 "$ns_p" fd10:210:3::1 6832 7
wait_for "[[ \$(metric 'jaeger_agent_xdp_source_datagrams_total{source=\"fd10:210:3::2\"}') == 7 ]]" 5 ||
  die "(b) IPv6 source: $(grep source_datagrams "$work/metrics.txt")"
expect "(b) IPv6 pass_unsteered on $ph" "$(port_counter "$(ifindex "$ph")" 6832 pass_unsteered)" 7

# --- (c) which client: bpftool on the pinned per-source map -----------------------------------
bpftool map dump pinned "$pin/source_stats" > "$work/source_stats.txt"
bpftool map dump pinned "$pin/source_stats" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    k, v = e["formatted"]["key"], e["formatted"]["value"]
    if k["addr"][-4:] == [10, 210, 3, 2] and k["addr"][10:12] == [255, 255] and k["port"] == 6831:
        assert v["datagrams"] == 30, v
        assert v["bytes"] > 0, v
        print("source 10.210.3.2 port 6831:", v); sys.exit(0)
sys.exit("10.210.3.2 not in source_stats")' || die "(c) bpftool source_stats: $(cat "$work/source_stats.txt")"
grep -q '"datagrams": 30' "$work/source_stats.txt" || die "(c) bpftool text form lacks the field names"
log "ok: (c) bpftool map dump pinned $pin/source_stats shows 10.210.3.2 with datagrams 30"

# --- (d) fragments, and reassembly made to fail ---------------------------------------------
reasm() { metric "jaeger_agent_ip_reassembly_total{family=\"ipv4\",result=\"$1\"}"; }
oks0=$(reasm oks)
before=$(metric "$processed")
ip netns exec "$ns_p" "$sender_bin" --host 10.210.3.1 --port 6831 --batches 0 --big-bytes 60000 > /dev/null || die "pod big"
wait_for "(( \$(metric '$processed') - before >= 1 ))" 10 || die "(d) the 60 KB datagram was not delivered"
sleep 2.2  # source_stats is read every 2 s
first=$(metric 'jaeger_agent_xdp_source_fragments_total{source="10.210.3.2",kind="first"}')
later=$(metric 'jaeger_agent_xdp_source_fragments_total{source="10.210.3.2",kind="later"}')
expect "(d) first fragments from the pod" "$first" 1
(( later >= 40 )) || die "(d) later fragments from the pod: $later, want >= 40 (60 KB in 1480-byte fragments)"
log "ok: (d) later fragments from the pod = $later"
(( $(reasm oks) > oks0 )) || die "(d) reassembly oks did not move"
fails0=$(reasm fails)
low=$(ip netns exec "$ns_a" sysctl -n net.ipv4.ipfrag_low_thresh)
high=$(ip netns exec "$ns_a" sysctl -n net.ipv4.ipfrag_high_thresh)
ip netns exec "$ns_a" sysctl -qw net.ipv4.ipfrag_low_thresh=0 net.ipv4.ipfrag_high_thresh=0 || die "sysctl ipfrag"
ip netns exec "$ns_p" "$sender_bin" --host 10.210.3.1 --port 6831 --batches 0 --big-bytes 60000 > /dev/null || die "pod big"
wait_for "(( \$(reasm fails) > fails0 ))" 5 || die "(d) reassembly fails did not move with ipfrag_high_thresh=0"
log "ok: (d) jaeger_agent_ip_reassembly_total{family=\"ipv4\",result=\"fails\"} $fails0 -> $(reasm fails)"
ip netns exec "$ns_a" sysctl -qw net.ipv4.ipfrag_high_thresh="$high" net.ipv4.ipfrag_low_thresh="$low"

# --- (b, end) the pod goes away; the agent keeps serving the others ----------------------------
ip netns del "$ns_p"
wait_for "grep -q 'XDP on $ph: released' '$work/agent.log'" 5 || die "pod interface not released: $(grep XDP "$work/agent.log" | tail -3)"
log "ok: $(grep -o "XDP on $ph: released.*" "$work/agent.log")"
kill -0 "$agent_pid" 2> /dev/null || die "agent died after the pod went away"
red0=$(port_counter "$(ifindex "$ca")" 6831 redirected)
before=$(metric "$processed")
ip netns exec "$ns_c" "$sender_bin" --host 10.210.1.1 --port 6831 --batches 20 --spans 2 > /dev/null || die "client sender"
wait_for "(( \$(metric '$processed') - before >= 20 ))" 10 || die "client spans not delivered after the pod went away"
expect "client datagrams redirected into AF_XDP after the pod went" "$(( $(port_counter "$(ifindex "$ca")" 6831 redirected) - red0 ))" 20
sleep 0.6
metric x > /dev/null
grep -q "interface=\"$ph\"" "$work/metrics.txt" && die "series of the deleted pod interface still exported"
log "ok: no series left for $ph"

kill -TERM "$agent_pid"
wait "$agent_pid"
rc=$?
agent_pid=""
expect "agent exit status after SIGTERM" "$rc" 0
ok=1
log "PASS"
