# Shell helpers shared by the test scripts (sourced, not run). Callers define die().

now_ms() { date +%s%3N; }

# Lines in a file, 0 when it does not exist yet.
lines() { if [[ -f $1 ]]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }

# wait_for <condition> <seconds>: until the command string succeeds; returns 1 on timeout.
wait_for() {
  local deadline=$(( $(now_ms) + $2 * 1000 ))
  while ! eval "$1"; do
    (( $(now_ms) < deadline )) || return 1
    sleep 0.05
  done
}

# start_collector <collector.js-like script> <spans.jsonl> <stats.json> <workdir> [command prefix...]
# Starts a tchannel-node collector on an ephemeral loopback port and waits for its "ready <port>"
# line. Sets collector_pid and collector_port; dies (via die) if it does not come up in 10 s.
start_collector() {
  local script=$1 spans=$2 stats=$3 dir=$4
  shift 4
  "$@" node "$script" 0 "$spans" "$stats" > "$dir/collector.out" 2> "$dir/collector.err" &
  collector_pid=$!
  wait_for "grep -q '^ready ' '$dir/collector.out' || ! kill -0 $collector_pid 2>/dev/null" 10 ||
    die "collector did not start within 10 s: $(tail -5 "$dir/collector.err")"
  kill -0 "$collector_pid" 2> /dev/null || die "collector exited: $(tail -5 "$dir/collector.err")"
  collector_port=$(awk '/^ready /{print $2; exit}' "$dir/collector.out")
}

# require_node_peers <dir> <module>...: node, python3 and the npm peers in <dir>/node_modules must
# be there (tools/setup.sh installs node, tools/setup-npm.sh the peers); dies otherwise.
require_node_peers() {
  local dir=$1 js=""
  shift
  command -v node > /dev/null || die "node not found (tools/setup.sh installs nodejs)"
  command -v python3 > /dev/null || die "python3 not found"
  for m in "$@"; do js+="require('$m');"; done
  if [[ ! -d $dir/node_modules ]] || ! (cd "$dir" && node -e "$js" 2> /dev/null); then
    die "npm peers missing in $dir/node_modules: run tools/setup-npm.sh"
  fi
}
