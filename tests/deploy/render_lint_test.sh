#!/usr/bin/env bash
# deploy/k8s renders and lints clean, and says what it promises.
#
#   tests/deploy/render_lint_test.sh <agent-binary>
#
# 1. `kubectl kustomize deploy/k8s` (what `kubectl apply -k deploy/k8s` would send) succeeds.
# 2. `yamllint -s` (warnings are errors) with the repository's .yamllint passes on the sources
#    (deploy/k8s/*.yaml, .yamllint itself) and on the rendered output.
# 3. manifest_check.py: the DaemonSet/Service/ConfigMap properties of the issue, and the ConfigMap
#    documents exactly the flags of `<agent-binary> --help`.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
agent=${1:?usage: render_lint_test.sh <agent-binary>}
fail() { echo "render_lint_test: FAIL $*" >&2; exit 1; }

for tool in kubectl yamllint python3; do
  command -v "$tool" > /dev/null || fail "$tool not found (tools/setup.sh installs it)"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jagent-render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

kubectl kustomize "$root/deploy/k8s" > "$tmp/rendered.yaml" 2> "$tmp/kustomize.err" ||
  { cat "$tmp/kustomize.err" >&2; fail "kubectl kustomize deploy/k8s"; }
[[ -s $tmp/kustomize.err ]] && { echo "render_lint_test: kustomize warnings:" >&2; cat "$tmp/kustomize.err" >&2; fail "kustomize printed warnings"; }
echo "render_lint_test: rendered $(grep -c '^kind:' "$tmp/rendered.yaml") objects with $(kubectl version --client 2>/dev/null | tr '\n' ' ')"

(cd "$root" && yamllint -s -c .yamllint .yamllint deploy/k8s) || fail "yamllint -s on deploy/k8s"
yamllint -s -c "$root/.yamllint" "$tmp/rendered.yaml" || fail "yamllint -s on the rendered manifests"
echo "render_lint_test: yamllint -s clean (sources and rendered output)"

python3 "$here/manifest_check.py" "$tmp/rendered.yaml" "$agent" || fail "manifest checks"
echo "render_lint_test: PASS"
