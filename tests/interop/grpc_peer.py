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
  {"status": 429, "retry_after": "1"}.
--tls-cert/--tls-key: the gRPC port speaks TLS. Prints "PORTS <grpc> <http>" once listening.
"""
import argparse
import gzip
import http.server
import json
import os
import shutil
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


class Peer:
    def __init__(self, script, out):
        self.script = {k: list(v) for k, v in script.items()}
        self.lock = threading.Lock()
        self.out = open(out, 'a', buffering=1)

    def next_action(self, method):
        with self.lock:
            lst = self.script.get(method, [])
            return lst.pop(0) if lst else {}

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
            action = self.next_action(method)
            meta = {k: (v if isinstance(v, str) else v.hex()) for k, v in ctx.invocation_metadata()}
            self.log(method, raw, meta, action)
            if action.get('die'):
                os._exit(3)
            if 'sleep_ms' in action:
                time.sleep(action['sleep_ms'] / 1000.0)
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
    args = ap.parse_args()
    peer = Peer(json.loads(args.script), args.out)
    peer.no_log = args.no_log

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[('grpc.so_reuseport', 0)])
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
        gport = server.add_secure_port('127.0.0.1:0', creds)
    else:
        gport = server.add_insecure_port('127.0.0.1:0')
    server.start()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get('Content-Length', '0')))
            if self.headers.get('Content-Encoding') == 'gzip':
                raw = gzip.decompress(raw)
            action = peer.next_action('http')
            meta = {k.lower(): v for k, v in self.headers.items()}
            meta['path'] = self.path
            peer.log('http', raw, meta, action)
            if action.get('die'):
                os._exit(3)
            if 'sleep_ms' in action:
                time.sleep(action['sleep_ms'] / 1000.0)
            status = action.get('status', 200)
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

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print('PORTS %d %d' % (gport, httpd.server_address[1]), flush=True)
    # Until the test closes our stdin (or kills us).
    sys.stdin.read()
    os._exit(0)


if __name__ == '__main__':
    main()
