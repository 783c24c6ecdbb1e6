#!/usr/bin/env python3
"""Writes prometheusrule.yaml (a PrometheusRule for the Prometheus operator) from alerts.yaml.

  deploy/monitoring/make_prometheusrule.py          # rewrite prometheusrule.yaml
  deploy/monitoring/make_prometheusrule.py --check  # exit 1 if it is out of date (tests/deploy)

The rules are copied as text, indented under `spec:`, so the comments and the block-scalar
expressions stay readable in both files; the test also compares them parsed.
"""
import os
import sys

import generated  # noqa: E402  (beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))
SRC, DEST = os.path.join(HERE, "alerts.yaml"), os.path.join(HERE, "prometheusrule.yaml")

HEADER = """\
# GENERATED from alerts.yaml by make_prometheusrule.py: edit alerts.yaml, then run
#   deploy/monitoring/make_prometheusrule.py
# The same rules as a PrometheusRule for the Prometheus operator (kubectl apply -f this file).
# The label release/prometheus selector of your Prometheus' ruleSelector may need adding.
# What each alert means and what to do: deploy/README.md, "Alerts".
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: jaeger-xdp-agent
  namespace: jaeger
  labels:
    app.kubernetes.io/name: jaeger-xdp-agent
    app.kubernetes.io/component: agent
    app.kubernetes.io/part-of: jaeger
spec:
"""


def render():
    with open(SRC) as f:
        lines = f.read().splitlines()
    start = lines.index("groups:")  # the leading comment block of alerts.yaml stays there
    body = "".join(("  " + l).rstrip() + "\n" for l in lines[start:])
    return HEADER + body


def main():
    return generated.write_or_check(DEST, render(), __file__, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
