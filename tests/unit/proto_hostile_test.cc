// The protobuf transcoders (to_api_v2, to_otlp) against hostile input, with the same rules as the
// TBinary transcoder: truncation at every byte is rejected (never a crash, never output),
// reasons match, depth and declared lengths are bounded, random mutation never crashes, and an
// amplifying datagram (thousands of empty tags) stays bounded in time and output.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "api_v2.pb.h"
#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"
#include "decode_test_util.h"
#include "otlp_trace.pb.h"
#include <google/protobuf/unknown_field_set.h>

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr Wire kWires[] = {Wire::kCompact, Wire::kBinary};
Protocol protocolOf(Wire w) { return w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary; }

// Both encoders on the same bytes; they share the reader, so they must agree on the verdict.
RejectReason runBoth(Wire w, const Bytes& d) {
  ApiV2Transcoder a(std::vector<AgentTag>{{"k", "v"}});
  OtlpTranscoder o(std::vector<AgentTag>{{"k", "v"}});
  const RejectReason ra = a.transcode(protocolOf(w), d);
  const RejectReason ro = o.transcode(protocolOf(w), d);
  EXPECT_EQ(ra, ro);
  if (ra != RejectReason::kOk) {
    EXPECT_TRUE(a.output().empty());
  }
  if (ro != RejectReason::kOk) {
    EXPECT_TRUE(o.output().empty());
  }
  return ra;
}

TEST(ProtoHostile, TruncatedAtEveryOffsetIsRejected) {
  TValue batch = tBatch(3);
  batch.add(50, tMap(tt::kString, tt::kList, {tString("k"), tList(tt::kI64, {tI64(-1), tI64(1 << 20)})}));
  for (Wire w : kWires) {
    for (const Bytes& d : {emitBatch(w, batch), oracleEmitBatch(w, realisticBatch(4))}) {
      ASSERT_EQ(runBoth(w, d), RejectReason::kOk);
      for (size_t len = 0; len < d.size(); ++len) {
        const Bytes cut(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(len));
        const RejectReason r = runBoth(w, cut);
        ASSERT_NE(r, RejectReason::kOk) << "cut at " << len;
      }
    }
  }
}

TEST(ProtoHostile, ReasonsMatchTheThriftRules) {
  for (Wire w : kWires) {
    const Bytes good = emitBatch(w, tBatch(1));
    Bytes trailing = good;
    trailing.push_back(0);
    EXPECT_EQ(runBoth(w, trailing), RejectReason::kTrailingBytes);
    EXPECT_EQ(runBoth(w == Wire::kCompact ? Wire::kBinary : Wire::kCompact, good), RejectReason::kWrongProtocol);
    // Batch without process: Thrift's required field; the collector needs it.
    TValue noProcess = tBatch(1);
    noProcess.fields.erase(noProcess.fields.begin());
    EXPECT_EQ(runBoth(w, emitBatch(w, noProcess)), RejectReason::kMissingField);
    // A known field with the wrong wire type.
    TValue wrong = tBatch(1);
    wrong.fields[1].second.elems[0].fields[0].second = tString("x");  // traceIdLow as a string
    EXPECT_EQ(runBoth(w, emitBatch(w, wrong)), RejectReason::kWrongFieldType);
    // A repeated Batch.process or Batch.spans: refused (Thrift keeps the last, protobuf merges).
    TValue twice = tBatch(1);
    twice.add(1, twice.fields[0].second);
    EXPECT_EQ(runBoth(w, emitBatch(w, twice)), RejectReason::kWrongFieldType);
    TValue twiceSpans = tBatch(1);
    twiceSpans.add(2, twiceSpans.fields[1].second);
    EXPECT_EQ(runBoth(w, emitBatch(w, twiceSpans)), RejectReason::kWrongFieldType);
    // An unknown field nested deeper than kMaxDepth.
    TValue deep = tStruct();
    for (int i = 0; i < kMaxDepth + 5; ++i) deep = tStruct({{1, deep}});
    TValue b = tBatch(1);
    b.add(40, deep);
    EXPECT_EQ(runBoth(w, emitBatch(w, b)), RejectReason::kDepthExceeded);
    // A list claiming more elements than bytes left.
    TValue huge = tBatch(1);
    huge.fields[1].second = tRaw(tt::kList, w == Wire::kCompact ? Bytes{0xFC, 0xFF, 0xFF, 0xFF, 0x07}
                                                                : Bytes{0x0C, 0x7F, 0xFF, 0xFF, 0xFF});
    EXPECT_EQ(runBoth(w, emitBatch(w, huge)), RejectReason::kLengthTooLarge);
  }
}

// Parses `b` as protobuf without a schema, descending `levels` deep into field 1/2 messages
// (request → batch/resource spans → spans ...).
bool wellFormed(std::span<const uint8_t> b, int levels) {
  google::protobuf::UnknownFieldSet set;
  if (!set.ParseFromArray(b.data(), static_cast<int>(b.size()))) return false;
  if (levels == 0) return true;
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    if (f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED || f.number() > 2) continue;
    const std::string& d = f.length_delimited();
    if (!wellFormed({reinterpret_cast<const uint8_t*>(d.data()), d.size()}, levels - 1)) return false;
  }
  return true;
}

TEST(ProtoHostile, RandomMutationNeverCrashes) {
  std::mt19937_64 rng(0x686f7374696c65ull);
  ApiV2Transcoder a(std::vector<AgentTag>{{"k", "v"}});
  OtlpTranscoder o(std::vector<AgentTag>{{"k", "v"}});
  int accepted = 0;
  for (Wire w : kWires) {
    const Bytes base = oracleEmitBatch(w, realisticBatch(6));
    for (int i = 0; i < 4000; ++i) {
      Bytes d = base;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) d[rng() % d.size()] = static_cast<uint8_t>(rng());
      const RejectReason ra = a.transcode(protocolOf(w), d);
      const RejectReason ro = o.transcode(protocolOf(w), d);
      ASSERT_EQ(ra, ro);
      if (ra == RejectReason::kOk) {
        ++accepted;
        // Whatever got through is well-formed protobuf down to the spans (schema-less parse:
        // mutated strings may be non-UTF-8, which only strict proto3 `string` checks refuse).
        ASSERT_TRUE(wellFormed(a.postSpansRequest(), 2)) << i;  // request → Batch → spans, process
        ASSERT_TRUE(wellFormed(o.resourceSpansRecord(), 3)) << i;  // → ResourceSpans → ScopeSpans → spans
        ASSERT_LE(a.output().size(), d.size() * 64 + 1024);
        ASSERT_LE(o.output().size(), d.size() * 64 + 1024);
      }
    }
  }
  EXPECT_GT(accepted, 100);  // the mutations must exercise the accept path too
}

TEST(ProtoHostile, ThousandsOfEmptyTagsStayBounded) {
  // ~60 KB of 1-byte empty Tag structs in one span (compact): the OTLP de-duplication must not
  // go quadratic, and the output stays within a small multiple of the input.
  Encoder e(Wire::kCompact);
  TValue span = tStruct({{3, tI64(1)}, {8, tI64(1700000000000000)}});
  std::vector<TValue> tags(60000, tStruct());
  span.add(10, tList(tt::kStruct, std::move(tags)));
  TValue b = tStruct({{1, tStruct({{1, tString("svc")}})}, {2, tList(tt::kStruct, {span})}});
  const Bytes d = emitBatch(Wire::kCompact, b);
  ApiV2Transcoder a;
  OtlpTranscoder o;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(a.transcode(Protocol::kCompact, d), RejectReason::kOk);
  ASSERT_EQ(o.transcode(Protocol::kCompact, d), RejectReason::kOk);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 500);
  EXPECT_LE(a.output().size(), d.size() * 4);  // `42 00` per tag
  // OTLP: 60000 empty keys collapse into one attribute (first position, last value).
  jagent::test::otlp::ResourceSpans rs;
  ASSERT_TRUE(rs.ParseFromArray(o.output().data(), static_cast<int>(o.output().size())));
  EXPECT_EQ(rs.scope_spans(0).spans(0).attributes_size(), 1);
}

}  // namespace
}  // namespace jagent::decode
