#!/usr/bin/env bash
# Interop test of the agent's HTTP surfaces with real peers (reference-agent.md §1.1.1–1.1.2):
#
#   tests/interop/run_sampling.sh <agent-binary>
#
#   sampling_collector.js  real tchannel-node collector: SamplingManager::getSamplingStrategy,
#                          BaggageRestrictionManager::getBaggageRestrictions, Collector::submitBatches
#   agent                  the binary under test, every port on 127.0.0.1 (:0 = free port, read
#                          back from its log), sampling cache TTL 8 s
#   sampling_client.js     real jaeger-client (Node) with a remote sampler polling the agent:
#                          "client-all" must end up sampling every span (and the collector must
#                          receive them through the agent), "client-none" none, "svc-rate" a
#                          rate limiter, "svc-perop" a per-operation sampler
# Then every HTTP path, status and body is compared with tests/data/http/ (byte for byte), a
# known UDP workload is sent and /metrics must show exactly its counts (deltas between two
# scrapes, checked by prom_check.py; plus `promtool check metrics` when installed), the
# collector is stopped and the agent must serve the cached strategy (stale) but 500 for a
# service it never fetched and turn /ready to 503, and SIGTERM must stop the agent with exit 0.
# Everything on 127.0.0.1, bounded in time; the work dir is kept on failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
golden=$root/tests/data/http

die() { echo "run_sampling: FAIL $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: run_sampling.sh <agent-binary>"
agent_bin=$1
[[ -x $agent_bin ]] || die "agent binary '$agent_bin' not found or not executable (build target jaeger-xdp-agent)"
# shellcheck source=../lib/common.sh
source "$root/tests/lib/common.sh"  # now_ms, lines, wait_for, start_collector, require_node_peers
require_node_peers "$here" tchannel/as/thrift jaeger-client

work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-sampling.XXXXXX")
export JAGENT_IDL_DIR=$root/idl
collector_pid=""
agent_pid=""
ok=0
cleanup() {
  for pid in $agent_pid $collector_pid; do  # only what this script started, by pid
    if kill -0 "$pid" 2> /dev/null; then
      kill -TERM "$pid" 2> /dev/null
      for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2> /dev/null
    fi
  done
  wait 2> /dev/null
  if [[ $ok == 1 && -z ${INTEROP_KEEP:-} ]]; then rm -rf "$work"; else echo "run_sampling: work dir kept: $work" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run_sampling: $*"; }
failures=()
fail() { failures+=("$*"); echo "run_sampling: FAIL $*" >&2; }

# GET <port> <path-and-query> <out-body> [method]: prints "<status> <content-type>" (raw path,
# no client-side normalisation, 5 s timeout).
http_get() {
  python3 - "$@" << 'EOF'
import http.client, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
method = sys.argv[4] if len(sys.argv) > 4 else "GET"
try:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.putrequest(method, path, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    open(out, "wb").write(body)
    print(r.status, r.getheader("Content-Type", "-").replace(" ", ""))
except Exception as e:
    open(out, "wb").write(b"")
    print(0, "error:" + type(e).__name__)
EOF
}

# expect <port> <path> <status> <content-type|-> <golden-file|=literal|~prefix> [method]
expect() {
  local port=$1 path=$2 want_status=$3 want_type=$4 want_body=$5 method=${6:-GET} n
  n=$(( ${expect_n:-0} + 1 )); expect_n=$n
  local out=$work/resp.$n
  read -r status ctype < <(http_get "$port" "$path" "$out" "$method")
  local what="$method $path"
  [[ $status == "$want_status" ]] || { fail "$what: status $status, expected $want_status ($(head -c 200 "$out"))"; return; }
  [[ $want_type == - || $ctype == "${want_type// /}" ]] || fail "$what: Content-Type $ctype, expected $want_type"
  case $want_body in
    '') ;;
    =*) [[ $(cat "$out"; echo .) == "${want_body#=}." ]] || fail "$what: body '$(cat "$out")', expected '${want_body#=}'" ;;
    ~*) [[ $(cat "$out") == "${want_body#\~}"* ]] || fail "$what: body '$(cat "$out")' does not start with '${want_body#\~}'" ;;
    *) cmp -s "$out" "$golden/$want_body" || fail "$what: body '$(head -c 300 "$out")' differs from $want_body" ;;
  esac
}

scrape() {  # <name>: scrape /metrics into $work/<name>.txt and parse into $work/<name>.json
  read -r status _ < <(http_get "$admin_port" /metrics "$work/$1.txt")
  [[ $status == 200 ]] || { fail "/metrics answered $status"; return 1; }
  python3 "$here/prom_check.py" parse "$work/$1.txt" "$work/$1.json" > "$work/$1.check" ||
    { fail "/metrics ($1) is not valid exposition: $(head -5 "$work/$1.check")"; return 1; }
}

# --- collector ------------------------------------------------------------------------------
start_collector "$here/sampling_collector.js" "$work/spans.jsonl" "$work/collector-stats.json" "$work"
log "collector (tchannel-node) on 127.0.0.1:$collector_port"

# --- agent ----------------------------------------------------------------------------------
"$agent_bin" \
  --reporter.tchannel.host-port=127.0.0.1:$collector_port \
  --http-server.host-port=127.0.0.1:0 --admin.http.host-port=127.0.0.1:0 \
  --processor.jaeger-binary.server-host-port=127.0.0.1:0 \
  --processor.jaeger-compact.server-host-port=127.0.0.1:0 \
  --processor.zipkin-compact.server-host-port=127.0.0.1:0 \
  --processor.jaeger-binary.workers=1 --processor.jaeger-compact.workers=1 \
  --http-server.sampling-cache-ttl=8s \
  > "$work/agent.out" 2> "$work/agent.log" &
agent_pid=$!
wait_for "grep -q 'agent ready' '$work/agent.log' || ! kill -0 $agent_pid 2>/dev/null" 15 ||
  die "agent did not get ready; log: $(tail -5 "$work/agent.log")"
kill -0 "$agent_pid" 2> /dev/null || die "agent exited; log: $(tail -10 "$work/agent.log")"
sampling_port=$(grep -o 'sampling server :[0-9]*' "$work/agent.log" | head -1 | grep -o '[0-9]*$')
admin_port=$(grep -o 'admin server :[0-9]*' "$work/agent.log" | head -1 | grep -o '[0-9]*$')
read -r compact_port binary_port < <(sed -n 's/.*jaeger-compact :\([0-9]*\), jaeger-binary :\([0-9]*\).*/\1 \2/p' "$work/agent.log" | head -1)
[[ -n $sampling_port && -n $admin_port && -n $binary_port && -n $compact_port ]] ||
  die "cannot read the agent's ports from its log: $(grep -E 'http:|agent ready' "$work/agent.log")"
log "agent: sampling :$sampling_port, admin :$admin_port, UDP binary :$binary_port, compact :$compact_port"

# Readiness follows the collector connection.
wait_for "[[ \$(http_get $admin_port /ready $work/ready.body | cut -d' ' -f1) == 200 ]]" 10 ||
  fail "/ready did not become 200 with a collector up: $(cat "$work/ready.body")"

# --- real jaeger-client remote samplers ---------------------------------------------------------
for spec in client-all:all client-none:none svc-rate:rate:5 svc-perop:perop; do
  svc=${spec%%:*}
  want=${spec#*:}
  if timeout 20 node "$here/sampling_client.js" "$sampling_port" "$binary_port" "$svc" "$want" --spans 20 \
       > "$work/client-$svc.out" 2> "$work/client-$svc.err"; then
    log "jaeger-client $svc: $(cat "$work/client-$svc.out")"
  else
    fail "jaeger-client $svc did not apply the strategy: $(cat "$work/client-$svc.out" "$work/client-$svc.err" | head -5)"
  fi
done
# client-all's 20 sampled spans went client → agent (UDP) → collector; client-none's did not.
wait_for "[[ \$(grep -c '\"service\":\"client-all\"' $work/spans.jsonl) -ge 20 ]]" 10 ||
  fail "collector has $(grep -c '"service":"client-all"' "$work/spans.jsonl") spans of client-all, expected 20"
sleep 0.3
n=$(grep -c '"service":"client-all"' "$work/spans.jsonl"); [[ $n == 20 ]] || fail "collector has $n client-all spans, expected exactly 20"
n=$(grep -c '"service":"client-none"' "$work/spans.jsonl"); [[ $n == 0 ]] || fail "collector has $n client-none spans, expected 0"

# --- every HTTP path against the golden bodies --------------------------------------------------
sleep 8.2  # nothing in flight from the clients, and their polls' cache entries expired
scrape before || true
J=application/json
T="text/plain; charset=utf-8"
# Each legacy request right after the /sampling one for the same service: a cache hit (same
# entry, well within the TTL even on a loaded machine), so 3 hits and 6 collector calls.
for svc in svc-prob svc-rate svc-perop svc-perop-empty client-all client-none; do
  expect "$sampling_port" "/sampling?service=$svc" 200 "$J" "sampling_$svc.json"
  [[ -f $golden/legacy_$svc.json ]] && expect "$sampling_port" "/?service=$svc" 200 "$J" "legacy_$svc.json"
done
expect "$sampling_port" "/baggageRestrictions?service=svc-prob" 200 "$J" baggage_svc-prob.json
expect "$sampling_port" "/baggageRestrictions?service=other" 200 "$J" baggage_empty.json
for path in "/sampling" "/sampling?service=a&service=b" "/?x=1" "/baggageRestrictions" \
            "/baggageRestrictions?service=a;service=a"; do
  expect "$sampling_port" "$path" 400 "$T" error_400.txt
done
# tchannel-node answers a handler error with an error frame (code 0x05 "unexpected").
expect "$sampling_port" "/sampling?service=svc-fail" 500 "$T" \
  "=collector error: SamplingManager::getSamplingStrategy: unexpected: Unexpected Error
"
expect "$sampling_port" "/nope" 404 "$T" error_404.txt
expect "$sampling_port" "/sampling?service=svc-prob" 405 - "" POST

expect "$admin_port" "/" 200 "$J" ""
grep -Eq '^\{"status":"Server available","upSince":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z","uptime":"[0-9hmµs.n]+"\}$' \
  "$work/resp.$expect_n" || fail "health body: $(cat "$work/resp.$expect_n")"
expect "$admin_port" "/version" 200 "$J" ""
grep -Eq '^\{"gitCommit":"[^"]*","gitVersion":"v[0-9.]+[^"]*","buildDate":"[^"]*"\}$' "$work/resp.$expect_n" ||
  fail "/version body: $(cat "$work/resp.$expect_n")"
expect "$admin_port" "/ready" 200 "$J" '={"ready":true,"status":"ok","collectors":{"configured":1,"connected":1}}'
expect "$admin_port" "/metrics" 200 "text/plain; version=0.0.4; charset=utf-8" ""

# --- a known UDP workload, then exact counters --------------------------------------------------
python3 - "$root/tests/data/udp_jaeger_client.bin" "$binary_port" "$compact_port" << 'EOF'
import socket, sys
data = open(sys.argv[1], "rb").read()
binary, compact = int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    s.sendto(data, ("127.0.0.1", binary))      # 5 batches of 1 span
for _ in range(3):
    s.sendto(b"garbage!", ("127.0.0.1", compact))  # rejected: bad_envelope
for _ in range(2):
    s.sendto(data[:100], ("127.0.0.1", binary))    # rejected: truncated
EOF
client_service=$(python3 -c "
import sys; d=open('$root/tests/data/udp_jaeger_client.bin','rb').read()
i=d.find(b'\x0b\x00\x01',20); n=int.from_bytes(d[i+3:i+7],'big'); print(d[i+7:i+7+n].decode())")
wait_for "[[ \$(grep -c '\"service\":\"$client_service\"' $work/spans.jsonl) -ge 5 ]]" 10 ||
  fail "collector has $(grep -c "\"service\":\"$client_service\"" "$work/spans.jsonl") spans of $client_service, expected 5"
sleep 0.3
scrape after || true
B='model=\"jaeger\",protocol=\"binary\"'
C='model=\"jaeger\",protocol=\"compact\"'
cat > "$work/expect-delta.json" << EOF
{
 "jaeger_agent_thrift_udp_server_packets_processed_total{$B}": 7,
 "jaeger_agent_thrift_udp_server_packets_processed_total{$C}": 3,
 "jaeger_agent_thrift_udp_server_packets_dropped_total{$B}": 0,
 "jaeger_agent_thrift_udp_server_packets_too_large_total{$B}": 0,
 "jaeger_agent_received_batches_total{$B}": 5,
 "jaeger_agent_received_spans_total{$B}": 5,
 "jaeger_agent_thrift_udp_t_processor_handler_errors_total{$B}": 2,
 "jaeger_agent_thrift_udp_t_processor_handler_errors_total{$C}": 3,
 "jaeger_agent_decode_rejected_total{$C,reason=\"bad_envelope\"}": 3,
 "jaeger_agent_decode_rejected_total{$B,reason=\"truncated\"}": 2,
 "jaeger_agent_reporter_spans_submitted_total{format=\"jaeger\",protocol=\"tchannel\"}": 5,
 "jaeger_agent_http_server_requests_total{type=\"sampling\"}": 6,
 "jaeger_agent_http_server_requests_total{type=\"sampling-legacy\"}": 3,
 "jaeger_agent_http_server_requests_total{type=\"baggage\"}": 2,
 "jaeger_agent_http_server_errors_total{source=\"all\",status=\"4xx\"}": 5,
 "jaeger_agent_http_server_errors_total{source=\"collector-proxy\",status=\"5xx\"}": 1,
 "jaeger_agent_http_server_errors_total{source=\"thrift\",status=\"5xx\"}": 0,
 "jaeger_agent_http_server_cache_lookups_total{endpoint=\"sampling\",result=\"hit\"}": 3,
 "jaeger_agent_http_server_cache_lookups_total{endpoint=\"sampling\",result=\"miss\"}": 7,
 "jaeger_agent_collector_proxy_total{endpoint=\"sampling\",protocol=\"tchannel\",result=\"ok\"}": 6,
 "jaeger_agent_collector_proxy_total{endpoint=\"baggage\",protocol=\"tchannel\",result=\"ok\"}": 2,
 "jaeger_agent_collector_proxy_total{endpoint=\"sampling\",protocol=\"tchannel\",result=\"err\"}": 1
}
EOF
python3 "$here/prom_check.py" delta "$work/before.json" "$work/after.json" "$work/expect-delta.json" ||
  fail "metrics after the workload differ from the expected deltas (see above)"
cat > "$work/expect-value.json" << EOF
{
 "jaeger_agent_collector_connected{peer=\"127.0.0.1:$collector_port\"}": 1,
 "jaeger_agent_client_stats_connected_clients": 0,
 "jaeger_agent_build_info{build_date=\"\",revision=\"\",version=\"v$(sed -n 's/^project(.* VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")\"}": 1
}
EOF
python3 "$here/prom_check.py" value "$work/after.json" "$work/expect-value.json" || fail "metric values (see above)"
if command -v promtool > /dev/null; then
  if promtool check metrics < "$work/after.txt" > "$work/promtool.out" 2>&1; then
    log "promtool check metrics: ok"
  else
    fail "promtool check metrics: $(head -5 "$work/promtool.out")"
  fi
else
  log "promtool not installed: exposition checked by prom_check.py only"
fi

# --- collector gone: stale answers, errors for unknown services, readiness ------------------------
kill -TERM "$collector_pid"
wait_for "! kill -0 $collector_pid 2>/dev/null" 5 || fail "collector did not stop"
wait "$collector_pid" 2> /dev/null
collector_pid=""
sleep 8.2  # past the 8 s TTL
expect "$sampling_port" "/sampling?service=svc-perop" 200 "$J" sampling_svc-perop.json
expect "$sampling_port" "/?service=svc-prob" 200 "$J" legacy_svc-prob.json
expect "$sampling_port" "/sampling?service=never-fetched" 500 "$T" "~collector error: SamplingManager::getSamplingStrategy: "
wait_for "[[ \$(http_get $admin_port /ready $work/ready.body | cut -d' ' -f1) == 503 ]]" 10 ||
  fail "/ready stayed $(http_get "$admin_port" /ready "$work/ready.body") without a collector"
expect "$admin_port" "/" 200 "$J" ""  # health is about the agent, not the collector (as jaeger's)
scrape stale || true
cat > "$work/expect-stale.json" << EOF
{
 "jaeger_agent_http_server_cache_stale_serves_total{endpoint=\"sampling\"}": 2,
 "jaeger_agent_http_server_errors_total{source=\"collector-proxy\",status=\"5xx\"}": 1
}
EOF
python3 "$here/prom_check.py" delta "$work/after.json" "$work/stale.json" "$work/expect-stale.json" ||
  fail "stale-serve metrics (see above)"

# --- shutdown -----------------------------------------------------------------------------------
kill -TERM "$agent_pid"
if wait_for "! kill -0 $agent_pid 2>/dev/null" 15; then
  wait "$agent_pid"
  rc=$?
  agent_pid=""
  [[ $rc == 0 ]] || fail "agent exited with status $rc after SIGTERM"
else
  fail "agent did not exit within 15 s of SIGTERM"
fi

if (( ${#failures[@]} )); then
  echo "run_sampling: ${#failures[@]} failure(s); agent log tail:" >&2
  tail -n 15 "$work/agent.log" >&2
  exit 1
fi
ok=1
echo "run_sampling: PASS ($expect_n HTTP exchanges checked)"
