// Differential and hostile-input tests of the Zipkin path of the protobuf encoders: seeded random
// Zipkin batches written by Apache Thrift's generated zipkincore code (compact and binary) are
// transcoded to api_v2 and OTLP, parsed by libprotobuf, and compared with what a second,
// straightforward implementation of modern-collectors.md §2.4/§2.4a/§3.8 (zipkin_expect.h)
// computes from the decoded Thrift objects. api_v2 must also be byte-identical to libprotobuf's
// serialization of the expected Batch (canonical output). Then every truncation of a rich
// datagram must be rejected, and random byte flips must never crash or grow the output unbounded.
#include <gtest/gtest.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"
#include "decode_test_util.h"
#include "zipkin_expect.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers
using google::protobuf::util::MessageDifferencer;
namespace av2 = ::jaeger::api_v2;
namespace otlp = ::jagent::test::otlp;

constexpr int kIterations = 2500;

class RandomZipkin : public RandomPicker {
 public:
  using RandomPicker::RandomPicker;

  int64_t time() {
    if (chance(92)) return 1700000000000000 + static_cast<int64_t>(rng_() % 1000000);
    static const int64_t kOdd[] = {0, -1, INT64_MIN, INT64_MAX, 253402300800000000};
    return pick(kOdd);
  }
  zt::Endpoint endpoint() {
    static const char* kServices[] = {"", "svc-a", "svc-b", "OTLPResourceNoServiceName"};
    static const int32_t kIps[] = {0, 0x7f000001, -1, static_cast<int32_t>(0x80000000), 0x0a000001};
    static const int16_t kPorts[] = {0, 80, -1, 9411};
    zt::Endpoint e;
    e.service_name = chance(3) ? kServices[3] : kServices[upTo(2)];
    e.ipv4 = pick(kIps);
    e.port = pick(kPorts);
    if (chance(20)) e.__set_ipv6(bytes(chance(50) ? 16 : upTo(3)));
    return e;
  }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }
  zt::Annotation annotation() {
    static const char* kValues[] = {"cs", "cr", "sr", "ss", "", "evt", "cs", "sr"};
    zt::Annotation a;
    a.timestamp = time();
    if (chance(25)) {
      const auto& cases = zexpect::jsonCases();
      a.value = cases[upTo(cases.size() - 1)].value;
    } else {
      a.value = pick(kValues);
    }
    if (chance(60)) a.__set_host(endpoint());
    return a;
  }
  zt::BinaryAnnotation binaryAnnotation() {
    static const char* kKeys[] = {"lc", "sa", "ca", "ma", "error", "Error", "jaegerClient", "jaeger.hostname",
                                  "jaeger.version", "otel.scope.name", "otel.scope.version", "w3c.tracestate",
                                  "span.kind", "http.status_code", "otel.status_code", "k", "hostname", "ip"};
    static const char* kStrings[] = {"", "true", "FALSE", "boom", "client", "server", "v", "404", "ERROR"};
    static const double kDoubles[] = {0.0, -0.0, 1.5, -2.25, 1e300};
    zt::BinaryAnnotation b;
    b.key = pick(kKeys);
    // 0..6 known, 7 unknown. Thrift's generated enum holds only 0..7 without undefined
    // behaviour (UBSan flags a copy of anything else); other unknown values on the wire are
    // covered by the byte-flip test below and the fuzzer.
    const int t = static_cast<int>(upTo(7));
    b.annotation_type = static_cast<zt::AnnotationType::type>(t);
    switch (t) {
      case zt::AnnotationType::BOOL: b.value = chance(50) ? std::string(1, '\1') : bytes(upTo(2)); break;
      case zt::AnnotationType::DOUBLE:
        if (chance(80)) {
          const double d = pick(kDoubles);
          uint64_t bits;
          std::memcpy(&bits, &d, 8);
          for (int i = 7; i >= 0; --i) b.value.push_back(static_cast<char>(bits >> (8 * i)));
        } else {
          b.value = bytes(upTo(7));
        }
        break;
      case zt::AnnotationType::I16: case zt::AnnotationType::I32: case zt::AnnotationType::I64:
        b.value = bytes(upTo(9));
        break;
      case zt::AnnotationType::STRING: b.value = pick(kStrings); break;
      default: b.value = bytes(upTo(5)); break;
    }
    // Values that end up as proto3 strings (lc → component, error → error.message) stay valid
    // UTF-8: libprotobuf refuses anything else, and passing invalid bytes through is a separate,
    // documented rule (§3.9) tested with the Jaeger path.
    if (b.key == "lc" || b.key == "error" || b.key == "Error") b.value = pick(kStrings);
    if (chance(40)) b.__set_host(endpoint());
    return b;
  }
  zt::Span span() {
    static const int64_t kIds[] = {0, 1, -1, 0x1234567890abcdef, INT64_MIN};
    zt::Span s;
    s.trace_id = chance(70) ? static_cast<int64_t>(rng_()) : pick(kIds);
    s.id = chance(70) ? static_cast<int64_t>(rng_()) : pick(kIds);
    s.name = chance(80) ? "op-" + std::to_string(upTo(3)) : "";
    if (chance(50)) s.__set_parent_id(chance(20) ? 0 : static_cast<int64_t>(rng_()));
    if (chance(30)) s.__set_trace_id_high(static_cast<int64_t>(rng_()));
    if (chance(20)) s.__set_debug(chance(50));
    if (chance(50)) s.__set_timestamp(time());
    if (chance(50)) s.__set_duration(chance(85) ? static_cast<int64_t>(upTo(100000)) : -static_cast<int64_t>(upTo(5)));
    for (size_t n = upTo(5); n > 0; --n) s.annotations.push_back(annotation());
    for (size_t n = upTo(6); n > 0; --n) s.binary_annotations.push_back(binaryAnnotation());
    return s;
  }
  std::vector<zt::Span> batch() {
    std::vector<zt::Span> v;
    for (size_t n = upTo(6); n > 0; --n) v.push_back(span());
    return v;
  }
};

TEST(ZipkinDifferential, RandomBatchesMatchTheRules) {
  RandomZipkin gen(0x5a1b2c3d);
  const std::vector<AgentTag> agentTags = {{"zone", "z1"}, {"env", "prod"}};
  ApiV2Transcoder api(agentTags);
  OtlpTranscoder ot(agentTags);
  uint64_t spansSeen = 0, splits = 0, unknowns = 0, drops = 0, multiResource = 0, scoped = 0, traceStates = 0,
           jsonLogs = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::vector<zt::Span> spans = gen.batch();
    const Wire w = i % 2 ? Wire::kBinary : Wire::kCompact;
    const Protocol p = w == Wire::kBinary ? Protocol::kBinary : Protocol::kCompact;
    const Bytes d = oracleEmitZipkinBatch(w, spans);
    const std::vector<zt::Span> decoded = oracleReadEmitZipkinBatch(w, d);  // the expectation's input
    uint32_t unknown = 0, dropped = 0;
    const std::vector<zexpect::Domain> domain = zexpect::toDomain(decoded, unknown);
    splits += domain.size() - decoded.size();
    unknowns += unknown;

    ASSERT_EQ(api.transcode(p, d), RejectReason::kOk) << "iteration " << i;
    const av2::Batch want = zexpect::apiV2(domain, agentTags, dropped);
    drops += dropped;
    av2::Batch got;
    ASSERT_TRUE(got.ParseFromArray(api.output().data(), static_cast<int>(api.output().size())));
    ASSERT_TRUE(MessageDifferencer::Equals(got, want))
        << "iteration " << i << "\ngot:\n" << got.DebugString() << "\nwant:\n" << want.DebugString();
    ASSERT_EQ(std::string(reinterpret_cast<const char*>(api.output().data()), api.output().size()),
              want.SerializeAsString())
        << "iteration " << i;
    EXPECT_EQ(api.spansDropped(), dropped) << "iteration " << i;
    EXPECT_EQ(api.spansUnknownService(), unknown) << "iteration " << i;
    EXPECT_EQ(api.summary().spans, decoded.size());
    spansSeen += decoded.size();

    ASSERT_EQ(ot.transcode(p, d), RejectReason::kOk) << "iteration " << i;
    const otlp::ExportTraceServiceRequest wantO = zexpect::toOtlp(domain, agentTags);
    otlp::ExportTraceServiceRequest gotO;
    ASSERT_TRUE(gotO.ParseFromArray(ot.wireRecord().data(), static_cast<int>(ot.wireRecord().size())));
    ASSERT_TRUE(MessageDifferencer::Equals(gotO, wantO))
        << "iteration " << i << "\ngot:\n" << gotO.DebugString() << "\nwant:\n" << wantO.DebugString();
    EXPECT_EQ(ot.spansUnknownService(), unknown);
    EXPECT_EQ(ot.spansDropped(), 0u);
    multiResource += gotO.resource_spans_size() >= 2;
    for (const otlp::ResourceSpans& rs : gotO.resource_spans())
      for (const otlp::ScopeSpans& ss : rs.scope_spans()) {
        scoped += !ss.scope().name().empty();
        for (const otlp::Span& sp : ss.spans()) traceStates += !sp.trace_state().empty();
      }
    for (const av2::Span& sp : got.spans())
      for (const av2::Log& l : sp.logs()) jsonLogs += l.fields_size() != 1 || l.fields(0).key() != "event";
  }
  // The generator must reach the interesting rules, or the test proves little.
  EXPECT_GT(spansSeen, 5000u);
  EXPECT_GT(splits, 200u);
  EXPECT_GT(unknowns, 200u);
  EXPECT_GT(drops, 50u);
  EXPECT_GT(multiResource, 300u);
  EXPECT_GT(scoped, 100u);
  EXPECT_GT(traceStates, 100u);
  EXPECT_GT(jsonLogs, 200u);
  std::printf("zipkin spans %llu, splits %llu, unknown service %llu, dropped %llu, multi-resource datagrams %llu, "
              "scoped ScopeSpans %llu, trace states %llu, JSON logs %llu\n",
              static_cast<unsigned long long>(spansSeen), static_cast<unsigned long long>(splits),
              static_cast<unsigned long long>(unknowns), static_cast<unsigned long long>(drops),
              static_cast<unsigned long long>(multiResource), static_cast<unsigned long long>(scoped),
              static_cast<unsigned long long>(traceStates), static_cast<unsigned long long>(jsonLogs));
}

std::vector<zt::Span> richBatch() {
  RandomZipkin gen(7);
  std::vector<zt::Span> v;
  for (int i = 0; i < 4; ++i) {
    zt::Span s = gen.span();
    s.annotations.push_back(gen.annotation());
    s.binary_annotations.push_back(gen.binaryAnnotation());
    v.push_back(s);
  }
  return v;
}

TEST(ZipkinDifferential, EveryTruncationIsRejected) {
  const std::vector<zt::Span> spans = richBatch();
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    const Protocol p = w == Wire::kBinary ? Protocol::kBinary : Protocol::kCompact;
    const Bytes d = oracleEmitZipkinBatch(w, spans);
    ApiV2Transcoder api;
    OtlpTranscoder ot;
    ASSERT_EQ(api.transcode(p, d), RejectReason::kOk);
    ASSERT_EQ(ot.transcode(p, d), RejectReason::kOk);
    for (size_t n = 0; n < d.size(); ++n) {
      const std::span<const uint8_t> cut(d.data(), n);
      EXPECT_NE(api.transcode(p, cut), RejectReason::kOk) << "length " << n;
      EXPECT_NE(ot.transcode(p, cut), RejectReason::kOk) << "length " << n;
    }
    Bytes trailing = d;
    trailing.push_back(0);
    EXPECT_EQ(api.transcode(p, trailing), RejectReason::kTrailingBytes);
    EXPECT_EQ(ot.transcode(p, trailing), RejectReason::kTrailingBytes);
  }
}

TEST(ZipkinDifferential, ByteFlipsNeverCrashAndOutputStaysBounded) {
  const Bytes base = oracleEmitZipkinBatch(Wire::kCompact, richBatch());
  std::mt19937_64 rng(11);
  ApiV2Transcoder api(std::vector<AgentTag>{{"k", "v"}});
  OtlpTranscoder ot(std::vector<AgentTag>{{"k", "v"}});
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes d = base;
    for (int k = static_cast<int>(rng() % 4); k >= 0; --k) d[rng() % d.size()] = static_cast<uint8_t>(rng());
    // Flipped bytes make invalid UTF-8 in strings, which libprotobuf's typed parser refuses
    // (§3.9): the wire format is checked schema-less (UnknownFieldSet), two levels down.
    if (api.transcode(Protocol::kCompact, d) == RejectReason::kOk) {
      ++accepted;
      EXPECT_LE(api.output().size(), ApiV2Transcoder::kMaxZipkinOutputBytes);
      google::protobuf::UnknownFieldSet b;
      ASSERT_TRUE(b.ParseFromArray(api.output().data(), static_cast<int>(api.output().size())));
      EXPECT_LE(static_cast<uint32_t>(b.field_count()), 2 * api.summary().spans);  // the split at most doubles
      for (int k = 0; k < b.field_count(); ++k) {
        google::protobuf::UnknownFieldSet spanFields;
        EXPECT_TRUE(spanFields.ParseFromString(b.field(k).length_delimited()));
      }
    }
    if (ot.transcode(Protocol::kCompact, d) == RejectReason::kOk) {
      google::protobuf::UnknownFieldSet r;
      ASSERT_TRUE(r.ParseFromArray(ot.wireRecord().data(), static_cast<int>(ot.wireRecord().size())));
      for (int k = 0; k < r.field_count(); ++k) {
        google::protobuf::UnknownFieldSet rs;
        EXPECT_TRUE(rs.ParseFromString(r.field(k).length_delimited()));
      }
    }
  }
  EXPECT_GT(accepted, 100);
}

TEST(ZipkinDifferential, HugeSpanCountIsBounded) {
  // 60000 empty compact span structs (one stop byte each): every span becomes an
  // unknown-service-name span; the output is capped, never unbounded.
  Bytes d = {0x82, 0x81, 0x00, 0x0f, 'e', 'm', 'i', 't', 'Z', 'i', 'p', 'k', 'i', 'n', 'B', 'a', 't', 'c', 'h',
             0x19, 0xFC, 0xE0, 0xD4, 0x03};
  d.insert(d.end(), 60000, 0x00);
  d.push_back(0x00);
  ApiV2Transcoder api;
  OtlpTranscoder ot;
  const RejectReason a = api.transcode(Protocol::kCompact, d);
  if (a == RejectReason::kOk) EXPECT_LE(api.output().size(), ApiV2Transcoder::kMaxZipkinOutputBytes + 4096);
  else EXPECT_EQ(a, RejectReason::kLengthTooLarge);
  const RejectReason o = ot.transcode(Protocol::kCompact, d);
  if (o == RejectReason::kOk) EXPECT_LE(ot.wireRecord().size(), OtlpTranscoder::kMaxZipkinOutputBytes + 4096);
  else EXPECT_EQ(o, RejectReason::kLengthTooLarge);
  EXPECT_EQ(a == RejectReason::kOk ? api.spansUnknownService() : 60000u, 60000u);
}

}  // namespace
}  // namespace jagent::decode
