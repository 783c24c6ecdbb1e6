"""Hand-made Zipkin spans for the rules the oracle's random spans never reach (modern_interop.py
sends them after the oracle's datagrams, to the zipkin-compact port).

The oracle (tools/oracle_sender.cc) draws keys and values at random, so these §2.4 / §3.8 rules
get no input from it: JSON log annotations (fields sorted, null, repeated keys, non-string values,
an `event` field), process-tag annotations (jaegerClient / jaeger.hostname / jaeger.version, their
sorting and the OTLP hostname / jaeger.version rules), a set zero parentId, the error sanitizer's
case folding, otel.scope.name / version and w3c.tracestate (§3.8), the split decided by a
binary-annotation span.kind, ToDomain's zero-timestamp fallback, short and long typed values.
Each span is written in the normalized form of normalize.js (what sent.jsonl holds), and encoded
from that form here: TCompactProtocol, `emitZipkinBatch` oneway (wire-protocols / Thrift compact:
zigzag varints, field-id deltas, list headers; zipkincore.thrift field ids).
"""

import json
import socket
import struct

CT_BOOL_TRUE, CT_BOOL_FALSE, CT_I16, CT_I32, CT_I64, CT_BINARY, CT_LIST, CT_STRUCT = 1, 2, 4, 5, 6, 8, 9, 12


def varint(n):
    """Unsigned LEB128, as compact writes sizes and (after zigzag) integers."""
    groups = [(n >> shift) & 0x7F for shift in range(0, max(n.bit_length(), 1), 7)]
    return bytes(g | 0x80 for g in groups[:-1]) + bytes(groups[-1:])


def zigzag(n):
    return varint((n << 1) ^ (n >> 63) if n < 0 else n << 1)


class Struct:
    """One compact struct: fields in ascending id order."""

    def __init__(self):
        self.buf, self.last = bytearray(), 0

    def header(self, fid, ctype):
        assert 0 < fid - self.last <= 15
        self.buf.append((fid - self.last) << 4 | ctype)
        self.last = fid

    def i16(self, fid, v):
        self.header(fid, CT_I16)
        self.buf += zigzag(v)

    def i32(self, fid, v):
        self.header(fid, CT_I32)
        self.buf += zigzag(v)

    def i64(self, fid, v):
        self.header(fid, CT_I64)
        self.buf += zigzag(v)

    def binary(self, fid, b):
        self.header(fid, CT_BINARY)
        self.buf += varint(len(b)) + b

    def boolean(self, fid, v):
        self.header(fid, CT_BOOL_TRUE if v else CT_BOOL_FALSE)

    def struct(self, fid, body):
        self.header(fid, CT_STRUCT)
        self.buf += body

    def structs(self, fid, bodies):
        self.header(fid, CT_LIST)
        n = len(bodies)
        self.buf += bytes([n << 4 | CT_STRUCT]) if n < 15 else bytes([0xF0 | CT_STRUCT]) + varint(n)
        for b in bodies:
            self.buf += b

    def end(self):
        return bytes(self.buf) + b"\x00"


def signed64(hex16):
    return struct.unpack(">q", bytes.fromhex(hex16))[0]


def endpoint(e):
    s = Struct()
    s.i32(1, e["ipv4"])
    s.i16(2, e["port"])
    s.binary(3, e["serviceName"].encode())
    if e["ipv6"] is not None:
        s.binary(4, bytes.fromhex(e["ipv6"]))
    return s.end()


def span_bytes(z):
    s = Struct()
    s.i64(1, signed64(z["traceId"]))
    s.binary(3, z["name"].encode())
    s.i64(4, signed64(z["id"]))
    if z["parentId"] is not None:
        s.i64(5, signed64(z["parentId"]))
    anns = []
    for a in z["annotations"]:
        t = Struct()
        t.i64(1, int(a["timestamp"]))
        t.binary(2, a["value"].encode())
        if a["host"] is not None:
            t.struct(3, endpoint(a["host"]))
        anns.append(t.end())
    s.structs(6, anns)
    bins = []
    for b in z["binaryAnnotations"]:
        t = Struct()
        t.binary(1, b["key"].encode())
        t.binary(2, bytes.fromhex(b["value"]))
        t.i32(3, b["annotationType"])
        if b["host"] is not None:
            t.struct(4, endpoint(b["host"]))
        bins.append(t.end())
    s.structs(8, bins)
    if z["debug"]:
        s.boolean(9, True)
    for fid, key in ((10, "timestamp"), (11, "duration")):
        if z[key] is not None:
            s.i64(fid, int(z[key]))
    if z["traceIdHigh"] is not None:
        s.i64(12, signed64(z["traceIdHigh"]))
    return s.end()


def datagram(spans, seqid=1):
    """Agent.emitZipkinBatch(spans) as a oneway TCompactProtocol message."""
    name = b"emitZipkinBatch"
    args = Struct()
    args.structs(1, [span_bytes(z) for z in spans])
    return bytes([0x82, 4 << 5 | 1]) + varint(seqid) + varint(len(name)) + name + args.end()


# ---- the spans ------------------------------------------------------------------------------

T0 = 1_700_000_000_000_000
BOOL, BYTES, I16, I32, I64, DOUBLE, STRING = range(7)


def ep(service, ipv4=0x0A000001, port=8080, ipv6=None):
    return {"ipv4": ipv4, "port": port, "serviceName": service, "ipv6": ipv6}


def ann(dt, value, host=None):
    return {"timestamp": str(T0 + dt), "value": value, "host": host}


def ban(key, value, typ=STRING, host=None):
    raw = value.encode() if isinstance(value, str) else value
    return {"key": key, "value": raw.hex(), "annotationType": typ, "host": host}


def zspan(n, annotations=(), binary=(), parent="1111111111111111", ts=T0, duration=500, debug=False, high=None):
    return {"format": "zipkin", "traceIdHigh": high, "traceId": "7a1f0000000000%02x" % n, "id": "5e00000000c0ff%02x" % n,
            "parentId": parent, "name": "crafted-%d" % n, "annotations": list(annotations),
            "binaryAnnotations": list(binary), "debug": debug,
            "timestamp": None if ts is None else str(ts), "duration": None if duration is None else str(duration)}


def spans():
    svc, other = ep("crafted-svc"), ep("crafted-other", ipv4=-1062731519, port=-1)  # 192.168.0.1, port 65535
    json_logs = [ann(1, '{"b":"2","a":"1","z":null}'), ann(2, '{"k":"v","k":"w"}'), ann(3, "null"),
                 ann(4, '{"a":1}'), ann(5, '[1]'), ann(6, ' {"e":"\\u00e9\\n"} '), ann(7, '{"event":"ev","q":"r"}'),
                 ann(8, ""), ann(9, "{}"), ann(10, '{"a":"1"} x')]
    return [
        zspan(1, [ann(0, "sr", svc)] + json_logs),
        zspan(2, [ann(0, "cs", other)], [ban("jaegerClient", "Go-2.30"), ban("jaeger.version", "v9"),
                                         ban("jaeger.hostname", "host-z"), ban("jaeger.hostname", b"\x00\x00\x01\x00", I32),
                                         ban("lc", "comp", host=other)], parent="0000000000000000"),
        zspan(3, [ann(0, "cs", svc)], [ban("error", "boom"), ban("ERROR", "falſe"), ban("Error", "TRUE"),
                                       ban("error", b"", BYTES), ban("error", b"\x00", BOOL)]),
        zspan(4, [ann(0, "ss", svc)], [ban("otel.scope.name", "lib-a"), ban("otel.scope.version", "1.2"),
                                       ban("w3c.tracestate", "k=v,x=y"), ban("keep", "me")]),
        zspan(5, [ann(0, "ss", svc)], [ban("otel.scope.version", "9"), ban("otel.scope.name", "lib-b")]),
        zspan(6, [ann(0, "ss", svc)], [ban("otel.scope.name", b"\x00\x00\x00\x07", I32)]),
        zspan(7, [ann(0, "sr", svc), ann(40, "cs"), ann(50, "cr"), ann(90, "ss")],
              [ban("span.kind", "client")], ts=None, duration=None),
        zspan(8, [ann(0, "cs", svc), ann(10, "sr")], ts=0, duration=0),
        zspan(9, [ann(5, "cs", svc), ann(25, "cr")], ts=0, duration=0, debug=True, high="0000000000000000"),
        zspan(10, [ann(0, "sr", ep("")), ann(1, "x", ep("ann-svc", ipv4=0))],
              [ban("sa", "", BOOL, ep("peer", ipv4=0, port=0)), ban("ca", "", BOOL, ep("peer2", ipv6="20010db8" + "00" * 12)),
               ban("lc", "c", host=ep("lc-svc", ipv4=-2))]),
        zspan(11, [ann(0, "ms", ep("", ipv4=5))], [ban("d", b"\x40\x09\x21\xfb\x54\x44\x2d\x18\xff", DOUBLE),
                                                   ban("s", b"\x80\x00\x01", I16), ban("l", b"\xff" * 7, I64),
                                                   ban("t", b"x", 9), ban("b", b"\x01\x01", BOOL)],
              ts=None, duration=-7, parent=None),
        zspan(12, [ann(3, "mr"), ann(1, "ws")], [ban("only", "binary", host=ep("bin-svc"))], ts=None, duration=None),
    ]


def send(port):
    """Sends the crafted spans (one datagram) to 127.0.0.1:port; returns them (normalized)."""
    out = spans()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(datagram(out), ("127.0.0.1", port))
    return json.loads(json.dumps(out))
