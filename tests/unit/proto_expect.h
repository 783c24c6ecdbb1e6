// The conversion rules of modern-collectors.md §2 (Thrift → api_v2) and §3 (Thrift → OTLP),
// written a second time for the tests, independently of the transcoders: from the Apache Thrift
// generated objects to libprotobuf messages (test-local .proto files in tests/proto/), the way
// the Go code does it (object in, object out, a pdata-like map for attributes).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "api_v2.pb.h"
#include "decode/transcoder.h"
#include "jaeger_types.h"
#include "otlp_trace.pb.h"

namespace jagent::decode::expect {

namespace jt = ::jaegertracing::thrift;
namespace av2 = ::jaeger::api_v2;
namespace otlp = ::jagent::test::otlp;

inline std::string be64(int64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<size_t>(i)] = static_cast<char>(static_cast<uint64_t>(v) >> (56 - 8 * i));
  return s;
}

// ---- §2: api_v2 -----------------------------------------------------------------------------

// §1.4: the Thrift i64 as uint64; gogo fails on seconds ≥ 253402300800.
inline bool timestampOk(int64_t micros) { return static_cast<uint64_t>(micros) / 1000000 < 253402300800ull; }

inline void setTimestamp(google::protobuf::Timestamp* t, int64_t micros) {
  const auto u = static_cast<uint64_t>(micros);
  t->set_seconds(static_cast<int64_t>(u / 1000000));
  t->set_nanos(static_cast<int32_t>((u % 1000000) * 1000));
}
inline void setDuration(google::protobuf::Duration* d, int64_t micros) {
  const auto ns = static_cast<int64_t>(static_cast<uint64_t>(micros) * 1000u);  // Go: wraps
  d->set_seconds(ns / 1000000000);
  d->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

inline void keyValue(av2::KeyValue* kv, const jt::Tag& t) {  // §2.3
  kv->set_key(t.key);
  switch (t.vType) {
    case jt::TagType::STRING:
      kv->set_v_str(t.vStr);
      break;
    case jt::TagType::DOUBLE:
      kv->set_v_type(av2::FLOAT64);
      if (t.vDouble != 0) kv->set_v_float64(t.vDouble);  // Go `!= 0`: -0.0 is not written
      break;
    case jt::TagType::BOOL:
      kv->set_v_type(av2::BOOL);
      kv->set_v_bool(t.vBool);
      break;
    case jt::TagType::LONG:
      kv->set_v_type(av2::INT64);
      kv->set_v_int64(t.vLong);
      break;
    case jt::TagType::BINARY:
      kv->set_v_type(av2::BINARY);
      kv->set_v_binary(t.vBinary);
      break;
    default:  // the agent's documented stand-in for Go's unreproducible "%+v" text
      kv->set_v_str("Unknown VType: " + std::to_string(static_cast<int32_t>(t.vType)));
      break;
  }
}

inline void setTraceId(std::string* out, int64_t high, int64_t low) { *out = be64(high) + be64(low); }

// The Batch (not the request) for one Thrift batch; spans whose times gogo cannot marshal are
// left out and counted (§2.4a).
inline av2::Batch apiV2(const jt::Batch& b, const std::vector<AgentTag>& agentTags, uint32_t& dropped) {
  av2::Batch out;
  dropped = 0;
  for (const jt::Span& s : b.spans) {
    bool ok = timestampOk(s.startTime);
    for (const jt::Log& l : s.logs) ok = ok && timestampOk(l.timestamp);
    if (!ok) {
      ++dropped;
      continue;
    }
    av2::Span* o = out.add_spans();
    setTraceId(o->mutable_trace_id(), s.traceIdHigh, s.traceIdLow);
    *o->mutable_span_id() = be64(s.spanId);
    o->set_operation_name(s.operationName);
    if (s.parentSpanId != 0) {  // §2.2 MaybeAddParentSpanID
      bool found = false;
      for (const jt::SpanRef& r : s.references)
        found = found || (r.spanId == s.parentSpanId && r.traceIdLow == s.traceIdLow && r.traceIdHigh == s.traceIdHigh);
      if (!found) {
        av2::SpanRef* r = o->add_references();
        setTraceId(r->mutable_trace_id(), s.traceIdHigh, s.traceIdLow);
        *r->mutable_span_id() = be64(s.parentSpanId);
      }
    }
    for (const jt::SpanRef& r : s.references) {
      av2::SpanRef* x = o->add_references();
      setTraceId(x->mutable_trace_id(), r.traceIdHigh, r.traceIdLow);
      *x->mutable_span_id() = be64(r.spanId);
      x->set_ref_type(static_cast<av2::SpanRefType>(r.refType));
    }
    o->set_flags(static_cast<uint32_t>(s.flags));
    setTimestamp(o->mutable_start_time(), s.startTime);
    setDuration(o->mutable_duration(), s.duration);
    for (const jt::Tag& t : s.tags) keyValue(o->add_tags(), t);
    for (const jt::Log& l : s.logs) {
      av2::Log* lo = o->add_logs();
      setTimestamp(lo->mutable_timestamp(), l.timestamp);
      for (const jt::Tag& t : l.fields) keyValue(lo->add_fields(), t);
    }
  }
  av2::Process* p = out.mutable_process();
  p->set_service_name(b.process.serviceName);
  for (const jt::Tag& t : b.process.tags) keyValue(p->add_tags(), t);
  for (const AgentTag& t : agentTags) {
    av2::KeyValue* kv = p->add_tags();
    kv->set_key(t.key);
    kv->set_v_str(t.value);
  }
  return out;
}

// ---- §3: OTLP -------------------------------------------------------------------------------

// pcommon.Map as the Collector uses it: Put* upserts in place, Remove swaps the last entry in.
class AttrMap {
 public:
  std::vector<std::pair<std::string, otlp::AnyValue>> kv;

  otlp::AnyValue* get(const std::string& k) {
    for (auto& e : kv)
      if (e.first == k) return &e.second;
    return nullptr;
  }
  void put(const std::string& k, otlp::AnyValue v) {
    if (otlp::AnyValue* e = get(k)) {
      *e = std::move(v);
    } else {
      kv.emplace_back(k, std::move(v));
    }
  }
  void remove(const std::string& k) {
    for (size_t i = 0; i < kv.size(); ++i)
      if (kv[i].first == k) {
        kv[i] = kv.back();
        kv.pop_back();
        return;
      }
  }
  void putTags(const std::vector<jt::Tag>& tags) {  // §3.4
    for (const jt::Tag& t : tags) {
      otlp::AnyValue v;
      switch (t.vType) {
        case jt::TagType::STRING: v.set_string_value(t.vStr); break;
        case jt::TagType::BOOL: v.set_bool_value(t.vBool); break;
        case jt::TagType::LONG: v.set_int_value(t.vLong); break;
        case jt::TagType::DOUBLE: v.set_double_value(t.vDouble); break;
        case jt::TagType::BINARY: v.set_bytes_value(t.vBinary); break;
        default: v.set_string_value("<Unknown Jaeger TagType \"<UNSET>\">"); break;
      }
      put(t.key, std::move(v));
    }
  }
  void writeTo(google::protobuf::RepeatedPtrField<otlp::KeyValue>* out) const {
    for (const auto& [k, v] : kv) {
      otlp::KeyValue* x = out->Add();
      x->set_key(k);
      *x->mutable_value() = v;
    }
  }
};

// pcommon.Value.Str().
inline std::string str(const otlp::AnyValue* v) {
  return v != nullptr && v->value_case() == otlp::AnyValue::kStringValue ? v->string_value() : "";
}
inline std::string otlpId(int64_t high, int64_t low) { return high == 0 && low == 0 ? "" : be64(high) + be64(low); }
inline std::string otlpSpanId(int64_t id) { return id == 0 ? "" : be64(id); }

inline bool isBlank(const jt::Span& s) {  // reflect.DeepEqual(span, &jaeger.Span{})
  return s == jt::Span{} && !s.__isset.references && !s.__isset.tags && !s.__isset.logs;
}

inline void otlpSpan(otlp::Span* o, const jt::Span& s) {
  o->set_trace_id(otlpId(s.traceIdHigh, s.traceIdLow));
  o->set_span_id(otlpSpanId(s.spanId));
  o->set_name(s.operationName);
  o->set_start_time_unix_nano(static_cast<uint64_t>(s.startTime) * 1000u);
  o->set_end_time_unix_nano((static_cast<uint64_t>(s.startTime) + static_cast<uint64_t>(s.duration)) * 1000u);
  if (s.flags & 1) o->set_flags(1);
  int64_t parent = s.parentSpanId;  // §3.5
  if (parent == 0) {
    // The first same-trace CHILD_OF decides even with span id 0 (no parent then); only without
    // one does the first same-trace FOLLOWS_FROM (jThriftSpanParentID returns from each loop).
    const jt::SpanRef* ff = nullptr;
    bool childOf = false;
    for (const jt::SpanRef& r : s.references) {
      if (r.traceIdHigh != s.traceIdHigh || r.traceIdLow != s.traceIdLow) continue;
      if (r.refType == jt::SpanRefType::CHILD_OF) {
        parent = r.spanId;
        childOf = true;
        break;
      }
      if (ff == nullptr && r.refType == jt::SpanRefType::FOLLOWS_FROM) ff = &r;
    }
    if (!childOf && ff != nullptr) parent = ff->spanId;
  }
  if (parent != 0) o->set_parent_span_id(be64(parent));

  AttrMap attrs;
  attrs.putTags(s.tags);
  if (otlp::AnyValue* k = attrs.get("span.kind")) {  // §3.3
    const std::string v = str(k);
    o->set_kind(v == "client"     ? otlp::Span::SPAN_KIND_CLIENT
                : v == "server"   ? otlp::Span::SPAN_KIND_SERVER
                : v == "producer" ? otlp::Span::SPAN_KIND_PRODUCER
                : v == "consumer" ? otlp::Span::SPAN_KIND_CONSUMER
                : v == "internal" ? otlp::Span::SPAN_KIND_INTERNAL
                                  : otlp::Span::SPAN_KIND_UNSPECIFIED);
    attrs.remove("span.kind");
  }
  // §3.6 status.
  int code = 0;
  std::string message;
  bool exists = false;
  const auto takeDesc = [&](std::string& out) {
    if (otlp::AnyValue* d = attrs.get("otel.status_description")) {
      out = str(d);
      attrs.remove("otel.status_description");
      return true;
    }
    return false;
  };
  if (otlp::AnyValue* e = attrs.get("error"); e && e->value_case() == otlp::AnyValue::kBoolValue && e->bool_value()) {
    code = 2;
    attrs.remove("error");
    exists = true;
    if (!takeDesc(message))
      if (otlp::AnyValue* m = attrs.get("http.status_message")) message = str(m);
  }
  if (otlp::AnyValue* c = attrs.get("otel.status_code")) {
    if (!exists) {
      exists = true;
      std::string v = str(c);
      for (char& ch : v) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (v == "OK") code = 1;
      if (v == "ERROR") code = 2;
      takeDesc(message);
    }
    attrs.remove("otel.status_code");
  } else if (otlp::AnyValue* h = attrs.get("http.status_code"); !exists && h) {
    bool ok = false;
    int64_t http = 0;
    if (h->value_case() == otlp::AnyValue::kIntValue) {
      http = h->int_value();
      ok = true;
    } else if (h->value_case() == otlp::AnyValue::kStringValue) {
      const std::string& v = h->string_value();
      size_t i = (!v.empty() && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
      ok = i < v.size() && v.find_first_not_of("0123456789", i) == std::string::npos;
      if (ok) {
        errno = 0;
        char* end = nullptr;
        http = std::strtoll(v.c_str(), &end, 10);
        ok = errno == 0;
      }
    }
    if (ok) {
      int c2;
      if (http >= 400 && http < 500 && o->kind() == otlp::Span::SPAN_KIND_CLIENT) c2 = 2;
      else if (http >= 400 && http < 500 && o->kind() == otlp::Span::SPAN_KIND_SERVER) c2 = 0;
      else c2 = (http >= 100 && http < 399) ? 0 : 2;
      if (c2 != 0) {
        exists = true;
        code = c2;
      }
      if (otlp::AnyValue* m = attrs.get("http.status_message")) message = str(m);
    }
  }
  if (exists) {
    o->mutable_status()->set_code(static_cast<otlp::Status::StatusCode>(code));
    o->mutable_status()->set_message(message);
  }
  attrs.writeTo(o->mutable_attributes());

  for (const jt::Log& l : s.logs) {  // §3.6 events
    otlp::Span::Event* ev = o->add_events();
    ev->set_time_unix_nano(static_cast<uint64_t>(l.timestamp) * 1000u);
    AttrMap f;
    f.putTags(l.fields);
    if (otlp::AnyValue* n = f.get("event")) {
      ev->set_name(str(n));
      f.remove("event");
    }
    f.writeTo(ev->mutable_attributes());
  }
  for (const jt::SpanRef& r : s.references) {  // §3.5 links
    if (r.spanId == parent && r.refType == jt::SpanRefType::CHILD_OF) continue;
    otlp::Span::Link* lk = o->add_links();
    lk->set_trace_id(otlpId(r.traceIdHigh, r.traceIdLow));
    lk->set_span_id(otlpSpanId(r.spanId));
    otlp::KeyValue* kv = lk->add_attributes();
    kv->set_key("opentracing.ref_type");
    kv->mutable_value()->set_string_value(r.refType == jt::SpanRefType::CHILD_OF ? "child_of" : "follows_from");
  }
}

// One ResourceSpans; agent tags join the process tags as STRING tags (to_otlp.h).
inline otlp::ResourceSpans otlpResourceSpans(const jt::Batch& b, const std::vector<AgentTag>& agentTags,
                                             uint32_t& dropped) {
  otlp::ResourceSpans rs;
  dropped = 0;
  otlp::Resource* res = rs.mutable_resource();
  std::vector<jt::Tag> tags = b.process.tags;
  for (const AgentTag& a : agentTags) {
    jt::Tag t;
    t.key = a.key;
    t.vType = jt::TagType::STRING;
    t.__set_vStr(a.value);
    tags.push_back(t);
  }
  const bool tagsNil = !b.process.__isset.tags && agentTags.empty();
  if (!(b.process.serviceName.empty() && tagsNil)) {  // §3.2
    AttrMap attrs;
    if (!b.process.serviceName.empty()) {
      otlp::AnyValue v;
      v.set_string_value(b.process.serviceName);
      attrs.put("service.name", v);
    }
    attrs.putTags(tags);
    if (otlp::AnyValue* h = attrs.get("hostname"); h && !attrs.get("host.name")) {
      attrs.put("host.name", *h);
      attrs.remove("hostname");
    }
    if (otlp::AnyValue* j = attrs.get("jaeger.version"); j && !attrs.get("opencensus.exporterversion")) {
      otlp::AnyValue v;
      v.set_string_value("Jaeger-" + str(j));
      attrs.put("opencensus.exporterversion", v);
      attrs.remove("jaeger.version");
    }
    attrs.writeTo(res->mutable_attributes());
  }
  if (b.spans.empty()) return rs;
  otlp::ScopeSpans* ss = rs.add_scope_spans();
  ss->mutable_scope();
  for (const jt::Span& s : b.spans) {
    if (isBlank(s)) {
      ++dropped;
      continue;
    }
    otlpSpan(ss->add_spans(), s);
  }
  return rs;
}

}  // namespace jagent::decode::expect
