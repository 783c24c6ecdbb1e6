#!/usr/bin/env bash
# Self-test of the interop harness, without the agent: the senders send to udp_capture.js (a
# thriftrw decoder standing in for agent + collector), and compare.py must find the spans
# identical. This proves that the jaeger-client capture, the C++ oracle's JSON and the
# collector's normalize.js agree on every field, so a failure of run_interop.sh is the agent's.
# Also checks that compare.py does catch missing, duplicated, unexpected and altered spans.
#
#   tests/interop/selftest.sh <oracle-sender-binary>
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
die() { echo "selftest: FAIL $*" >&2; exit 1; }

[[ $# -ge 1 && -x $1 ]] || die "usage: selftest.sh <oracle-sender-binary>"
oracle_bin=$1
command -v node > /dev/null || die "node not found"
if [[ ! -d $here/node_modules ]] ||
   ! (cd "$here" && node -e "require('jaeger-client'); require('thriftrw')" 2> /dev/null); then
  die "npm peers missing in $here/node_modules: run tools/setup-npm.sh"
fi
export JAGENT_IDL_DIR=$root/idl
work=$(mktemp -d "${TMPDIR:-/tmp}/jagent-interop-selftest.XXXXXX")
cap_pid=""
ok=0
cleanup() {
  [[ -n $cap_pid ]] && kill -TERM "$cap_pid" 2> /dev/null
  wait 2> /dev/null
  if [[ $ok == 1 ]]; then rm -rf "$work"; else echo "selftest: files kept in $work" >&2; fi
}
trap cleanup EXIT

node "$here/udp_capture.js" "$work/received.jsonl" > "$work/cap.out" 2> "$work/cap.err" &
cap_pid=$!
for _ in $(seq 1 100); do grep -q '^ready ' "$work/cap.out" && break; sleep 0.05; done
port=$(awk '/^ready /{print $2; exit}' "$work/cap.out")
[[ -n $port ]] || die "udp_capture did not start: $(cat "$work/cap.err")"

node "$here/send_jaeger_client.js" "$port" "$work/sent.jsonl" --spans 300 || die "jaeger-client sender"
"$oracle_bin" --compact-port "$port" --binary-port "$port" --zipkin-port "$port" --batches 60 --seed 3 \
  --force-binary --message-type mixed --out "$work/sent-oracle.jsonl" || die "oracle sender"
cat "$work/sent-oracle.jsonl" >> "$work/sent.jsonl"
want=$(wc -l < "$work/sent.jsonl")
for _ in $(seq 1 100); do (( $(wc -l < "$work/received.jsonl") >= want )) && break; sleep 0.05; done
kill -TERM "$cap_pid"
wait "$cap_pid" || die "udp_capture reported errors: $(cat "$work/cap.err")"
cap_pid=""

python3 "$here/compare.py" --name selftest "$work/sent.jsonl" "$work/received.jsonl" || die "harness disagrees with itself"

# compare.py must catch every kind of difference.
python3 - "$work/received.jsonl" "$work/broken.jsonl" << 'EOF'
import json, sys
spans = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
spans[1]["operationName" if spans[1]["format"] == "jaeger" else "name"] += "x"   # altered
dropped = spans.pop(2)                                                            # missing
spans.append(dict(spans[3]))                                                      # duplicated
extra = dict(spans[4]); extra["spanId" if extra["format"] == "jaeger" else "id"] = "0000000000000000"
spans.append(extra)                                                               # unexpected
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for s in spans:
        f.write(json.dumps(s, ensure_ascii=False) + "\n")
EOF
out=$(python3 "$here/compare.py" --name negative "$work/sent.jsonl" "$work/broken.jsonl") && die "compare.py accepted a broken file"
grep -q "1 missing, 1 duplicated, 1 unexpected, 1 altered" <<< "$out" || die "compare.py miscounted: $out"
echo "selftest: compare.py flags broken input: $(head -1 <<< "$out")"
ok=1
echo "selftest: PASS"
