"""Minimal Jaeger `Agent.emitBatch` datagrams, Thrift compact (port 6831) and binary (6832), built
by hand from idl/agent.thrift + idl/jaeger.thrift so the deploy tests need no Thrift library.

Batch { 1: Process{1: serviceName}, 2: list<Span> } with Span fields 1..9 (the required ones).
"""
import struct

# --- compact ----------------------------------------------------------------------------------
_CT_I32, _CT_I64, _CT_BINARY, _CT_LIST, _CT_STRUCT = 5, 6, 8, 9, 12


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zigzag64(n):
    return (n << 1) ^ (n >> 63)


def _c_field(last, fid, ctype):
    delta = fid - last
    assert 0 < delta <= 15
    return bytes([(delta << 4) | ctype])


def _c_string(s):
    b = s.encode()
    return _varint(len(b)) + b


def _c_span(trace_low, span_id, op, start_us):
    out = bytearray()
    last = 0
    for fid, val in ((1, trace_low), (2, 0), (3, span_id), (4, 0)):
        out += _c_field(last, fid, _CT_I64) + _varint(_zigzag64(val))
        last = fid
    out += _c_field(last, 5, _CT_BINARY) + _c_string(op)
    out += _c_field(5, 7, _CT_I32) + _varint(_zigzag64(1))
    out += _c_field(7, 8, _CT_I64) + _varint(_zigzag64(start_us))
    out += _c_field(8, 9, _CT_I64) + _varint(_zigzag64(1234))
    out += b"\x00"
    return bytes(out)


def compact_emit_batch(service, spans, seqid=1):
    """spans: list of (traceIdLow, spanId, operationName, startTime_us)."""
    msg = bytearray(b"\x82\x81")  # protocol id, (ONEWAY << 5) | version 1
    msg += _varint(seqid) + _c_string("emitBatch")
    msg += _c_field(0, 1, _CT_STRUCT)                       # args.batch
    msg += _c_field(0, 1, _CT_STRUCT)                       # batch.process
    msg += _c_field(0, 1, _CT_BINARY) + _c_string(service)  # process.serviceName
    msg += b"\x00"
    assert len(spans) < 15
    msg += _c_field(1, 2, _CT_LIST) + bytes([(len(spans) << 4) | _CT_STRUCT])
    for s in spans:
        msg += _c_span(*s)
    msg += b"\x00"  # batch
    msg += b"\x00"  # args
    return bytes(msg)


# --- binary -----------------------------------------------------------------------------------
_T_I32, _T_I64, _T_STRING, _T_STRUCT, _T_LIST = 8, 10, 11, 12, 15


def _b_field(ttype, fid):
    return struct.pack(">bh", ttype, fid)


def _b_string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _b_span(trace_low, span_id, op, start_us):
    out = bytearray()
    for fid, val in ((1, trace_low), (2, 0), (3, span_id), (4, 0)):
        out += _b_field(_T_I64, fid) + struct.pack(">q", val)
    out += _b_field(_T_STRING, 5) + _b_string(op)
    out += _b_field(_T_I32, 7) + struct.pack(">i", 1)
    out += _b_field(_T_I64, 8) + struct.pack(">q", start_us)
    out += _b_field(_T_I64, 9) + struct.pack(">q", 1234)
    out += b"\x00"
    return bytes(out)


def binary_emit_batch(service, spans, seqid=1):
    msg = bytearray(struct.pack(">I", 0x80010004))  # strict version 1, ONEWAY
    msg += _b_string("emitBatch") + struct.pack(">i", seqid)
    msg += _b_field(_T_STRUCT, 1)                          # args.batch
    msg += _b_field(_T_STRUCT, 1)                          # batch.process
    msg += _b_field(_T_STRING, 1) + _b_string(service)
    msg += b"\x00"
    msg += _b_field(_T_LIST, 2) + struct.pack(">bi", _T_STRUCT, len(spans))
    for s in spans:
        msg += _b_span(*s)
    msg += b"\x00"  # batch
    msg += b"\x00"  # args
    return bytes(msg)
