#!/usr/bin/python3
"""--sampling.upstream with the agent binary in otlp mode (modern-collectors.md §5.4, §5.5).

The agent runs with --reporter.type=otlp (no sampling source of its own) and
  http: --sampling.upstream=http://127.0.0.1:<port>/sampling against a python3 http.server that
        answers Jaeger's sampling JSON the way Jaeger v2 / the OTel Collector render it (gogo
        jsonpb with EmitDefaults: nulls, an upper bound of 0) or the legacy numeric enums;
  grpc: --sampling.upstream=grpc://127.0.0.1:<port> against a python3-grpcio SamplingManager
        whose answers are built with python3-protobuf from tests/proto/jaeger_api_v2.proto.
Checked byte for byte: /sampling and / bodies (as jaeger-agent renders them, reference-agent.md
§1.1.1), the service name as the upstream decoded it, /baggageRestrictions (still the reporter's:
none), hostile answers (2 MiB, malformed) → 500 and jaeger_agent_sampling_upstream_rejects_total,
then the upstream stopped: the last good answer is served stale, an unknown service gets
500 "collector error: …", and the proxy counters keep their names and count exactly.
With `grpc-reporter` the agent runs --reporter.type=grpc (a collector that is not there) instead:
the flag overrides the reporter's sampling source, baggage stays with the reporter.
Usage: sampling_upstream.py <agent-binary> http|grpc [otlp-reporter|grpc-reporter]
"""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from grpc_agent_smoke import fail, wait_until  # noqa: E402
SERVICE_ODD = "svc a/b&c=\u00fc"  # percent-encoded on the way up, decoded by the upstream

# What the upstream knows, and what the agent must answer for it: (/sampling, /).
PROB = '{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}}'
PROB_LEGACY = '{"strategyType":0,"probabilisticSampling":{"samplingRate":0.25}}'
PEROP = ('{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"operationSampling":'
         '{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.5,"perOperationStrategies":'
         '[{"operation":"GET /a\\u003cb\\u003e","probabilisticSampling":{"samplingRate":1}}]}}')
PEROP_LEGACY = PEROP.replace('"strategyType":"PROBABILISTIC"', '"strategyType":0')
RATE = '{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}'
RATE_LEGACY = '{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}'
EXPECT = {"svc": (PROB, PROB_LEGACY), "ops": (PEROP, PEROP_LEGACY), "rate": (RATE, RATE_LEGACY),
          SERVICE_ODD: (PROB, PROB_LEGACY)}

# The HTTP upstream's bodies: jsonpb EmitDefaults (null members kept, upper bound 0), legacy enums.
HTTP_BODIES = {
    "svc": '{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25},'
           '"rateLimitingSampling":null,"operationSampling":null}',
    "ops": '{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"rateLimitingSampling":null,'
           '"operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.5,'
           '"perOperationStrategies":[{"operation":"GET /a<b>","probabilisticSampling":{"samplingRate":1}}],'
           '"defaultUpperBoundTracesPerSecond":0}}',
    "rate": '{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}',
    SERVICE_ODD: PROB,
    "huge": " " * (2 << 20),
    "bad": '{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":"high"}}',
}


class HttpUpstream:
    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                svc = urllib.parse.parse_qs(url.query).get("service", [""])[0]
                seen.append((url.path, svc))
                body = HTTP_BODIES.get(svc)
                if url.path != "/sampling" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent stops reading at 1 MiB

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def flag(self):
        return "http://127.0.0.1:%d/sampling" % self.port

    def services(self):
        return [s for _, s in self.seen]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class GrpcUpstream:
    def __init__(self):
        import grpc
        from concurrent import futures
        import grpc_peer  # compiles tests/proto with protoc, as the other gRPC tests do
        J = grpc_peer.J
        seen = self.seen = []

        def prob(rate):
            return J.ProbabilisticSamplingStrategy(samplingRate=rate)

        answers = {
            "svc": J.SamplingStrategyResponse(probabilisticSampling=prob(0.25)),
            "ops": J.SamplingStrategyResponse(
                probabilisticSampling=prob(0.1),
                operationSampling=J.PerOperationSamplingStrategies(
                    defaultSamplingProbability=0.1, defaultLowerBoundTracesPerSecond=0.5,
                    perOperationStrategies=[J.OperationSamplingStrategy(operation="GET /a<b>",
                                                                        probabilisticSampling=prob(1))])),
            "rate": J.SamplingStrategyResponse(strategyType=J.RATE_LIMITING,
                                               rateLimitingSampling=J.RateLimitingSamplingStrategy(maxTracesPerSecond=5)),
            SERVICE_ODD: J.SamplingStrategyResponse(probabilisticSampling=prob(0.25)),
            "huge": J.SamplingStrategyResponse(operationSampling=J.PerOperationSamplingStrategies(
                perOperationStrategies=[J.OperationSamplingStrategy(operation="x" * (2 << 20))])),
        }

        def handle(raw, ctx):
            req = J.SamplingStrategyParameters.FromString(raw)
            seen.append(req.serviceName)
            if req.serviceName == "bad":
                return b"\x12\x09\x09\xfc"  # probabilisticSampling cut inside its double
            a = answers.get(req.serviceName)
            if a is None:
                ctx.abort(grpc.StatusCode.NOT_FOUND, "no such service")
            return a.SerializeToString()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "jaeger.api_v2.SamplingManager", {"GetSamplingStrategy": grpc.unary_unary_rpc_method_handler(handle)}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def flag(self):
        return "grpc://127.0.0.1:%d" % self.port

    def services(self):
        return list(self.seen)

    def stop(self):
        self.server.stop(grace=None).wait()


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def q(service):
    return urllib.parse.quote(service, safe="")


def main():
    agent_bin, mode = sys.argv[1], sys.argv[2]
    reporter = sys.argv[3] if len(sys.argv) > 3 else "otlp-reporter"
    if reporter == "otlp-reporter":
        reporter_flags = ["--reporter.type=otlp", "--reporter.otlp.protocol=http/protobuf",
                          "--reporter.otlp.endpoint=http://127.0.0.1:9"]
        baggage_error = "collector error: no collector configured\n"
    else:
        reporter_flags = ["--reporter.grpc.host-port=127.0.0.1:9"]
        baggage_error = "collector error: baggage restrictions are not available over gRPC\n"
    started = time.time()
    up = HttpUpstream() if mode == "http" else GrpcUpstream()
    tmp = tempfile.mkdtemp(prefix="js-sampling-")
    agent = None
    try:
        log = os.path.join(tmp, "agent.log")
        # TTL 0: every request goes upstream, so each one below is one upstream call (and stale
        # serving shows as soon as the upstream is gone).
        agent = subprocess.Popen([
            agent_bin] + reporter_flags + ["--sampling.upstream=" + up.flag(),
            "--http-server.sampling-cache-ttl=0", "--processor.shards=1",
            "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
            "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
            "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
            "--http-server.host-port=127.0.0.1:0", "--admin.http.host-port=127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))

        def ports():
            text = open(log).read()
            if agent.poll() is not None:
                fail("agent exited: " + text[-2000:])
            a = re.search(r"sampling server :(\d+), admin server :(\d+)", text)
            return (int(a.group(1)), int(a.group(2))) if a else None
        sampling, admin = wait_until(ports, 10, "agent ready")
        if "sampling strategies from " + up.flag() not in open(log).read():
            fail("the agent did not log its sampling upstream")

        def metric(name, labels):
            text = get(admin, "/metrics")[1]
            m = re.search(re.escape("%s{%s}" % (name, labels)) + r" (\d+)", text)
            return int(m.group(1)) if m else None

        calls = 0
        for svc, (body, legacy) in EXPECT.items():
            for path, want in (("/sampling?service=" + q(svc), body), ("/?service=" + q(svc), legacy)):
                status, got = get(sampling, path)
                calls += 1
                if status != 200 or got != want:
                    fail("%s: %d %r, want %r" % (path, status, got, want))
        if up.services() != [s for s in EXPECT for _ in (0, 1)]:
            fail("upstream saw services %r" % up.services())
        status, got = get(sampling, "/baggageRestrictions?service=svc")
        if (status, got) != (500, baggage_error):
            fail("baggage: %d %r" % (status, got))

        # The protocol label says how the sampling upstream is reached (§5.3 labels gRPC "grpc").
        proxy = 'endpoint="sampling",protocol="' + mode + '",result="%s"'
        rejects = 'reason="%s",upstream="' + mode + '"'
        for svc, reason in (("huge", "too_large"), ("bad", "malformed")):
            status, got = get(sampling, "/sampling?service=" + svc)
            calls += 1
            if status != 500 or not got.startswith("collector error: "):
                fail("%s: %d %r" % (svc, status, got))
            if metric("jaeger_agent_sampling_upstream_rejects_total", rejects % reason) != 1:
                fail("rejects{%s} != 1: %s" % (reason, get(admin, "/metrics")[1]))
        if mode == "http" and got != "collector error: GET %s: sampling JSON: samplingRate is not a number\n" % up.flag():
            fail("malformed answer error: %r" % got)
        if metric("jaeger_agent_collector_proxy_total", proxy % "ok") != len(EXPECT) * 2:
            fail("collector_proxy ok != %d" % (len(EXPECT) * 2))
        if metric("jaeger_agent_collector_proxy_total", proxy % "err") != 2:
            fail("collector_proxy err != 2")

        # The upstream dies: known services are served their last good answer, others get a 500.
        up.stop()
        for svc in ("svc", "ops"):
            status, got = get(sampling, "/sampling?service=" + svc)
            if (status, got) != (200, EXPECT[svc][0]):
                fail("stale %s: %d %r" % (svc, status, got))
        status, got = get(sampling, "/sampling?service=never-seen")
        if status != 500 or not got.startswith("collector error: "):
            fail("unknown service with the upstream down: %d %r" % (status, got))
        if mode == "http" and got != "collector error: GET %s: connection refused or unreachable\n" % up.flag():
            fail("connection error text: %r" % got)
        if metric("jaeger_agent_http_server_cache_stale_serves_total", 'endpoint="sampling"') != 2:
            fail("stale serves != 2")
        if metric("jaeger_agent_collector_proxy_total", proxy % "err") != 5:
            fail("collector_proxy err != 5")
        if metric("jaeger_agent_http_server_errors_total", 'source="collector-proxy",status="5xx"') != 4:
            fail("http_server_errors{collector-proxy} != 4 (huge, bad, baggage, never-seen)")
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=15)
        if rc != 0:
            fail("agent exit code %d: %s" % (rc, open(log).read()[-2000:]))
        print("PASS %s %s (%d sampling requests, %.1f s)" % (mode, reporter, calls, time.time() - started))
    finally:
        if agent and agent.poll() is None:
            agent.kill()
            agent.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
