#!/usr/bin/python3
"""Reporter fault tests for the gRPC (api_v2 PostSpans) and OTLP (gRPC, HTTP/protobuf) transports:
the agent binary, fed by oracle-sender, against scripted grpc_peer.py collectors (python3-grpcio,
http.server, decoding with python3-protobuf) that die, answer UNAVAILABLE, RESOURCE_EXHAUSTED with
or without RetryInfo, HTTP 429/503 with Retry-After, partial success, are slow, or stop gracefully
(GOAWAY) and come back; and SIGTERM with a full queue. The twin of reporter_faults.py (TChannel), whose harness it reuses.

    modern_faults.py <agent-binary> <oracle-sender-binary> <transport> <scenario>
      transport: grpc | otlp_grpc | otlp_http

Accounting is exact, to the span. The peer writes a verdict per request (grpc_peer.py --verdicts):
the span ids it decoded and whether it stored them. A call the agent gave up on (deadline,
shutdown, connection lost) is one the peer never stored (it aborts a request whose client went
away; a scripted death is a clean cut), so with D = spans stored by the peers (span ids, none
twice, none unsent):

    sent == received_spans, D + failed + dropped == sent       (agent exit totals)
    spans_submitted == D, and every failure/drop/retry/rejected series of /metrics equals what
    the scenario scripted (labels `reason`: userspace/report/reporter_core.cc)

Metric names: reference-agent.md §1.3, modern-collectors.md §5.3; retry semantics §4.1, §4.2, §5.2.
Only 127.0.0.1; every process is started here and killed at the end; bounded in time.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from prom_check import parse as parse_prom  # noqa: E402
from reporter_faults import Fail, Harness, accounting, check, span_keys, wait_until  # noqa: E402

PEER = os.path.join(HERE, "grpc_peer.py")
METHOD = {"grpc": "PostSpans", "otlp_grpc": "Export", "otlp_http": "http"}


class Peer:
    """One grpc_peer.py process (a collector) with its request log and verdicts."""

    def __init__(self, h, name, script, ports=(0, 0)):
        self.out = os.path.join(h.dir, "peer-%s.jsonl" % name)
        self.verdicts_path = os.path.join(h.dir, "verdicts-%s.jsonl" % name)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", PEER, "--out", self.out, "--verdicts", self.verdicts_path,
             "--script", json.dumps(script), "--grpc-port", str(ports[0]), "--http-port", str(ports[1])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(os.path.join(h.dir, "peer-%s.log" % name), "a"),
            text=True)
        h.procs.append(self.proc)
        m = re.match(r"PORTS (\d+) (\d+)", self.proc.stdout.readline())
        check(m, "peer %s did not start" % name)
        self.ports = (int(m.group(1)), int(m.group(2)))

    def records(self, path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def verdicts(self):
        return self.records(self.verdicts_path)

    def settled(self):
        """Every request received has its verdict (sleeping calls end once the client is gone)."""
        seen = [r for r in self.records(self.out) if r["m"] != "GetSamplingStrategy"]
        v = self.verdicts()
        return len(v) - sum(1 for r in v if r.get("held")) == len(seen)

    def stored(self):
        return [r for r in self.verdicts() if r["stored"]]


def keys_of(recs):
    """grpc_peer.py ids ("<trace 32 hex>:<span 16 hex>") as reporter_faults.span_keys() keys."""
    out = []
    for r in recs:
        for i in r["ids"]:
            check(":" in i, "peer could not decode a request: %s" % i)
            trace, span = i.split(":")
            out.append(("j", trace[:16], trace[16:], span))
    return out


def n_spans(recs):
    return sum(len(r["ids"]) for r in recs)


class Modern:
    """A scenario's agent and peers: Harness (reporter_faults.py) with the new reporter types."""

    def __init__(self, h, transport):
        self.h = h
        self.transport = transport
        self.method = METHOD[transport]
        self.proto = "grpc" if transport == "grpc" else "otlp"
        self.early_ok = False  # datagrams may be dropped before decoding (scenario slow)

    def script(self, actions, default=None):
        s = {self.method: actions}
        if default is not None:
            s["default"] = {self.method: default}
        return s

    def reporter(self, peers):
        if self.transport == "grpc":
            return ["--reporter.type=grpc",
                    "--reporter.grpc.host-port=" + ",".join("127.0.0.1:%d" % p.ports[0] for p in peers)]
        if self.transport == "otlp_grpc":
            return ["--reporter.type=otlp", "--reporter.otlp.protocol=grpc",
                    "--reporter.otlp.endpoint=http://127.0.0.1:%d" % peers[0].ports[0]]
        return ["--reporter.type=otlp", "--reporter.otlp.protocol=http/protobuf",
                "--reporter.otlp.endpoint=http://127.0.0.1:%d" % peers[0].ports[1]]

    def start(self, peers, extra=(), timeout_ms=None):
        # report-timeout: --reporter.tchannel.report-timeout is the core's deadline for every
        # transport but OTLP, whose deadline is --reporter.otlp.timeout (userspace/agent.cc).
        t = []
        if timeout_ms:
            t = ["--reporter.otlp.timeout=%dms" % timeout_ms] if self.proto == "otlp" else [
                "--reporter.tchannel.report-timeout=%dms" % timeout_ms]
        self.h.start_agent([], ["--reporter.tchannel.batch-max-delay=5ms"] + t + list(extra),
                           reporter=self.reporter(peers))

    def metrics(self):
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.h.admin, timeout=5).read().decode()
        samples, errors = parse_prom(text)
        check(not errors, "invalid /metrics: %s" % errors[:3])
        return samples

    def m(self, samples, name, **labels):
        """Sum of the series of `name` with protocol=<ours> and the given labels."""
        want = dict(labels, protocol=self.proto)
        total = 0.0
        for key, v in samples.items():
            base, _, rest = key.partition("{")
            if base != name:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', rest))
            if all(got.get(k) == str(x) for k, x in want.items()):
                total += v
        return int(total)

    @staticmethod
    def total(s, name):
        return int(sum(v for k, v in s.items() if k == name or k.startswith(name + "{")))

    def counted(self, s):
        """The agent's own identity from /metrics: (received, submitted, failures, dropped), where
        dropped includes the spans the transcoder could not encode for this protocol
        (jaeger_agent_decode_spans_dropped_total{reason="not_encodable"}: oracle-sender's edge
        cases, e.g. strings that are not UTF-8, which protobuf forbids), counted at decode time."""
        return (self.total(s, "jaeger_agent_received_spans_total"),
                self.m(s, "jaeger_agent_reporter_spans_submitted_total"),
                self.m(s, "jaeger_agent_reporter_spans_failures_total"),
                self.m(s, "jaeger_agent_reporter_spans_dropped_total") +
                self.total(s, "jaeger_agent_decode_spans_dropped_total"))

    def datagrams(self, s):
        """(decoded, dropped by the agent before decoding, rejected by the decoder)."""
        return (self.total(s, "jaeger_agent_received_batches_total"),
                self.total(s, "jaeger_agent_thrift_udp_server_packets_dropped_total") +
                self.total(s, "jaeger_agent_thrift_udp_server_kernel_drops_total"),
                self.total(s, "jaeger_agent_decode_rejected_total"))

    def send(self, batches, **kw):
        """oracle-sender: `batches` compact datagrams (Harness.send)."""
        self.n_datagrams = batches
        return self.h.send(batches, **kw)

    def settle(self, n_sent, timeout=20):
        """Waits until the agent saw every datagram and accounted every span it decoded."""
        n_datagrams = self.n_datagrams
        last = []

        def done():
            s = self.metrics()
            last[:] = self.counted(s) + self.datagrams(s)
            rec, sub, fail, drop, got, early, _ = last
            return got + early == n_datagrams and sub + fail + drop == rec
        try:
            wait_until(done, timeout, "every datagram decoded or dropped, every span submitted, failed or dropped")
        except Fail as e:
            raise Fail("%s: sent %d spans in %d datagrams; received/submitted/failed/dropped spans, "
                       "datagrams decoded/dropped/rejected %s" % (e, n_sent, n_datagrams, last))
        s = self.metrics()
        check(self.datagrams(s)[2] == 0, "datagrams rejected by the decoder")
        # A saturated reporter pauses the receivers; datagrams read meanwhile are dropped and counted
        # as datagrams (thrift_udp_server_packets_dropped): their spans are known only to the sender.
        check(self.datagrams(s)[1] == 0 or self.early_ok, "datagrams dropped before decoding: %s" % (last,))
        return s

    def failed_by(self, s):
        out = {}
        for key, v in s.items():
            mine = 'protocol="%s"' % self.proto in key
            if key.startswith("jaeger_agent_reporter_spans_failed_total{") and mine and v:
                out[re.search(r'reason="([^"]*)"', key).group(1)] = int(v)
        return out

    def finish(self, sent_keys, peers, samples=None, stop_timeout=15):
        """SIGTERM, then the exact accounting from the exit totals, the peers' verdicts and
        (when given) a /metrics scrape of the settled agent, which the totals must equal."""
        # Decode-time drops are final once every datagram was received (the exit totals lack them).
        decode_dropped = self.total(self.metrics(), "jaeger_agent_decode_spans_dropped_total")
        totals, elapsed = self.h.stop_agent(timeout=stop_timeout)
        totals["dropped_spans"] += decode_dropped
        for p in peers:
            if p.proc.poll() is None:
                wait_until(p.settled, 10, "the peer's verdict on every request")
        stored = [r for p in peers for r in p.stored()]
        delivered = keys_of(stored)
        summary = accounting(sent_keys, delivered, totals, exact=True)
        check(totals["submitted_spans"] == len(delivered),
              "agent counts %d spans submitted, the peers stored %d" % (totals["submitted_spans"], len(delivered)))
        if samples is not None:
            rec, sub, fail, drop = self.counted(samples)
            check((rec, sub, fail, drop) == tuple(totals[k] for k in ("received_spans", "submitted_spans",
                                                                       "failed_spans", "dropped_spans")),
                  "/metrics (%d %d %d %d) and exit totals differ: %s" % (rec, sub, fail, drop, totals))
        return totals, stored, summary + " (not encodable %d)" % decode_dropped, elapsed


# ---- scenarios ------------------------------------------------------------------------------
# Each takes (h, x: Modern) and returns a one-line summary; Fail on any broken expectation.

def check_lost(fb, lost):
    """Failures when a collector dies: only connection_lost_after_send (outcome unknown, not
    retried), covering at least the calls the peer had read and never answered; the others were
    on their way (in sockets) and never read by it. The identity (finish()) makes it exact."""
    check(set(fb) <= {"connection_lost_after_send"} and fb.get("connection_lost_after_send", 0) >= lost,
          "failures by reason %s, expected >= %d spans connection_lost_after_send only" % (fb, lost))


def restart_run(h, x, end, seed, name, what, timeout_ms=None):
    """Collector a answers 8 calls, then takes action `end` (a death or a graceful stop) and is
    restarted on the same port while oracle-sender keeps sending. Returns (a, /metrics samples,
    summary, spans stored before, spans stored after), the exact accounting checked."""
    a = Peer(h, "a", x.script([{}] * 8 + [end]))
    x.start([a], timeout_ms=timeout_ms)
    sender, sent_path = x.send(300, seed=seed, name=name, pace_us=3000, background=True)
    wait_until(lambda: a.proc.poll() is not None, 20, what + " of the collector")
    b = Peer(h, "a2", x.script([]), ports=a.ports)  # the same collector, restarted
    check(sender.wait(timeout=60) == 0, "oracle-sender failed")
    sent = span_keys(sent_path)
    s = x.settle(len(sent), timeout=30)
    _, _, summary, _ = x.finish(sent, [a, b], s)
    before, after = n_spans(a.stored()), n_spans(b.stored())
    check(before > 0 and after > 0, "expected deliveries before (%d) and after (%d) the restart" % (before, after))
    return a, s, summary, before, after


def scenario_kill(h, x):
    """The collector is killed mid-stream and restarted on the same port: what it stored before
    and after is delivered, the calls it held when it died are counted (connection lost after
    send), nothing is stored twice."""
    a, s, summary, before, after = restart_run(h, x, {"die": 1, "drain": 1}, 21, "kill", "the scripted death")
    fb = x.failed_by(s)
    lost = n_spans([r for r in a.verdicts() if not r["stored"]])
    check_lost(fb, lost)
    if x.transport != "otlp_http":
        # §5.3: the channel went READY twice (start, restart) and is READY now.
        reconnects = x.m(s, "jaeger_agent_connection_status_collector_reconnects_total")
        check(reconnects >= 2 and x.m(s, "jaeger_agent_connection_status_collector_connected") == 1,
              "connection status after the restart: reconnects %d, connected %d" %
              (reconnects, x.m(s, "jaeger_agent_connection_status_collector_connected")))
    return summary + " before=%d after=%d lost=%d" % (before, after, lost)


def scenario_kill_one_of_two(h, x):
    """Two collectors (round robin); one is killed mid-stream: the rest goes to the other."""
    a = Peer(h, "a", x.script([{}] * 12 + [{"die": 1, "drain": 1}]))
    b = Peer(h, "b", x.script([]))
    x.start([a, b])
    sender, sent_path = x.send(300, seed=22, name="kill2", pace_us=3000, background=True)
    wait_until(lambda: a.proc.poll() is not None, 20, "the scripted death of collector a")
    died = time.monotonic()
    check(sender.wait(timeout=60) == 0, "oracle-sender failed")
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    totals, stored, summary, _ = x.finish(sent, [a, b], s)
    a_n, b_n = n_spans(a.stored()), n_spans(b.stored())
    b_after = n_spans([r for r in b.stored() if r["t"] > died])
    check(a_n > 0 and b_n > 0, "load did not spread: a=%d b=%d" % (a_n, b_n))
    check(b_after > len(sent) // 3, "after a died, b stored only %d spans of %d" % (b_after, len(sent)))
    fb = x.failed_by(s)
    lost = n_spans([r for r in a.verdicts() if not r["stored"]])
    check_lost(fb, lost)
    check(x.m(s, "jaeger_agent_reporter_spans_dropped_total") == 0, "spans dropped with a collector up")
    return summary + " a=%d b=%d b_after_kill=%d lost=%d" % (a_n, b_n, b_after, lost)


def scenario_graceful_restart(h, x):
    """The collector stops gracefully (grpc server.stop: HTTP/2 GOAWAY, calls in progress finish,
    later ones are refused) and is restarted on the same port: everything is delivered once,
    nothing fails. (A call the old collector refused would be retried: it was never processed.)"""
    # A deadline longer than the gap between the two collectors: a call that waits for the new
    # one must not fail for time.
    _, s, summary, before, after = restart_run(h, x, {"stop": 2}, 23, "graceful", "the graceful stop",
                                               timeout_ms=20000)
    check(not x.failed_by(s), "failures %s on a graceful stop" % x.failed_by(s))
    # With no failure and no drop, the identity checked by finish() means every span the oracle
    # sent that can be encoded was stored, once.
    check(x.m(s, "jaeger_agent_reporter_spans_dropped_total") == 0, "spans dropped on a graceful stop")
    return summary + " before=%d after=%d retries=%d" % (before, after,
                                                         x.m(s, "jaeger_agent_reporter_retries_total"))


def retried_script(x, answer, n):
    # `n` error answers, every other call, so that no call meets more than n of them.
    acts = []
    for _ in range(n):
        acts += [dict(answer), {}]
    return x.script(acts)


def check_retried(x, s, peer, n, summary):
    """n error answers, each retried once: everything delivered once, nothing failed."""
    check(x.m(s, "jaeger_agent_reporter_retries_total") == n,
          "retries %d, expected %d" % (x.m(s, "jaeger_agent_reporter_retries_total"), n))
    check(not x.failed_by(s), "failures: %s" % x.failed_by(s))
    refused = [r for r in peer.verdicts() if not r["stored"]]
    check(len(refused) == n, "peer refused %d calls, expected %d" % (len(refused), n))
    stored_ids = set(k for k in keys_of(peer.stored()))
    check(all(k in stored_ids for k in keys_of(refused)), "a refused call's spans were not delivered later")
    return summary + " retries=%d" % n


def scenario_unavailable(h, x):
    """UNAVAILABLE answers (§4.1, §5.2): retried, delivered, not duplicated."""
    a = Peer(h, "a", retried_script(x, {"code": 14, "msg": "scripted unavailable"}, 4))
    x.start([a], ["--reporter.grpc.retry.max=5"] if x.transport == "grpc" else [], timeout_ms=5000)
    _, sent_path = x.send(80, seed=23, name="unavail", pace_us=2000)
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    _, _, summary, _ = x.finish(sent, [a], s)
    return check_retried(x, s, a, 4, summary)


def retry_gap(peer, what, at_least):
    """The first refused call and its retry (the same spans): the retry waited `at_least` s."""
    v = peer.verdicts()
    first = next(r for r in v if not r["stored"])
    again = next((r for r in v if r["stored"] and set(first["ids"]) <= set(r["ids"])), None)
    check(again is not None, "the %s call was never delivered" % what)
    gap = again["t"] - first["t"]
    check(gap >= at_least, "retried %.3fs after %s, expected >= %.2fs" % (gap, what, at_least))
    return gap


def scenario_resource_exhausted(h, x):
    """RESOURCE_EXHAUSTED with RetryInfo (§4.1): backs off retry_delay, then delivered."""
    a = Peer(h, "a", x.script([{"code": 8, "retry_ms": 600, "msg": "slow down"}]))
    x.start([a], timeout_ms=5000)
    _, sent_path = x.send(30, seed=24, name="exhausted", pace_us=2000)
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    _, _, summary, _ = x.finish(sent, [a], s)
    gap = retry_gap(a, "RESOURCE_EXHAUSTED", 0.57)
    return check_retried(x, s, a, 1, summary) + " backoff=%.2fs" % gap


def scenario_resource_exhausted_no_retryinfo(h, x):
    """OTLP RESOURCE_EXHAUSTED without RetryInfo (§4.1): not retried, counted (error_busy)."""
    a = Peer(h, "a", x.script([{}, {"code": 8, "msg": "too big"}]))
    x.start([a], timeout_ms=5000)
    _, sent_path = x.send(60, seed=25, name="exhausted2", pace_us=2000)
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    _, _, summary, _ = x.finish(sent, [a], s)
    refused = [r for r in a.verdicts() if not r["stored"]]
    check(len(refused) == 1, "expected one refused call, got %d" % len(refused))
    check(x.failed_by(s) == {"error_busy": len(refused[0]["ids"])},
          "failures %s, expected error_busy=%d" % (x.failed_by(s), len(refused[0]["ids"])))
    check(x.m(s, "jaeger_agent_reporter_retries_total") == 0, "a RESOURCE_EXHAUSTED without RetryInfo was retried")
    check(not set(keys_of(refused)) & set(keys_of(a.stored())), "refused spans were sent again")
    return summary + " refused=%d" % len(refused[0]["ids"])


def scenario_http_retry_after(status):
    def run(h, x):
        """HTTP 429/503 with Retry-After (§4.2): retried after the delay, delivered once."""
        a = Peer(h, "a", x.script([{"status": status, "retry_after": "1"}]))
        x.start([a], timeout_ms=5000)
        _, sent_path = x.send(30, seed=26, name="http%d" % status, pace_us=2000)
        sent = span_keys(sent_path)
        s = x.settle(len(sent))
        _, _, summary, _ = x.finish(sent, [a], s)
        gap = retry_gap(a, "HTTP %d" % status, 0.95)
        return check_retried(x, s, a, 1, summary) + " retry_after_gap=%.2fs" % gap
    return run


def scenario_partial(h, x):
    """Partial success (§4.1, §4.2): never retried; rejected_spans counted."""
    a = Peer(h, "a", x.script([{"partial": 2, "msg": "two bad"}, {}, {"partial": 3, "msg": "three bad"}]))
    x.start([a])
    _, sent_path = x.send(60, seed=27, name="partial", pace_us=2000)
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    _, _, summary, _ = x.finish(sent, [a], s)
    rejected = sum(r["rejected"] for r in a.verdicts())
    check(rejected == 5, "peer declared %d rejected spans, scripted 5" % rejected)
    # OTLP partial success: rejected spans in their own series (TChannel's ok=false counts batches).
    got = x.m(s, "jaeger_agent_reporter_spans_rejected_total")
    check(x.m(s, "jaeger_agent_reporter_batches_not_ok_total") == 0, "rejected spans counted as batches")
    check(got == rejected, "agent counted %d rejected, the collector declared %d" % (got, rejected))
    check(x.m(s, "jaeger_agent_reporter_retries_total") == 0, "a partial success was retried")
    check(not x.failed_by(s), "failures: %s" % x.failed_by(s))
    return summary + " rejected=%d" % got


def scenario_slow(h, x):
    """A collector that stops answering in time: each call hits its deadline and is counted
    (timeout_after_send, never sent again); the queue bound holds (the receivers pause while it
    is full: the datagrams wait in the socket buffer), the batch that met it full is dropped and
    counted (queue_full); memory stays bounded."""
    bound = 64 << 10
    a = Peer(h, "a", x.script([{}, {}, {}], default={"sleep_ms": 4000}))
    x.start([a], ["--reporter.queue-max-bytes=%d" % bound, "--reporter.tchannel.batch-max-bytes=32768",
                  "--processor.shards=1"], timeout_ms=200)
    x.early_ok = True
    sender, sent_path = x.send(100, seed=28, name="slow", pace_us=2000, max_packet=6000, background=True)
    peak = 0
    while sender.poll() is None:
        peak = max(peak, x.m(x.metrics(), "jaeger_agent_reporter_queue_bytes"))
        time.sleep(0.02)
    check(sender.returncode == 0, "oracle-sender failed")
    sent = span_keys(sent_path)
    s = x.settle(len(sent), timeout=30)
    with open("/proc/%d/status" % h.agent.pid) as f:
        hwm_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    totals, _, summary, _ = x.finish(sent, [a], s)
    fb = x.failed_by(s)
    late = n_spans([r for r in a.verdicts() if not r["stored"]])
    check(set(fb) == {"timeout_after_send"} and fb["timeout_after_send"] >= late > 0,
          "failures %s, expected timeout_after_send only, >= %d (the calls the peer saw given up)" % (fb, late))
    check(x.m(s, "jaeger_agent_reporter_spans_dropped_total", reason="queue_full") > 0,
          "expected queue-full drops with a slow collector: " + summary)
    check(x.m(s, "jaeger_agent_reporter_retries_total") == 0, "a call past its deadline was sent again")
    ids = [i for r in a.verdicts() for i in r["ids"]]
    check(len(ids) == len(set(ids)), "a span reached the collector twice")
    check(peak <= bound, "queue_bytes peaked at %d, bound %d" % (peak, bound))
    check(hwm_kb * 1024 < 96 * 1024 * 1024, "agent peak RSS %d KiB" % hwm_kb)
    return summary + " timeouts=%d queue_full=%d queue_peak=%dKiB rss=%dMiB" % (
        fb["timeout_after_send"], x.m(s, "jaeger_agent_reporter_spans_dropped_total", reason="queue_full"),
        peak >> 10, hwm_kb >> 10)


def scenario_sigterm_full_queue(h, x):
    """SIGTERM while the collector hangs with calls queued: exit 0 within --shutdown-timeout,
    calls in flight cut and counted, queued ones dropped (shutdown), all accounted. (The queue
    holds all that was sent: datagrams a saturated agent left unread in its socket at exit would
    be lost uncounted, a limit of any UDP receiver, not what this checks.)"""
    a = Peer(h, "a", x.script([{}, {}], default={"sleep_ms": 60000}))
    x.start([a], ["--shutdown-timeout=2s", "--reporter.queue-max-bytes=16777216",
                  "--reporter.tchannel.batch-max-bytes=65536"], timeout_ms=20000)
    _, sent_path = x.send(150, seed=29, name="term", pace_us=500, max_packet=8000)
    sent = span_keys(sent_path)
    wait_until(lambda: x.counted(x.metrics())[0] == len(sent), 10, "every span received")
    time.sleep(0.3)  # the last batches reach calls (batch-max-delay)
    totals, _, summary, elapsed = x.finish(sent, [a], stop_timeout=10)
    check(elapsed < 2.0 + 1.5, "shutdown took %.1fs with --shutdown-timeout=2s" % elapsed)
    check(totals["failed_spans"] > 0, "expected calls in flight cut at the deadline: " + summary)
    check(totals["submitted_spans"] > 0, "the first calls should have been delivered: " + summary)
    return summary + " shutdown=%.2fs" % elapsed


def scenario_small_queue(h, x):
    """A queue bound below one call's nominal reservation (64 KiB; a concatenating call reserves
    128 KiB up front) and a healthy collector: batches are still forwarded. Before the fix in
    ReporterCore::emit() every batch was dropped (queue_full) and the receivers stayed paused for
    good. (A bound this small still drops when calls overlap: counted, and the identity holds.)"""
    a = Peer(h, "a", x.script([]))
    x.start([a], ["--reporter.queue-max-bytes=65536", "--reporter.tchannel.batch-max-bytes=32768",
                  "--processor.shards=1"])
    x.early_ok = True
    _, sent_path = x.send(60, seed=30, name="small", pace_us=10000, max_packet=6000)
    sent = span_keys(sent_path)
    s = x.settle(len(sent))
    totals, stored, summary, _ = x.finish(sent, [a], s)
    check(not x.failed_by(s), "failures %s with a healthy collector" % x.failed_by(s))
    check(n_spans(stored) * 2 >= len(sent), "only %d of %d spans delivered with a healthy collector: %s"
          % (n_spans(stored), len(sent), summary))
    return summary


SCENARIOS = {
    "small_queue": (scenario_small_queue, ("grpc", "otlp_grpc", "otlp_http")),
    "kill": (scenario_kill, ("grpc", "otlp_grpc", "otlp_http")),
    "kill_one_of_two": (scenario_kill_one_of_two, ("grpc",)),
    "graceful_restart": (scenario_graceful_restart, ("grpc", "otlp_grpc")),
    "unavailable": (scenario_unavailable, ("grpc", "otlp_grpc")),
    "resource_exhausted": (scenario_resource_exhausted, ("grpc", "otlp_grpc")),
    "resource_exhausted_no_retryinfo": (scenario_resource_exhausted_no_retryinfo, ("otlp_grpc",)),
    "http_429": (scenario_http_retry_after(429), ("otlp_http",)),
    "http_503": (scenario_http_retry_after(503), ("otlp_http",)),
    "partial": (scenario_partial, ("otlp_grpc", "otlp_http")),
    "slow": (scenario_slow, ("grpc", "otlp_grpc", "otlp_http")),
    "sigterm_full_queue": (scenario_sigterm_full_queue, ("grpc", "otlp_grpc", "otlp_http")),
}


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    agent_bin, oracle_bin, transport, name = sys.argv[1:]
    fn, transports = SCENARIOS[name]
    check(transport in transports, "%s does not apply to %s" % (name, transport))
    h = Harness(agent_bin, oracle_bin, "%s-%s" % (transport, name))
    t0 = time.time()
    ok = False
    try:
        detail = fn(h, Modern(h, transport))
        ok = True
        print("PASS %s %s (%.1fs): %s" % (transport, name, time.time() - t0, detail))
    except Fail as e:
        print("FAIL %s %s (%.1fs): %s\n  logs kept in %s" % (transport, name, time.time() - t0, e, h.dir))
    finally:
        h.cleanup(keep=not ok or os.environ.get("INTEROP_KEEP") == "1")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
