"""What the agent must make of a Zipkin Thrift span (emitZipkinBatch), written from the rules alone.

Independent of the agent's C++ (userspace/decode/zipkin_domain.cc): from the span as the sender
put it on the wire (normalized form of tests/interop/normalize.js: ids as 16 hex, binary
annotation values as hex, endpoints) to
  - the Jaeger domain spans of jaeger-agent's gRPC reporter: the four collector sanitizers in
    order, then zipkin.ToDomain (modern-collectors.md §2.4), with §2.4a (a span without a service
    name becomes `unknown-service-name`, agent tags once per process in flag order);
  - api_v2: each domain span on its own, with its own process and no Batch.process (§2.4);
  - OTLP: as the Collector converts those api_v2 spans (§3.8 on top of §3.2-3.7).
A domain span is written as a pseudo Thrift Jaeger span (the normalized jaeger form), so that
modern_rules.expect_api_v2 / expect_otlp / otlp_resource give its api_v2 and OTLP forms.

Where the reference leaves a choice open, the agent's documented choice (zipkin_domain.h):
JSON log fields in sorted key order (Go: map order); `error.message` a STRING (Go: the zero type);
OTLP ResourceSpans in first-appearance order (Go: map order; the comparison is per span anyway).
Strings built from binary annotation bytes may be invalid UTF-8: they are carried as str with
surrogate escapes (api_v2, which passes bytes through, §3.9), and as the receiver's codec decodes
them (U+FFFD replacement) for OTLP: otlp_strings().
"""

import base64
import json
import struct

import modern_rules as R

CORE_KIND = {"cs": "client", "cr": "client", "sr": "server", "ss": "server"}  # §2.4 core annotations
# §2.4: binary annotations moved to process tags, and the key each becomes.
PROCESS_KEYS = {"jaegerClient": "jaeger.version", "jaeger.hostname": "hostname", "jaeger.version": "jaeger.version"}
Z_BOOL, Z_BYTES, Z_I16, Z_I32, Z_I64, Z_DOUBLE, Z_STRING = range(7)  # zipkincore AnnotationType
T_STRING, T_DOUBLE, T_BOOL, T_LONG, T_BINARY = range(5)  # Thrift jaeger TagType (normalized tags)
UNKNOWN_SERVICE = "unknown-service-name"  # §2.4 / §2.4a


def text(b):
    """Go string(bytes), kept byte-exact in a Python str."""
    return b.decode("utf-8", "surrogateescape")


def tag(key, vtype, value):
    return {"key": key, "vType": vtype, "value": value}


def long_hex(v):
    return "%016x" % (v % R.U64)


def equal_fold_ascii(word, s):
    """Go strings.EqualFold(word, s) for an ASCII word: rune by rune, simple case folding (only
    U+017F ſ folds to s and U+212A K to k besides ASCII)."""
    if len(s) != len(word):
        return False
    for w, c in zip(word, s):
        c = {"\u017f": "s", "\u212a": "k"}.get(c, c)
        if not c.isascii() or c.lower() != w:
            return False
    return True


def typed_value(key, typ, value):
    """§2.4 transformBinaryAnnotation: the tag, or the STRING "Cannot parse" tag (Go binary.Read
    reads big-endian from the front: io.EOF for no bytes, io.ErrUnexpectedEOF for too few)."""
    width = {Z_I16: 2, Z_I32: 4, Z_I64: 8, Z_DOUBLE: 8}.get(typ)
    if typ == Z_BOOL:
        return tag(key, T_BOOL, value == b"\x01")
    if typ == Z_BYTES:
        return tag(key, T_BINARY, value.hex())
    if typ == Z_STRING:
        return tag(key, T_STRING, text(value))
    if width is None:
        err = "unknown zipkin annotation type: %d" % typ
    elif len(value) < width:
        err = "EOF" if not value else "unexpected EOF"
    elif typ == Z_DOUBLE:
        return tag(key, T_DOUBLE, value[:8].hex())
    else:
        return tag(key, T_LONG, long_hex(int.from_bytes(value[:width], "big", signed=True)))
    return tag(key, T_STRING, "Cannot parse Zipkin value %s: %s" % (base64.b64encode(value).decode(), err))


def peer_tags(host):
    """getPeerTags: the endpoint of an sa/ca/ma annotation (none without a host)."""
    if host is None:
        return []
    out = [tag("peer.service", T_STRING, host["serviceName"] or "")]
    if host["ipv4"]:
        out.append(tag("peer.ipv4", T_LONG, long_hex(host["ipv4"] % (1 << 32))))
    if host["ipv6"] is not None:
        out.append(tag("peer.ipv6", T_BINARY, host["ipv6"]))
    if host["port"]:
        out.append(tag("peer.port", T_LONG, long_hex(host["port"] % (1 << 16))))
    return out


def sanitize(z):
    """The four sanitizers of §2.4, in order. Returns (timestamp or None, duration, parentId hex or
    None, binary annotations [{key, value: bytes, type, host}])."""
    anns = z["annotations"]
    ts = None if z["timestamp"] is None else int(z["timestamp"])
    parent = z["parentId"]
    if ts is None:  # 1. SpanStartTime
        for a in anns:
            if a["value"] == "cs":
                ts = int(a["timestamp"])
                break
            if a["value"] == "sr" and parent is None:
                ts = int(a["timestamp"])  # the last one wins
    bins = [{"key": b["key"], "value": bytes.fromhex(b["value"]), "type": b["annotationType"], "host": b["host"]}
            for b in z["binaryAnnotations"]]
    if z["duration"] is None:  # 2. SpanDuration
        duration = 1
        if len(anns) >= 2:
            first, last = int(anns[0]["timestamp"]), int(anns[-1]["timestamp"])
            for a in anns:
                if a["value"] == "cs":
                    first = int(a["timestamp"])
                elif a["value"] == "cr":
                    last = int(a["timestamp"])
            if first < last:
                duration = R.wrap64(last - first)
                if ts is None:
                    ts = first
    else:
        duration = int(z["duration"])
        if duration < 0:
            bins.append({"key": "errNegativeDuration", "value": str(duration).encode(), "type": Z_STRING, "host": None})
            duration = 1
    if parent is not None and R.i64(parent) == 0:  # 3. ParentID
        bins.append({"key": "errZeroParentID", "value": b"0", "type": Z_STRING, "host": None})
        parent = None
    for b in list(bins):  # 4. ErrorTag, over the annotations present before it
        if b["type"] == Z_BOOL or not equal_fold_ascii("error", b["key"]):
            continue
        old, b["type"] = b["value"], Z_BOOL
        old_text = old.decode("utf-8", "replace")
        if not old or equal_fold_ascii("true", old_text):
            b["value"] = b"\x01"
        elif equal_fold_ascii("false", old_text):
            b["value"] = b"\x00"
        else:
            b["value"] = b"\x01"
            bins.append({"key": "error.message", "value": old, "type": Z_STRING, "host": None})
    return ts, duration, parent, bins


def service_and_ip(z):
    """findServiceNameAndIP (§2.4): core annotation host, `lc` host, any annotation host, any
    binary annotation host, each with a non-empty service name; else unknown (§2.4a)."""
    anns, bins = z["annotations"], z["binaryAnnotations"]
    for pick in (lambda: [a["host"] for a in anns if a["value"] in CORE_KIND],
                 lambda: [b["host"] for b in bins if b["key"] == "lc"],
                 lambda: [a["host"] for a in anns],
                 lambda: [b["host"] for b in bins]):
        for h in pick():
            if h is not None and h["serviceName"]:
                return h["serviceName"], h["ipv4"], True
    return UNKNOWN_SERVICE, 0, False


def log_fields(value):
    """A JSON object of strings (Go json.Unmarshal into map[string]string: null values are "",
    the literal null has no fields) gives its fields sorted by key; anything else event=value."""
    try:
        obj = json.loads(value, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError:
        obj = 0
    if obj is None:
        return []
    if isinstance(obj, dict) and all(v is None or isinstance(v, str) for v in obj.values()):
        return [tag(k, T_STRING, obj[k] or "") for k in sorted(obj)]
    return [tag("event", T_STRING, value)]


def process_tag_sort_key(t):
    """model.NewProcess sorts by key, then api_v2 type, then value."""
    api_type = R.API_V2_TYPE[t["vType"]]
    v = t["value"]
    if t["vType"] == T_LONG:
        v = R.i64(v)
    elif t["vType"] == T_DOUBLE:
        v = struct.unpack(">d", bytes.fromhex(v))[0]
    return (t["key"], api_type, v)


def domain_spans(z):
    """(pseudo Thrift process+span dicts, one or two, unknown_service) of one Zipkin span."""
    ts, duration, parent, bins = sanitize(z)
    anns = z["annotations"]

    def find(value):
        return next((a for a in anns if a["value"] == value), None)

    cs, sr = find("cs"), find("sr")
    if not ts:  # ToDomain getStartTimeAndDuration: a zero timestamp falls back to cs, else sr
        ts = 0
        for start, end in ((cs, find("cr")), (sr, find("ss"))):
            if start is not None:
                ts = int(start["timestamp"])
                if end is not None and duration == 0:
                    duration = R.wrap64(int(end["timestamp"]) - ts)
                break
    tags, ptags = [], []
    for b in bins:
        if b["key"] in PROCESS_KEYS:
            t = typed_value(b["key"], b["type"], b["value"])
            ptags.append(dict(t, key=PROCESS_KEYS[b["key"]]))
        elif b["key"] == "lc":
            tags.append(tag("component", T_STRING, text(b["value"])))
        elif b["key"] in ("sa", "ca", "ma"):
            tags.extend(peer_tags(b["host"]))
        else:
            tags.append(typed_value(b["key"], b["type"], b["value"]))
    kind = next((CORE_KIND[a["value"]] for a in anns if a["value"] in CORE_KIND), None)
    if kind is not None:
        tags.append(tag("span.kind", T_STRING, kind))
    logs = [{"timestamp": a["timestamp"], "fields": log_fields(a["value"])}
            for a in anns if a["value"] and a["value"] not in CORE_KIND]
    service, ipv4, known = service_and_ip(z)
    if ipv4:
        ptags.append(tag("ip", T_LONG, long_hex(ipv4)))  # int64(uint64(int32)): sign-extended
    ptags.sort(key=process_tag_sort_key)
    high = z["traceIdHigh"] or "0" * 16
    base = {"format": "jaeger", "service": service, "processTags": ptags, "traceIdHigh": high,
            "traceIdLow": z["traceId"], "spanId": z["id"], "parentSpanId": parent or "0" * 16,
            "operationName": z["name"] or "", "references": [], "flags": 2 if z["debug"] else 0}
    spans = [dict(base, startTime=str(ts), duration=str(duration), tags=tags, logs=logs)]
    if cs is not None and sr is not None:  # the split: the other side of the RPC
        first_kind = next((t for t in tags if t["key"] == "span.kind"), None)
        client = first_kind is not None and first_kind["vType"] == T_STRING and first_kind["value"] == "client"
        start, end = (sr, find("ss")) if client else (cs, find("cr"))
        d = 0 if end is None else R.wrap64(int(end["timestamp"]) - int(start["timestamp"]))
        spans.append(dict(base, startTime=start["timestamp"], duration=str(d), logs=[],
                          tags=[tag("span.kind", T_STRING, "server" if client else "client")]))
    return spans, not known


def otlp_strings(v):
    """Strings as the OTLP receiver's protobufjs decodes them: invalid UTF-8 → U+FFFD."""
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(v, (list, tuple)):
        return type(v)(otlp_strings(x) for x in v)
    if isinstance(v, dict):
        return {k: otlp_strings(x) for k, x in v.items()}
    return v


def take_tag(tags, key):
    """getAndDeleteTag (§3.8 scope): the first tag with the key removed, order kept; its string."""
    for i, t in enumerate(tags):
        if t["key"] == key:
            del tags[i]
            return t["value"] if t["vType"] == T_STRING and t["value"] is not None else ""
    return None


def otlp_span(d):
    """§3.8 over §3.3-3.7 for one domain span: (scope, span)."""
    d = dict(d, tags=list(d["tags"]))
    scope = dict(R.EMPTY_SCOPE)
    name = take_tag(d["tags"], "otel.scope.name")
    if name is not None:
        scope["name"] = name
        version = take_tag(d["tags"], "otel.scope.version")
        scope["version"] = version or ""
    span = R.expect_otlp(d)
    attrs = R.AttrMap()
    attrs.items = [[a["k"], a["v"]] for a in span["attributes"]]
    state = attrs.get("w3c.tracestate")
    if state is not None:  # after the status, like the Collector's getTraceStateFromAttrs
        span["traceState"] = R.string_of(state)
        attrs.remove("w3c.tracestate")
        span["attributes"] = attrs.normalized()
    return scope, span


def expected(z, transport, agent_tags):
    """([(ctx, span), ...] delivered, rejected (0/1: a domain span gogo cannot marshal, counted
    once per Zipkin span, §2.4a), unknown_service (0/1)) for one Zipkin span."""
    spans, unknown = domain_spans(z)
    out, rejected = [], 0
    for d in spans:
        if transport == "grpc":
            span = R.expect_api_v2(d)
            if span is None:
                rejected = 1
                continue
            span["process"] = R.api_v2_process(d, agent_tags)
            out.append((None, span))
        else:
            scope, span = otlp_span(d)
            out.append(otlp_strings(({"resource": R.otlp_resource(d, agent_tags), "scope": scope}, span)))
    return out, rejected, int(unknown)
