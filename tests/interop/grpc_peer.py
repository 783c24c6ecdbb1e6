#!/usr/bin/python3
"""A scripted collector for the gRPC / OTLP transport tests (tests/interop/grpc_transport_test.cc).

Real peers (modern-collectors.md §6.3): python3-grpcio serving, through generic handlers,
  /jaeger.api_v2.CollectorService/PostSpans, /jaeger.api_v2.SamplingManager/GetSamplingStrategy,
  /opentelemetry.proto.collector.trace.v1.TraceService/Export,
and http.server serving OTLP/HTTP POST /v1/traces (HTTP/1.1 keep-alive, gzip bodies). Every
request is decoded with python3-protobuf from the test-local .proto files in tests/proto
(compiled here with protoc --python_out) and written, raw bytes in hex, to the --out file as one
JSON line (flushed before answering, so it survives a scripted death).

--script is JSON: {"PostSpans": [action, ...], "Export": [...], "GetSamplingStrategy": [...],
"http": [...]}. Each call consumes the next action of its method; past the list: ok. Actions:
  {} ok | {"code": 14, "msg": "..."} answer that status | {"code": 8, "retry_ms": 300} with a
  google.rpc.RetryInfo detail | {"sleep_ms": 1500} answer ok after a delay | {"die": 1} exit
  before answering | {"partial": 2, "msg": "..."} OTLP partial success | HTTP:
  {"status": 429, "retry_after": "1"} | {"die": 1, "drain": 1} a kill with a clean cut: calls
  already answered get their answers out, calls arriving after it are held unanswered, then exit.
  {"stop": 2} answer ok, then stop gracefully (grpc server.stop(grace=2): HTTP/2 GOAWAY, calls
  in progress finish, new ones are refused) and exit.
  {"default": {method: action}} is the action past the end of a method's list.
--verdicts FILE (the agent fault tests, modern_faults.py): one JSON line per request once its fate
is decided, {"m", "t", "ids": ["<trace id hex>:<span id hex>", ...], "stored": bool, "rejected": n}:
stored = answered ok (or partially: `rejected` of its spans declined). A sleeping call whose client
gave up (deadline, cancel, closed connection) is not stored and not answered, as a collector that
aborts a cancelled request; a killed or erroring call is not stored. So the spans the agent may
count as failed "after send" were, here, never stored: sent = delivered + counted is exact.
--grpc-port/--http-port: fixed ports (a restarted collector), default ephemeral.
--tls-cert/--tls-key: the gRPC port speaks TLS. Prints "PORTS <grpc> <http>" once listening.
"""
import argparse
import gzip
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, '..', 'proto')


def load_pb2():
    out = tempfile.mkdtemp(prefix='jg-pb2-')
    subprocess.check_call(['protoc', '-I', PROTO, '-I', '/usr/include', '--python_out', out,
                           'jaeger_api_v2.proto', 'otlp_export.proto'])
    sys.path.insert(0, out)
    import jaeger_api_v2_pb2  # noqa: E402
    import otlp_export_pb2  # noqa: E402
    shutil.rmtree(out)  # loaded: nothing left behind (the peer may end with os._exit)
    return jaeger_api_v2_pb2, otlp_export_pb2


J, O = load_pb2()


def varint(n):
    b = bytearray()
    while n >= 0x80:
        b.append((n & 0x7f) | 0x80)
        n >>= 7
    b.append(n)
    return bytes(b)


def ld(tag, payload):
    return bytes([tag]) + varint(len(payload)) + payload


def status_with_retry_info(code, msg, retry_ms):
    """google.rpc.Status{code, message, details=[Any{RetryInfo{retry_delay}}]} (§4.1)."""
    dur = b''
    secs, nanos = divmod(retry_ms, 1000)
    if secs:
        dur += b'\x08' + varint(secs)
    if nanos:
        dur += b'\x10' + varint(nanos * 1000000)
    retry_info = ld(0x0a, dur)
    any_ = ld(0x0a, b'type.googleapis.com/google.rpc.RetryInfo') + ld(0x12, retry_info)
    return b'\x08' + varint(code) + ld(0x12, msg.encode()) + ld(0x1a, any_)


def span_ids(method, raw):
    """"<trace id>:<span id>" hex of every span in a PostSpans or Export request."""
    if method == 'PostSpans':
        r = J.PostSpansRequest()
        r.ParseFromString(raw)
        spans = r.batch.spans
    else:
        r = O.ExportTraceServiceRequest()
        r.ParseFromString(raw)
        spans = [sp for rs in r.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    return ['%s:%s' % (sp.trace_id.hex().rjust(32, '0'), sp.span_id.hex().rjust(16, '0')) for sp in spans]


class Peer:
    def __init__(self, script, out, verdicts=None):
        self.default = script.pop('default', {})
        self.script = {k: list(v) for k, v in script.items()}
        self.lock = threading.Lock()
        self.out = open(out, 'a', buffering=1)
        self.verdicts = open(verdicts, 'a', buffering=1) if verdicts else None
        self.active = 0  # requests being handled (a draining death waits for them)
        self.dying = False

    def next_action(self, method):
        with self.lock:
            lst = self.script.get(method, [])
            return lst.pop(0) if lst else dict(self.default.get(method, {}))

    def verdict(self, method, t, raw, stored, rejected=0, held=False):
        if not self.verdicts or method == 'GetSamplingStrategy':
            return
        try:
            ids = span_ids(method, raw)
        except Exception as e:
            ids, stored = ['decode_error: %s' % e], False
        rec = {'m': method, 't': t, 'ids': ids, 'stored': stored, 'rejected': rejected}
        if held:
            rec['held'] = True  # arrived while dying: not in --out
        with self.lock:
            self.verdicts.write(json.dumps(rec) + '\n')
            self.verdicts.flush()

    def enter(self):
        """A request arrives: False if the peer is dying (hold it: never answered)."""
        with self.lock:
            if self.dying:
                return False
            self.active += 1
            return True

    def leave(self):
        with self.lock:
            self.active -= 1

    def hold(self, method, t, raw):
        self.verdict(method, t, raw, False, held=True)
        while True:
            time.sleep(1)

    def die(self, drain):
        if drain:
            with self.lock:
                self.dying = True
                self.active -= 1  # this request is not waited for
            end = time.monotonic() + 3
            while self.active > 0 and time.monotonic() < end:
                time.sleep(0.01)
            time.sleep(0.3)  # answers of finished requests leave the sockets
        os._exit(3)

    @staticmethod
    def sleep_while(ms, alive):
        """Sleeps ms unless the client goes away first; returns whether it is still there."""
        end = time.monotonic() + ms / 1000.0
        while time.monotonic() < end:
            if not alive():
                return False
            time.sleep(min(0.02, max(0.0, end - time.monotonic())))
        return alive()

    def log(self, method, raw, meta, action):
        rec = {'m': method, 't': time.monotonic(), 'hex': raw.hex(), 'meta': meta, 'action': action}
        try:
            if method == 'PostSpans':
                r = J.PostSpansRequest()
                r.ParseFromString(raw)
                rec['spans'] = len(r.batch.spans)
                rec['service'] = r.batch.process.service_name
            elif method == 'GetSamplingStrategy':
                r = J.SamplingStrategyParameters()
                r.ParseFromString(raw)
                rec['service'] = r.serviceName
            else:
                r = O.ExportTraceServiceRequest()
                r.ParseFromString(raw)
                rec['resource_spans'] = len(r.resource_spans)
                rec['spans'] = sum(len(ss.spans) for rs in r.resource_spans for ss in rs.scope_spans)
        except Exception as e:  # a decode failure is a test failure, reported by the C++ side
            rec['decode_error'] = str(e)
        if getattr(self, 'no_log', False):
            return
        with self.lock:
            self.out.write(json.dumps(rec) + '\n')
            self.out.flush()
            os.fsync(self.out.fileno())

    def grpc_handler(self, method):
        def handle(raw, ctx):
            t = time.monotonic()
            if not self.enter():
                self.hold(method, t, raw)
            try:
                return answer(raw, ctx, t)
            finally:
                self.leave()

        def answer(raw, ctx, t):
            action = self.next_action(method)
            meta = {k: (v if isinstance(v, str) else v.hex()) for k, v in ctx.invocation_metadata()}
            self.log(method, raw, meta, action)
            if action.get('die'):
                self.verdict(method, t, raw, False)
                self.die(action.get('drain'))
            if 'sleep_ms' in action and not self.sleep_while(action['sleep_ms'], ctx.is_active):
                self.verdict(method, t, raw, False)
                ctx.abort(grpc.StatusCode.CANCELLED, 'client gone')
            self.verdict(method, t, raw, 'code' not in action, action.get('partial', 0) if method == 'Export' else 0)
            if 'stop' in action:
                def stop():
                    self.server.stop(action['stop']).wait()
                    os._exit(0)
                threading.Thread(target=stop, daemon=True).start()
            if 'code' in action:
                code = [c for c in grpc.StatusCode if c.value[0] == action['code']][0]
                msg = action.get('msg', 'scripted')
                if 'retry_ms' in action:
                    ctx.set_trailing_metadata(
                        (('grpc-status-details-bin', status_with_retry_info(action['code'], msg, action['retry_ms'])),))
                ctx.abort(code, msg)
            if method == 'GetSamplingStrategy':
                return bytes.fromhex(action.get('answer', '1209' + '09fca9f1d24d62503f'))  # §1.5 observed
            if method == 'Export' and 'partial' in action:
                return O.ExportTraceServiceResponse(partial_success=O.ExportTracePartialSuccess(
                    rejected_spans=action['partial'], error_message=action.get('msg', 'scripted'))).SerializeToString()
            return b''
        return grpc.unary_unary_rpc_method_handler(handle)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--script', default='{}')
    ap.add_argument('--out', required=True)
    ap.add_argument('--no-log', action='store_true', help='decode but do not record (CPU measurements)')
    ap.add_argument('--tls-cert')
    ap.add_argument('--tls-key')
    ap.add_argument('--verdicts')
    ap.add_argument('--grpc-port', type=int, default=0)
    ap.add_argument('--http-port', type=int, default=0)
    args = ap.parse_args()
    peer = Peer(json.loads(args.script), args.out, args.verdicts)
    peer.no_log = args.no_log

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[('grpc.so_reuseport', 0)])
    peer.server = server
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler('jaeger.api_v2.CollectorService',
                                             {'PostSpans': peer.grpc_handler('PostSpans')}),
        grpc.method_handlers_generic_handler('jaeger.api_v2.SamplingManager',
                                             {'GetSamplingStrategy': peer.grpc_handler('GetSamplingStrategy')}),
        grpc.method_handlers_generic_handler('opentelemetry.proto.collector.trace.v1.TraceService',
                                             {'Export': peer.grpc_handler('Export')}),
    ))
    if args.tls_cert:
        with open(args.tls_key, 'rb') as k, open(args.tls_cert, 'rb') as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        gport = server.add_secure_port('127.0.0.1:%d' % args.grpc_port, creds)
    else:
        gport = server.add_insecure_port('127.0.0.1:%d' % args.grpc_port)
    server.start()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *a):
            pass

        def client_there(self):
            # The agent closes the connection when it gives up on a request (read timeout).
            try:
                return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b''
            except BlockingIOError:
                return True
            except OSError:
                return False

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get('Content-Length', '0')))
            if self.headers.get('Content-Encoding') == 'gzip':
                raw = gzip.decompress(raw)
            t = time.monotonic()
            if not peer.enter():
                peer.hold('http', t, raw)
            try:
                self.answer(raw, t)
            finally:
                peer.leave()

        def answer(self, raw, t):
            action = peer.next_action('http')
            meta = {k.lower(): v for k, v in self.headers.items()}
            meta['path'] = self.path
            peer.log('http', raw, meta, action)
            if action.get('die'):
                peer.verdict('http', t, raw, False)
                peer.die(action.get('drain'))
            if 'sleep_ms' in action and not peer.sleep_while(action['sleep_ms'], self.client_there):
                peer.verdict('http', t, raw, False)
                self.close_connection = True
                return
            status = action.get('status', 200)
            peer.verdict('http', t, raw, 200 <= status < 300, action.get('partial', 0))
            body = b''
            if 'partial' in action:
                body = O.ExportTraceServiceResponse(partial_success=O.ExportTracePartialSuccess(
                    rejected_spans=action['partial'], error_message=action.get('msg', 'scripted'))).SerializeToString()
            self.send_response(status)
            self.send_header('Content-Type', 'application/x-protobuf')
            if 'retry_after' in action:
                self.send_header('Retry-After', action['retry_after'])
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', args.http_port), H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print('PORTS %d %d' % (gport, httpd.server_address[1]), flush=True)
    # Until the test closes our stdin (or kills us).
    sys.stdin.read()
    os._exit(0)


if __name__ == '__main__':
    main()
