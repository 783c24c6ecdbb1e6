// Transcoder against hostile input (design.md decision 5): every reject reason from hand-built
// packets, truncation at every byte, depth bombs, and random mutation.
#include <gtest/gtest.h>
#include <thrift/protocol/TProtocol.h>

#include <random>
#include <string>

#include "decode/transcoder.h"
#include "decode_test_util.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr Wire kWires[] = {Wire::kCompact, Wire::kBinary};

Protocol protocolOf(Wire w) { return w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary; }
const char* nameOf(Wire w) { return w == Wire::kCompact ? "compact" : "binary"; }

Bytes varintBytes(uint64_t v) {
  Encoder e(Wire::kCompact);
  e.varint(v);
  return e.bytes();
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes repeat(uint8_t b, size_t n) { return Bytes(n, b); }

// emitBatch whose Batch carries `tail` (raw field bytes) just before its stop.
Bytes batchWithTail(Wire w, const TValue& batch, const Bytes& tail) {
  Encoder e(w);
  e.envelope("emitBatch", 4, 0);
  Bytes out = e.bytes();
  if (w == Wire::kCompact)
    out.push_back(0x1C);
  else
    out.insert(out.end(), {0x0C, 0x00, 0x01});
  Encoder b(w);
  b.value(batch);
  Bytes body = b.bytes();
  body.pop_back();  // the Batch stop
  out = cat(cat(out, body), tail);
  out.insert(out.end(), {0x00, 0x00});  // Batch stop, args stop
  return out;
}

RejectReason run(Wire w, const Bytes& d) {
  Transcoder t;
  const RejectReason r = t.transcode(protocolOf(w), d);
  if (r != RejectReason::kOk) {
    EXPECT_TRUE(t.output().empty());
  }
  return r;
}

// tBatch with one Span field replaced.
TValue batchWithSpanField(int16_t id, TValue v) {
  TValue b = tBatch(1);
  for (auto& [fid, fv] : b.fields[1].second.elems[0].fields)
    if (fid == id) fv = std::move(v);
  return b;
}

TEST(TranscoderHostile, TruncatedAtEveryOffset) {
  std::vector<zt::Span> zspans(2);
  zspans[0].annotations.resize(2);
  zspans[0].annotations[1].__set_host(zt::Endpoint{});
  zspans[0].binary_annotations.resize(1);
  zspans[1].__set_parent_id(-1);
  TValue batch = tBatch(3);
  batch.add(50, tMap(tt::kString, tt::kList, {tString("k"), tList(tt::kI64, {tI64(-1), tI64(1 << 20)})}));
  for (Wire w : kWires) {
    SCOPED_TRACE(nameOf(w));
    for (const Bytes& d : {emitBatch(w, batch), oracleEmitZipkinBatch(w, zspans)}) {
      ASSERT_EQ(run(w, d), RejectReason::kOk);
      for (size_t len = 0; len < d.size(); ++len) {
        const RejectReason r = run(w, Bytes(d.begin(), d.begin() + static_cast<ptrdiff_t>(len)));
        EXPECT_TRUE(r == RejectReason::kTruncated || r == RejectReason::kLengthTooLarge)
            << "len " << len << ": " << reasonName(r);
      }
    }
  }
}

TEST(TranscoderHostile, HugeAndNegativeLengths) {
  const auto serviceName = [](TValue v) { return tStruct({{1, tStruct({{1, std::move(v)}})}, {2, tList(tt::kStruct)}}); };
  const auto spans = [](TValue v) { return tStruct({{1, tStruct({{1, tString("s")}})}, {2, std::move(v)}}); };
  const Wire c = Wire::kCompact, b = Wire::kBinary;
  EXPECT_EQ(run(c, emitBatch(c, serviceName(tRaw(tt::kString, varintBytes(0x7FFFFFFF))))), RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(c, emitBatch(c, serviceName(tRaw(tt::kString, varintBytes(0xFFFFFFFF))))), RejectReason::kNegativeLength);
  EXPECT_EQ(run(c, emitBatch(c, spans(tRaw(tt::kList, cat({0xFC}, varintBytes(1000000000)))))),
            RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(c, emitBatch(c, spans(tRaw(tt::kList, cat({0xFC}, varintBytes(0x80000000)))))),
            RejectReason::kNegativeLength);
  EXPECT_EQ(run(b, emitBatch(b, serviceName(tRaw(tt::kString, {0x7F, 0xFF, 0xFF, 0xFF})))), RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(b, emitBatch(b, serviceName(tRaw(tt::kString, {0xFF, 0xFF, 0xFF, 0xFF})))), RejectReason::kNegativeLength);
  EXPECT_EQ(run(b, emitBatch(b, serviceName(tRaw(tt::kString, {0x80, 0, 0, 0})))), RejectReason::kNegativeLength);
  EXPECT_EQ(run(b, emitBatch(b, spans(tRaw(tt::kList, {0x0C, 0x7F, 0xFF, 0xFF, 0xFF})))), RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(b, emitBatch(b, spans(tRaw(tt::kList, {0x0C, 0xFF, 0xFF, 0xFF, 0xFE})))), RejectReason::kNegativeLength);

  // Unknown containers: the count is checked against the bytes left before skipping.
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), cat({0x0B, 0xC8, 0x01}, cat(varintBytes(1000000000), {0x88})))),
            RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x09, 0xC8, 0x01, 0xF7, 0x10})),  // list<double>[16] in 0 bytes
            RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), {0x0D, 0, 99, 0x0B, 0x0B, 0x7F, 0xFF, 0xFF, 0xFF})),
            RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), {0x0D, 0, 99, 0x0B, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF})),
            RejectReason::kNegativeLength);
  // list<i64> whose count is one more than the bytes left can hold (fixed-size skip path).
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), cat({0x0F, 0, 99, 0x0A, 0, 0, 0, 2}, repeat(0, 8)))),
            RejectReason::kLengthTooLarge);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), cat({0x0F, 0, 99, 0x0A, 0, 0, 0, 1}, repeat(0, 8)))), RejectReason::kOk);
}

TValue nestedStructs(int levels) {
  TValue v = tStruct({{1, tI32(7)}});
  for (int i = 1; i < levels; ++i) v = tStruct({{1, std::move(v)}});
  return v;
}
TValue nestedLists(int levels) {
  TValue v = tList(tt::kI32, {tI32(7)});
  for (int i = 1; i < levels; ++i) v = tList(tt::kList, {std::move(v)});
  return v;
}
TValue nestedMaps(int levels) {
  TValue v = tMap(tt::kI32, tt::kI32, {tI32(1), tI32(2)});
  for (int i = 1; i < levels; ++i) v = tMap(tt::kI32, tt::kMap, {tI32(1), std::move(v)});
  return v;
}

TEST(TranscoderHostile, DepthLimit) {
  // The args struct is depth 1 and the Batch depth 2, so an unknown Batch field starts at 3 and
  // kMaxDepth - 2 nested levels are the most that fit.
  const int fits = kMaxDepth - 2;
  for (Wire w : kWires) {
    SCOPED_TRACE(nameOf(w));
    for (auto nested : {nestedStructs, nestedLists, nestedMaps}) {
      TValue ok = tBatch(1), deep = tBatch(1);
      ok.add(99, nested(fits));
      deep.add(99, nested(fits + 1));
      EXPECT_EQ(run(w, emitBatch(w, ok)), RejectReason::kOk);
      EXPECT_EQ(run(w, emitBatch(w, deep)), RejectReason::kDepthExceeded);
    }
    // Inside a Tag (depth 8) the budget is smaller but still enforced.
    TValue tagDeep = tBatch(1);
    tagDeep.fields[1].second.elems[0].fields[9].second.elems[0].add(99, nestedStructs(kMaxDepth));
    EXPECT_EQ(run(w, emitBatch(w, tagDeep)), RejectReason::kDepthExceeded);
  }
  // A 60 KB depth bomb is refused at the limit, without deep recursion.
  EXPECT_EQ(run(Wire::kCompact, batchWithTail(Wire::kCompact, tBatch(0), cat({0x0C, 0xC8, 0x01}, repeat(0x1C, 60000)))),
            RejectReason::kDepthExceeded);
  Bytes bomb = {0x0C, 0x00, 0x63};  // unknown Batch field 99, then field 1 structs all the way down
  for (int i = 0; i < 20000; ++i) bomb.insert(bomb.end(), {0x0C, 0x00, 0x01});
  EXPECT_EQ(run(Wire::kBinary, batchWithTail(Wire::kBinary, tBatch(0), bomb)), RejectReason::kDepthExceeded);
}

TEST(TranscoderHostile, OverlongVarints) {
  const Wire c = Wire::kCompact;
  const Bytes i64Max = cat(repeat(0xFF, 9), {0x01});  // 10 bytes: the longest legal i64
  EXPECT_EQ(run(c, emitBatch(c, batchWithSpanField(1, tRaw(tt::kI64, i64Max)))), RejectReason::kOk);
  EXPECT_EQ(run(c, emitBatch(c, batchWithSpanField(1, tRaw(tt::kI64, cat(repeat(0x80, 10), {0x01}))))),
            RejectReason::kBadVarint);
  EXPECT_EQ(run(c, emitBatch(c, batchWithSpanField(7, tRaw(tt::kI32, cat(repeat(0x80, 4), {0x01}))))), RejectReason::kOk);
  EXPECT_EQ(run(c, emitBatch(c, batchWithSpanField(7, tRaw(tt::kI32, cat(repeat(0x80, 5), {0x01}))))),
            RejectReason::kBadVarint);
  EXPECT_EQ(run(c, emitBatch(c, batchWithSpanField(5, tRaw(tt::kString, cat(repeat(0x80, 5), {0x00}))))),
            RejectReason::kBadVarint);
  // Long-form field id, unknown i64 and unknown i16 values.
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), cat({0x05}, cat(repeat(0x80, 5), {0x01})))), RejectReason::kBadVarint);
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), cat({0x06, 0xC8, 0x01}, cat(repeat(0x80, 10), {0x01})))),
            RejectReason::kBadVarint);
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), cat({0x04, 0xC8, 0x01}, cat(repeat(0x80, 5), {0x01})))),
            RejectReason::kBadVarint);
  // Envelope seqid, and a varint cut by the end of the datagram.
  Bytes seq = {0x82, 0x81};
  seq = cat(cat(seq, repeat(0x80, 5)), {0x01, 0x09});
  EXPECT_EQ(run(c, seq), RejectReason::kBadVarint);
  EXPECT_EQ(run(c, Bytes{0x82, 0x81, 0x80, 0x80}), RejectReason::kTruncated);
}

TEST(TranscoderHostile, BadTypeIds) {
  const Wire c = Wire::kCompact, b = Wire::kBinary;
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x0E, 0xC8, 0x01})), RejectReason::kBadType);
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x1F})), RejectReason::kBadType);
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x09, 0xC8, 0x01, 0x1E, 0x00})), RejectReason::kBadType);  // list<14>
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x09, 0xC8, 0x01, 0x10, 0x00})), RejectReason::kBadType);  // list<0>
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), {0x0B, 0xC8, 0x01, 0x01, 0x8F, 0x01, 0x01})), RejectReason::kBadType);
  for (uint8_t t : {1, 5, 7, 9, 17, 0xFF})
    EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), {t, 0x00, 0x63, 0, 0, 0, 0, 0, 0, 0, 0})), RejectReason::kBadType)
        << int(t);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), {0x0F, 0, 99, 0x05, 0, 0, 0, 1, 0})), RejectReason::kBadType);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), {0x0D, 0, 99, 0x0B, 0x09, 0, 0, 0, 1, 0, 0})), RejectReason::kBadType);
  // Valid but unusual: compact UUID (13) and binary UUID (16) values in unknown fields are skipped.
  EXPECT_EQ(run(c, batchWithTail(c, tBatch(1), cat({0x0D, 0xC8, 0x01}, repeat(0xAB, 16)))), RejectReason::kOk);
  EXPECT_EQ(run(b, batchWithTail(b, tBatch(1), cat({0x10, 0, 99}, repeat(0xAB, 16)))), RejectReason::kOk);
}

TEST(TranscoderHostile, WrongFieldTypes) {
  std::vector<TValue> bad;
  bad.push_back(batchWithSpanField(1, tString("x")));                       // traceIdLow
  bad.push_back(batchWithSpanField(5, tI32(1)));                            // operationName
  bad.push_back(batchWithSpanField(7, tI64(1)));                            // flags
  bad.push_back(batchWithSpanField(10, tSet(tt::kStruct, {tTag("a", "b")})));  // tags as set
  bad.push_back(batchWithSpanField(10, tList(tt::kI64, {tI64(1)})));           // list<i64>
  bad.push_back(batchWithSpanField(6, tStruct()));                             // references
  bad.push_back(batchWithSpanField(11, tMap(tt::kI32, tt::kI32)));             // logs
  TValue t = tBatch(1);
  t.fields[0].second = tList(tt::kStruct);  // Batch.process
  bad.push_back(t);
  t = tBatch(1);
  t.fields[1].second = tStruct();  // Batch.spans
  bad.push_back(t);
  t = tBatch(1);
  t.fields[2].second = tI32(1);  // Batch.seqNo
  bad.push_back(t);
  t = tBatch(1);
  t.add(4, tI64(0));  // Batch.stats
  bad.push_back(t);
  t = tBatch(1);
  t.add(4, tStruct({{2, tString("x")}}));  // ClientStats.tooLargeDroppedSpans
  bad.push_back(t);
  t = tBatch(1);
  t.fields[0].second.fields[0].second = tI64(1);  // Process.serviceName
  bad.push_back(t);
  t = tBatch(1);
  t.fields[0].second.fields[1].second = tMap(tt::kString, tt::kString);  // Process.tags
  bad.push_back(t);
  t = tBatch(1);
  t.fields[0].second.fields[1].second.elems[0].fields[4].second = tByte(1);  // Tag.vBool
  bad.push_back(t);
  t = tBatch(1);
  t.fields[0].second.fields[1].second.elems[0].fields[3].second = tI64(1);  // Tag.vDouble
  bad.push_back(t);
  t = tBatch(1);
  t.fields[0].second.fields[1].second.elems[0].fields[1].second = tI16(1);  // Tag.vType
  bad.push_back(t);
  for (Wire w : kWires) {
    for (size_t i = 0; i < bad.size(); ++i)
      EXPECT_EQ(run(w, emitBatch(w, bad[i])), RejectReason::kWrongFieldType) << nameOf(w) << " case " << i;
    EXPECT_EQ(run(w, message(w, "emitBatch", tStruct({{1, tList(tt::kStruct)}}))), RejectReason::kWrongFieldType);
    EXPECT_EQ(run(w, message(w, "emitZipkinBatch", tStruct({{1, tStruct()}}))), RejectReason::kWrongFieldType);
    // Annotation.host.port (an Endpoint i16) sent as i32.
    const TValue badPort = tStruct({{6, tList(tt::kStruct, {tStruct({{3, tStruct({{2, tI32(80)}})}})})}});
    EXPECT_EQ(run(w, message(w, "emitZipkinBatch", tStruct({{1, tList(tt::kStruct, {badPort})}}))),
              RejectReason::kWrongFieldType);
    // Field 2 of a zipkin Span is unused (retired), so it is unknown and anything goes there.
    const TValue unusedId = tStruct({{1, tI64(1)}, {2, tStruct({{2, tI32(80)}})}});
    EXPECT_EQ(run(w, message(w, "emitZipkinBatch", tStruct({{1, tList(tt::kStruct, {unusedId})}}))),
              RejectReason::kOk);
  }
}

// Bytes after a reject-free mutation must still be one well-formed binary value per output item.
void expectWellFormed(const Transcoder& t) {
  auto buf = observe(t.output());
  TBinaryProtocol proto(buf);
  const uint32_t items = t.summary().format == Format::kJaeger ? 1 : t.summary().spans;
  for (uint32_t i = 0; i < items; ++i) ::apache::thrift::protocol::skip(proto, ::apache::thrift::protocol::T_STRUCT);
  EXPECT_EQ(buf->available_read(), 0u);
}

TEST(TranscoderHostile, WorstCaseExpansionFitsTheBudget) {
  // Compact → binary grows most for 1-byte varints, bools and empty lists: build a datagram of
  // nothing else and check it transcodes (debug builds assert every write against the budget).
  std::vector<TValue> spans;
  for (int i = 0; i < 700; ++i) {
    spans.push_back(tStruct({{1, tI64(0)}, {2, tI64(0)}, {3, tI64(0)}, {4, tI64(0)}, {6, tList(tt::kStruct)},
                             {7, tI32(0)}, {8, tI64(0)}, {9, tI64(0)}, {10, tList(tt::kStruct)},
                             {11, tList(tt::kStruct, {tStruct({{1, tI64(0)}, {2, tList(tt::kStruct, {tStruct({{5, tBool(true)}})})}})})}}));
  }
  const TValue batch = tStruct({{1, tStruct({{1, tString("")}})}, {2, tList(tt::kStruct, spans)}});
  const Bytes d = emitBatch(Wire::kCompact, batch);
  ASSERT_LT(d.size(), 65000u);
  Transcoder t(std::vector<AgentTag>{{"k", std::string(1000, 'v')}});
  ASSERT_EQ(t.transcode(Protocol::kCompact, d), RejectReason::kOk);
  EXPECT_GT(t.output().size(), d.size() * 4);
  EXPECT_LE(t.output().size(), d.size() * 6 + 1100);
  expectWellFormed(t);  // (not a valid jaeger Batch for the oracle: required fields are missing)
}

// Amplification (issue #11): a Batch that repeats Process must not get the agent tags once per
// copy. A repeated field replaces the earlier one (last wins, as the collector's Thrift reader
// does), so the output holds one Process with the tags once, and stays within the input budget.
TEST(TranscoderHostile, RepeatedProcessDoesNotAmplify) {
  const std::string bigValue(1000, 'v');
  for (Wire w : kWires) {
    SCOPED_TRACE(nameOf(w));
    Transcoder t(std::vector<AgentTag>{{"k", bigValue}});
    TValue manyProcesses = tStruct({{2, tList(tt::kStruct)}});
    for (int i = 0; i < 2000; ++i) manyProcesses.add(1, tStruct({{1, tString(std::to_string(i))}}));
    const Bytes d = emitBatch(w, manyProcesses);
    ASSERT_EQ(t.transcode(protocolOf(w), d), RejectReason::kOk);
    // One Process (service + one 1000-byte tag) and the empty span list: about 1.1 KB, whatever
    // the number of repeats (it was 2000 x 1 KB before).
    EXPECT_LT(t.output().size(), 1200u);
    const jt::Batch b = oracleReadBatch(t.output());
    EXPECT_EQ(b.process.serviceName, "1999");
    ASSERT_EQ(b.process.tags.size(), 1u);
    EXPECT_EQ(b.process.tags[0].vStr, bigValue);
    EXPECT_EQ(t.summary().serviceName(), "1999");
    // The buffer reserved is the input budget plus a fixed room for the tags, never per repeat.
    EXPECT_LE(t.bufferBytes(), 2 * (d.size() * 8 + 64 + 3 * (bigValue.size() + 64)));
  }
}

TEST(TranscoderHostile, RepeatedFieldsLastWins) {
  for (Wire w : kWires) {
    SCOPED_TRACE(nameOf(w));
    Transcoder t(std::vector<AgentTag>{{"agent", "x"}});
    TValue p1 = tStruct({{1, tString("a")}, {2, tList(tt::kStruct, {tTag("client-uuid", "u1")})}});
    // Process.tags repeated: the last list wins (and the client-uuid of the first is forgotten).
    TValue p2 = tStruct({{1, tString("b")}, {2, tList(tt::kStruct, {tTag("client-uuid", "u2")})}});
    p2.add(2, tList(tt::kStruct, {tTag("h", "1"), tTag("h", "2")}));
    TValue batch = tStruct({{1, p1}, {2, tList(tt::kStruct, {tSpan(1), tSpan(2)})}, {3, tI64(1)}});
    batch.add(1, p2);
    batch.add(2, tList(tt::kStruct, {tSpan(3)}));
    batch.add(3, tI64(2));
    ASSERT_EQ(t.transcode(protocolOf(w), emitBatch(w, batch)), RejectReason::kOk);
    const jt::Batch b = oracleReadBatch(t.output());
    EXPECT_EQ(b.process.serviceName, "b");
    ASSERT_EQ(b.process.tags.size(), 3u);
    EXPECT_EQ(b.process.tags[0].vStr, "1");
    EXPECT_EQ(b.process.tags[1].vStr, "2");
    EXPECT_EQ(b.process.tags[2].key, "agent");
    ASSERT_EQ(b.spans.size(), 1u);
    EXPECT_EQ(b.spans[0].spanId, 3);
    EXPECT_EQ(b.seqNo, 2);
    EXPECT_EQ(t.summary().spans, 1u);
    EXPECT_EQ(t.summary().seqNo, 2);
    EXPECT_EQ(t.summary().serviceName(), "b");
    EXPECT_EQ(t.summary().clientUuid(), "");
    expectWellFormed(t);
  }
}

// The output buffer is given back after an outsized datagram once smaller ones follow.
TEST(TranscoderHostile, OutputBufferShrinksAfterOutsizedBatch) {
  Transcoder t;
  const Bytes big = emitBatch(Wire::kCompact, tBatch(250));
  ASSERT_GT(big.size() * 8, kRetainedOutputBytes);
  ASSERT_EQ(t.transcode(Protocol::kCompact, big), RejectReason::kOk);
  EXPECT_GT(t.bufferBytes(), kRetainedOutputBytes);
  const Bytes small = emitBatch(Wire::kCompact, tBatch(1));
  for (uint32_t i = 0; i + 1 < kShrinkAfter; ++i) ASSERT_EQ(t.transcode(Protocol::kCompact, small), RejectReason::kOk);
  EXPECT_GT(t.bufferBytes(), kRetainedOutputBytes);  // a client alternating sizes keeps it
  ASSERT_EQ(t.transcode(Protocol::kCompact, small), RejectReason::kOk);
  EXPECT_LE(t.bufferBytes(), kRetainedOutputBytes);
  EXPECT_EQ(oracleReadBatch(t.output()).spans.size(), 1u);
}

TEST(TranscoderHostile, MissingRequiredFields) {
  for (Wire w : kWires) {
    TValue noProcess = tBatch(1), noSpans = tBatch(1), noService = tBatch(1), emptySpans = tBatch(0);
    noProcess.fields.erase(noProcess.fields.begin());
    noSpans.fields.erase(noSpans.fields.begin() + 1);
    noService.fields[0].second.fields.erase(noService.fields[0].second.fields.begin());
    EXPECT_EQ(run(w, emitBatch(w, noProcess)), RejectReason::kMissingField);
    EXPECT_EQ(run(w, emitBatch(w, noSpans)), RejectReason::kMissingField);
    EXPECT_EQ(run(w, emitBatch(w, noService)), RejectReason::kMissingField);
    EXPECT_EQ(run(w, emitBatch(w, emptySpans)), RejectReason::kOk);
  }
}

TEST(TranscoderHostile, RandomMutationsNeverCrash) {
  std::mt19937_64 rng(20240601);
  std::vector<zt::Span> zspans(3);
  zspans[1].annotations.resize(2);
  zspans[1].annotations[0].__set_host(zt::Endpoint{});
  zspans[2].binary_annotations.resize(2);
  TValue batch = tBatch(2);
  batch.add(77, tMap(tt::kI32, tt::kSet, {tI32(1), tSet(tt::kDouble, {tDouble(1.5)})}));
  int accepted = 0;
  for (Wire w : kWires) {
    const Bytes seeds[] = {emitBatch(w, batch), oracleEmitZipkinBatch(w, zspans)};
    Transcoder t(std::vector<AgentTag>{{"agent", "tag"}});
    for (int i = 0; i < 20000; ++i) {
      Bytes d = seeds[i % 2];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng() % d.size();
        switch (rng() % 4) {
          case 0: d[at] = static_cast<uint8_t>(rng()); break;
          case 1: d[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
          case 2: d[at] = (rng() % 2) ? 0xFF : 0x00; break;
          default: d.resize(at + 1); break;
        }
      }
      if (t.transcode(protocolOf(w), d) == RejectReason::kOk) {
        ++accepted;
        expectWellFormed(t);
      }
    }
  }
  EXPECT_GT(accepted, 100);  // the mutator also exercises the accept path
}

}  // namespace
}  // namespace jagent::decode
