#!/usr/bin/env bash
# Installs the npm peers of the interop tests (tchannel 4.0.1, jaeger-client 3.19.0, thriftrw)
# into tests/interop/node_modules. Idempotent: runs `npm install` only when node_modules is
# missing or tests/interop/package.json (or the metrics stub) changed since the last install.
#
# Quirks handled here (see shared/reference/wire-protocols.md §5.1):
#  * tchannel@4.0.1 depends on `metrics`, which the registry no longer serves (404): package.json
#    overrides it with the local stub tests/interop/stub-metrics.
#  * tchannel's native addons (farmhash, sse4_crc32) are built from source by node-gyp, which must
#    not download Node headers: point it at the system headers (/usr/include/node) via nodedir.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/tests/interop
stamp=$dir/node_modules/.jagent-npm-installed

if [[ -f $stamp && ! $dir/package.json -nt $stamp && ! $dir/stub-metrics/package.json -nt $stamp &&
      ! $dir/stub-metrics/index.js -nt $stamp ]]; then
  echo "setup-npm: $dir/node_modules is up to date"
  exit 0
fi

for tool in node npm; do
  if ! command -v "$tool" > /dev/null; then
    echo "setup-npm: '$tool' not found (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
if [[ -z ${npm_config_nodedir:-} && -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi

echo "setup-npm: npm install in $dir"
(cd "$dir" && npm install --no-audit --no-fund)

# The install scripts of the native addons must have run: tchannel loads them eagerly.
(cd "$dir" && node -e "require('tchannel'); require('tchannel/as/thrift'); require('jaeger-client'); require('thriftrw');") || {
  echo "setup-npm: installed packages do not load (native addons farmhash/sse4_crc32 not built?)" >&2
  exit 1
}
touch "$stamp"
echo "setup-npm: ok"
