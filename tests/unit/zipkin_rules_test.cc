// Zipkin → api_v2 / OTLP, rule by rule (modern-collectors.md §2.4, §2.4a, §3.8): Zipkin batches
// are written by Apache Thrift's generated zipkincore code, transcoded, and the output is parsed
// by libprotobuf (tests/proto/*.proto) and checked field by field.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"
#include "decode/zipkin_domain.h"
#include "decode_test_util.h"
#include "proto_expect.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers
namespace av2 = ::jaeger::api_v2;
namespace otlp = ::jagent::test::otlp;

constexpr int64_t kT = 1700000000000000;  // µs

zt::Endpoint ep(const std::string& svc, int32_t ipv4 = 0, int16_t port = 0) {
  zt::Endpoint e;
  e.service_name = svc;
  e.ipv4 = ipv4;
  e.port = port;
  return e;
}
zt::Annotation ann(int64_t ts, const std::string& v, std::optional<zt::Endpoint> host = std::nullopt) {
  zt::Annotation a;
  a.timestamp = ts;
  a.value = v;
  if (host) a.__set_host(*host);
  return a;
}
zt::BinaryAnnotation bin(const std::string& k, const std::string& v,
                         zt::AnnotationType::type t = zt::AnnotationType::STRING,
                         std::optional<zt::Endpoint> host = std::nullopt) {
  zt::BinaryAnnotation b;
  b.key = k;
  b.value = v;
  b.annotation_type = t;
  if (host) b.__set_host(*host);
  return b;
}
zt::Span span(int64_t id, std::vector<zt::Annotation> anns = {}, std::vector<zt::BinaryAnnotation> bins = {}) {
  zt::Span s;
  s.trace_id = 0x1122334455667788;
  s.id = id;
  s.name = "op";
  s.annotations = std::move(anns);
  s.binary_annotations = std::move(bins);
  return s;
}
zt::Span timed(int64_t id, std::vector<zt::Annotation> anns = {}, std::vector<zt::BinaryAnnotation> bins = {}) {
  zt::Span s = span(id, std::move(anns), std::move(bins));
  s.__set_timestamp(kT);
  s.__set_duration(10);
  return s;
}
std::string raw(std::initializer_list<uint8_t> b) { return std::string(b.begin(), b.end()); }

struct ApiV2Run {
  av2::Batch batch;
  uint32_t dropped = 0, unknown = 0, spans = 0;
};
ApiV2Run apiV2(const std::vector<zt::Span>& spans, std::vector<AgentTag> agentTags = {}, Wire w = Wire::kCompact) {
  ApiV2Transcoder t(std::move(agentTags));
  const Bytes d = oracleEmitZipkinBatch(w, spans);
  ApiV2Run r;
  EXPECT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk);
  EXPECT_TRUE(r.batch.ParseFromArray(t.output().data(), static_cast<int>(t.output().size())));
  EXPECT_FALSE(r.batch.has_process()) << "Batch.process is absent for Zipkin (§2.4)";
  EXPECT_EQ(t.summary().format, Format::kZipkin);
  r.dropped = t.spansDropped();
  r.unknown = t.spansUnknownService();
  r.spans = t.summary().spans;
  return r;
}
otlp::ExportTraceServiceRequest otlpRun(const std::vector<zt::Span>& spans, std::vector<AgentTag> agentTags = {},
                                        uint32_t* unknown = nullptr) {
  OtlpTranscoder t(std::move(agentTags));
  const Bytes d = oracleEmitZipkinBatch(Wire::kBinary, spans);
  EXPECT_EQ(t.transcode(Protocol::kBinary, d), RejectReason::kOk);
  EXPECT_EQ(t.output().size(), t.wireRecord().size());
  otlp::ExportTraceServiceRequest req;
  EXPECT_TRUE(req.ParseFromArray(t.wireRecord().data(), static_cast<int>(t.wireRecord().size())));
  if (unknown) *unknown = t.spansUnknownService();
  return req;
}

const av2::KeyValue* tag(const google::protobuf::RepeatedPtrField<av2::KeyValue>& tags, const std::string& key) {
  for (const av2::KeyValue& kv : tags)
    if (kv.key() == key) return &kv;
  return nullptr;
}
int64_t micros(const google::protobuf::Timestamp& t) { return t.seconds() * 1000000 + t.nanos() / 1000; }
int64_t micros(const google::protobuf::Duration& d) { return d.seconds() * 1000000 + d.nanos() / 1000; }

// ---- sanitizers -----------------------------------------------------------------------------

TEST(ZipkinRules, StartTimeSanitizer) {
  // No timestamp: the first cs wins even after an sr.
  zt::Span a = span(1, {ann(kT + 5, "sr", ep("s")), ann(kT + 1, "cs", ep("s")), ann(kT + 9, "cs")});
  a.__set_duration(7);
  // No cs, no parent: the last sr.
  zt::Span b = span(2, {ann(kT + 5, "sr", ep("s")), ann(kT + 6, "sr")});
  b.__set_duration(7);
  // With a parent an sr is not used, so the span keeps start 0 → ToDomain falls back to sr.
  zt::Span c = span(3, {ann(kT + 5, "sr", ep("s")), ann(kT + 6, "sr")});
  c.__set_duration(7);
  c.__set_parent_id(42);
  const ApiV2Run r = apiV2({a, b, c});
  ASSERT_EQ(r.batch.spans_size(), 4);  // a is split (cs and sr)
  EXPECT_EQ(micros(r.batch.spans(0).start_time()), kT + 1);
  EXPECT_EQ(micros(r.batch.spans(2).start_time()), kT + 6);
  EXPECT_EQ(micros(r.batch.spans(3).start_time()), kT + 5);  // the first sr, via ToDomain
}

TEST(ZipkinRules, DurationSanitizer) {
  zt::Span one = span(1, {ann(kT, "x", ep("s"))});  // unset, < 2 annotations → 1 µs
  zt::Span fromAnn = span(2, {ann(kT + 3, "x", ep("s")), ann(kT + 5, "cs"), ann(kT + 50, "y"), ann(kT + 80, "cr")});
  zt::Span lastFirst = span(3, {ann(kT + 3, "x", ep("s")), ann(kT + 50, "y")});  // last − first
  zt::Span backwards = span(4, {ann(kT + 50, "x", ep("s")), ann(kT + 3, "y")});   // not positive → 1
  zt::Span negative = timed(5, {ann(kT, "x", ep("s"))});
  negative.__set_duration(-5);
  const ApiV2Run r = apiV2({one, fromAnn, lastFirst, backwards, negative});
  ASSERT_EQ(r.batch.spans_size(), 5);
  EXPECT_EQ(micros(r.batch.spans(0).duration()), 1);
  EXPECT_EQ(micros(r.batch.spans(1).duration()), 75);
  EXPECT_EQ(micros(r.batch.spans(1).start_time()), kT + 5);  // the cs, set by the start sanitizer
  EXPECT_EQ(micros(r.batch.spans(2).duration()), 47);
  EXPECT_EQ(micros(r.batch.spans(2).start_time()), kT + 3);  // timestamp = first, set by the duration one
  EXPECT_EQ(micros(r.batch.spans(3).duration()), 1);
  EXPECT_EQ(micros(r.batch.spans(3).start_time()), 0);
  EXPECT_EQ(micros(r.batch.spans(4).duration()), 1);
  const av2::KeyValue* neg = tag(r.batch.spans(4).tags(), "errNegativeDuration");
  ASSERT_NE(neg, nullptr);
  EXPECT_EQ(neg->v_type(), av2::STRING);
  EXPECT_EQ(neg->v_str(), "-5");
}

TEST(ZipkinRules, ZeroParentIdAndParentRef) {
  zt::Span zero = timed(1, {ann(kT, "x", ep("s"))});
  zero.__set_parent_id(0);
  zt::Span parent = timed(2, {ann(kT, "x", ep("s"))});
  parent.__set_parent_id(-7);
  parent.__set_trace_id_high(5);
  const ApiV2Run r = apiV2({zero, parent});
  ASSERT_EQ(r.batch.spans_size(), 2);
  EXPECT_EQ(r.batch.spans(0).references_size(), 0);
  const av2::KeyValue* z = tag(r.batch.spans(0).tags(), "errZeroParentID");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->v_str(), "0");
  ASSERT_EQ(r.batch.spans(1).references_size(), 1);
  const av2::SpanRef& ref = r.batch.spans(1).references(0);
  EXPECT_EQ(ref.ref_type(), av2::CHILD_OF);
  EXPECT_EQ(ref.span_id(), expect::be64(-7));
  EXPECT_EQ(ref.trace_id(), expect::be64(5) + expect::be64(0x1122334455667788));
  EXPECT_EQ(r.batch.spans(1).trace_id(), ref.trace_id());
}

TEST(ZipkinRules, ErrorTagSanitizer) {
  const zt::Span s = timed(1, {ann(kT, "x", ep("s"))},
                           {bin("error", ""), bin("ERROR", "False"), bin("Error", "boom"), bin("eRRor", "tRUE"),
                            bin("error", raw({0}), zt::AnnotationType::BOOL), bin("error", "fal\xC5\xBF" "e"),
                            bin("errors", "x")});
  const ApiV2Run r = apiV2({s});
  ASSERT_EQ(r.batch.spans_size(), 1);
  const auto& tags = r.batch.spans(0).tags();
  ASSERT_EQ(tags.size(), 8);
  const bool want[] = {true, false, true, true, false, false};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(tags[i].v_type(), av2::BOOL) << i;
    EXPECT_EQ(tags[i].v_bool(), want[i]) << i;
  }
  EXPECT_EQ(tags[6].key(), "errors");
  EXPECT_EQ(tags[6].v_type(), av2::STRING);
  EXPECT_EQ(tags[7].key(), "error.message");  // appended after the others
  EXPECT_EQ(tags[7].v_type(), av2::STRING);
  EXPECT_EQ(tags[7].v_str(), "boom");
}

// ---- binary annotations ---------------------------------------------------------------------

TEST(ZipkinRules, BinaryAnnotationValueTypes) {
  using AT = zt::AnnotationType;
  double d = 1.5;
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  std::string dbl;
  for (int i = 7; i >= 0; --i) dbl.push_back(static_cast<char>(bits >> (8 * i)));
  const zt::Span s = timed(1, {ann(kT, "x", ep("s"))},
                           {bin("b1", raw({1}), AT::BOOL), bin("b2", raw({2}), AT::BOOL), bin("b3", raw({1, 0}), AT::BOOL),
                            bin("by", raw({0, 255}), AT::BYTES), bin("i16", raw({0xFF, 0xFE}), AT::I16),
                            bin("i32", raw({0x80, 0, 0, 0}), AT::I32), bin("i64", raw({0, 0, 0, 0, 0, 0, 1, 0}), AT::I64),
                            bin("d", dbl, AT::DOUBLE), bin("s", "str", AT::STRING),
                            bin("short", raw({0, 1}), AT::I32), bin("empty", "", AT::I64),
                            bin("long", raw({0, 0, 0, 7, 9, 9}), AT::I32), bin("odd", "x", static_cast<AT::type>(7))});
  const ApiV2Run r = apiV2({s});
  ASSERT_EQ(r.batch.spans_size(), 1);
  const auto& t = r.batch.spans(0).tags();
  ASSERT_EQ(t.size(), 13);
  EXPECT_EQ(t[0].v_type(), av2::BOOL);
  EXPECT_TRUE(t[0].v_bool());
  EXPECT_FALSE(t[1].v_bool());
  EXPECT_FALSE(t[2].v_bool());  // only exactly {1} is true
  EXPECT_EQ(t[3].v_type(), av2::BINARY);
  EXPECT_EQ(t[3].v_binary(), raw({0, 255}));
  EXPECT_EQ(t[4].v_type(), av2::INT64);
  EXPECT_EQ(t[4].v_int64(), -2);
  EXPECT_EQ(t[5].v_int64(), INT32_MIN);
  EXPECT_EQ(t[6].v_int64(), 256);
  EXPECT_EQ(t[7].v_type(), av2::FLOAT64);
  EXPECT_EQ(t[7].v_float64(), 1.5);
  EXPECT_EQ(t[8].v_type(), av2::STRING);
  EXPECT_EQ(t[8].v_str(), "str");
  EXPECT_EQ(t[9].v_type(), av2::STRING);
  EXPECT_EQ(t[9].v_str(), "Cannot parse Zipkin value AAE=: unexpected EOF");
  EXPECT_EQ(t[10].v_str(), "Cannot parse Zipkin value : EOF");
  EXPECT_EQ(t[11].v_int64(), 7);  // binary.Read reads the first 4 bytes only
  EXPECT_EQ(t[12].v_str(), "Cannot parse Zipkin value eA==: unknown zipkin annotation type: 7");
}

TEST(ZipkinRules, LocalComponentAndPeerAddresses) {
  zt::Endpoint peer = ep("db", static_cast<int32_t>(0xC0A80001), -1);
  peer.__set_ipv6(std::string(16, '\x20'));
  const zt::Span s = timed(1, {ann(kT, "x", ep("s"))},
                           {bin("lc", raw({1}), zt::AnnotationType::BOOL), bin("sa", raw({1}), zt::AnnotationType::BOOL, peer),
                            bin("ca", "ignored"), bin("ma", "", zt::AnnotationType::STRING, ep(""))});
  const ApiV2Run r = apiV2({s});
  const auto& t = r.batch.spans(0).tags();
  ASSERT_EQ(t.size(), 6);
  EXPECT_EQ(t[0].key(), "component");  // lc: the raw bytes as a string, whatever the type
  EXPECT_EQ(t[0].v_str(), raw({1}));
  EXPECT_EQ(t[1].key(), "peer.service");
  EXPECT_EQ(t[1].v_str(), "db");
  EXPECT_EQ(t[2].key(), "peer.ipv4");
  EXPECT_EQ(t[2].v_int64(), 0xC0A80001);  // uint32: positive
  EXPECT_EQ(t[3].key(), "peer.ipv6");
  EXPECT_EQ(t[3].v_type(), av2::BINARY);
  EXPECT_EQ(t[3].v_binary(), std::string(16, '\x20'));
  EXPECT_EQ(t[4].key(), "peer.port");
  EXPECT_EQ(t[4].v_int64(), 65535);  // uint16
  EXPECT_EQ(t[5].key(), "peer.service");  // ma with an empty endpoint; ca had no host: nothing
  EXPECT_EQ(t[5].v_str(), "");
}

// ---- kind, logs, split ----------------------------------------------------------------------

TEST(ZipkinRules, SpanKindAndLogs) {
  zt::Span s = timed(1, {ann(kT + 1, "ss", ep("s")), ann(kT + 2, R"({"b":"x","a":"y"})"), ann(kT + 3, ""),
                         ann(kT + 4, "cr"), ann(kT + 5, "plain"), ann(kT + 6, "null")});
  s.__set_debug(true);
  const ApiV2Run r = apiV2({s});
  ASSERT_EQ(r.batch.spans_size(), 1);
  const av2::Span& o = r.batch.spans(0);
  EXPECT_EQ(o.flags(), 2u);  // debug
  const av2::KeyValue* kind = tag(o.tags(), "span.kind");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->v_str(), "server");  // the first core annotation (ss)
  ASSERT_EQ(o.logs_size(), 3);
  EXPECT_EQ(micros(o.logs(0).timestamp()), kT + 2);
  ASSERT_EQ(o.logs(0).fields_size(), 2);  // JSON object: fields in sorted key order
  EXPECT_EQ(o.logs(0).fields(0).key(), "a");
  EXPECT_EQ(o.logs(0).fields(0).v_str(), "y");
  EXPECT_EQ(o.logs(0).fields(1).key(), "b");
  EXPECT_EQ(o.logs(1).fields(0).key(), "event");
  EXPECT_EQ(o.logs(1).fields(0).v_str(), "plain");
  EXPECT_EQ(o.logs(2).fields_size(), 0);  // JSON null: a log without fields
}

TEST(ZipkinRules, SplitClientServerSpan) {
  const zt::Span client = span(7, {ann(kT + 100, "cs", ep("front")), ann(kT + 110, "sr", ep("back")),
                                   ann(kT + 150, "ss"), ann(kT + 200, "cr"), ann(kT + 120, "evt")},
                               {bin("k", "v")});
  const zt::Span server = span(8, {ann(kT + 110, "sr", ep("back")), ann(kT + 100, "cs"), ann(kT + 200, "cr")});
  const ApiV2Run r = apiV2({client, server}, {{"zone", "z1"}});
  ASSERT_EQ(r.batch.spans_size(), 4);
  const av2::Span& a = r.batch.spans(0);
  const av2::Span& b = r.batch.spans(1);
  EXPECT_EQ(tag(a.tags(), "span.kind")->v_str(), "client");
  EXPECT_EQ(micros(a.start_time()), kT + 100);
  EXPECT_EQ(micros(a.duration()), 100);
  EXPECT_EQ(a.logs_size(), 1);
  EXPECT_EQ(b.span_id(), a.span_id());
  EXPECT_EQ(b.trace_id(), a.trace_id());
  EXPECT_EQ(b.operation_name(), "op");
  ASSERT_EQ(b.tags_size(), 1);
  EXPECT_EQ(b.tags(0).key(), "span.kind");
  EXPECT_EQ(b.tags(0).v_str(), "server");
  EXPECT_EQ(b.logs_size(), 0);
  EXPECT_EQ(micros(b.start_time()), kT + 110);
  EXPECT_EQ(micros(b.duration()), 40);  // ss − sr
  EXPECT_EQ(b.process().service_name(), "front");  // one process for both halves
  // Agent tags once on each span's process (§2.4a), not twice on a shared one.
  ASSERT_EQ(a.process().tags_size(), 1);
  ASSERT_EQ(b.process().tags_size(), 1);
  EXPECT_EQ(b.process().tags(0).key(), "zone");
  // The server-first span: its half is the client one, timed cs → cr.
  const av2::Span& c = r.batch.spans(2);
  const av2::Span& d = r.batch.spans(3);
  EXPECT_EQ(tag(c.tags(), "span.kind")->v_str(), "server");
  EXPECT_EQ(d.tags(0).v_str(), "client");
  EXPECT_EQ(micros(d.start_time()), kT + 100);
  EXPECT_EQ(micros(d.duration()), 100);
  EXPECT_EQ(r.spans, 2u);  // summary counts Zipkin spans
}

// ---- process --------------------------------------------------------------------------------

TEST(ZipkinRules, ServiceNamePrecedence) {
  const zt::Endpoint noName = ep("");
  const zt::Span core = timed(1, {ann(kT, "x", ep("any")), ann(kT, "cs", noName), ann(kT, "sr", ep("core"))},
                              {bin("lc", "c", zt::AnnotationType::STRING, ep("lc"))});
  const zt::Span lc = timed(2, {ann(kT, "x", ep("any")), ann(kT, "cs", noName)},
                            {bin("z", "1", zt::AnnotationType::STRING, ep("bin")), bin("lc", "c", zt::AnnotationType::STRING, ep("lc"))});
  const zt::Span anyAnn = timed(3, {ann(kT, "cs"), ann(kT, "x", ep("any"))}, {bin("z", "1", zt::AnnotationType::STRING, ep("bin"))});
  const zt::Span anyBin = timed(4, {ann(kT, "x", noName)}, {bin("z", "1", zt::AnnotationType::STRING, ep("bin"))});
  const zt::Span none = timed(5, {ann(kT, "x", noName)}, {bin("y", "1")});
  const ApiV2Run r = apiV2({core, lc, anyAnn, anyBin, none});
  ASSERT_EQ(r.batch.spans_size(), 6);  // `core` is split
  EXPECT_EQ(r.batch.spans(0).process().service_name(), "core");
  EXPECT_EQ(r.batch.spans(1).process().service_name(), "core");
  EXPECT_EQ(r.batch.spans(2).process().service_name(), "lc");
  EXPECT_EQ(r.batch.spans(3).process().service_name(), "any");
  EXPECT_EQ(r.batch.spans(4).process().service_name(), "bin");
  EXPECT_EQ(r.batch.spans(5).process().service_name(), "unknown-service-name");  // §2.4a
  EXPECT_EQ(r.unknown, 1u);
}

TEST(ZipkinRules, ProcessTagsSortedAndIpSignExtended) {
  const zt::Span s = timed(1, {ann(kT, "cs", ep("svc", static_cast<int32_t>(0xC0A80001)))},
                           {bin("jaegerClient", "Go-2.30"), bin("jaeger.hostname", "h1"),
                            bin("jaeger.version", raw({0, 0, 0, 3}), zt::AnnotationType::I32), bin("zz", "span tag")});
  const ApiV2Run r = apiV2({s}, {{"b-agent", "2"}, {"a-agent", "1"}});
  ASSERT_EQ(r.batch.spans_size(), 1);
  const av2::Process& p = r.batch.spans(0).process();
  EXPECT_EQ(p.service_name(), "svc");
  ASSERT_EQ(p.tags_size(), 6);
  EXPECT_EQ(p.tags(0).key(), "hostname");
  EXPECT_EQ(p.tags(0).v_str(), "h1");
  EXPECT_EQ(p.tags(1).key(), "ip");
  EXPECT_EQ(p.tags(1).v_type(), av2::INT64);
  EXPECT_EQ(p.tags(1).v_int64(), static_cast<int32_t>(0xC0A80001));  // negative: sign-extended
  EXPECT_EQ(p.tags(2).key(), "jaeger.version");  // same key: STRING sorts before INT64
  EXPECT_EQ(p.tags(2).v_str(), "Go-2.30");
  EXPECT_EQ(p.tags(3).key(), "jaeger.version");
  EXPECT_EQ(p.tags(3).v_int64(), 3);
  EXPECT_EQ(p.tags(4).key(), "b-agent");  // agent tags after the sorted ones, in flag order
  EXPECT_EQ(p.tags(5).key(), "a-agent");
  const auto& t = r.batch.spans(0).tags();
  ASSERT_EQ(t.size(), 2);  // the process-tag annotations left the span
  EXPECT_EQ(t[0].key(), "zz");
  EXPECT_EQ(t[1].key(), "span.kind");
}

// ---- api_v2 specifics -----------------------------------------------------------------------

TEST(ZipkinRules, UnmarshalableTimeDropsOnlyThatSpan) {
  zt::Span bad = timed(1, {ann(kT, "x", ep("s"))});
  bad.__set_timestamp(-1);
  const zt::Span good = timed(2, {ann(kT, "x", ep("s"))});
  const ApiV2Run r = apiV2({bad, good});
  ASSERT_EQ(r.batch.spans_size(), 1);
  EXPECT_EQ(r.batch.spans(0).span_id(), expect::be64(2));
  EXPECT_EQ(r.dropped, 1u);
  EXPECT_EQ(r.spans, 2u);
}

TEST(ZipkinRules, EmptyListIsAnEmptyBatch) {
  ApiV2Transcoder a;
  OtlpTranscoder o;
  const Bytes d = oracleEmitZipkinBatch(Wire::kCompact, {});
  ASSERT_EQ(a.transcode(Protocol::kCompact, d), RejectReason::kOk);
  EXPECT_EQ(a.output().size(), 0u);
  ASSERT_EQ(o.transcode(Protocol::kCompact, d), RejectReason::kOk);
  EXPECT_EQ(o.wireRecord().size(), 0u);
}

// ---- OTLP (§3.8) ----------------------------------------------------------------------------

TEST(ZipkinRules, OtlpGroupsByProcessAndScope) {
  const zt::Span a1 = timed(1, {ann(kT, "cs", ep("A"))},
                            {bin("otel.scope.name", "lib"), bin("otel.scope.version", "1.0"), bin("w3c.tracestate", "k=v"),
                             bin("http.status_code", raw({0, 0, 1, 0xF4}), zt::AnnotationType::I32)});
  const zt::Span b1 = timed(2, {ann(kT, "x", ep("B"))}, {bin("jaeger.hostname", "hostB")});
  const zt::Span a2 = timed(3, {ann(kT, "x", ep("A"))});
  const zt::Span a3 = timed(4, {ann(kT, "x", ep("A"))}, {bin("otel.scope.name", "lib"), bin("otel.scope.version", "1.0")});
  uint32_t unknown = 9;
  const otlp::ExportTraceServiceRequest req = otlpRun({a1, b1, a2, a3}, {{"zone", "z"}}, &unknown);
  EXPECT_EQ(unknown, 0u);
  ASSERT_EQ(req.resource_spans_size(), 2);
  const otlp::ResourceSpans& ra = req.resource_spans(0);
  ASSERT_EQ(ra.resource().attributes_size(), 2);
  EXPECT_EQ(ra.resource().attributes(0).key(), "service.name");
  EXPECT_EQ(ra.resource().attributes(0).value().string_value(), "A");
  EXPECT_EQ(ra.resource().attributes(1).key(), "zone");
  ASSERT_EQ(ra.scope_spans_size(), 2);
  EXPECT_EQ(ra.scope_spans(0).scope().name(), "lib");
  EXPECT_EQ(ra.scope_spans(0).scope().version(), "1.0");
  ASSERT_EQ(ra.scope_spans(0).spans_size(), 2);  // spans 1 and 4
  EXPECT_EQ(ra.scope_spans(0).spans(1).span_id(), expect::be64(4));
  const otlp::Span& s1 = ra.scope_spans(0).spans(0);
  EXPECT_EQ(s1.trace_state(), "k=v");
  EXPECT_EQ(s1.kind(), otlp::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(s1.status().code(), otlp::Status::STATUS_CODE_ERROR);  // http 500
  EXPECT_EQ(s1.flags(), 0u);
  EXPECT_EQ(s1.start_time_unix_nano(), static_cast<uint64_t>(kT) * 1000);
  EXPECT_EQ(s1.end_time_unix_nano(), static_cast<uint64_t>(kT + 10) * 1000);
  for (const otlp::KeyValue& kv : s1.attributes()) {
    EXPECT_NE(kv.key(), "otel.scope.name");
    EXPECT_NE(kv.key(), "w3c.tracestate");
    EXPECT_NE(kv.key(), "span.kind");
  }
  EXPECT_EQ(ra.scope_spans(1).scope().name(), "");
  ASSERT_EQ(ra.scope_spans(1).spans_size(), 1);
  EXPECT_EQ(ra.scope_spans(1).spans(0).span_id(), expect::be64(3));
  const otlp::ResourceSpans& rb = req.resource_spans(1);
  ASSERT_EQ(rb.resource().attributes_size(), 3);
  EXPECT_EQ(rb.resource().attributes(1).key(), "host.name");  // hostname → host.name (§3.2)
  EXPECT_EQ(rb.resource().attributes(1).value().string_value(), "hostB");
}

TEST(ZipkinRules, OtlpParentAndUnknownService) {
  zt::Span s = timed(1, {ann(kT, "x")});
  s.__set_parent_id(99);
  uint32_t unknown = 0;
  const otlp::ExportTraceServiceRequest req = otlpRun({s}, {}, &unknown);
  EXPECT_EQ(unknown, 1u);
  ASSERT_EQ(req.resource_spans_size(), 1);
  EXPECT_EQ(req.resource_spans(0).resource().attributes(0).value().string_value(), "unknown-service-name");
  const otlp::Span& o = req.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(o.parent_span_id(), expect::be64(99));
  EXPECT_EQ(o.links_size(), 0);  // the CHILD_OF ref equal to the parent is not a link
}

// ---- JSON -----------------------------------------------------------------------------------

TEST(ZipkinRules, JsonStringMapParser) {
  zipkin::Arena arena;
  arena.prepare(4096);
  std::vector<std::string_view> out;
  const auto parse = [&](std::string_view in) {
    out.clear();
    return zipkin::parseJsonStringMap(in, arena, out);
  };
  EXPECT_TRUE(parse(R"( {"a" : "b\"c\\d\/e\b\f\n\r\t"} )"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "b\"c\\d/e\b\f\n\r\t");
  EXPECT_TRUE(parse(R"({"s":"\ud83d\ude00\udc00\ud83dx"})"));
  EXPECT_EQ(out[1], "\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBDx");
  EXPECT_TRUE(parse("{\"u\":\"\xE2\x82\xAC\xC0\xAF\xED\xA0\x80\"}"));  // valid €, overlong, surrogate
  EXPECT_EQ(out[1], "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":true}", "{\"a\":{}}", "{\"a\":\"\\x\"}",
                          "{\"a\":\"\\u12\"}", "{,}", "nul", "null x", "{\"a\":\"b\"", "\"s\"", "{\"a\":\"b\",}"})
    EXPECT_FALSE(parse(bad)) << bad;
}

}  // namespace
}  // namespace jagent::decode
