#!/usr/bin/env python3
"""Writes dashboard.json, the Grafana dashboard of jaeger-xdp-agent, from the panel list below.

  deploy/monitoring/make_dashboard.py          # rewrite dashboard.json
  deploy/monitoring/make_dashboard.py --check  # exit 1 if dashboard.json is out of date (tests/deploy)

The dashboard is built around the loss identity of deploy/README.md ("Accounting"): spans received =
forwarded + failed + dropped (+ queued), and datagrams lost before decoding, stage by stage
(XDP -> AF_XDP / kernel socket -> decode queue -> decoder), per node (`instance`) and port
(`model`/`protocol`, `port`). Every metric name is one the agent exposes (tests/deploy checks them
against a running agent's /metrics, with XDP on). Import: Grafana > Dashboards > Import > upload
dashboard.json, pick the Prometheus data source.
"""
import json
import os
import sys

import generated  # noqa: E402  (beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))
DEST = os.path.join(HERE, "dashboard.json")
SEL = 'instance=~"$instance"'
R = "$__rate_interval"


class Layout:
    def __init__(self):
        self.panels, self.y, self.x, self.row_h, self.next_id = [], 0, 0, 0, 1

    def _add(self, p, w, h):
        if self.x + w > 24:
            self.y, self.x, self.row_h = self.y + self.row_h, 0, 0
        p["id"] = self.next_id
        p["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(p)

    def row(self, title):
        if self.x:
            self.y, self.x, self.row_h = self.y + self.row_h, 0, 0
        self._add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.y, self.x, self.row_h = self.y + 1, 0, 0

    def panel(self, kind, title, desc, targets, w=12, h=8, unit="short", stack=False, extra=None):
        p = {
            "type": kind, "title": title, "description": desc,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "targets": [{"refId": chr(ord("A") + i), "expr": e, "legendFormat": l,
                         "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                        for i, (e, l) in enumerate(targets)],
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
        }
        if kind == "timeseries":
            p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal" if stack else "none"},
                                                      "fillOpacity": 20 if stack else 0}
            p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                            "tooltip": {"mode": "multi"}}
        if extra:
            p.update(extra)
        self._add(p, w, h)

    def text(self, title, md, w=24, h=3):
        self._add({"type": "text", "title": title, "options": {"mode": "markdown", "content": md}}, w, h)


def rate(metric, by, sel=SEL):
    return f"sum by ({by}) (rate({metric}{{{sel}}}[{R}]))"


def build():
    d = Layout()
    # --- the loss identity, in spans ------------------------------------------------------------------
    d.row("Spans: received = forwarded + failed + dropped (+ queued)")
    stat = {"options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "area"}}
    d.panel("stat", "Received spans/s", "Spans in batches decoded successfully (jaeger_agent_received_spans_total).",
            [(f"sum(rate(jaeger_agent_received_spans_total{{{SEL}}}[{R}]))", "received")], w=6, h=4, unit="short",
            extra=stat)
    d.panel("stat", "Forwarded spans/s", "Spans submitted to a collector (jaeger_agent_reporter_spans_submitted_total).",
            [(f"sum(rate(jaeger_agent_reporter_spans_submitted_total{{{SEL}}}[{R}]))", "forwarded")], w=6, h=4,
            extra=stat)
    d.panel("stat", "Lost after decoding", "(failed + dropped) / received spans.",
            [(f"((sum(rate(jaeger_agent_reporter_spans_dropped_total{{{SEL}}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_reporter_spans_failed_total{{{SEL}}}[{R}])) or vector(0)))"
              f" / sum(rate(jaeger_agent_received_spans_total{{{SEL}}}[{R}]))", "lost")], w=6, h=4,
            unit="percentunit", extra=stat)
    d.panel("stat", "Datagrams lost before decoding/s",
            "Kernel socket drops + decode queue drops + too large + read errors + AF_XDP kernel drops + decoder rejects.",
            [(f"(sum(rate(jaeger_agent_thrift_udp_server_kernel_drops_total{{{SEL}}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_thrift_udp_server_packets_dropped_total{{{SEL}}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_thrift_udp_server_packets_too_large_total{{{SEL}}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_thrift_udp_server_read_errors_total{{{SEL}}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_xsk_kernel_drops_total{{{SEL},reason=~\"rx_ring_full|rx_dropped\"}}[{R}])) or vector(0))"
              f" + (sum(rate(jaeger_agent_decode_rejected_total{{{SEL}}}[{R}])) or vector(0))", "lost")],
            w=6, h=4, extra=stat)
    d.panel("timeseries", "Spans: received vs forwarded, failed and dropped by reason",
            "received should equal forwarded + failed + dropped once the queue drains; "
            "the difference in between is what is queued or in flight.",
            [(rate("jaeger_agent_received_spans_total", "instance"), "{{instance}} received"),
             (rate("jaeger_agent_reporter_spans_submitted_total", "instance"), "{{instance}} forwarded"),
             (rate("jaeger_agent_reporter_spans_failed_total", "instance, reason"), "{{instance}} failed: {{reason}}"),
             (rate("jaeger_agent_reporter_spans_dropped_total", "instance, reason"),
              "{{instance}} dropped: {{reason}}")], w=24, h=9, unit="short")
    d.panel("timeseries", "Spans received per node and port", "jaeger_agent_received_spans_total by model/protocol.",
            [(rate("jaeger_agent_received_spans_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}}")], w=12, stack=True)
    d.panel("timeseries", "Spans lost after decoding, by stage and reason",
            "Reporter queue (dropped) and collector calls (failed), per node.",
            [(rate("jaeger_agent_reporter_spans_dropped_total", "instance, reason"), "{{instance}} queue: {{reason}}"),
             (rate("jaeger_agent_reporter_spans_failed_total", "instance, reason"),
              "{{instance}} collector: {{reason}}")], w=12, stack=True)
    # --- datagrams, stage by stage ----------------------------------------------------------------------
    d.row("Datagrams: lost before decoding, stage by stage (per node and port)")
    d.panel("timeseries", "Datagrams handed to decoding, per port",
            "thrift_udp_server_packets_processed_total: read by either path (kernel socket or AF_XDP) and queued.",
            [(rate("jaeger_agent_thrift_udp_server_packets_processed_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}}"),
             (rate("jaeger_agent_xsk_packets_processed_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} via AF_XDP")], w=12)
    d.panel("timeseries", "Kernel UDP socket: drops, too large, read errors",
            "Full socket buffer (SO_RXQ_OVFL), datagrams over max-packet-size, recvmsg errors.",
            [(rate("jaeger_agent_thrift_udp_server_kernel_drops_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} kernel drops"),
             (rate("jaeger_agent_thrift_udp_server_packets_too_large_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} too large"),
             (rate("jaeger_agent_thrift_udp_server_read_errors_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} read errors")], w=12, stack=True)
    d.panel("timeseries", "Decode queue: dropped (full) and depth",
            "packets_dropped_total: the queue was full; queue_size: datagrams waiting now.",
            [(rate("jaeger_agent_thrift_udp_server_packets_dropped_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} dropped/s"),
             (f"max by (instance, model, protocol) (jaeger_agent_thrift_udp_server_queue_size{{{SEL}}})",
              "{{instance}} {{model}}-{{protocol}} queued")], w=12)
    d.panel("timeseries", "Decoder: rejected by reason",
            "decode_rejected_total; the agent logs each sender, rate-limited.",
            [(rate("jaeger_agent_decode_rejected_total", "instance, model, protocol, reason"),
              "{{instance}} {{model}}-{{protocol}}: {{reason}}"),
             (rate("jaeger_agent_thrift_udp_t_processor_handler_errors_total", "instance, model, protocol"),
              "{{instance}} {{model}}-{{protocol}} handler errors (sum)")], w=12, stack=False)
    d.panel("timeseries", "Client-side drops reported by clients",
            "What the agent cannot see: the clients' own drops, from their batches (client_stats).",
            [(rate("jaeger_agent_client_stats_spans_dropped_total", "instance, cause"), "{{instance}} {{cause}}"),
             (f"max by (instance) (jaeger_agent_client_stats_connected_clients{{{SEL}}})",
              "{{instance}} connected clients")], w=24, h=7)
    # --- collectors ---------------------------------------------------------------------------------------
    d.row("Collectors: health and delivery")
    d.panel("timeseries", "Collector connections", "collector_connected per peer (1 = up). /ready is 503 when none is.",
            [(f"max by (instance, peer) (jaeger_agent_collector_connected{{{SEL}}})", "{{instance}} → {{peer}}")],
            w=8, extra={"fieldConfig": {"defaults": {"min": 0, "max": 1}, "overrides": []}})
    d.panel("timeseries", "Reporter queue", "Bytes queued for or in flight to the collectors (bounded by "
            "--reporter.queue-max-bytes, 32 MiB by default).",
            [(f"max by (instance) (jaeger_agent_reporter_queue_bytes{{{SEL}}})", "{{instance}}")], w=8, unit="bytes")
    d.panel("timeseries", "Calls, retries, not-ok answers",
            "Successful collector calls, retries (busy/declined/timeout/lost connection), batches answered not ok "
            "(TChannel), spans an OTLP backend rejected in a partial success.",
            [(rate("jaeger_agent_reporter_calls_total", "instance"), "{{instance}} calls"),
             (rate("jaeger_agent_reporter_retries_total", "instance"), "{{instance}} retries"),
             (rate("jaeger_agent_reporter_batches_not_ok_total", "instance"), "{{instance}} not ok"),
             (rate("jaeger_agent_reporter_spans_rejected_total", "instance"), "{{instance}} spans rejected")], w=8)
    d.panel("timeseries", "Batches: submitted, failed, dropped",
            "Batches (client datagrams) per outcome.",
            [(rate("jaeger_agent_reporter_batches_submitted_total", "instance"), "{{instance}} submitted"),
             (rate("jaeger_agent_reporter_batches_failed_total", "instance, reason"), "{{instance}} failed: {{reason}}"),
             (rate("jaeger_agent_reporter_batches_dropped_total", "instance, reason"),
              "{{instance}} dropped: {{reason}}")], w=12)
    d.panel("timeseries", "Spans per call (coalescing)", "reporter_batch_size: spans in the last submitted call.",
            [(f"max by (instance) (jaeger_agent_reporter_batch_size{{{SEL}}})", "{{instance}}")], w=12)
    d.panel("timeseries", "Collector latency",
            "From sending a call to the collector's successful answer (reporter_call_duration_seconds): p50 and p99 "
            "per node. Failed calls are not in it: they show as failures by reason above.",
            [(f"histogram_quantile(0.5, sum by (instance, le) (rate(jaeger_agent_reporter_call_duration_seconds_bucket"
              f"{{{SEL}}}[$__rate_interval])))", "{{instance}} p50"),
             (f"histogram_quantile(0.99, sum by (instance, le) (rate(jaeger_agent_reporter_call_duration_seconds_bucket"
              f"{{{SEL}}}[$__rate_interval])))", "{{instance}} p99")], w=24, unit="s")
    # --- XDP / AF_XDP -------------------------------------------------------------------------------------
    d.row("XDP / AF_XDP (only with --xdp.interfaces)")
    d.panel("timeseries", "XDP program: span-port frames by outcome",
            "seen = redirected + pass_fragment + pass_too_big + pass_no_socket + parse_error, per interface and port.",
            [(rate("jaeger_agent_xdp_packets_total", "instance, interface, port, result", SEL + ',result!="seen"'),
              "{{instance}} {{interface}}:{{port}} {{result}}"),
             (rate("jaeger_agent_xdp_packets_total", "instance, interface, port", SEL + ',result="seen"'),
              "{{instance}} {{interface}}:{{port}} seen")], w=12)
    d.panel("timeseries", "XDP program: bytes by outcome", "jaeger_agent_xdp_bytes_total.",
            [(rate("jaeger_agent_xdp_bytes_total", "instance, interface, port, result"),
              "{{instance}} {{interface}}:{{port}} {{result}}")], w=12, unit="Bps")
    d.panel("timeseries", "XDP program: other frames", "Frames not on a span port: parse_error, later_fragment, other.",
            [(rate("jaeger_agent_xdp_frames_total", "instance, result"), "{{instance}} {{result}}")], w=8)
    d.panel("timeseries", "AF_XDP sockets: frames read and kernel drops",
            "redirected = xsk_frames + rx_ring_full + rx_dropped; fill_ring_empty counts empty-fill-ring events.",
            [(rate("jaeger_agent_xsk_frames_total", "instance, interface, queue"),
              "{{instance}} {{interface}} q{{queue}} frames"),
             (rate("jaeger_agent_xsk_kernel_drops_total", "instance, interface, queue, reason"),
              "{{instance}} {{interface}} q{{queue}} {{reason}}")], w=8)
    d.panel("timeseries", "AF_XDP: invalid frames", "Frames the agent could not parse (recycled).",
            [(rate("jaeger_agent_xsk_invalid_frames_total", "instance, interface, queue"),
              "{{instance}} {{interface}} q{{queue}}")], w=8)
    return {
        "title": "jaeger-xdp-agent: where spans are lost",
        "uid": "jaeger-xdp-agent",
        "description": "Loss accounting of jaeger-xdp-agent (deploy/README.md, Troubleshooting drops).",
        "tags": ["jaeger", "tracing", "xdp"],
        "editable": True,
        "schemaVersion": 38,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "instance", "label": "Node (instance)", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(jaeger_agent_build_info, instance)", "refId": "instance"},
             "definition": "label_values(jaeger_agent_build_info, instance)",
             "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1,
             "hide": 0},
        ]},
        "panels": d.panels,
    }


def render():
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main():
    return generated.write_or_check(DEST, render(), __file__, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
