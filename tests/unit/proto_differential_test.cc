// Differential test of the protobuf transcoders (to_api_v2, to_otlp) against the rules:
// seeded random jaeger batches are encoded by Apache Thrift's generated C++ code (compact and
// binary), transcoded, and the output is parsed by libprotobuf (tests/proto/*.proto). Each is
// compared with what modern-collectors.md §2 / §3 say the Thrift object must become
// (proto_expect.h, written independently of the transcoders):
//  * api_v2: the parsed Batch equals the expected one, and the bytes equal libprotobuf's own
//    serialization of the expected Batch (our output is canonical: field order and minimal
//    varints), which is what the Go agent's gogo encoder writes too;
//  * OTLP: the parsed ResourceSpans equals the expected one field by field (MessageDifferencer),
//    and many records concatenated parse as one ExportTraceServiceRequest.
// The generator leans on the keys and values the rules single out (span.kind, error,
// otel.status_*, http.status_*, event, hostname, jaeger.version, duplicates, parent refs).
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"
#include "decode_test_util.h"
#include "proto_expect.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers
using google::protobuf::util::MessageDifferencer;

constexpr int kIterations = 3000;

class RandomBatch : public RandomPicker {
 public:
  using RandomPicker::RandomPicker;

  int64_t i64() {
    switch (rng_() % 9) {
      case 0: return std::numeric_limits<int64_t>::min();
      case 1: return std::numeric_limits<int64_t>::max();
      case 2: return 0;
      case 3: return -1;
      case 4: return static_cast<int64_t>(rng_() % 256) - 128;
      case 5: return 253402300800000000 - static_cast<int64_t>(rng_() % 2);  // the year-10000 edge
      default: return 1700000000000000 + static_cast<int64_t>(rng_() % 1000000);
    }
  }
  int64_t time() { return chance(90) ? 1700000000000000 + static_cast<int64_t>(rng_() % 1000000000) : i64(); }
  double dbl() {  // no NaN: MessageDifferencer and operator== compare with ==
    static const double kValues[] = {0.0, -0.0, 1.0, -2.5, 1e300, std::numeric_limits<double>::infinity(),
                                     std::numeric_limits<double>::denorm_min()};
    return pick(kValues);
  }
  std::string str() {  // valid UTF-8: the test .proto uses `string` as the real ones do
    static const std::string_view kPieces[] = {"a", "Z", "0", " ", "é", "日本", "🙂", "GET", std::string_view("\0", 1)};
    std::string s;
    const size_t n = chance(3) ? 130 + upTo(200) : upTo(8);
    for (size_t i = 0; i < n; ++i) s += pick(kPieces);
    return s;
  }
  std::string key() {
    static const char* kKeys[] = {"span.kind", "error", "otel.status_code", "otel.status_description",
                                  "http.status_code", "http.status_message", "event", "hostname", "host.name",
                                  "jaeger.version", "opencensus.exporterversion", "service.name", "client-uuid",
                                  "k", "a", ""};
    return chance(70) ? pick(kKeys) : str();
  }

  jt::Tag tag() {
    jt::Tag t;
    t.key = key();
    // Values outside the enum but inside its range (UBSan refuses others in the generated code);
    // negative and far-off ones are in UnknownEnumValuesPassThrough.
    t.vType = static_cast<jt::TagType::type>(chance(3) ? 5 + static_cast<int>(rng_() % 3) : static_cast<int>(rng_() % 5));
    static const char* kStrings[] = {"client", "server", "producer", "consumer", "internal", "CLIENT", "OK", "error",
                                     "Error", "404", "+500", "200", "99999999999999999999", "-1", "abc", "true", ""};
    if (chance(70)) t.__set_vStr(chance(60) ? std::string(pick(kStrings)) : str());
    if (chance(40)) t.__set_vDouble(dbl());
    if (chance(60)) t.__set_vBool(chance(50));
    static const int64_t kLongs[] = {0, 200, 404, 500, 99, 399, 400, -7};
    if (chance(60)) t.__set_vLong(chance(70) ? pick(kLongs) : i64());
    if (chance(30)) t.__set_vBinary(str());
    return t;
  }
  std::vector<jt::Tag> tags(size_t small) {
    std::vector<jt::Tag> v(chance(3) ? 15 + upTo(30) : upTo(small));
    for (auto& t : v) t = tag();
    return v;
  }
  jt::Span span() {
    jt::Span s;
    if (chance(2)) return s;  // blank: the Collector skips it (§3.1)
    s.traceIdLow = chance(5) ? 0 : i64();
    s.traceIdHigh = chance(40) ? 0 : i64();
    s.spanId = chance(5) ? 0 : i64();
    s.parentSpanId = chance(40) ? 0 : i64();
    s.operationName = str();
    if (chance(60)) {
      std::vector<jt::SpanRef> refs(upTo(3));
      for (auto& r : refs) {
        r.refType = static_cast<jt::SpanRefType::type>(rng_() % 2);
        const bool sameTrace = chance(60);
        r.traceIdLow = sameTrace ? s.traceIdLow : i64();
        r.traceIdHigh = sameTrace ? s.traceIdHigh : i64();
        r.spanId = chance(40) ? s.parentSpanId : i64();
      }
      s.__set_references(refs);
    }
    s.flags = static_cast<int32_t>(chance(10) ? rng_() : rng_() % 16);
    s.startTime = time();
    s.duration = chance(90) ? static_cast<int64_t>(rng_() % 10000000) : i64();
    if (chance(85)) s.__set_tags(tags(8));
    if (chance(40)) {
      std::vector<jt::Log> logs(upTo(3));
      for (auto& l : logs) {
        l.timestamp = time();
        l.fields = tags(3);
      }
      s.__set_logs(logs);
    }
    return s;
  }
  jt::Batch batch() {
    jt::Batch b;
    b.process.serviceName = chance(10) ? "" : str();
    if (chance(80)) b.process.__set_tags(tags(5));
    b.spans.resize(chance(5) ? 0 : 1 + upTo(chance(5) ? 40 : 4));
    for (auto& s : b.spans) s = span();
    if (chance(50)) b.__set_seqNo(i64());
    return b;
  }
};

std::string asString(std::span<const uint8_t> b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

const std::vector<AgentTag> kAgentTagSets[] = {{}, {{"k1", "v1"}, {"hostname", "agent-host"}}, {{"service.name", "x"}}};

TEST(ProtoDifferential, ApiV2MatchesTheRules) {
  RandomBatch gen(0x61706976320001ull);
  for (const auto& agentTags : kAgentTagSets) {
    ApiV2Transcoder t(agentTags);
    for (int i = 0; i < kIterations; ++i) {
      const jt::Batch batch = gen.batch();
      uint32_t wantDropped = 0;
      const expect::av2::Batch want = expect::apiV2(batch, agentTags, wantDropped);
      const std::string wantBytes = want.SerializeAsString();
      for (Wire w : {Wire::kCompact, Wire::kBinary}) {
        const Bytes d = oracleEmitBatch(w, batch);
        ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk)
            << "iteration " << i;
        expect::av2::PostSpansRequest got;
        ASSERT_TRUE(got.ParseFromString(asString(t.postSpansRequest()))) << "iteration " << i;
        std::string diff;
        MessageDifferencer md;
        md.ReportDifferencesToString(&diff);
        ASSERT_TRUE(md.Compare(want, got.batch())) << "iteration " << i << "\n" << diff;
        ASSERT_EQ(asString(t.output()), wantBytes) << "iteration " << i << ": not canonical";
        ASSERT_EQ(t.spansDropped(), wantDropped);
        ASSERT_EQ(t.summary().spans, batch.spans.size());
        ASSERT_EQ(t.summary().serviceName(), batch.process.serviceName.substr(0, 128));
      }
    }
  }
}

TEST(ProtoDifferential, OtlpMatchesTheRules) {
  RandomBatch gen(0x6f746c700001ull);
  for (const auto& agentTags : kAgentTagSets) {
    OtlpTranscoder t(agentTags);
    expect::otlp::ExportTraceServiceRequest wantRequest;
    std::vector<uint8_t> request;
    for (int i = 0; i < kIterations; ++i) {
      const jt::Batch batch = gen.batch();
      uint32_t wantDropped = 0;
      const expect::otlp::ResourceSpans want = expect::otlpResourceSpans(batch, agentTags, wantDropped);
      for (Wire w : {Wire::kCompact, Wire::kBinary}) {
        const Bytes d = oracleEmitBatch(w, batch);
        ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk)
            << "iteration " << i;
        expect::otlp::ResourceSpans got;
        ASSERT_TRUE(got.ParseFromString(asString(t.output()))) << "iteration " << i;
        std::string diff;
        MessageDifferencer md;
        md.ReportDifferencesToString(&diff);
        ASSERT_TRUE(md.Compare(want, got)) << "iteration " << i << "\n" << diff;
        ASSERT_EQ(t.spansDropped(), wantDropped);
      }
      if (i % 50 == 0) {  // coalescing: one record per batch, one request
        appendResourceSpans(request, t.output());
        *wantRequest.add_resource_spans() = want;
      }
    }
    expect::otlp::ExportTraceServiceRequest got;
    ASSERT_TRUE(got.ParseFromArray(request.data(), static_cast<int>(request.size())));
    EXPECT_TRUE(MessageDifferencer::Equals(wantRequest, got));
  }
}

// The hand-picked cases of §3.5–3.7 and §3.9, spelled out (the random test covers them too;
// these make a failure readable).
// One compact batch through OtlpTranscoder, parsed by libprotobuf (empty on any failure).
expect::otlp::ResourceSpans otlpOf(const jt::Batch& b) {
  OtlpTranscoder t;
  expect::otlp::ResourceSpans got;
  EXPECT_EQ(t.transcode(Protocol::kCompact, oracleEmitBatch(Wire::kCompact, b)), RejectReason::kOk);
  EXPECT_TRUE(got.ParseFromString(asString(t.output())));
  return got;
}

// Span 6 of trace 5, and what the OTLP encoder makes of it alone in a batch of service "svc".
jt::Span span56() {
  jt::Span s;
  s.traceIdLow = 5;
  s.spanId = 6;
  s.startTime = 1700000000000000;
  s.duration = 10;
  return s;
}
expect::otlp::Span otlpSpanOf(const jt::Span& s) {
  jt::Batch b;
  b.process.serviceName = "svc";
  b.spans = {s};
  const expect::otlp::ResourceSpans got = otlpOf(b);
  EXPECT_EQ(got.scope_spans_size(), 1);
  return got.scope_spans_size() == 1 && got.scope_spans(0).spans_size() == 1 ? got.scope_spans(0).spans(0)
                                                                               : expect::otlp::Span{};
}

TEST(ProtoDifferential, OtlpStatusKindAndLinksExamples) {
  jt::Span s = span56();
  const auto tag = [](std::string k, jt::TagType::type ty, std::string v, bool bv = false, int64_t lv = 0) {
    jt::Tag t;
    t.key = std::move(k);
    t.vType = ty;
    t.__set_vStr(std::move(v));
    t.__set_vBool(bv);
    t.__set_vLong(lv);
    return t;
  };
  s.__set_tags({tag("span.kind", jt::TagType::STRING, "client"), tag("a", jt::TagType::STRING, "1"),
                tag("http.status_code", jt::TagType::LONG, "", false, 404), tag("http.status_message", jt::TagType::STRING, "nf"),
                tag("a", jt::TagType::STRING, "2")});
  jt::SpanRef same;  // same trace, CHILD_OF → the parent, no link
  same.traceIdLow = 5;
  same.spanId = 77;
  jt::SpanRef other;  // FOLLOWS_FROM → a link
  other.refType = jt::SpanRefType::FOLLOWS_FROM;
  other.traceIdLow = 9;
  other.spanId = 78;
  s.__set_references({same, other});
  const expect::otlp::Span span = otlpSpanOf(s);
  EXPECT_EQ(span.kind(), expect::otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(span.status().code(), expect::otlp::Status::STATUS_CODE_ERROR);  // 4xx on a client
  EXPECT_EQ(span.status().message(), "nf");
  EXPECT_EQ(span.parent_span_id(), expect::be64(77));
  ASSERT_EQ(span.links_size(), 1);
  EXPECT_EQ(span.links(0).span_id(), expect::be64(78));
  EXPECT_EQ(span.links(0).attributes(0).value().string_value(), "follows_from");
  // span.kind swap-removed: the last attribute took its slot; duplicate "a" kept its first
  // position with the last value; both http.* stay.
  ASSERT_EQ(span.attributes_size(), 3);
  EXPECT_EQ(span.attributes(0).key(), "http.status_message");
  EXPECT_EQ(span.attributes(1).key(), "a");
  EXPECT_EQ(span.attributes(1).value().string_value(), "2");
  EXPECT_EQ(span.attributes(2).key(), "http.status_code");
}

// §3.5: the first same-trace CHILD_OF is the parent even when its span id is 0 — then there is
// no parent, and a FOLLOWS_FROM before it is only a link (found by the interop test, seed 7).
TEST(ProtoDifferential, OtlpChildOfWithZeroIdMeansNoParent) {
  jt::Span s = span56();
  jt::SpanRef ff;
  ff.refType = jt::SpanRefType::FOLLOWS_FROM;
  ff.traceIdLow = 5;
  ff.spanId = 70;
  jt::SpanRef zero;  // CHILD_OF, same trace, span id 0
  zero.traceIdLow = 5;
  s.__set_references({ff, zero});
  const expect::otlp::Span span = otlpSpanOf(s);
  EXPECT_TRUE(span.parent_span_id().empty());
  ASSERT_EQ(span.links_size(), 1) << "the zero CHILD_OF equals the (absent) parent id: no link";
  EXPECT_EQ(span.links(0).span_id(), expect::be64(70));
}

// Thrift fields may come in any order (hand-encoded: generated writers always use id order). The
// views make the output independent of it: api_v2 bytes are identical, OTLP identical once parsed
// (the resource may come after the spans when the process does).
TEST(ProtoDifferential, InputFieldOrderDoesNotMatter) {
  const std::function<void(TValue&)> reverseAll = [&](TValue& v) {
    std::reverse(v.fields.begin(), v.fields.end());
    for (auto& [id, f] : v.fields) reverseAll(f);
    for (auto& e : v.elems) reverseAll(e);
  };
  TValue batch = tBatch(3);
  TValue reversed = batch;
  reverseAll(reversed);
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    const Protocol p = w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary;
    ApiV2Transcoder a(std::vector<AgentTag>{{"k", "v"}});
    ASSERT_EQ(a.transcode(p, emitBatch(w, batch)), RejectReason::kOk);
    const std::string inOrder = asString(a.output());
    ASSERT_EQ(a.transcode(p, emitBatch(w, reversed)), RejectReason::kOk);
    EXPECT_EQ(asString(a.output()), inOrder);
    OtlpTranscoder o(std::vector<AgentTag>{{"k", "v"}});
    ASSERT_EQ(o.transcode(p, emitBatch(w, batch)), RejectReason::kOk);
    expect::otlp::ResourceSpans first, second;
    ASSERT_TRUE(first.ParseFromString(asString(o.output())));
    ASSERT_EQ(o.transcode(p, emitBatch(w, reversed)), RejectReason::kOk);
    ASSERT_TRUE(second.ParseFromString(asString(o.output())));
    EXPECT_TRUE(MessageDifferencer::Equals(first, second));
    EXPECT_EQ(second.resource().attributes(0).value().string_value(), "svc");
  }
}

// Enum values the generated Thrift types cannot hold: hand-encoded (TValue).
TEST(ProtoDifferential, UnknownEnumValuesPassThrough) {
  TValue tag = tStruct({{1, tString("k")}, {2, tI32(-1)}, {3, tString("v")}});
  TValue ref = tStruct({{1, tI32(9)}, {2, tI64(5)}, {3, tI64(0)}, {4, tI64(77)}});
  TValue span = tStruct({{1, tI64(5)}, {3, tI64(6)}, {6, tList(tt::kStruct, {ref})}, {8, tI64(1700000000000000)},
                         {10, tList(tt::kStruct, {tag})}});
  TValue batch = tStruct({{1, tStruct({{1, tString("svc")}})}, {2, tList(tt::kStruct, {span})}});
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    const Bytes d = emitBatch(w, batch);
    ApiV2Transcoder a;
    ASSERT_EQ(a.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk);
    expect::av2::Batch b;
    ASSERT_TRUE(b.ParseFromString(asString(a.output())));
    EXPECT_EQ(b.spans(0).tags(0).v_str(), "Unknown VType: -1");  // §2.3 (our deterministic text)
    EXPECT_EQ(b.spans(0).references(0).ref_type(), 9);           // §2.2: cast through
    OtlpTranscoder o;
    ASSERT_EQ(o.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk);
    expect::otlp::ResourceSpans rs;
    ASSERT_TRUE(rs.ParseFromString(asString(o.output())));
    const auto& s = rs.scope_spans(0).spans(0);
    EXPECT_EQ(s.attributes(0).value().string_value(), "<Unknown Jaeger TagType \"<UNSET>\">");  // §3.4
    ASSERT_EQ(s.links_size(), 1);  // not CHILD_OF, so not a parent candidate; a follows_from link
    EXPECT_EQ(s.links(0).attributes(0).value().string_value(), "follows_from");
    EXPECT_EQ(s.parent_span_id(), "");
  }
}

TEST(ProtoDifferential, ApiV2DropsOnlyTheSpanWithAnUnmarshalableTime) {
  jt::Batch b;
  b.process.serviceName = "svc";
  b.spans.resize(3);
  for (size_t i = 0; i < 3; ++i) {
    b.spans[i].spanId = static_cast<int64_t>(i + 1);
    b.spans[i].startTime = 1700000000000000;
  }
  b.spans[1].startTime = -1;  // the Go agent loses the whole batch here (§1.4); we lose one span
  ApiV2Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kCompact, oracleEmitBatch(Wire::kCompact, b)), RejectReason::kOk);
  EXPECT_EQ(t.spansDropped(), 1u);
  expect::av2::Batch got;
  ASSERT_TRUE(got.ParseFromString(asString(t.output())));
  ASSERT_EQ(got.spans_size(), 2);
  EXPECT_EQ(got.spans(0).span_id(), expect::be64(1));
  EXPECT_EQ(got.spans(1).span_id(), expect::be64(3));
}

}  // namespace
}  // namespace jagent::decode
