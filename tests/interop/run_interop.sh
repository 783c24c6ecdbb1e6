#!/usr/bin/env bash
# Interop test: real Jaeger peers around the agent, every span compared field by field.
#
#   tests/interop/run_interop.sh <agent-binary> <oracle-sender-binary> [all|jaeger-client|oracle]
#
#   collector.js  real tchannel-node server, service jaeger-collector (Collector::submitBatches,
#                 ZipkinCollector::submitZipkinBatch), writes every received span as a JSON line
#   agent         the binary under test: 3 UDP processors on free loopback ports, 8 MiB socket
#                 buffers, --reporter.tchannel.host-port = the collector
#   run "jaeger-client": send_jaeger_client.js — real jaeger-client (npm) → binary port
#   run "oracle":  oracle-sender — Apache Thrift C++ encoded batches → compact port (+ every third
#                 batch binary → binary port), zipkin span lists → zipkin port
# Then SIGTERM to the agent (must drain and exit 0), stop the collector, and compare.py per run:
# fails on any missing, duplicated, unexpected or altered span, on transport headers other than
# as=thrift/cn=jaeger-agent, or on any step timing out. Everything on 127.0.0.1, < 2 minutes.
#
# Environment: INTEROP_SPANS (jaeger-client spans, default 1200), INTEROP_BATCHES (oracle jaeger
# batches, default 160; zipkin datagrams = half), INTEROP_SEED (default 42),
# INTEROP_MESSAGE_TYPE (oracle: call|oneway|mixed, default call), INTEROP_KEEP=1 (keep the
# work dir even on success). The work dir (logs, sent/received spans) is kept on failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

die() { echo "run_interop: FAIL $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: run_interop.sh <agent-binary> <oracle-sender-binary> [all|jaeger-client|oracle]"
agent_bin=$1
oracle_bin=$2
mode=${3:-all}
case $mode in all|jaeger-client|oracle) ;; *) die "unknown mode '$mode'";; esac
[[ -x $agent_bin ]] || die "agent binary '$agent_bin' not found or not executable (build target jaeger-xdp-agent)"
if [[ $mode != jaeger-client ]]; then
  [[ -x $oracle_bin ]] || die "oracle sender '$oracle_bin' not found or not executable (build target oracle-sender)"
fi
# shellcheck source=../lib/common.sh
source "$root/tests/lib/common.sh"  # now_ms, lines, wait_for, start_collector, require_node_peers
require_node_peers "$here" tchannel/as/thrift jaeger-client thriftrw

spans_target=${INTEROP_SPANS:-1200}
oracle_batches=${INTEROP_BATCHES:-160}
seed=${INTEROP_SEED:-42}
message_type=${INTEROP_MESSAGE_TYPE:-call}
work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-interop.XXXXXX")
export JAGENT_IDL_DIR=$root/idl

collector_pid=""
agent_pid=""
ok=0
cleanup() {
  # Only the processes this script started, by pid.
  for pid in $agent_pid $collector_pid; do
    if kill -0 "$pid" 2> /dev/null; then
      kill -TERM "$pid" 2> /dev/null
      for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2> /dev/null
    fi
  done
  wait 2> /dev/null
  if [[ $ok == 1 && -z ${INTEROP_KEEP:-} ]]; then
    rm -rf "$work"
  else
    echo "run_interop: logs and span files kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run_interop: $*"; }

# Free loopback UDP ports (the kernel picks; tiny race until the agent binds them).
read -r port_binary port_compact port_zipkin < <(python3 - << 'EOF'
import socket
socks = []
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
[[ -n ${port_zipkin:-} ]] || die "could not pick free UDP ports"

# --- collector ------------------------------------------------------------------------------
received=$work/received.jsonl
start_collector "$here/collector.js" "$received" "$work/collector-stats.json" "$work"
log "collector (tchannel-node) on 127.0.0.1:$collector_port"

# --- agent ----------------------------------------------------------------------------------
buf=$((8 * 1024 * 1024))
"$agent_bin" \
  --processor.jaeger-binary.server-host-port=127.0.0.1:$port_binary \
  --processor.jaeger-compact.server-host-port=127.0.0.1:$port_compact \
  --processor.zipkin-compact.server-host-port=127.0.0.1:$port_zipkin \
  --processor.jaeger-binary.server-socket-buffer-size=$buf \
  --processor.jaeger-compact.server-socket-buffer-size=$buf \
  --processor.zipkin-compact.server-socket-buffer-size=$buf \
  --reporter.tchannel.host-port=127.0.0.1:$collector_port \
  --http-server.host-port=127.0.0.1:0 \
  --admin.http.host-port=127.0.0.1:0 \
  --log-level=info \
  > "$work/agent.out" 2> "$work/agent.log" &
agent_pid=$!
wait_for "grep -q 'agent ready' '$work/agent.log' 2>/dev/null || ! kill -0 $agent_pid 2>/dev/null" 15 ||
  die "agent did not log 'agent ready' within 15 s; log tail: $(tail -5 "$work/agent.log")"
kill -0 "$agent_pid" 2> /dev/null || die "agent exited before ready; log tail: $(tail -10 "$work/agent.log")"
log "agent ready (binary :$port_binary, compact :$port_compact, zipkin :$port_zipkin)"

failures=()
summary=()

# Waits until the collector has written at least $1 span lines: at most $2 seconds, and at most
# 8 s without progress. Then waits 0.5 s more so that late duplicates show up too. Sets
# received_now to the line count.
received_now=0
wait_received() {
  local want=$1 limit=$2 deadline last=-1 last_change n
  deadline=$(( $(now_ms) + limit * 1000 ))
  while :; do
    n=$(lines "$received")
    (( n >= want )) && break
    if (( n != last )); then last=$n; last_change=$(now_ms); fi
    if (( $(now_ms) >= deadline || $(now_ms) - last_change >= 8000 )); then
      log "timeout: the collector has $n of $want spans" >&2
      break
    fi
    sleep 0.05
  done
  sleep 0.5
  received_now=$(lines "$received")
}

# The agent must run until this script stops it.
check_agent_alive() {
  [[ -n $agent_pid ]] || return 1
  if ! kill -0 "$agent_pid" 2> /dev/null; then
    wait "$agent_pid"
    local rc=$?
    agent_pid=""
    failures+=("agent stopped during the $1 (exit status $rc) before this test sent SIGTERM; log: $(grep -E 'SIGTERM|SIGINT|fatal|critical' "$work/agent.log" | tail -2)")
    return 1
  fi
}

# --- run 1: jaeger-client → binary port -----------------------------------------------------
split1=0
if [[ $mode == all || $mode == jaeger-client ]]; then
  t0=$(now_ms)
  if node "$here/send_jaeger_client.js" "$port_binary" "$work/sent-jaeger-client.jsonl" \
       --spans "$spans_target" --seed "$seed" > "$work/jaeger-client.out" 2>&1; then
    cat "$work/jaeger-client.out"
    n=$(lines "$work/sent-jaeger-client.jsonl")
    wait_received "$n" 20
    split1=$received_now
    log "jaeger-client run: sent $n spans, collector has $split1 ($(( $(now_ms) - t0 )) ms)"
  else
    cat "$work/jaeger-client.out"
    failures+=("jaeger-client sender failed")
    split1=$(lines "$received")
  fi
  check_agent_alive "jaeger-client run"
fi

# --- run 2: oracle (compact + binary + zipkin) ----------------------------------------------
if [[ ($mode == all || $mode == oracle) && -n $agent_pid ]]; then
  t0=$(now_ms)
  if "$oracle_bin" --compact-port "$port_compact" --binary-port "$port_binary" --zipkin-port "$port_zipkin" \
       --batches "$oracle_batches" --seed "$seed" --message-type "$message_type" \
       --out "$work/sent-oracle.jsonl" > "$work/oracle.out" 2>&1; then
    cat "$work/oracle.out"
    n=$(lines "$work/sent-oracle.jsonl")
    wait_received $(( split1 + n )) 20
    log "oracle run: sent $n spans, collector has $(( received_now - split1 )) ($(( $(now_ms) - t0 )) ms)"
  else
    cat "$work/oracle.out"
    failures+=("oracle sender failed")
  fi
  check_agent_alive "oracle run"
fi

# --- shutdown: the agent must drain and exit 0 ----------------------------------------------
if [[ -n $agent_pid ]]; then
  kill -TERM "$agent_pid"
  if wait_for "! kill -0 $agent_pid 2>/dev/null" 15; then
    wait "$agent_pid"
    agent_rc=$?
    agent_pid=""
    if [[ $agent_rc != 0 ]]; then
      failures+=("agent exited with status $agent_rc after SIGTERM")
    else
      log "agent exited 0 after SIGTERM"
    fi
  else
    failures+=("agent did not exit within 15 s of SIGTERM")
  fi
fi
sleep 0.3  # anything the drain sent is in the file before the collector stops
kill -TERM "$collector_pid"
wait_for "! kill -0 $collector_pid 2>/dev/null" 5 || failures+=("collector did not stop")
wait "$collector_pid" 2> /dev/null
collector_pid=""

# --- checks ---------------------------------------------------------------------------------
if [[ -f $work/collector-stats.json ]]; then
  if ! python3 - "$work/collector-stats.json" << 'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
bad = {k: v for k, v in st["headers"].items() if k != "as=thrift,cn=jaeger-agent"}
print("run_interop: collector: %d submitBatches calls (%d batches, %d spans), %d submitZipkinBatch calls "
      "(%d spans), transport headers %s, checksum types %s"
      % (st["calls"]["Collector::submitBatches"], st["batches"], st["spans"]["jaeger"],
         st["calls"]["ZipkinCollector::submitZipkinBatch"], st["spans"]["zipkin"], st["headers"],
         st["checksumTypes"]))
errors = []
if bad:
    errors.append("calls with transport headers other than as=thrift,cn=jaeger-agent: %s" % bad)
if set(st["services"]) - {"jaeger-collector"}:
    errors.append("calls to services %s" % st["services"])
if st["errors"]:
    errors.append("collector errors: %s" % st["errors"][:3])
for e in errors:
    print("run_interop: FAIL " + e)
sys.exit(1 if errors else 0)
EOF
  then
    failures+=("collector-side checks")
  fi
else
  failures+=("collector wrote no stats (did it crash? $(tail -3 "$work/collector.err"))")
fi

head -n "$split1" "$received" > "$work/received-jaeger-client.jsonl"
tail -n +"$(( split1 + 1 ))" "$received" > "$work/received-oracle.jsonl"
if [[ $mode == all || $mode == jaeger-client ]]; then
  if [[ -f $work/sent-jaeger-client.jsonl ]]; then
    out=$(python3 "$here/compare.py" --name jaeger-client "$work/sent-jaeger-client.jsonl" "$work/received-jaeger-client.jsonl")
    rc=$?
    echo "$out"
    summary+=("$(head -1 <<< "$out")")
    [[ $rc == 0 ]] || failures+=("jaeger-client run: spans differ")
  fi
fi
if [[ $mode == all || $mode == oracle ]]; then
  if [[ -f $work/sent-oracle.jsonl ]]; then
    out=$(python3 "$here/compare.py" --name oracle "$work/sent-oracle.jsonl" "$work/received-oracle.jsonl")
    rc=$?
    echo "$out"
    summary+=("$(head -1 <<< "$out")")
    [[ $rc == 0 ]] || failures+=("oracle run: spans differ")
  fi
elif [[ -s $work/received-oracle.jsonl ]]; then
  failures+=("collector received $(lines "$work/received-oracle.jsonl") spans after the jaeger-client run's spans")
fi

errors_logged=$(grep -ciE '\] \[(error|critical)\]' "$work/agent.log")
echo "run_interop: ---- summary ----"
for s in "${summary[@]}"; do echo "  $s"; done
echo "  agent log: $(wc -l < "$work/agent.log") lines, $errors_logged error lines"
if (( ${#failures[@]} )); then
  for f in "${failures[@]}"; do echo "run_interop: FAIL $f" >&2; done
  echo "run_interop: agent log tail:" >&2
  tail -n 15 "$work/agent.log" >&2
  exit 1
fi
ok=1
echo "run_interop: PASS"
