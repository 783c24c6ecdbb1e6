// Transcoder field handling: unknown fields of every type, compact long-form headers, any field
// order, empty lists of any element type, bool and double encodings.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "decode/transcoder.h"
#include "decode_test_util.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr Wire kWires[] = {Wire::kCompact, Wire::kBinary};
constexpr FieldForm kForms[] = {FieldForm::kShort, FieldForm::kLong, FieldForm::kMixed};

Protocol protocolOf(Wire w) { return w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary; }
Bytes toBytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

Bytes transcodeOk(Wire w, const Bytes& d, std::vector<AgentTag> tags = {}) {
  Transcoder t(std::move(tags));
  const RejectReason r = t.transcode(protocolOf(w), d);
  EXPECT_EQ(r, RejectReason::kOk) << reasonName(r);
  return toBytes(t.output());
}

// Unknown values of every type Apache Thrift 0.17 can skip (it predates UUID).
std::vector<TValue> unknownValues() {
  return {
      tBool(true),
      tBool(false),
      tByte(-1),
      tI16(INT16_MIN),
      tI32(INT32_MAX),
      tI64(INT64_MIN),
      tDouble(-2.5),
      tString("unknown \xE2\x9C\x93"),
      tString(std::string(200, 'x')),
      tStruct({{1, tI64(5)}, {2, tList(tt::kStruct, {tStruct({{1, tString("deep")}})})}, {-3, tBool(true)}}),
      tStruct(),
      tMap(tt::kString, tt::kI64, {tString("a"), tI64(1), tString("b"), tI64(-1)}),
      tMap(tt::kI32, tt::kList, {tI32(1), tList(tt::kString, {tString("x")})}),
      tMap(tt::kBool, tt::kDouble, {tBool(true), tDouble(1), tBool(false), tDouble(2)}),
      tMap(tt::kI64, tt::kStruct),
      tSet(tt::kI64, {tI64(1), tI64(INT64_MAX)}),
      tSet(tt::kString),
      tList(tt::kBool, {tBool(true), tBool(false), tBool(true)}),
      tList(tt::kDouble, {tDouble(1), tDouble(-1)}),
      tList(tt::kByte, {tByte(1), tByte(2)}),
      tList(tt::kI16, {tI16(-1)}),
      tList(tt::kList, {tList(tt::kI32, {tI32(1), tI32(2)}), tList(tt::kI32)}),
      tList(tt::kSet, {tSet(tt::kI16, {tI16(3)})}),
      tList(tt::kMap, {tMap(tt::kString, tt::kString, {tString("k"), tString("v")})}),
      tList(tt::kI64, std::vector<TValue>(20, tI64(-20))),  // long-form list header
      tList(tt::kStruct),
  };
}

// Adds unknown fields (ids unused by the schema, incl. negative and 0) at the front, in the
// middle and at the end of a struct.
void sprinkle(TValue& s, int& next) {
  const auto values = unknownValues();
  const int16_t ids[] = {0, -1, 100, 32767, -32768, 13, 99};
  const auto pick = [&]() {
    const int k = next++;
    return std::make_pair(ids[k % 7], values[static_cast<size_t>(k) % values.size()]);
  };
  s.fields.insert(s.fields.begin(), pick());
  s.fields.insert(s.fields.begin() + static_cast<ptrdiff_t>(s.fields.size() / 2), pick());
  s.fields.push_back(pick());
}

// Every struct of the batch, recursively (structs inside lists included).
void forEachStruct(TValue& v, const std::function<void(TValue&)>& fn) {
  if (v.type == tt::kStruct) {
    for (auto& [id, f] : v.fields) forEachStruct(f, fn);
    fn(v);
  } else if (v.type == tt::kList) {
    for (auto& e : v.elems) forEachStruct(e, fn);
  }
}

TValue batchWithStats() {
  TValue b = tBatch(3);
  b.add(4, tStruct({{1, tI64(1)}, {2, tI64(2)}, {3, tI64(3)}}));
  return b;
}

TEST(TranscoderFields, UnknownFieldsOfEveryTypeAreDropped) {
  const TValue clean = batchWithStats();
  TValue dirty = clean;
  int next = 0;
  forEachStruct(dirty, [&](TValue& s) { sprinkle(s, next); });
  for (Wire w : kWires) {
    const Bytes expected = transcodeOk(w, emitBatch(w, clean));
    for (FieldForm form : kForms) {
      SCOPED_TRACE(::testing::Message() << (w == Wire::kCompact ? "compact " : "binary ") << static_cast<int>(form));
      const Bytes d = message(w, "emitBatch", tStruct({{-7, tString("args junk")}, {1, dirty}, {9, tStruct()}}), 1,
                              3, form);
      const Bytes out = transcodeOk(w, d);
      EXPECT_EQ(out, expected);
      EXPECT_EQ(oracleReadBatch(out), oracleReadEmitBatch(w, d));
    }
  }
}

TEST(TranscoderFields, UnknownUuidFieldsAreDropped) {
  const TValue clean = tBatch(1);
  TValue dirty = clean;
  forEachStruct(dirty, [](TValue& s) { s.add(50, tUuid()); });
  for (Wire w : kWires) EXPECT_EQ(transcodeOk(w, emitBatch(w, dirty)), transcodeOk(w, emitBatch(w, clean)));
}

TEST(TranscoderFields, ZipkinUnknownFieldsAreDropped) {
  const TValue endpoint = tStruct({{1, tI32(0x7F000001)}, {2, tI16(-1)}, {3, tString("svc")}, {4, tString(std::string(16, 1))}});
  const TValue span = tStruct({{1, tI64(-1)},
                               {3, tString("op")},
                               {4, tI64(2)},
                               {5, tI64(INT64_MIN)},
                               {6, tList(tt::kStruct, {tStruct({{1, tI64(1)}, {2, tString("cs")}, {3, endpoint}})})},
                               {8, tList(tt::kStruct, {tStruct({{1, tString("lc")}, {2, tString("\x01")}, {3, tI32(0)}, {4, endpoint}})})},
                               {9, tBool(true)},
                               {10, tI64(1)},
                               {11, tI64(2)},
                               {12, tI64(INT64_MAX)}});
  const TValue clean = tStruct({{1, tList(tt::kStruct, {span, span})}});
  TValue dirty = clean;
  int next = 3;
  forEachStruct(dirty.fields[0].second, [&](TValue& s) { sprinkle(s, next); });
  dirty.add(2, tList(tt::kI64, {tI64(1)}));
  for (Wire w : kWires) {
    const Bytes expected = transcodeOk(w, message(w, "emitZipkinBatch", clean));
    for (FieldForm form : kForms) {
      const Bytes d = message(w, "emitZipkinBatch", dirty, 4, 0, form);
      const Bytes out = transcodeOk(w, d);
      EXPECT_EQ(out, expected);
      EXPECT_EQ(oracleReadSpans(out, 2), oracleReadEmitZipkinBatch(w, d));
    }
  }
}

TEST(TranscoderFields, CompactLongFormHeadersAndAnyOrder) {
  const TValue batch = batchWithStats();
  TValue reversed = batch;
  forEachStruct(reversed, [](TValue& s) { std::reverse(s.fields.begin(), s.fields.end()); });
  for (Wire w : kWires) {
    const Bytes reference = transcodeOk(w, emitBatch(w, batch));
    EXPECT_EQ(transcodeOk(w, emitBatch(w, batch, FieldForm::kLong)), reference);
    EXPECT_EQ(transcodeOk(w, emitBatch(w, batch, FieldForm::kMixed)), reference);
    for (FieldForm form : kForms) {
      const Bytes d = emitBatch(w, reversed, form);
      EXPECT_EQ(oracleReadBatch(transcodeOk(w, d)), oracleReadEmitBatch(w, d));
      EXPECT_EQ(oracleReadBatch(transcodeOk(w, d)), oracleReadBatch(reference));
    }
  }
}

TEST(TranscoderFields, EmptyListsOfAnyElementType) {
  TValue batch = tBatch(1);
  TValue& span = batch.fields[1].second.elems[0];
  span.fields[5].second = tList(tt::kI64);  // references
  span.fields[9].second = tList(tt::kBool);  // tags
  span.fields[10].second = tList(tt::kStruct, {tStruct({{1, tI64(1)}, {2, tList(tt::kDouble)}})});  // logs
  for (Wire w : kWires) {
    const Bytes d = emitBatch(w, batch);
    const Bytes out = transcodeOk(w, d);
    const jt::Batch decoded = oracleReadBatch(out);
    EXPECT_EQ(decoded, oracleReadEmitBatch(w, d));
    ASSERT_EQ(decoded.spans.size(), 1u);
    EXPECT_TRUE(decoded.spans[0].__isset.references);
    EXPECT_TRUE(decoded.spans[0].references.empty());
    EXPECT_TRUE(decoded.spans[0].tags.empty());
    ASSERT_EQ(decoded.spans[0].logs.size(), 1u);
    EXPECT_TRUE(decoded.spans[0].logs[0].fields.empty());
  }
  // Element type ids that do not exist are fine on an empty list, too.
  TValue raw = tBatch(1);
  raw.fields[1].second.elems[0].fields[5].second = tRaw(tt::kList, {0x00});  // compact: size 0, type 0
  raw.fields[1].second.elems[0].fields[9].second = tRaw(tt::kList, {0x0F});  // compact: size 0, type 15
  EXPECT_EQ(oracleReadBatch(transcodeOk(Wire::kCompact, emitBatch(Wire::kCompact, raw))).spans[0].tags.size(), 0u);
  raw.fields[1].second.elems[0].fields[5].second = tRaw(tt::kList, {0x00, 0, 0, 0, 0});
  raw.fields[1].second.elems[0].fields[9].second = tRaw(tt::kList, {0x63, 0, 0, 0, 0});
  EXPECT_EQ(oracleReadBatch(transcodeOk(Wire::kBinary, emitBatch(Wire::kBinary, raw))).spans[0].tags.size(), 0u);
}

TValue batchWithTagValue(int16_t field, TValue v) {
  TValue b = tBatch(1);
  TValue tag = tStruct({{1, tString("k")}, {2, tI32(1)}});
  tag.add(field, std::move(v));
  b.fields[1].second.elems[0].fields[9].second = tList(tt::kStruct, {tag});
  return b;
}

TEST(TranscoderFields, BoolEncodings) {
  for (Wire w : kWires) {
    for (bool v : {true, false}) {
      const Bytes d = emitBatch(w, batchWithTagValue(5, tBool(v)));
      const jt::Batch out = oracleReadBatch(transcodeOk(w, d));
      EXPECT_EQ(out.spans[0].tags[0].vBool, v);
      EXPECT_EQ(out, oracleReadEmitBatch(w, d));
    }
  }
  // Binary bools other than 0/1 are read as true and normalised to 1.
  const Bytes out = transcodeOk(Wire::kBinary, emitBatch(Wire::kBinary, batchWithTagValue(5, tRaw(tt::kBool, {0x02}))));
  EXPECT_TRUE(oracleReadBatch(out).spans[0].tags[0].vBool);
  EXPECT_EQ(toBytes(out), transcodeOk(Wire::kBinary, emitBatch(Wire::kBinary, batchWithTagValue(5, tBool(true)))));
  // Compact list<bool> elements may be 0, 1 or 2 (skipped here: no known field is a bool list).
  const Bytes listBools = emitBatch(Wire::kCompact, batchWithTagValue(99, tRaw(tt::kList, {0x31, 0x00, 0x01, 0x02})));
  EXPECT_EQ(transcodeOk(Wire::kCompact, listBools), transcodeOk(Wire::kCompact, emitBatch(Wire::kCompact, batchWithTagValue(99, tList(tt::kBool)))));
}

TEST(TranscoderFields, DoublesKeepTheirBits) {
  const double values[] = {0.0, -0.0, 1.0, -1.5, std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                           std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()};
  for (Wire w : kWires) {
    for (double v : values) {
      const jt::Batch out = oracleReadBatch(transcodeOk(w, emitBatch(w, batchWithTagValue(4, tDouble(v)))));
      const double got = out.spans[0].tags[0].vDouble;
      EXPECT_EQ(std::memcmp(&got, &v, sizeof v), 0) << v;
    }
  }
}

TEST(TranscoderFields, LargeListsAndStrings) {
  TValue batch = tBatch(20);
  std::vector<TValue> tags;
  for (int i = 0; i < 300; ++i) tags.push_back(tTag(fmt::format("k{}", i), std::string(static_cast<size_t>(i), 'v')));
  batch.fields[0].second.fields[1].second = tList(tt::kStruct, tags);
  for (Wire w : kWires) {
    const Bytes d = emitBatch(w, batch);
    Transcoder t(std::vector<AgentTag>{{"extra", "tag"}});
    ASSERT_EQ(t.transcode(protocolOf(w), d), RejectReason::kOk);
    jt::Batch expected = oracleReadEmitBatch(w, d);
    jt::Tag extra;
    extra.key = "extra";
    extra.vType = jt::TagType::STRING;
    extra.__set_vStr("tag");
    expected.process.tags.push_back(extra);
    EXPECT_EQ(oracleReadBatch(t.output()), expected);
    EXPECT_EQ(t.summary().spans, 20u);
  }
}

}  // namespace
}  // namespace jagent::decode
