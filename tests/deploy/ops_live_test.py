#!/usr/bin/env python3
"""deploy/monitoring against a running agent (ctest deploy_ops_metric_names, deploy_ops_prometheus).

  ops_live_test.py <agent> <collector-sink> names|prometheus

Both run the agent with XDP on a veth in a network namespace the test creates (jp-ops*-node-<pid>,
own bpffs), forwarding to the C++ collector sink (tools/collector_sink.cc) on that namespace's
loopback, and send real datagrams from a second namespace across the veth, so the XDP program,
AF_XDP and the kernel-socket path all count.

names       dashboard.json is what make_dashboard.py generates. Every metric name that deploy/monitoring/dashboard.json and alerts.yaml use appears in
            the agent's /metrics (XDP names included: the test checks that XDP is attached), and
            every `by (...)` label the dashboard groups a metric by is a label of that metric (or
            `instance`, which Prometheus adds). The collector sink answers too late on purpose
            (--delay-ms above --reporter.tchannel.report-timeout), so the reporter's failure
            counters, which the agent registers on the first failure, exist too.
prometheus  A real Prometheus server (Debian's `prometheus`, on the namespace's loopback, scraping
            the agent every second, evaluating deploy/monitoring/alerts.yaml as shipped):
            * truncated datagrams to 6831 make JaegerXdpAgentDecodeRejectsSpike pending for
              {reason="truncated", protocol="compact"}, while JaegerXdpAgentDown and
              JaegerXdpAgentNotReady stay inactive;
            * every dashboard expression evaluates without error on the live data, and the
              received/forwarded spans panels show the spans sent;
            * stopping the collector makes JaegerXdpAgentNotReady pending.
            (The alerts' `for:` of minutes keeps them pending here; the promtool unit tests
            cover firing.)

Bounded: ~10 s (names), ~25 s (prometheus). Skips (77) when not root or namespaces are unavailable.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy_lib as dl  # noqa: E402
import ops_lib as ol  # noqa: E402
import span_datagram  # noqa: E402

ADMIN_PORT, PROM_PORT = 14271, 9090


def start_agent(node, agent_bin, sink_port, *extra):
    argv = [agent_bin, "--xdp.interfaces=eth0", "--xdp.pin-path=/sys/fs/bpf/jp-agent",
            f"--reporter.tchannel.host-port=127.0.0.1:{sink_port}",
            f"--admin.http.host-port=127.0.0.1:{ADMIN_PORT}", "--http-server.host-port=127.0.0.1:0", *extra]
    agent = node.spawn(argv, "agent")

    def ready():
        if agent.poll() is not None:
            dl.fail(f"agent exited with {agent.returncode}: {node.log('agent')}")
        return ol.http_get(node.ns, ADMIN_PORT, "/ready")[0] == 200
    ol.wait_for(ready, 20, "agent /ready = 200")
    log = node.log("agent")
    if "XDP/AF_XDP datapath on: eth0" not in log:
        dl.fail(f"XDP is not on, so the XDP metric names cannot be checked; agent log:\n{log}")
    return agent


def batches(n, tag):
    return [span_datagram.compact_emit_batch(f"ops-{tag}", [(i + 1, i + 1, "op", 1_700_000_000_000_000 + i),
                                                            (i + 1, i + 1001, "op2", 1_700_000_000_000_001 + i)],
                                             seqid=i + 1) for i in range(n)]


def metrics(node):
    st, body = ol.http_get(node.ns, ADMIN_PORT, "/metrics")
    if st != 200:
        dl.fail(f"GET /metrics: {st}")
    return ol.parse_exposition(body)


def check_names(agent_bin, sink_bin):
    gen = subprocess.run([sys.executable, os.path.join(ol.MONITORING, "make_dashboard.py"), "--check"],
                         capture_output=True, text=True)
    if gen.returncode != 0:
        dl.fail(gen.stderr.strip())
    used = {}
    for e in ol.dashboard_exprs():
        for n in ol.metric_names(e):
            used.setdefault(n, set()).add("dashboard")
    for alert, e in ol.rule_exprs().items():
        for n in ol.metric_names(e):
            used.setdefault(n, set()).add(alert)
    if len(used) < 20:
        dl.fail(f"found only {len(used)} metric names in deploy/monitoring: the name extraction is broken")
    with ol.Node("ops") as node:
        sink, port = ol.start_sink(node, sink_bin, "--delay-ms", "1500")
        start_agent(node, agent_bin, port, "--reporter.tchannel.report-timeout=200ms")
        # Over the veth (XDP -> AF_XDP), plus a truncated datagram (decode reject).
        ol.send_udp(node.cli_ns, ol.NODE_IP, 6831, batches(5, "names") + [b"\x82\x81\x01"])
        # Failure series exist from the start (one per reason, at 0); wait for a real failure and for
        # the XDP families, which appear with their first samples.
        def failed_and_counted():
            st, body = ol.http_get(node.ns, ADMIN_PORT, "/metrics")
            failed = sum(float(l.rsplit(" ", 1)[1]) for l in body.splitlines()
                         if l.startswith("jaeger_agent_reporter_spans_failed_total{"))
            return st == 200 and failed > 0 and "jaeger_agent_xdp_packets_total{" in body
        ol.wait_for(failed_and_counted, 15, "the reporter's first failure (a delayed collector answer) and XDP counts")
        exposed = metrics(node)
        missing = sorted(n for n in used if n not in exposed and n not in ol.PROMETHEUS_SYNTHETIC)
        if missing:
            dl.fail("deploy/monitoring uses metrics the agent does not expose: " +
                    "; ".join(f"{n} (in {', '.join(sorted(used[n]))})" for n in missing))
        xdp = sorted(n for n in used if re.match(r"jaeger_agent_(xdp|xsk)_", n))
        if len(xdp) < 5:
            dl.fail(f"expected the dashboard to use the XDP/AF_XDP metrics, found {xdp}")
        seen = sum(1 for l in exposed["jaeger_agent_xdp_packets_total"] if l.get("result") == "redirected")
        if not seen:
            dl.fail("jaeger_agent_xdp_packets_total has no result=redirected series")
        bad = []
        for e in ol.dashboard_exprs() + list(ol.rule_exprs().values()):
            for metric, labels in ol.by_labels(e):
                have = set().union(*[set(l) for l in exposed.get(metric, [{}])]) | {"instance"}
                if labels - have:
                    bad.append(f"{metric} by {sorted(labels - have)} (has {sorted(have)})")
        if bad:
            dl.fail("grouped by labels the metric does not have: " + "; ".join(sorted(set(bad))))
        dl.log(f"all {len(used)} metric names used by dashboard.json and alerts.yaml are in the agent's /metrics "
               f"(XDP on eth0; {len(xdp)} XDP/AF_XDP names); every by(...) label exists")
        node.ok = True


def prom_query(node, expr):
    st, body = ol.http_get(node.ns, PROM_PORT, "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if st != 200:
        dl.fail(f"Prometheus query {expr!r}: HTTP {st}: {body[:300]}")
    return json.loads(body)["data"]["result"]


def alerts(node):
    st, body = ol.http_get(node.ns, PROM_PORT, "/api/v1/alerts")
    if st != 200:
        return []
    return json.loads(body)["data"]["alerts"]


def active(node, name):
    return [a for a in alerts(node) if a["labels"]["alertname"] == name]


def check_prometheus(agent_bin, sink_bin):
    if not os.path.exists("/usr/bin/prometheus"):
        dl.fail("prometheus not found (tools/setup.sh installs Debian's prometheus)")
    with ol.Node("opsp") as node:
        sink, port = ol.start_sink(node, sink_bin)
        start_agent(node, agent_bin, port)
        cfg = os.path.join(node.work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
- {os.path.join(ol.MONITORING, 'alerts.yaml')}
scrape_configs:
- job_name: jaeger-xdp-agent
  static_configs:
  - targets: ['127.0.0.1:{ADMIN_PORT}']
""")
        r = subprocess.run(["promtool", "check", "config", cfg], capture_output=True, text=True)
        if r.returncode != 0:
            dl.fail(f"promtool check config: {r.stdout}{r.stderr}")
        prom = node.spawn(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={node.work}/tsdb",
                           f"--web.listen-address=127.0.0.1:{PROM_PORT}", "--log.level=warn"], "prometheus")
        t0 = time.monotonic()

        def scraping():
            if prom.poll() is not None:
                dl.fail(f"prometheus exited with {prom.returncode}: {node.log('prometheus')}")
            res = ol.http_get(node.ns, PROM_PORT, "/api/v1/query?query=up")[1]
            return '"value":[' in res and '"1"]' in res
        ol.wait_for(scraping, 30, "Prometheus scraping the agent (up == 1)")
        # 40 valid batches (80 spans) and, for ~6 s, 10 truncated datagrams/s to 6831 over the veth.
        ol.send_udp(node.cli_ns, ol.NODE_IP, 6831, batches(40, "prom"))
        for _ in range(12):
            ol.send_udp(node.cli_ns, ol.NODE_IP, 6831, [b"\x82\x81\x01"] * 5)
            time.sleep(0.5)

        def rejects_pending():
            a = active(node, "JaegerXdpAgentDecodeRejectsSpike")
            return [x for x in a if x["labels"].get("reason") == "truncated"
                    and x["labels"].get("protocol") == "compact"]
        a = ol.wait_for(rejects_pending, 20, "JaegerXdpAgentDecodeRejectsSpike{reason=truncated} active")[0]
        if a["state"] not in ("pending", "firing"):
            dl.fail(f"unexpected alert state {a}")
        dl.log(f"JaegerXdpAgentDecodeRejectsSpike {a['state']} after {time.monotonic() - t0:.1f}s: "
               f"labels {a['labels']}, value {a['value']}")
        for quiet in ("JaegerXdpAgentDown", "JaegerXdpAgentNotReady", "JaegerXdpAgentSpansDropped"):
            if active(node, quiet):
                dl.fail(f"{quiet} is active on a healthy agent: {active(node, quiet)}")

        # Every dashboard expression on live data.
        empty = []
        for e in ol.dashboard_exprs():
            q = e.replace("$instance", ".*").replace("$__rate_interval", "30s")
            if not prom_query(node, q):
                empty.append(q)
        recv = prom_query(node, 'sum(increase(jaeger_agent_received_spans_total{instance=~".*"}[1m]))')
        fwd = prom_query(node, 'sum(jaeger_agent_reporter_spans_submitted_total)')
        if not recv or float(recv[0]["value"][1]) <= 0 or not fwd or float(fwd[0]["value"][1]) != 80:
            dl.fail(f"expected 80 spans received and forwarded in Prometheus, got {recv} / {fwd}")
        dl.log(f"{len(ol.dashboard_exprs())} dashboard expressions evaluate; {len(empty)} empty on this node "
               f"(series that only exist on errors): {[e[:60] for e in empty]}")
        stats = ol.sink_stats(node, sink)
        if stats.get("spans") != 80:
            dl.fail(f"the collector sink received {stats.get('spans')} spans, want 80")
        ol.wait_for(lambda: active(node, "JaegerXdpAgentNotReady"), 20,
                    "JaegerXdpAgentNotReady active after the collector stopped")
        dl.log(f"collector stopped: JaegerXdpAgentNotReady {active(node, 'JaegerXdpAgentNotReady')[0]['state']}; "
               f"total {time.monotonic() - t0:.1f}s with Prometheus")
        node.ok = True


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("names", "prometheus"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    ol.need_root()
    agent_bin, sink_bin, mode = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
    if mode == "names":
        check_names(agent_bin, sink_bin)
    else:
        check_prometheus(agent_bin, sink_bin)
    dl.log("PASS")


if __name__ == "__main__":
    main()
