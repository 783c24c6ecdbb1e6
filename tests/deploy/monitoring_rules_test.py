#!/usr/bin/env python3
"""deploy/monitoring's alerting rules, offline (ctest deploy_alerts):

1. `promtool check rules` on alerts.yaml and on the spec of prometheusrule.yaml;
2. `promtool test rules tests/deploy/monitoring/alerts_test.yaml`: every alert fires from synthetic
   series with the expected labels and annotations, and the negative series fire nothing;
3. every alert of alerts.yaml has a unit test that expects it to fire;
4. prometheusrule.yaml is what make_prometheusrule.py generates (byte for byte) and its spec parses
   to the same rules as alerts.yaml;
5. every runbook_url, and every #link inside deploy/README.md, is a heading of deploy/README.md
   (GitHub's anchor rules);
6. yamllint -s (the repository's .yamllint; annotations may exceed its line length).
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402

MON = os.path.join(dl.ROOT, "deploy", "monitoring")
ALERTS = os.path.join(MON, "alerts.yaml")
PROM_RULE = os.path.join(MON, "prometheusrule.yaml")
UNIT = os.path.join(dl.ROOT, "tests", "deploy", "monitoring", "alerts_test.yaml")
README = os.path.join(dl.ROOT, "deploy", "README.md")


def github_anchor(heading):
    """GitHub's heading id: lower case, punctuation except - and _ removed, spaces to -."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0:
        dl.fail(f"{' '.join(cmd)} failed:\n{out}")
    return out


def main():
    for tool in ("promtool", "yamllint"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            dl.fail(f"{tool} not found (tools/setup.sh installs it)")
    with open(ALERTS) as f:
        plain = yaml.safe_load(f)
    alerts = [r["alert"] for g in plain["groups"] for r in g["rules"] if "alert" in r]
    dl.log(f"alerts.yaml: {len(alerts)} alerts: {' '.join(alerts)}")

    # 1. promtool check rules, both files
    dl.log(run(["promtool", "check", "rules", ALERTS]).replace("\n", " | "))
    with open(PROM_RULE) as f:
        crd = yaml.safe_load(f)
    if crd.get("kind") != "PrometheusRule" or crd.get("apiVersion") != "monitoring.coreos.com/v1":
        dl.fail("prometheusrule.yaml must be a monitoring.coreos.com/v1 PrometheusRule")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as t:
        yaml.safe_dump(crd["spec"], t)
    try:
        dl.log("PrometheusRule spec: " + run(["promtool", "check", "rules", t.name]).replace("\n", " | "))
    finally:
        os.unlink(t.name)

    # 2. unit tests
    dl.log(run(["promtool", "test", "rules", UNIT]).replace("\n", " | "))

    # 3. every alert has a positive test
    with open(UNIT) as f:
        unit = yaml.safe_load(f)
    fired = {t["alertname"] for test in unit["tests"] for t in test.get("alert_rule_test", []) if t.get("exp_alerts")}
    untested = sorted(set(alerts) - fired)
    if untested:
        dl.fail(f"alerts without a unit test that fires them: {untested}")
    for test in unit["tests"]:
        for t in test.get("alert_rule_test", []):
            if t["alertname"] not in alerts:
                dl.fail(f"unit test for unknown alert {t['alertname']}")

    # 4. the PrometheusRule is generated from alerts.yaml and says the same
    gen = subprocess.run([sys.executable, os.path.join(MON, "make_prometheusrule.py"), "--check"],
                         capture_output=True, text=True)
    if gen.returncode != 0:
        dl.fail(gen.stderr.strip())
    if crd["spec"] != plain:
        dl.fail("prometheusrule.yaml's spec differs from alerts.yaml")
    dl.log("prometheusrule.yaml = make_prometheusrule.py(alerts.yaml), spec parses equal")

    # 5. runbook links
    with open(README) as f:
        readme = f.read()
    anchors = {github_anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", readme, re.M)}
    broken = [a for a in re.findall(r"\]\(#([^)]+)\)", readme) if a not in anchors]
    if broken:
        dl.fail(f"deploy/README.md links to sections that do not exist: {broken}")
    for g in plain["groups"]:
        for r in g["rules"]:
            url = r.get("annotations", {}).get("runbook_url", "")
            m = re.fullmatch(r"deploy/README\.md#([\w-]+)", url)
            if not m:
                dl.fail(f"{r['alert']}: runbook_url {url!r} is not deploy/README.md#<section>")
            if m.group(1) not in anchors:
                dl.fail(f"{r['alert']}: deploy/README.md has no heading with anchor #{m.group(1)}")
            for k in ("summary", "description"):
                if not r["annotations"].get(k):
                    dl.fail(f"{r['alert']}: no {k} annotation")
    dl.log("every runbook_url is a heading of deploy/README.md")

    # 6. yamllint
    cfg = f"{{extends: {os.path.join(dl.ROOT, '.yamllint')}, rules: {{line-length: disable}}}}"
    run(["yamllint", "-s", "-d", cfg, ALERTS, PROM_RULE, UNIT])
    dl.log("yamllint -s ok")
    dl.log("PASS")


if __name__ == "__main__":
    main()
