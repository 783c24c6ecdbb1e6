#!/usr/bin/python3
"""Interop: real clients' spans through the agent binary to Jaeger api_v2 and OTLP receivers, every
span compared field by field with what the conversion rules say it must be (issue #15).

  modern_interop.py <agent> <oracle-sender> grpc|otlp-grpc|otlp-http jaeger-client|oracle [--gzip]

  receiver  grpc:       grpc_peer.py (python3-grpcio), PostSpans decoded here with python3-protobuf
                        from tests/proto/jaeger_api_v2.proto;
            otlp-*:     otlp_receiver.js (@grpc/grpc-js or node:http) decoding with OpenTelemetry's
                        own generated codec (@opentelemetry/otlp-transformer root.js, §6.2)
  agent     the binary, --reporter.type=grpc or otlp (--reporter.otlp.protocol grpc or
            http/protobuf, --gzip: --reporter.otlp.compression=gzip), --agent.tags with an
            ${ENV:default} entry and a key jaeger-client also sends (hostname), every port ephemeral
  input     jaeger-client: send_jaeger_client.js (jaeger-client 3.19.0, Thrift binary → the
            jaeger-binary port); oracle: oracle-sender (Apache Thrift C++, compact → jaeger-compact,
            every third batch binary → jaeger-binary; Zipkin span lists → zipkin-compact, then
            one datagram of hand-made Zipkin spans, zipkin_crafted.py).
The expected spans come from what the senders recorded on the wire (normalize.js form), through
modern_rules.py (+ modern_rules_zipkin.py), an implementation of modern-collectors.md §2 / §3
independent of the agent. A Zipkin span the agent splits (cs + sr, §2.4) gives two spans with the
same ids: they are matched to the expected pair in whichever order makes them equal.
Fails on any span missing, duplicated, unexpected or different in any field, on an envelope that
breaks §3.1 / §2.1 / §2.4, on requests the receiver could not decode, on a rejected-span or
unknown-service count that is not the rules' (§2.4a), or when the agent does not exit 0 on SIGTERM. The work dir is kept on
failure (MODERN_INTEROP_KEEP=1: always). MODERN_INTEROP_SPANS / _BATCHES / _SEED size the run.
"""
import argparse
import collections
import itertools
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (diff, short: the field-by-field report of the TChannel interop)
import modern_rules  # noqa: E402
import zipkin_crafted  # noqa: E402

# Agent tags (§2.1): a ${VAR:default} entry (expanded from the environment), non-ASCII, and
# `hostname`, which jaeger-client also sends: api_v2 keeps both (no de-duplication), OTLP
# upserts (the agent's value wins, then hostname → host.name, §3.2).
AGENT_TAGS_FLAG = "agent.zone=zone-ü,deploy.env=${JG_MODERN_INTEROP_ENV:unset},hostname=agent-host"
AGENT_TAGS_ENV = {"JG_MODERN_INTEROP_ENV": "interop-env"}
AGENT_TAGS = [("agent.zone", "zone-ü"), ("deploy.env", "interop-env"), ("hostname", "agent-host")]
MAX_LISTED = 5


def fail(msg):
    raise SystemExit("modern_interop: FAIL " + msg)


def log(msg):
    print("modern_interop: " + msg, flush=True)


def load_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- received spans, normalized like modern_rules' expectations -----------------------------

def text(b):
    """A string field decoded as bytes: byte-exact, invalid UTF-8 kept as surrogate escapes (the
    agent passes Zipkin bytes through, as gogo does, §3.9; modern_rules_zipkin.text)."""
    return b.decode("utf-8", "surrogateescape")


def api_v2_kv(kv):
    return modern_rules.api_v2_kv(text(kv.key), kv.v_type, text(kv.v_str), kv.v_bool, kv.v_int64,
                                  struct.pack(">d", kv.v_float64).hex(), kv.v_binary.hex())


def api_v2_process(p):
    return {"serviceName": text(p.service_name), "tags": [api_v2_kv(t) for t in p.tags]}


_LENIENT = []


def lenient_post_spans():
    """PostSpansRequest from tests/proto/jaeger_api_v2.proto with every string field made bytes
    (same wire format): python3-protobuf refuses invalid UTF-8 in a string (§3.9), which Zipkin
    binary annotations carry into api_v2 (e.g. `lc` of type BYTES → component)."""
    if not _LENIENT:
        import grpc_peer  # python3-protobuf classes compiled from tests/proto (needs /usr/bin/python3)
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        pool = descriptor_pool.DescriptorPool()
        todo = [grpc_peer.J.DESCRIPTOR]
        files = []
        while todo:
            fd = todo.pop()
            todo.extend(fd.dependencies)
            files.append(fd)
        for fd in reversed(files):
            fdp = descriptor_pb2.FileDescriptorProto()
            fd.CopyToProto(fdp)
            msgs = list(fdp.message_type)
            while msgs:
                m = msgs.pop()
                msgs.extend(m.nested_type)
                for f in m.field:
                    if f.type == descriptor_pb2.FieldDescriptorProto.TYPE_STRING:
                        f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            pool.Add(fdp)
        desc = pool.FindMessageTypeByName("jaeger.api_v2.PostSpansRequest")
        if hasattr(message_factory, "GetMessageClass"):
            _LENIENT.append(message_factory.GetMessageClass(desc))
        else:
            _LENIENT.append(message_factory.MessageFactory(pool).GetPrototype(desc))
    return _LENIENT[0]()


OWN_PROCESS = set()  # keys of the spans received with Span.process set


def effective_process(rec):
    """(key, ctx, span) with ctx = the process the collector applies to the span (§1.2: its own,
    else Batch.process) and no span["process"]: where a process travels is the reporter's choice
    (reporter_core.h, merging), which process a span ends with is what the rules fix."""
    key, ctx, span = rec
    if span.get("process") is not None:
        OWN_PROCESS.add(key)
        ctx = span["process"]
    return key, ctx, dict(span, process=None)


def received_api_v2(records, problems):
    """[(key, process, span)] from grpc_peer.py's records (raw request bytes in hex). The process
    is the span's effective one (§1.2: Span.process, else Batch.process), and span["process"] is
    None: Jaeger batches carry theirs in Batch.process (§2.1) unless the reporter inlined it into
    each span to share a call with other client processes; Zipkin spans carry their own (§2.4)."""
    out = []
    for n, rec in enumerate(records):
        if rec["m"] != "PostSpans":
            problems.append("request %d: unexpected method %s" % (n, rec["m"]))
            continue
        raw = bytes.fromhex(rec["hex"])
        req = lenient_post_spans()
        try:
            req.ParseFromString(raw)
        except Exception as e:  # noqa: BLE001  (any decode failure is the finding)
            problems.append("request %d: python3-protobuf cannot decode it: %s" % (n, e))
            continue
        if len(req.SerializeToString()) != len(raw):
            problems.append("request %d: %d bytes re-encode to %d (unknown fields?)"
                            % (n, len(raw), len(req.SerializeToString())))
        b = req.batch
        if not b.HasField("process") and not all(s.HasField("process") for s in b.spans):
            problems.append("request %d: Batch.process missing and a span without its own (§2.1, §2.4)" % n)
        process = api_v2_process(b.process) if b.HasField("process") else None
        for s in b.spans:
            span = {
                "traceId": s.trace_id.hex(), "spanId": s.span_id.hex(), "operationName": text(s.operation_name),
                "references": [{"traceId": r.trace_id.hex(), "spanId": r.span_id.hex(), "refType": r.ref_type}
                               for r in s.references],
                "flags": s.flags,
                "startTime": [s.start_time.seconds, s.start_time.nanos],
                "duration": [s.duration.seconds, s.duration.nanos],
                "tags": [api_v2_kv(t) for t in s.tags],
                "logs": [{"timestamp": [l.timestamp.seconds, l.timestamp.nanos],
                          "fields": [api_v2_kv(f) for f in l.fields]} for l in s.logs],
                "process": api_v2_process(s.process) if s.HasField("process") else None,
                "processId": text(s.process_id), "warnings": [text(w) for w in s.warnings],
            }
            out.append(effective_process(((span["traceId"], span["spanId"]), process, span)))
    return out


EMPTY_SCOPE = modern_rules.EMPTY_SCOPE


def received_otlp(records, problems, want_transport, want_encoding):
    """[(key, {resource attributes, scope}, span)] from otlp_receiver.js's records, checking the
    envelope (§3.1: a Jaeger batch is one ResourceSpans with one ScopeSpans, the empty scope, which
    the comparison checks; §3.8: a Zipkin datagram's ResourceSpans has one ScopeSpans per scope)."""
    out = []
    streams = [r for r in records if r.get("transport") == "grpc-stream"]
    records = [r for r in records if r.get("transport") != "grpc-stream"]
    if want_transport == "grpc":
        if len(streams) != len(records):
            problems.append("%d gRPC streams seen for %d requests" % (len(streams), len(records)))
        for st in streams:
            if (st["path"], st["encoding"]) != ("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                                want_encoding) or not st["contentType"].startswith("application/grpc"):
                problems.append("gRPC stream %s, want Export, grpc-encoding %s, application/grpc"
                                % (compare.short(st), want_encoding))
                break
    for n, rec in enumerate(records):
        if "error" in rec:
            problems.append("request %d (%s): %s" % (n, rec.get("transport"), rec["error"]))
            continue
        if rec["transport"] != want_transport:
            problems.append("request %d came over %s" % (n, rec["transport"]))
        if want_transport == "http" and rec["encoding"] != want_encoding:
            problems.append("request %d: Content-Encoding %s, want %s" % (n, rec["encoding"], want_encoding))
        for rs in rec["resourceSpans"]:
            res = rs["resource"] or {"attributes": [], "droppedAttributesCount": 0, "entityRefs": 0}
            if res["droppedAttributesCount"] or res["entityRefs"] or rs["schemaUrl"]:
                problems.append("request %d: resource with dropped count / entity refs / schema url: %s"
                                % (n, compare.short(rs)))
            scopes = [json.dumps(ss["scope"] or EMPTY_SCOPE, sort_keys=True) for ss in rs["scopeSpans"]]
            if not scopes or len(set(scopes)) != len(scopes) or not all(ss["spans"] for ss in rs["scopeSpans"]):
                problems.append("request %d: a ResourceSpans with %d ScopeSpans, %d distinct, one empty: %s (§3.1, §3.8)"
                                % (n, len(scopes), len(set(scopes)), not all(ss["spans"] for ss in rs["scopeSpans"]),
                                   compare.short(scopes)))
            for ss in rs["scopeSpans"]:
                if ss["schemaUrl"]:
                    problems.append("request %d: scope schema url %s (§3.1)" % (n, compare.short(ss["schemaUrl"])))
                ctx = {"resource": res["attributes"], "scope": ss["scope"] or EMPTY_SCOPE}
                for sp in ss["spans"]:
                    out.append(((sp["traceId"], sp["spanId"]), ctx, sp))
    return out


# ---- the run --------------------------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="jg-modern-interop-")
        self.procs = []
        self.otlp = args.transport.startswith("otlp")
        self.received_path = os.path.join(self.work, "received.jsonl")

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def start_receiver(self):
        if self.otlp:
            argv = ["node", os.path.join(HERE, "otlp_receiver.js"), self.received_path]
        else:
            argv = ["/usr/bin/python3", os.path.join(HERE, "grpc_peer.py"), "--out", self.received_path]
        self.receiver = self.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   stderr=open(os.path.join(self.work, "receiver.err"), "w"))
        line = self.receiver.stdout.readline()
        m = re.match(r"PORTS (\d+) (\d+)", line)
        if not m:
            fail("receiver did not start: %r (%s)" % (line, self.tail("receiver.err")))
        return int(m.group(1)), int(m.group(2))

    def tail(self, name, n=1500):
        try:
            with open(os.path.join(self.work, name), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def start_agent(self, gport, hport):
        a = self.args
        if a.transport == "grpc":
            reporter = ["--reporter.type=grpc", "--reporter.grpc.host-port=127.0.0.1:%d" % gport]
        elif a.transport == "otlp-grpc":
            reporter = ["--reporter.type=otlp", "--reporter.otlp.protocol=grpc",
                        "--reporter.otlp.endpoint=127.0.0.1:%d" % gport]
        else:
            reporter = ["--reporter.type=otlp", "--reporter.otlp.protocol=http/protobuf",
                        "--reporter.otlp.endpoint=http://127.0.0.1:%d" % hport]
        if a.gzip:
            reporter.append("--reporter.otlp.compression=gzip")
        buf = str(8 << 20)
        env = dict(os.environ, **AGENT_TAGS_ENV)
        self.agent_log = os.path.join(self.work, "agent.log")
        self.agent = self.spawn([a.agent] + reporter + [
            "--agent.tags=" + AGENT_TAGS_FLAG,
            "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
            "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
            "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
            "--processor.jaeger-compact.server-socket-buffer-size=" + buf,
            "--processor.jaeger-binary.server-socket-buffer-size=" + buf,
            "--http-server.host-port=127.0.0.1:0", "--admin.http.host-port=127.0.0.1:0", "--log-level=info"]
            + a.agent_arg,
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.agent_log, "w"))
        deadline = time.time() + 15
        while time.time() < deadline:
            text = self.tail("agent.log", 1 << 20)
            if self.agent.poll() is not None:
                fail("agent exited (%d): %s" % (self.agent.returncode, text[-1500:]))
            admin = re.search(r"admin server :(\d+)", text)
            udp = re.search(r"zipkin-compact :(\d+), jaeger-compact :(\d+), jaeger-binary :(\d+)", text)
            if admin and udp:
                self.admin = int(admin.group(1))
                return int(udp.group(2)), int(udp.group(3)), int(udp.group(1))
            time.sleep(0.05)
        fail("agent not ready within 15 s: " + self.tail("agent.log"))

    def send(self, compact, binary, zipkin):
        a = self.args
        sent = os.path.join(self.work, "sent.jsonl")
        if a.input == "jaeger-client":
            argv = ["node", os.path.join(HERE, "send_jaeger_client.js"), str(binary), sent,
                    "--spans", str(a.spans), "--seed", str(a.seed)]
        else:
            argv = [a.oracle, "--compact-port", str(compact), "--binary-port", str(binary),
                    "--batches", str(a.batches), "--seed", str(a.seed), "--out", sent]
            if a.zipkin_batches:  # emitZipkinBatch datagrams (compact) to the zipkin-compact port
                argv += ["--zipkin-port", str(zipkin), "--zipkin-batches", str(a.zipkin_batches)]
        env = dict(os.environ, JAGENT_IDL_DIR=os.path.join(HERE, "..", "..", "idl"))
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            fail("%s sender exited %d: %s" % (a.input, r.returncode, r.stderr[-1500:]))
        if a.input == "oracle" and a.zipkin_batches:  # the rules random spans do not reach
            return load_lines(sent) + zipkin_crafted.send(zipkin)
        return load_lines(sent)

    def received_count(self):
        n = 0
        for rec in load_lines(self.received_path):
            if self.otlp:
                n += sum(len(ss["spans"]) for rs in rec.get("resourceSpans", []) for ss in rs["scopeSpans"])
            elif "spans" in rec:
                n += rec["spans"]
            elif rec.get("m") == "PostSpans":  # grpc_peer's strict decode refused it (invalid UTF-8)
                try:
                    req = lenient_post_spans()
                    req.ParseFromString(bytes.fromhex(rec["hex"]))
                    n += len(req.batch.spans)
                except Exception:  # noqa: BLE001  (reported by received_api_v2)
                    pass
        return n

    def wait_received(self, want, limit=20):
        deadline, last, last_change = time.time() + limit, -1, time.time()
        while True:
            n = self.received_count()
            if n >= want:
                break
            if n != last:
                last, last_change = n, time.time()
            if time.time() > deadline or time.time() - last_change > 8:
                log("timeout: the receiver has %d of %d spans" % (n, want))
                break
            time.sleep(0.1)
        time.sleep(0.5)  # late duplicates show up too

    def metric_sum(self, name):
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin, timeout=5).read().decode()
        return sum(float(m.group(1)) for m in re.finditer(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), text, re.M))

    def stop_agent(self, problems):
        self.agent.send_signal(signal.SIGTERM)
        try:
            rc = self.agent.wait(timeout=15)
            if rc != 0:
                problems.append("agent exited %d after SIGTERM: %s" % (rc, self.tail("agent.log", 800)))
        except subprocess.TimeoutExpired:
            problems.append("agent did not exit within 15 s of SIGTERM")
        time.sleep(0.3)  # what the drain sent is recorded before the receiver stops
        self.receiver.stdin.close()
        try:
            self.receiver.wait(timeout=5)
        except subprocess.TimeoutExpired:
            problems.append("receiver did not stop")

    def cleanup(self, ok):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if ok and not os.environ.get("MODERN_INTEROP_KEEP"):
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print("modern_interop: work dir kept: " + self.work)


def compare_spans(name, expected, received, problems):
    """expected: {key: [(ctx, span), ...]} (two for a split Zipkin span); received:
    [(key, ctx, span)]. Appends to problems."""
    got = collections.OrderedDict()
    for key, ctx, span in received:
        got.setdefault(key, []).append((ctx, span))
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    duplicated = [(k, len(v)) for k, v in got.items() if k in expected and len(v) > len(expected[k])]
    missing += [k for k, v in got.items() if k in expected and len(v) < len(expected[k])]
    altered = []
    for k, want in expected.items():
        have = got.get(k, [])
        if len(have) != len(want):
            continue
        best = None
        for order in itertools.permutations(have):  # at most 2 (the halves of a split span)
            d = []
            for (ctx, span), (rctx, rspan) in zip(want, order):
                compare.diff({"context": ctx, "span": span}, {"context": rctx, "span": rspan}, "", d)
            if best is None or len(d) < len(best):
                best = d
            if not d:
                break
        if best:
            altered.append((k, best))
    for what, keys in (("missing", missing), ("unexpected", unexpected)):
        for k in keys[:MAX_LISTED]:
            problems.append("%s: trace %s span %s" % (what, k[0], k[1]))
    for k, n in duplicated[:MAX_LISTED]:
        problems.append("duplicated: trace %s span %s received %d times" % (k[0], k[1], n))
    for k, d in altered[:MAX_LISTED]:
        problems.append("altered: trace %s span %s, %d field(s) differ:\n%s" % (k[0], k[1], len(d), "\n".join(
            "      %s: want %s, got %s" % (p, compare.short(a), compare.short(b)) for p, a, b in d[:8])))
    counts = (len(missing), len(duplicated), len(unexpected), len(altered))
    if any(counts):
        problems.append("%s: %d missing, %d duplicated, %d unexpected, %d altered (listed: at most %d each)"
                        % ((name,) + counts + (MAX_LISTED,)))
    return len(received)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("oracle")
    ap.add_argument("transport", choices=["grpc", "otlp-grpc", "otlp-http"])
    ap.add_argument("input", choices=["jaeger-client", "oracle"])
    ap.add_argument("--gzip", action="store_true", help="--reporter.otlp.compression=gzip")
    ap.add_argument("--agent-arg", action="append", default=[], help="one more agent flag")
    ap.add_argument("--expect-inlined", action="store_true",
                    help="fail unless some Jaeger spans came with their process inlined (api_v2)")
    ap.add_argument("--spans", type=int, default=int(os.environ.get("MODERN_INTEROP_SPANS", 600)))
    ap.add_argument("--batches", type=int, default=int(os.environ.get("MODERN_INTEROP_BATCHES", 120)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MODERN_INTEROP_SEED", 7)))
    ap.add_argument("--zipkin-batches", type=int, default=int(os.environ.get("MODERN_INTEROP_ZIPKIN_BATCHES", 40)),
                    help="oracle input: emitZipkinBatch datagrams (0: none)")
    args = ap.parse_args()
    if args.gzip and not args.transport.startswith("otlp"):
        ap.error("--gzip is an OTLP option")
    need = (["@opentelemetry/otlp-transformer", "@grpc/grpc-js", "protobufjs"] if args.transport != "grpc" else []) + (
        ["jaeger-client", "thriftrw"] if args.input == "jaeger-client" else [])
    for pkg in need:
        if not os.path.isdir(os.path.join(HERE, "node_modules", pkg)):
            fail("npm package %s is missing from tests/interop/node_modules: run tools/setup-npm.sh" % pkg)
    name = "%s %s%s" % (args.transport, args.input, " gzip" if args.gzip else "")
    t0 = time.time()
    run = Run(args)
    ok = False
    try:
        gport, hport = run.start_receiver()
        compact, binary, zipkin = run.start_agent(gport, hport)
        log("%s: receiver :%d/:%d, agent compact :%d binary :%d zipkin :%d"
            % (name, gport, hport, compact, binary, zipkin))
        sent = run.send(compact, binary, zipkin)
        transport = "grpc" if args.transport == "grpc" else "otlp"
        # Per format: spans sent, rejected (§2.4a), unknown service (§2.4a), spans expected
        # delivered (a split Zipkin span counts 2), and the sent spans the reporter counts.
        expected, n = {}, {f: collections.Counter() for f in ("jaeger", "zipkin")}
        jaeger_keys = set()
        for s in sent:
            delivered, rejected, unknown = modern_rules.expected_for(s, transport, AGENT_TAGS)
            c = n[s["format"]]
            c["sent"] += 1
            c["rejected"] += rejected
            c["unknown"] += unknown
            c["delivered"] += len(delivered)
            c["counted"] += 1 - rejected if s["format"] == "zipkin" else len(delivered)
            for ctx, span in delivered:
                if transport == "grpc":
                    _, ctx, span = effective_process((None, ctx, span))
                    if s["format"] == "jaeger":
                        jaeger_keys.add((span["traceId"], span["spanId"]))
                expected.setdefault((span["traceId"], span["spanId"]), []).append((ctx, span))
        n_expected = sum(c["delivered"] for c in n.values())
        if sum(len(v) for v in expected.values()) != n_expected or any(
                len(v) > 1 and v[0][1]["spanId"] != v[1][1]["spanId"] for v in expected.values()):
            fail("the sent file has duplicated span ids (a test bug)")
        if args.input == "oracle" and args.zipkin_batches and not n["zipkin"]["sent"]:
            fail("the oracle sent no zipkin spans")
        run.wait_received(n_expected)
        problems = []
        rejected = sum(c["rejected"] for c in n.values())
        dropped = run.metric_sum("jaeger_agent_decode_spans_dropped_total")
        if dropped != rejected:
            problems.append("agent counted %d spans not encodable, the rules reject %d (§2.4a)" % (dropped, rejected))
        unknown = run.metric_sum("jaeger_agent_decode_spans_unknown_service_total")
        if unknown != n["zipkin"]["unknown"]:
            problems.append("agent counted %d zipkin spans with an unknown service, the rules %d (§2.4a)"
                            % (unknown, n["zipkin"]["unknown"]))
        bad = run.metric_sum("jaeger_agent_decode_rejected_total")
        if bad:
            problems.append("agent rejected %d datagrams" % bad)
        # Its own accounting agrees: every delivered span counted submitted (counted once the
        # answer is in, a moment after the receiver recorded the request), none failed or dropped.
        # A Zipkin span counts once, split or not (to_api_v2.h: the Go reporter's metrics).
        counted = sum(c["counted"] for c in n.values())
        submitted, deadline = 0, time.time() + 3
        while time.time() < deadline:
            submitted = run.metric_sum("jaeger_agent_reporter_spans_submitted_total")
            if submitted >= counted:
                break
            time.sleep(0.1)
        lost = run.metric_sum("jaeger_agent_reporter_spans_failures_total") + run.metric_sum(
            "jaeger_agent_reporter_spans_dropped_total")
        if submitted != counted or lost:
            problems.append("agent counted %d spans submitted and %d failed or dropped; %d expected delivered"
                            % (submitted, lost, counted))
        run.stop_agent(problems)
        records = load_lines(run.received_path)
        if run.otlp:
            received = received_otlp(records, problems, "grpc" if args.transport == "otlp-grpc" else "http",
                                     "gzip" if args.gzip else "identity")
        else:
            OWN_PROCESS.clear()
            received = received_api_v2(records, problems)
        compare_spans(name, expected, received, problems)
        summary = "%s: %s; %d spans received in %d requests, %.1f s" % (
            name, "; ".join("%s: %d sent, %d rejected as §2.4a requires, %d expected%s" % (
                f, c["sent"], c["rejected"], c["delivered"],
                ", %d as unknown-service-name" % c["unknown"] if f == "zipkin" else "")
                for f, c in n.items() if c["sent"]),
            len(received), sum(r.get("transport") != "grpc-stream" for r in records), time.time() - t0)
        if not run.otlp:
            inlined = len(OWN_PROCESS & jaeger_keys)
            summary += "; %d jaeger spans had their process inlined" % inlined
            if args.expect_inlined and not inlined:
                problems.append("no Jaeger span came with its process inlined: the path this run is for did not run")
        if problems:
            for p in problems[:30]:
                print("modern_interop: FAIL " + p)
            print("modern_interop: agent log tail:\n" + run.tail("agent.log", 1500))
            fail(summary)
        ok = True
        log("OK " + summary + "; every span identical field by field")
    finally:
        run.cleanup(ok)


if __name__ == "__main__":
    main()
