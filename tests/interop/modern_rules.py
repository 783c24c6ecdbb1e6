"""What the agent must make of a Thrift span, written from the conversion rules alone.

An implementation for the tests, independent of the agent's C++ (userspace/decode/to_api_v2.cc,
to_otlp.cc): it starts from the spans a sender put on the wire, in the normalized JSON form of
tests/interop/normalize.js (tools/oracle_sender.cc writes the same), and gives the expected
  - Jaeger api_v2 (modern-collectors.md §1.2-1.4, §2.1-2.3, §2.4a): expect_api_v2()
  - OTLP (§3.1-3.7, §3.9, §3.10): expect_otlp()
in the normalized forms modern_interop.py builds from the decoded requests.

Zipkin spans (format "zipkin", §2.4, §2.4a, §3.8) are converted by modern_rules_zipkin.py, which
builds on the functions here; expected_for() dispatches.
"""

import struct

U64 = 1 << 64
ZERO_DOUBLE = "0000000000000000"


def i64(hex16):
    """Signed value of a normalized 16-hex i64."""
    v = int(hex16, 16)
    return v - U64 if v >= 1 << 63 else v


def wrap64(v):
    """Two's-complement int64 of an integer (Go's wrapping arithmetic)."""
    v %= U64
    return v - U64 if v >= 1 << 63 else v


def double_is_zero(hex16):
    return struct.unpack(">d", bytes.fromhex(hex16))[0] == 0.0  # +0 and -0; NaN is not


# ---- Jaeger api_v2 (§2) -----------------------------------------------------------------------

# Thrift TagType → api_v2 ValueType (§1.2 enums): STRING 0→0, DOUBLE 1→3, BOOL 2→1, LONG 3→2, BINARY 4→4.
API_V2_TYPE = {0: 0, 1: 3, 2: 1, 3: 2, 4: 4}
# §1.4: gogo's TimestampProto refuses seconds >= 253402300800; the i64 is taken as uint64 first.
MAX_EPOCH_MICROS = 253402300800 * 1000000


def api_v2_kv(key, vtype=0, v_str="", v_bool=False, v_int64=0, v_float64=ZERO_DOUBLE, v_binary=""):
    """A decoded KeyValue: every field, so a value in a field vType does not select shows up."""
    return {"key": key, "vType": vtype, "vStr": v_str, "vBool": v_bool, "vInt64": str(v_int64),
            "vFloat64": v_float64, "vBinary": v_binary}


def api_v2_tag(t):
    """§2.3 getTag: only the field vType selects; an absent one is the zero value."""
    vt, v = t["vType"], t["value"]
    if vt not in API_V2_TYPE:
        raise ValueError("Thrift vType %r: the Go agent writes a pointer-dependent string (§2.3)" % vt)
    kv = api_v2_kv(t["key"], API_V2_TYPE[vt])
    if v is None:
        return kv
    if vt == 0:
        kv["vStr"] = v
    elif vt == 1:
        kv["vFloat64"] = ZERO_DOUBLE if double_is_zero(v) else v  # Go writes it only if != 0 (§1.2)
    elif vt == 2:
        kv["vBool"] = bool(v)
    elif vt == 3:
        kv["vInt64"] = str(i64(v))
    else:
        kv["vBinary"] = v
    return kv


def api_v2_time(micros):
    """§1.4 EpochMicrosecondsAsTime(uint64(v)) → (seconds, nanos), or None if gogo cannot marshal it."""
    u = micros % U64
    if u >= MAX_EPOCH_MICROS:
        return None
    return [u // 1000000, (u % 1000000) * 1000]


def api_v2_duration(micros):
    """§1.4 MicrosecondsAsDuration: wrapping multiply, truncating split (same signs)."""
    ns = wrap64(micros * 1000)
    seconds = abs(ns) // 1000000000 * (1 if ns >= 0 else -1)
    return [seconds, ns - seconds * 1000000000]


def api_v2_process(s, agent_tags):
    """§2.1: Batch.process = the Thrift process, the agent tags appended as STRING tags in the
    flag's order (§2.4a), no de-duplication."""
    return {"serviceName": s["service"] or "",
            "tags": [api_v2_tag(t) for t in s["processTags"]] + [api_v2_kv(k, 0, v) for k, v in agent_tags]}


def expect_api_v2(s):
    """The api_v2 Span of one Thrift span (§2.2), or None when the agent must reject it: a start or
    log time gogo cannot marshal costs that span only (§2.4a)."""
    start = api_v2_time(int(s["startTime"]))
    logs = []
    for log in s["logs"]:
        ts = api_v2_time(int(log["timestamp"]))
        if ts is None or start is None:
            return None
        logs.append({"timestamp": ts, "fields": [api_v2_tag(f) for f in log["fields"]]})
    if start is None:
        return None
    trace = s["traceIdHigh"] + s["traceIdLow"]
    refs = [{"traceId": r["traceIdHigh"] + r["traceIdLow"], "spanId": r["spanId"], "refType": r["refType"]}
            for r in s["references"]]
    parent = s["parentSpanId"]
    # MaybeAddParentSpanID: a CHILD_OF ref first, unless a ref has the same span and trace id.
    if parent is not None and i64(parent) != 0 and not any(
            r["spanId"] == parent and r["traceId"] == trace for r in refs):
        refs.insert(0, {"traceId": trace, "spanId": parent, "refType": 0})
    return {
        "traceId": trace,  # §1.3: always 16 bytes, BE high ‖ BE low
        "spanId": s["spanId"],
        "operationName": s["operationName"] or "",
        "references": refs,
        "flags": s["flags"] % (1 << 32),  # uint32(int32)
        "startTime": start,
        "duration": api_v2_duration(int(s["duration"])),
        "tags": [api_v2_tag(t) for t in s["tags"]],
        "logs": logs,
        "process": None, "processId": "", "warnings": [],  # never set by the agent
    }


# ---- OTLP (§3) --------------------------------------------------------------------------------

KINDS = {"client": 3, "server": 2, "producer": 4, "consumer": 5, "internal": 1}  # §3.3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
EMPTY_SCOPE = {"name": "", "version": "", "attributes": [], "droppedAttributesCount": 0}  # §3.1


def otlp_value(t):
    """§3.4 (newest CT: BINARY → bytes_value). An absent selected field is the zero value."""
    vt, v = t["vType"], t["value"]
    if vt == 0:
        return {"t": "string", "v": "" if v is None else v}
    if vt == 1:
        return {"t": "double", "v": ZERO_DOUBLE if v is None else v}
    if vt == 2:
        return {"t": "bool", "v": bool(v)}
    if vt == 3:
        return {"t": "int", "v": str(0 if v is None else i64(v))}
    if vt == 4:
        return {"t": "bytes", "v": "" if v is None else v}
    raise ValueError("Thrift vType %r (§3.4 unknown types are not sent by these tests)" % vt)


def string_of(value):
    """pcommon.Value.Str(): the string of a string value, "" for any other type."""
    return value["v"] if value["t"] == "string" else ""


class AttrMap:
    """pdata pcommon.Map as §3.2 step 3 / §3.7 describe it: Put updates a key in place or appends
    (duplicates: first position, last value); Remove moves the last entry into the hole."""

    def __init__(self):
        self.items = []  # [key, value]

    def index(self, key):
        for i, (k, _) in enumerate(self.items):
            if k == key:
                return i
        return -1

    def get(self, key):
        i = self.index(key)
        return None if i < 0 else self.items[i][1]

    def put(self, key, value):
        i = self.index(key)
        if i >= 0:
            self.items[i][1] = value
        else:
            self.items.append([key, value])

    def remove(self, key):
        i = self.index(key)
        if i < 0:
            return
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last

    def normalized(self):
        return [{"k": k, "v": v} for k, v in self.items]


def otlp_resource(s, agent_tags):
    """§3.2, with the agent tags appended to the process tags first (§2.1, in flag order)."""
    m = AttrMap()
    service = s["service"] or ""
    tags = [(t["key"], otlp_value(t)) for t in s["processTags"]] + [
        (k, {"t": "string", "v": v}) for k, v in agent_tags]
    # Step 1: empty service name and no tags → no attributes (a nil list and an empty one give the
    # same here, since an empty list adds nothing).
    if service:
        m.put("service.name", {"t": "string", "v": service})
    for k, v in tags:
        m.put(k, v)
    host = m.get("hostname")  # step 4
    if host is not None and m.get("host.name") is None:
        m.put("host.name", host)
        m.remove("hostname")
    version = m.get("jaeger.version")  # step 5
    if version is not None and m.get("opencensus.exporterversion") is None:
        m.put("opencensus.exporterversion", {"t": "string", "v": "Jaeger-" + string_of(version)})
        m.remove("jaeger.version")
    return m.normalized()


def otlp_id(hex_str):
    """pdata writes an all-zero trace or span id as empty bytes (§3.9)."""
    return "" if int(hex_str, 16) == 0 else hex_str


def parse_go_int(value):
    """http.status_code as §3.6 step 3 reads it: an int, or a decimal string (strconv: optional
    sign, ASCII digits, int64 range). None when it is neither."""
    if value["t"] == "int":
        return int(value["v"])
    if value["t"] != "string":
        return None
    txt = value["v"]
    digits = txt[1:] if txt[:1] in ("+", "-") else txt
    if not digits or any(c not in "0123456789" for c in digits):
        return None
    n = int(txt)
    return n if -(1 << 63) <= n < (1 << 63) else None


def otlp_status(m, kind):
    """§3.6 status, removing keys from m as §3.7 says. Returns (code, message); an unset status
    and an empty one read the same (§3.10)."""
    code, message, status_set = STATUS_UNSET, "", False
    err = m.get("error")
    if err is not None and err["t"] == "bool" and err["v"]:  # step 1
        code, status_set = STATUS_ERROR, True
        m.remove("error")
        desc = m.get("otel.status_description")
        if desc is not None:
            message = string_of(desc)
            m.remove("otel.status_description")
        elif m.get("http.status_message") is not None:
            message = string_of(m.get("http.status_message"))
    otel_code = m.get("otel.status_code")
    if otel_code is not None:  # step 2
        if not status_set:
            status_set = True
            upper = string_of(otel_code).upper() if string_of(otel_code).isascii() else ""
            code = {"OK": STATUS_OK, "ERROR": STATUS_ERROR}.get(upper, STATUS_UNSET)
            desc = m.get("otel.status_description")
            if desc is not None:
                message = string_of(desc)
                m.remove("otel.status_description")
        m.remove("otel.status_code")
    elif not status_set and m.get("http.status_code") is not None:  # step 3: both keys stay
        http = parse_go_int(m.get("http.status_code"))
        if http is not None:
            if 400 <= http < 500 and kind == KINDS["server"]:
                result = STATUS_UNSET
            elif 400 <= http < 500:
                result = STATUS_ERROR
            else:
                result = STATUS_UNSET if 100 <= http < 399 else STATUS_ERROR
            if result == STATUS_ERROR:
                code = STATUS_ERROR
                hm = m.get("http.status_message")
                message = string_of(hm) if hm is not None else ""
    return {"code": code, "message": message}


def otlp_parent(s):
    """§3.5: parentSpanId if != 0, else the first same-trace CHILD_OF ref, else the first
    same-trace FOLLOWS_FROM ref; 0 for none."""
    if i64(s["parentSpanId"]) != 0:
        return i64(s["parentSpanId"])
    same = [r for r in s["references"]
            if r["traceIdLow"] == s["traceIdLow"] and r["traceIdHigh"] == s["traceIdHigh"]]
    for want in (0, 1):
        for r in same:
            if r["refType"] == want:
                return i64(r["spanId"])
    return 0


def expect_otlp(s):
    """The OTLP Span of one Thrift span (§3.3)."""
    parent = otlp_parent(s)
    m = AttrMap()
    for t in s["tags"]:
        m.put(t["key"], otlp_value(t))
    kind = 0
    if m.get("span.kind") is not None:
        kind = KINDS.get(string_of(m.get("span.kind")), 0)
        m.remove("span.kind")  # always
    status = otlp_status(m, kind)  # after the kind (§3.6)
    events = []
    for log in s["logs"]:
        em = AttrMap()
        for f in log["fields"]:
            em.put(f["key"], otlp_value(f))
        name = ""
        if em.get("event") is not None:
            name = string_of(em.get("event"))
            em.remove("event")
        events.append({"time": str(int(log["timestamp"]) % U64 * 1000 % U64), "name": name,
                       "attributes": em.normalized(), "droppedAttributesCount": 0})
    links = []
    for r in s["references"]:
        if r["refType"] == 0 and i64(r["spanId"]) == parent:  # span id only, trace id ignored
            continue
        links.append({"traceId": otlp_id(r["traceIdHigh"] + r["traceIdLow"]), "spanId": otlp_id(r["spanId"]),
                      "traceState": "", "flags": 0, "droppedAttributesCount": 0,
                      "attributes": [{"k": "opentracing.ref_type",
                                      "v": {"t": "string", "v": "child_of" if r["refType"] == 0 else "follows_from"}}]})
    start = int(s["startTime"])
    return {
        "traceId": otlp_id(s["traceIdHigh"] + s["traceIdLow"]),
        "spanId": otlp_id(s["spanId"]),
        "traceState": "",
        "parentSpanId": "" if parent == 0 else "%016x" % (parent % U64),
        "flags": 1 if s["flags"] & 1 else 0,  # only the sampled bit (newest CT)
        "name": s["operationName"] or "",
        "kind": kind,
        "start": str(start % U64 * 1000 % U64),
        "end": str(wrap64(start + int(s["duration"])) % U64 * 1000 % U64),  # int64 add first
        "attributes": m.normalized(),
        "droppedAttributesCount": 0,
        "events": events,
        "droppedEventsCount": 0,
        "links": links,
        "droppedLinksCount": 0,
        "status": status,
    }


def expected_for(s, transport, agent_tags):
    """(delivered, rejected, unknown_service) for sent span s: delivered = [(process-or-resource
    context, span)] the agent must send (a Zipkin span can give two, §2.4; a rejected one none),
    rejected = 1 when §2.4a says the agent drops (part of) it and counts it, unknown_service = 1
    for a Zipkin span given `unknown-service-name` (§2.4a). OTLP contexts are {resource, scope}."""
    if s["format"] == "zipkin":
        import modern_rules_zipkin  # noqa: E402  (imports this module)
        return modern_rules_zipkin.expected(s, transport, agent_tags)
    if transport == "grpc":
        span = expect_api_v2(s)
        return ([], 1, 0) if span is None else ([(api_v2_process(s, agent_tags), span)], 0, 0)
    return [({"resource": otlp_resource(s, agent_tags), "scope": dict(EMPTY_SCOPE)}, expect_otlp(s))], 0, 0
