// The Zipkin rules of modern-collectors.md §2.4 / §2.4a (and §3.8 for OTLP), written a second
// time for the tests, straightforwardly and independently of decode/zipkin_domain.cc: from the
// Apache Thrift generated zipkincore objects, mutated in place like the Go sanitizers do, to
// jaeger Thrift objects (the domain), then to api_v2 / OTLP messages with proto_expect.h.
//
// JSON log annotations: the tests draw annotation values from kJsonCases, whose expected fields
// are written out by hand (sorted by key, the order the agent documents), rather than parsing
// JSON a second time here.
#pragma once

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "decode_test_util.h"
#include "proto_expect.h"

namespace jagent::decode::zexpect {

namespace jt = ::jaegertracing::thrift;
namespace zt = ::twitter::zipkin::thrift;
namespace av2 = ::jaeger::api_v2;
namespace otlp = ::jagent::test::otlp;

struct JsonCase {
  const char* value;
  bool isJson;
  std::vector<std::pair<std::string, std::string>> fields;  // sorted by key
};
inline const std::vector<JsonCase>& jsonCases() {
  static const std::vector<JsonCase> k = {
      {R"({"b":"x","a":"y"})", true, {{"a", "y"}, {"b", "x"}}},
      {R"( { "event" : "retry" , "n" : "3" } )", true, {{"event", "retry"}, {"n", "3"}}},
      {"null", true, {}},
      {R"({})", true, {}},
      {R"({"k":"a","k":"b"})", true, {{"k", "b"}}},
      {R"({"x":null})", true, {{"x", ""}}},
      {R"({"e":"caf\u00e9 \ud83d\ude00 \ud800 \n"})", true, {{"e", "caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBD \n"}}},
      {"{\"bad\":\"\xff\"}", true, {{"bad", "\xEF\xBF\xBD"}}},
      {R"({"a":1})", false, {}},
      {R"({"a":"b"} x)", false, {}},
      {R"(["a"])", false, {}},
      {R"({"a":"b",})", false, {}},
      {"{\"a\":\"\x01\"}", false, {}},
      {"plain text", false, {}},
      {"{broken", false, {}},
  };
  return k;
}

inline std::string lowerFold(std::string s) {  // Go EqualFold for the sanitizer's ASCII words
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\xC5' && i + 1 < s.size() && s[i + 1] == '\xBF') {  // U+017F folds to 's'
      out.push_back('s');
      ++i;
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))));
    }
  }
  return out;
}

inline zt::BinaryAnnotation stringBin(const std::string& k, const std::string& v) {
  zt::BinaryAnnotation b;
  b.key = k;
  b.value = v;
  b.annotation_type = zt::AnnotationType::STRING;
  return b;
}

// The four sanitizers, in order, mutating the span.
inline void sanitize(zt::Span& s) {
  if (!s.__isset.timestamp && !s.annotations.empty()) {
    for (const zt::Annotation& a : s.annotations) {
      if (a.value == "cs") {
        s.__set_timestamp(a.timestamp);
        break;
      }
      if (a.value == "sr" && !s.__isset.parent_id) s.__set_timestamp(a.timestamp);
    }
  }
  if (!s.__isset.duration) {
    int64_t d = 1;
    if (s.annotations.size() >= 2) {
      int64_t first = s.annotations.front().timestamp, last = s.annotations.back().timestamp;
      for (const zt::Annotation& a : s.annotations) {
        if (a.value == "cs") first = a.timestamp;
        else if (a.value == "cr") last = a.timestamp;
      }
      if (first < last) {
        d = static_cast<int64_t>(static_cast<uint64_t>(last) - static_cast<uint64_t>(first));
        if (!s.__isset.timestamp) s.__set_timestamp(first);
      }
    }
    s.__set_duration(d);
  } else if (s.duration < 0) {
    s.binary_annotations.push_back(stringBin("errNegativeDuration", std::to_string(s.duration)));
    s.duration = 1;
  }
  if (s.__isset.parent_id && s.parent_id == 0) {
    s.binary_annotations.push_back(stringBin("errZeroParentID", "0"));
    s.__isset.parent_id = false;
  }
  const size_t n = s.binary_annotations.size();
  for (size_t i = 0; i < n; ++i) {
    zt::BinaryAnnotation& b = s.binary_annotations[i];
    if (b.annotation_type == zt::AnnotationType::BOOL || lowerFold(b.key) != "error") continue;
    b.annotation_type = zt::AnnotationType::BOOL;
    const std::string v = lowerFold(b.value);
    if (b.value.empty() || v == "true") {
      b.value = std::string(1, '\1');
    } else if (v == "false") {
      b.value = std::string(1, '\0');
    } else {
      const std::string old = b.value;
      b.value = std::string(1, '\1');
      s.binary_annotations.push_back(stringBin("error.message", old));  // §2.4 says STRING
    }
  }
}

inline std::string b64(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (in.size() - i == 1) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  return out;
}

inline jt::Tag strTag(const std::string& k, const std::string& v) {
  jt::Tag t;
  t.key = k;
  t.vType = jt::TagType::STRING;
  t.__set_vStr(v);
  return t;
}
inline jt::Tag longTag(const std::string& k, int64_t v) {
  jt::Tag t;
  t.key = k;
  t.vType = jt::TagType::LONG;
  t.__set_vLong(v);
  return t;
}

inline uint64_t be(const std::string& v, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i) x = x << 8 | static_cast<unsigned char>(v[i]);
  return x;
}

inline jt::Tag typed(const zt::BinaryAnnotation& b) {  // transformBinaryAnnotation + fallback
  jt::Tag t;
  t.key = b.key;
  const auto fail = [&](const std::string& err) { return strTag(b.key, "Cannot parse Zipkin value " + b64(b.value) + ": " + err); };
  const auto need = [&](size_t n) { return b.value.empty() ? fail("EOF") : b.value.size() < n ? fail("unexpected EOF") : jt::Tag{}; };
  switch (static_cast<int>(b.annotation_type)) {
    case zt::AnnotationType::BOOL:
      t.vType = jt::TagType::BOOL;
      t.__set_vBool(b.value == std::string(1, '\1'));
      return t;
    case zt::AnnotationType::BYTES:
      t.vType = jt::TagType::BINARY;
      t.__set_vBinary(b.value);
      return t;
    case zt::AnnotationType::STRING:
      return strTag(b.key, b.value);
    case zt::AnnotationType::DOUBLE: {
      if (b.value.size() < 8) return need(8);
      const uint64_t bits = be(b.value, 8);
      double d;
      std::memcpy(&d, &bits, 8);
      t.vType = jt::TagType::DOUBLE;
      t.__set_vDouble(d);
      return t;
    }
    case zt::AnnotationType::I16:
      if (b.value.size() < 2) return need(2);
      return longTag(b.key, static_cast<int16_t>(be(b.value, 2)));
    case zt::AnnotationType::I32:
      if (b.value.size() < 4) return need(4);
      return longTag(b.key, static_cast<int32_t>(be(b.value, 4)));
    case zt::AnnotationType::I64:
      if (b.value.size() < 8) return need(8);
      return longTag(b.key, static_cast<int64_t>(be(b.value, 8)));
    default:
      return fail("unknown zipkin annotation type: " + std::to_string(static_cast<int>(b.annotation_type)));
  }
}

inline int typeRank(jt::TagType::type t) {  // api_v2 ValueType numbers
  switch (t) {
    case jt::TagType::BOOL: return 1;
    case jt::TagType::LONG: return 2;
    case jt::TagType::DOUBLE: return 3;
    case jt::TagType::BINARY: return 4;
    default: return 0;
  }
}
inline bool tagLess(const jt::Tag& a, const jt::Tag& b) {
  if (a.key != b.key) return a.key < b.key;
  if (typeRank(a.vType) != typeRank(b.vType)) return typeRank(a.vType) < typeRank(b.vType);
  switch (a.vType) {
    case jt::TagType::BOOL: return a.vBool < b.vBool;
    case jt::TagType::LONG: return a.vLong < b.vLong;
    case jt::TagType::DOUBLE: return a.vDouble < b.vDouble;
    case jt::TagType::BINARY: return a.vBinary < b.vBinary;
    default: return a.vStr < b.vStr;
  }
}

struct Domain {
  jt::Span span;
  jt::Process process;
  size_t zipkinIndex = 0;
  std::string scopeName, scopeVersion;  // OTLP only (filled by otlp())
};

inline bool isProcessKey(const std::string& k) { return k == "jaegerClient" || k == "jaeger.hostname" || k == "jaeger.version"; }
inline bool isCore(const std::string& v) { return v == "cs" || v == "cr" || v == "sr" || v == "ss"; }

// zipkin.ToDomain of the sanitized spans (unknown services counted).
inline std::vector<Domain> toDomain(std::vector<zt::Span> spans, uint32_t& unknownService) {
  std::vector<Domain> out;
  unknownService = 0;
  for (size_t zi = 0; zi < spans.size(); ++zi) {
    zt::Span& z = spans[zi];
    sanitize(z);
    Domain d;
    d.zipkinIndex = zi;
    jt::Span& s = d.span;
    s.traceIdLow = z.trace_id;
    s.traceIdHigh = z.__isset.trace_id_high ? z.trace_id_high : 0;
    s.spanId = z.id;
    s.parentSpanId = z.__isset.parent_id ? z.parent_id : 0;
    s.operationName = z.name;
    s.flags = z.__isset.debug && z.debug ? 2 : 0;
    s.__isset.tags = true;
    for (const zt::BinaryAnnotation& b : z.binary_annotations) {
      if (isProcessKey(b.key)) continue;
      if (b.key == "lc") {
        s.tags.push_back(strTag("component", b.value));
      } else if (b.key == "sa" || b.key == "ca" || b.key == "ma") {
        if (!b.__isset.host) continue;
        s.tags.push_back(strTag("peer.service", b.host.service_name));
        if (b.host.ipv4 != 0) s.tags.push_back(longTag("peer.ipv4", static_cast<uint32_t>(b.host.ipv4)));
        if (b.host.__isset.ipv6) {
          jt::Tag t;
          t.key = "peer.ipv6";
          t.vType = jt::TagType::BINARY;
          t.__set_vBinary(b.host.ipv6);
          s.tags.push_back(t);
        }
        if (b.host.port != 0) s.tags.push_back(longTag("peer.port", static_cast<uint16_t>(b.host.port)));
      } else {
        s.tags.push_back(typed(b));
      }
    }
    const zt::Annotation* cs = nullptr;
    const zt::Annotation* sr = nullptr;
    const auto find = [&](const char* v) -> const zt::Annotation* {
      for (const zt::Annotation& a : z.annotations)
        if (a.value == v) return &a;
      return nullptr;
    };
    cs = find("cs");
    sr = find("sr");
    for (const zt::Annotation& a : z.annotations)
      if (isCore(a.value)) {
        s.tags.push_back(strTag("span.kind", a.value[0] == 'c' ? "client" : "server"));
        break;
      }
    int64_t ts = z.__isset.timestamp ? z.timestamp : 0;
    int64_t dur = z.duration;
    if (ts == 0) {
      if (cs) {
        ts = cs->timestamp;
        if (const zt::Annotation* cr = find("cr"); cr && dur == 0) dur = static_cast<int64_t>(static_cast<uint64_t>(cr->timestamp) - static_cast<uint64_t>(cs->timestamp));
      } else if (sr) {
        ts = sr->timestamp;
        if (const zt::Annotation* ss = find("ss"); ss && dur == 0) dur = static_cast<int64_t>(static_cast<uint64_t>(ss->timestamp) - static_cast<uint64_t>(sr->timestamp));
      }
    }
    s.startTime = ts;
    s.duration = dur;
    for (const zt::Annotation& a : z.annotations) {
      if (a.value.empty() || isCore(a.value)) continue;
      jt::Log l;
      l.timestamp = a.timestamp;
      const JsonCase* jc = nullptr;
      for (const JsonCase& c : jsonCases())
        if (a.value == c.value) jc = &c;
      if (jc && jc->isJson) {
        for (const auto& [k, v] : jc->fields) l.fields.push_back(strTag(k, v));
      } else {
        l.fields.push_back(strTag("event", a.value));
      }
      s.logs.push_back(l);
    }
    s.__isset.logs = !s.logs.empty();
    // Process.
    const zt::Endpoint* host = nullptr;
    for (const zt::Annotation& a : z.annotations)
      if (!host && isCore(a.value) && a.__isset.host && !a.host.service_name.empty()) host = &a.host;
    for (const zt::BinaryAnnotation& b : z.binary_annotations)
      if (!host && b.key == "lc" && b.__isset.host && !b.host.service_name.empty()) host = &b.host;
    for (const zt::Annotation& a : z.annotations)
      if (!host && a.__isset.host && !a.host.service_name.empty()) host = &a.host;
    for (const zt::BinaryAnnotation& b : z.binary_annotations)
      if (!host && b.__isset.host && !b.host.service_name.empty()) host = &b.host;
    d.process.serviceName = host ? host->service_name : "unknown-service-name";
    unknownService += host ? 0 : 1;
    for (const zt::BinaryAnnotation& b : z.binary_annotations) {
      if (!isProcessKey(b.key)) continue;
      jt::Tag t = typed(b);
      t.key = b.key == "jaeger.hostname" ? "hostname" : "jaeger.version";
      d.process.tags.push_back(t);
    }
    if (host && host->ipv4 != 0) d.process.tags.push_back(longTag("ip", host->ipv4));
    std::stable_sort(d.process.tags.begin(), d.process.tags.end(), tagLess);
    d.process.__isset.tags = !d.process.tags.empty();
    out.push_back(d);
    if (cs && sr) {  // the split
      Domain h = d;
      h.span.tags.clear();
      h.span.logs.clear();
      h.span.__isset.logs = false;
      bool client = false;
      for (const jt::Tag& t : d.span.tags)
        if (t.key == "span.kind") {
          client = t.vType == jt::TagType::STRING && t.vStr == "client";
          break;
        }
      const zt::Annotation* from = client ? sr : cs;
      const zt::Annotation* to = find(client ? "ss" : "cr");
      h.span.tags.push_back(strTag("span.kind", client ? "server" : "client"));
      h.span.startTime = from->timestamp;
      h.span.duration = to ? static_cast<int64_t>(static_cast<uint64_t>(to->timestamp) - static_cast<uint64_t>(from->timestamp)) : 0;
      out.push_back(h);
    }
  }
  return out;
}

// api_v2: each domain span with its process (agent tags appended); dropped counts Zipkin spans
// with a domain span gogo cannot marshal.
inline av2::Batch apiV2(const std::vector<Domain>& domain, const std::vector<AgentTag>& agentTags, uint32_t& dropped) {
  av2::Batch out;
  dropped = 0;
  size_t lastDropped = SIZE_MAX;
  for (const Domain& d : domain) {
    jt::Batch b;
    b.process = d.process;
    b.spans = {d.span};
    uint32_t x = 0;
    av2::Batch one = expect::apiV2(b, agentTags, x);
    if (x != 0) {
      if (lastDropped != d.zipkinIndex) ++dropped;
      lastDropped = d.zipkinIndex;
      continue;
    }
    av2::Span* s = out.add_spans();
    *s = one.spans(0);
    *s->mutable_process() = one.process();
  }
  return out;
}

inline std::string takeTag(jt::Span& s, const std::string& key, bool& found) {
  for (auto it = s.tags.begin(); it != s.tags.end(); ++it)
    if (it->key == key) {
      const std::string v = it->vType == jt::TagType::STRING ? it->vStr : "";
      s.tags.erase(it);
      found = true;
      return v;
    }
  found = false;
  return "";
}

// OTLP (§3.8): ResourceSpans per distinct process, ScopeSpans per scope, first appearance.
inline otlp::ExportTraceServiceRequest toOtlp(std::vector<Domain> domain, const std::vector<AgentTag>& agentTags) {
  for (Domain& d : domain) {
    bool found = false;
    d.scopeName = takeTag(d.span, "otel.scope.name", found);
    if (found) d.scopeVersion = takeTag(d.span, "otel.scope.version", found);
  }
  otlp::ExportTraceServiceRequest req;
  std::vector<bool> done(domain.size(), false);
  for (size_t i = 0; i < domain.size(); ++i) {
    if (done[i]) continue;
    jt::Batch pb;
    pb.process = domain[i].process;
    uint32_t unused = 0;
    otlp::ResourceSpans* rs = req.add_resource_spans();
    if (pb.process.serviceName == "OTLPResourceNoServiceName") {
      rs->mutable_resource();
    } else {
      *rs->mutable_resource() = expect::otlpResourceSpans(pb, agentTags, unused).resource();
    }
    std::vector<size_t> members;
    for (size_t j = i; j < domain.size(); ++j)
      if (!done[j] && domain[j].process == domain[i].process) {
        members.push_back(j);
        done[j] = true;
      }
    std::vector<bool> used(members.size(), false);
    for (size_t a = 0; a < members.size(); ++a) {
      if (used[a]) continue;
      otlp::ScopeSpans* ss = rs->add_scope_spans();
      const Domain& first = domain[members[a]];
      ss->mutable_scope()->set_name(first.scopeName);
      ss->mutable_scope()->set_version(first.scopeVersion);
      for (size_t b = a; b < members.size(); ++b) {
        const Domain& d = domain[members[b]];
        if (used[b] || d.scopeName != first.scopeName || d.scopeVersion != first.scopeVersion) continue;
        used[b] = true;
        otlp::Span* o = ss->add_spans();
        expect::otlpSpan(o, d.span);
        // w3c.tracestate → trace_state, removed (swap-remove) after the status rules.
        std::string ts;
        bool has = false;
        for (const jt::Tag& t : d.span.tags)
          if (t.key == "w3c.tracestate") {
            has = true;
            ts = t.vType == jt::TagType::STRING ? t.vStr : "";
          }
        if (has) {
          o->set_trace_state(ts);
          auto* attrs = o->mutable_attributes();
          for (int k = 0; k < attrs->size(); ++k)
            if (attrs->Get(k).key() == "w3c.tracestate") {
              attrs->SwapElements(k, attrs->size() - 1);
              attrs->RemoveLast();
              break;
            }
        }
      }
    }
  }
  return req;
}

}  // namespace jagent::decode::zexpect
