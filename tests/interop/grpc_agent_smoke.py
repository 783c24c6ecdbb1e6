#!/usr/bin/python3
"""Composition smoke test of --reporter.type=grpc / otlp (issue #15 step 3) with real peers.

The agent binary is started against grpc_peer.py (python3-grpcio + http.server) with two shards:
  - grpc: --reporter.grpc.host-port=<peer>; the channel reaches READY, so /metrics shows
    jaeger_agent_connection_status_collector_connected{protocol="grpc"} 1 (§5.3) and /ready is 200;
  - otlp: --reporter.otlp.endpoint=<peer http> --reporter.otlp.protocol=http/protobuf.
In both, a real Jaeger batch (tests/data/udp_otel.bin, binary protocol, from OpenTelemetry's
Jaeger exporter) sent to the agent is transcoded to api_v2 (PostSpans) or OTLP (Export) and
arrives at the peer, decoded there by python3-protobuf from the test-local .proto with the same
span count and service; the agent counts it submitted. SIGTERM exits 0.
Usage: grpc_agent_smoke.py <agent-binary> grpc|otlp
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def wait_until(fn, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def main():
    agent_bin, mode = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="jg-smoke-")
    out = os.path.join(tmp, "peer.jsonl")
    peer = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "grpc_peer.py"), "--out", out],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs = [peer]
    try:
        line = peer.stdout.readline()
        m = re.match(r"PORTS (\d+) (\d+)", line)
        if not m:
            fail("peer did not start: %r" % line)
        gport, hport = int(m.group(1)), int(m.group(2))
        reporter = (["--reporter.grpc.host-port=127.0.0.1:%d" % gport] if mode == "grpc" else
                    ["--reporter.otlp.endpoint=http://127.0.0.1:%d" % hport, "--reporter.otlp.protocol=http/protobuf"])
        log = os.path.join(tmp, "agent.log")
        agent = subprocess.Popen([agent_bin] + reporter + [
            "--processor.shards=2",
            "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
            "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
            "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
            "--http-server.host-port=127.0.0.1:0", "--admin.http.host-port=127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.append(agent)

        def started():
            text = open(log).read()
            if agent.poll() is not None:
                fail("agent exited: " + text[-2000:])
            a = re.search(r"sampling server :(\d+), admin server :(\d+)", text)
            u = re.search(r"jaeger-binary :(\d+)", text)
            return (int(a.group(1)), int(a.group(2)), int(u.group(1))) if a and u else None
        sampling, admin, binary = wait_until(started, 10, "agent ready")

        def metrics():
            return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=2).read().decode()
        if mode == "grpc":
            wait_until(lambda: 'jaeger_agent_connection_status_collector_connected{protocol="grpc"} 1' in metrics(), 10,
                       "gRPC channel READY")
            wait_until(lambda: urllib.request.urlopen("http://127.0.0.1:%d/ready" % admin, timeout=2).status == 200,
                       5, "/ready 200")
            if not re.search(r'jaeger_agent_connection_status_collector_reconnects_total\{protocol="grpc"\} [1-9]',
                             metrics()):
                fail("reconnects counter did not count the transition to READY")
        if mode == "grpc":
            # §5.4: /sampling goes to GetSamplingStrategy on the same channels; the peer answers the
            # observed §1.5 bytes (probabilistic 0.001).
            body = urllib.request.urlopen("http://127.0.0.1:%d/sampling?service=svc" % sampling, timeout=5).read()
            if b'"samplingRate":0.001' not in body or b'PROBABILISTIC' not in body:
                fail("unexpected /sampling answer: %r" % body)
            # §5.3: jaeger-agent's gRPC reporter labels its proxy calls protocol="grpc".
            proxied = 'jaeger_agent_collector_proxy_total{endpoint="sampling",protocol="grpc",result="ok"} 1'
            if proxied not in metrics():
                fail("missing " + proxied)
        payload = open(os.path.join(HERE, "..", "data", "udp_otel.bin"), "rb").read()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(payload, ("127.0.0.1", binary))
        series = 'jaeger_agent_reporter_batches_submitted_total{format="jaeger",protocol="%s"} 1' % mode
        wait_until(lambda: series in metrics(), 10, series)
        m = re.search(r'jaeger_agent_received_spans_total\{model="jaeger",protocol="binary"\} (\d+)', metrics())
        received = int(m.group(1)) if m else -1
        recs = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
        spans = [r for r in recs if r["m"] != "GetSamplingStrategy"]
        if len(spans) != 1 or "decode_error" in spans[0]:
            fail("expected one decodable span call at the peer: %s" % json.dumps(recs)[:800])
        if spans[0]["m"] not in ((["PostSpans"]) if mode == "grpc" else ["Export", "http"]) or spans[0]["spans"] != received or received < 1:
            fail("peer got %s with %s spans, agent received %d" % (spans[0]["m"], spans[0].get("spans"), received))
        if mode == "grpc" and not spans[0].get("service"):
            fail("PostSpans without a Process.service_name: %r" % spans[0])
        sub = re.search(r'jaeger_agent_reporter_spans_submitted_total\{format="jaeger",protocol="%s"\} (\d+)' % mode,
                        metrics())
        if not sub or int(sub.group(1)) != received:
            fail("agent counted %s spans submitted, received %d" % (sub.group(1) if sub else None, received))
        if mode == "grpc" and [r["hex"] for r in recs if r["m"] == "GetSamplingStrategy"] != ["0a03737663"]:
            fail("expected one GetSamplingStrategy(svc): %r" % recs)
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=15)
        if rc != 0:
            fail("agent exit code %d: %s" % (rc, open(log).read()[-2000:]))
        print("PASS %s" % mode)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
