#!/usr/bin/env bash
# The README's "run" command: installs what is missing, builds, and runs the agent in the
# foreground. Extra arguments go to the agent, e.g.
#   tools/run.sh --reporter.tchannel.host-port=collector:14267
# With no collector configured the agent prints one line per received batch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/setup.sh" --runtime-only
"$root/tools/build.sh" >&2
exec "$root/build/jaeger-xdp-agent" "$@"
