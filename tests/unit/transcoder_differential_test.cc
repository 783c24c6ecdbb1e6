// Differential test against the Apache Thrift oracle: seeded random jaeger batches and zipkin
// span lists, encoded by the generated code in compact and binary with CALL and ONEWAY
// envelopes, transcoded, and decoded back from binary. Every one must equal the original.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include "decode/transcoder.h"
#include "decode_test_util.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers
using ::apache::thrift::protocol::T_CALL;
using ::apache::thrift::protocol::T_ONEWAY;

constexpr int kIterations = 10000;

class RandomThrift : public RandomPicker {
 public:
  using RandomPicker::RandomPicker;

  // Lists are usually short; sometimes past 14 elements (compact long-form list header).
  size_t listSize(size_t small) { return chance(3) ? 15 + upTo(10) : upTo(small); }

  int64_t i64() {
    switch (rng_() % 8) {
      case 0: return std::numeric_limits<int64_t>::min();
      case 1: return std::numeric_limits<int64_t>::max();
      case 2: return 0;
      case 3: return -1;
      case 4: return static_cast<int64_t>(rng_() % 256) - 128;
      case 5: return 1700000000000000 + static_cast<int64_t>(rng_() % 1000000);
      default: return static_cast<int64_t>(rng_());
    }
  }
  int32_t i32() {
    switch (rng_() % 6) {
      case 0: return std::numeric_limits<int32_t>::min();
      case 1: return std::numeric_limits<int32_t>::max();
      case 2: return 0;
      case 3: return static_cast<int32_t>(rng_() % 4);
      default: return static_cast<int32_t>(rng_());
    }
  }
  int16_t i16() {
    switch (rng_() % 4) {
      case 0: return std::numeric_limits<int16_t>::min();
      case 1: return std::numeric_limits<int16_t>::max();
      default: return static_cast<int16_t>(rng_());
    }
  }
  double dbl() {  // no NaN: the generated operator== compares doubles with ==
    switch (rng_() % 8) {
      case 0: return 0.0;
      case 1: return -0.0;
      case 2: return std::numeric_limits<double>::infinity();
      case 3: return -std::numeric_limits<double>::max();
      case 4: return std::numeric_limits<double>::denorm_min();
      case 5: return static_cast<double>(i64()) / 3.0;
      default: return static_cast<double>(rng_() % 100000) / 100.0;
    }
  }
  std::string str() {
    static constexpr std::string_view kPieces[] = {"a", "Z", "0", " ", "-", "_", "é", "ß", "日本", "🙂",
                                                   "\x01", "http.method", "GET", std::string_view("\0", 1)};
    std::string s;
    const size_t n = chance(5) ? 100 + upTo(200) : upTo(12);
    for (size_t i = 0; i < n; ++i) s += kPieces[upTo(std::size(kPieces) - 1)];
    return s;
  }
  std::string bin() {
    std::string s(upTo(chance(10) ? 200 : 16), '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }

  // ---- jaeger ----

  jt::Tag tag() {
    jt::Tag t;
    t.key = str();
    t.vType = static_cast<jt::TagType::type>(rng_() % 5);
    if (chance(50)) t.__set_vStr(str());
    if (chance(40)) t.__set_vDouble(dbl());
    if (chance(40)) t.__set_vBool(chance(50));
    if (chance(40)) t.__set_vLong(i64());
    if (chance(30)) t.__set_vBinary(bin());
    return t;
  }
  std::vector<jt::Tag> tags(size_t small) {
    std::vector<jt::Tag> v(listSize(small));
    for (auto& t : v) t = tag();
    return v;
  }
  jt::Span span() {
    jt::Span s;
    s.traceIdLow = i64();
    s.traceIdHigh = i64();
    s.spanId = i64();
    s.parentSpanId = i64();
    s.operationName = str();
    if (chance(60)) {
      std::vector<jt::SpanRef> refs(listSize(2));
      for (auto& r : refs) {
        r.refType = static_cast<jt::SpanRefType::type>(rng_() % 2);
        r.traceIdLow = i64();
        r.traceIdHigh = i64();
        r.spanId = i64();
      }
      s.__set_references(refs);
    }
    s.flags = i32();
    s.startTime = i64();
    s.duration = i64();
    if (chance(80)) s.__set_tags(tags(6));
    if (chance(40)) {
      std::vector<jt::Log> logs(listSize(2));
      for (auto& l : logs) {
        l.timestamp = i64();
        l.fields = tags(3);
      }
      s.__set_logs(logs);
    }
    return s;
  }
  jt::Batch batch() {
    jt::Batch b;
    b.process.serviceName = str();
    if (chance(70)) {
      auto t = tags(4);
      if (chance(50)) {
        jt::Tag uuid;
        uuid.key = "client-uuid";
        uuid.vType = jt::TagType::STRING;
        uuid.__set_vStr(str());
        t.insert(t.begin() + static_cast<ptrdiff_t>(upTo(t.size())), uuid);
      }
      b.process.__set_tags(t);
    }
    b.spans.resize(listSize(4));
    for (auto& s : b.spans) s = span();
    if (chance(50)) b.__set_seqNo(i64());
    if (chance(50)) {
      jt::ClientStats st;
      st.fullQueueDroppedSpans = i64();
      st.tooLargeDroppedSpans = i64();
      st.failedToEmitSpans = i64();
      b.__set_stats(st);
    }
    return b;
  }

  // ---- zipkin ----

  zt::Endpoint endpoint() {
    zt::Endpoint e;
    e.ipv4 = i32();
    e.port = i16();
    e.service_name = chance(20) ? "" : str();
    if (chance(30)) e.__set_ipv6(bin());
    return e;
  }
  zt::Span zipkinSpan() {
    zt::Span s;
    s.trace_id = i64();
    s.name = str();
    s.id = i64();
    if (chance(50)) s.__set_parent_id(i64());
    s.annotations.resize(listSize(3));
    for (auto& a : s.annotations) {
      a.timestamp = i64();
      a.value = str();
      if (chance(50)) a.__set_host(endpoint());
    }
    s.binary_annotations.resize(listSize(3));
    for (auto& a : s.binary_annotations) {
      a.key = str();
      a.value = bin();
      a.annotation_type = static_cast<zt::AnnotationType::type>(rng_() % 7);
      if (chance(50)) a.__set_host(endpoint());
    }
    if (chance(30)) s.__set_debug(chance(50));
    if (chance(30)) s.__isset.debug = false;  // optional with a default: absent on the wire
    if (chance(50)) s.__set_timestamp(i64());
    if (chance(50)) s.__set_duration(i64());
    if (chance(50)) s.__set_trace_id_high(i64());
    return s;
  }
};

std::string_view truncated(std::string_view s, size_t n) { return s.substr(0, std::min(s.size(), n)); }

std::string expectedUuid(const jt::Batch& b) {
  std::string uuid;
  for (const auto& t : b.process.tags)
    if (t.key == "client-uuid" && t.vType == jt::TagType::STRING && t.__isset.vStr) uuid = t.vStr;
  return std::string(truncated(uuid, 64));
}

std::string expectedZipkinService(const std::vector<zt::Span>& spans) {
  for (const auto& s : spans) {
    for (const auto& a : s.annotations)
      if (a.__isset.host && !a.host.service_name.empty()) return std::string(truncated(a.host.service_name, 128));
    for (const auto& a : s.binary_annotations)
      if (a.__isset.host && !a.host.service_name.empty()) return std::string(truncated(a.host.service_name, 128));
  }
  return "";
}

TEST(TranscoderDifferential, RandomJaegerBatches) {
  RandomThrift gen(0x6a61656765720001ull);
  Transcoder t;  // one transcoder for all: reuse across sizes is part of the test
  size_t checked = 0;
  for (int i = 0; i < kIterations; ++i) {
    const jt::Batch batch = gen.batch();
    const Wire wire = (i % 2) ? Wire::kCompact : Wire::kBinary;
    const auto type = (i % 4) < 2 ? T_CALL : T_ONEWAY;
    Bytes firstOutput;
    for (Wire w : {wire, wire == Wire::kCompact ? Wire::kBinary : Wire::kCompact}) {
      const Bytes d = oracleEmitBatch(w, batch, type);
      const RejectReason r = t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d);
      ASSERT_EQ(r, RejectReason::kOk) << "iteration " << i << ": " << reasonName(r);
      const jt::Batch original = oracleReadEmitBatch(w, d);
      ASSERT_EQ(original, batch) << "iteration " << i;
      ASSERT_EQ(oracleReadBatch(t.output()), original) << "iteration " << i;
      const BatchSummary& s = t.summary();
      ASSERT_EQ(s.format, Format::kJaeger);
      ASSERT_EQ(s.spans, batch.spans.size());
      ASSERT_EQ(s.serviceName(), truncated(batch.process.serviceName, 128));
      ASSERT_EQ(s.clientUuid(), expectedUuid(batch)) << "iteration " << i;
      ASSERT_EQ(s.hasSeqNo, batch.__isset.seqNo);
      if (s.hasSeqNo) {
        ASSERT_EQ(s.seqNo, batch.seqNo);
      }
      ASSERT_EQ(s.hasStats, batch.__isset.stats);
      if (s.hasStats) {
        ASSERT_EQ(s.stats.fullQueueDroppedSpans, batch.stats.fullQueueDroppedSpans);
        ASSERT_EQ(s.stats.tooLargeDroppedSpans, batch.stats.tooLargeDroppedSpans);
        ASSERT_EQ(s.stats.failedToEmitSpans, batch.stats.failedToEmitSpans);
      }
      // Both protocols carry the same fields in the same order, so the output is byte-identical.
      const Bytes out(t.output().begin(), t.output().end());
      if (firstOutput.empty()) {
        firstOutput = out;
      } else {
        ASSERT_EQ(out, firstOutput) << "iteration " << i;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2u * kIterations);
}

TEST(TranscoderDifferential, RandomZipkinBatches) {
  RandomThrift gen(0x7a69706b696e0001ull);
  Transcoder t(std::vector<AgentTag>{{"ignored", "by zipkin"}});
  for (int i = 0; i < kIterations; ++i) {
    std::vector<zt::Span> spans(gen.listSize(3));
    for (auto& s : spans) s = gen.zipkinSpan();
    const auto type = (i % 4) < 2 ? T_CALL : T_ONEWAY;
    for (Wire w : {Wire::kCompact, Wire::kBinary}) {
      const Bytes d = oracleEmitZipkinBatch(w, spans, type);
      const RejectReason r = t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d);
      ASSERT_EQ(r, RejectReason::kOk) << "iteration " << i << ": " << reasonName(r);
      const auto original = oracleReadEmitZipkinBatch(w, d);
      ASSERT_EQ(t.summary().format, Format::kZipkin);
      ASSERT_EQ(t.summary().spans, spans.size());
      ASSERT_EQ(oracleReadSpans(t.output(), spans.size()), original) << "iteration " << i;
      ASSERT_EQ(t.summary().serviceName(), expectedZipkinService(original)) << "iteration " << i;
    }
  }
}

}  // namespace
}  // namespace jagent::decode
