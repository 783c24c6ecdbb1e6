// Transcoder: golden datagrams from real clients, summary, agent tags, envelopes.
#include "test_support.h"
#include "decode/transcoder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "decode_test_util.h"

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers
using ::apache::thrift::protocol::T_CALL;
using ::apache::thrift::protocol::T_ONEWAY;

Bytes readTestFile(const std::string& name) { return jagent::testing::readTestData(name); }

// Binary datagram of a strict emitBatch envelope: the output is the Batch struct as sent, i.e.
// the input minus the envelope, the args field header and the args stop.
Bytes batchBytesOf(const Bytes& strictBinaryEmitBatch) {
  const size_t envelope = 4 + 4 + 9 + 4;
  return {strictBinaryEmitBatch.begin() + envelope + 3, strictBinaryEmitBatch.end() - 1};
}

Bytes toBytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

TEST(TranscoderGolden, JaegerClientNodeDatagram) {
  const Bytes d = readTestFile("udp_jaeger_client.bin");
  ASSERT_EQ(d.size(), 884u);
  Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, d), RejectReason::kOk);
  const jt::Batch expected = oracleReadEmitBatch(Wire::kBinary, d);
  EXPECT_EQ(oracleReadBatch(t.output()), expected);
  EXPECT_EQ(toBytes(t.output()), batchBytesOf(d));  // nothing unknown: a pure copy

  const BatchSummary& s = t.summary();
  EXPECT_EQ(s.format, Format::kJaeger);
  EXPECT_EQ(s.serviceName(), expected.process.serviceName);
  EXPECT_EQ(s.serviceName(), "demo");
  EXPECT_EQ(s.spans, expected.spans.size());
  EXPECT_GE(s.spans, 1u);
  EXPECT_EQ(s.clientUuid(), "79f3ceb4-011d-43ad-962b-44d354250b8a");
  EXPECT_FALSE(s.hasSeqNo);  // jaeger-client-node bundles the pre-2020 IDL
  EXPECT_FALSE(s.hasStats);

  // The same batch as jaeger-client-go would send it (compact, CALL) transcodes to the same bytes.
  const Bytes compact = oracleEmitBatch(Wire::kCompact, expected, T_CALL);
  Transcoder t2;
  ASSERT_EQ(t2.transcode(Protocol::kCompact, compact), RejectReason::kOk);
  EXPECT_EQ(toBytes(t2.output()), toBytes(t.output()));
  EXPECT_EQ(t2.summary().clientUuid(), s.clientUuid());
}

TEST(TranscoderGolden, OtelExporterDatagram) {
  const Bytes d = readTestFile("udp_otel.bin");
  ASSERT_EQ(d.size(), 495u);
  Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, d), RejectReason::kOk);
  const jt::Batch expected = oracleReadEmitBatch(Wire::kBinary, d);
  EXPECT_EQ(oracleReadBatch(t.output()), expected);
  EXPECT_EQ(toBytes(t.output()), batchBytesOf(d));
  EXPECT_EQ(t.summary().serviceName(), "otel-demo");
  EXPECT_EQ(t.summary().spans, expected.spans.size());
  EXPECT_EQ(t.summary().clientUuid(), "");  // the exporter sends no client-uuid

  const Bytes compact = oracleEmitBatch(Wire::kCompact, expected);
  ASSERT_EQ(t.transcode(Protocol::kCompact, compact), RejectReason::kOk);
  EXPECT_EQ(oracleReadBatch(t.output()), expected);
}

TEST(TranscoderGolden, WrongPortIsWrongProtocol) {
  const Bytes d = readTestFile("udp_jaeger_client.bin");
  Transcoder t;
  EXPECT_EQ(t.transcode(Protocol::kCompact, d), RejectReason::kWrongProtocol);
  EXPECT_TRUE(t.output().empty());
  const Bytes compact = oracleEmitBatch(Wire::kCompact, oracleReadEmitBatch(Wire::kBinary, d));
  EXPECT_EQ(t.transcode(Protocol::kBinary, compact), RejectReason::kWrongProtocol);
}

TEST(TranscoderSummary, SeqNoStatsAndUuid) {
  jt::Batch b;
  b.process.serviceName = std::string(300, 's');  // longer than the summary buffer
  jt::Tag uuid;
  uuid.key = "client-uuid";
  uuid.vType = jt::TagType::STRING;
  uuid.__set_vStr("0123456789abcdef");
  jt::Tag notString = uuid;  // same key, but not a string tag: ignored
  notString.vType = jt::TagType::LONG;
  notString.__set_vStr("ignored");
  b.process.__set_tags({notString, uuid});
  b.spans.resize(3);
  b.__set_seqNo(-5);
  jt::ClientStats st;
  st.fullQueueDroppedSpans = 1;
  st.tooLargeDroppedSpans = INT64_MAX;
  st.failedToEmitSpans = INT64_MIN;
  b.__set_stats(st);
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    Transcoder t;
    ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, oracleEmitBatch(w, b)),
              RejectReason::kOk);
    const BatchSummary& s = t.summary();
    EXPECT_EQ(s.serviceName(), std::string(128, 's'));
    EXPECT_EQ(s.clientUuid(), "0123456789abcdef");
    EXPECT_EQ(s.spans, 3u);
    EXPECT_TRUE(s.hasSeqNo);
    EXPECT_EQ(s.seqNo, -5);
    EXPECT_TRUE(s.hasStats);
    EXPECT_EQ(s.stats.fullQueueDroppedSpans, 1);
    EXPECT_EQ(s.stats.tooLargeDroppedSpans, INT64_MAX);
    EXPECT_EQ(s.stats.failedToEmitSpans, INT64_MIN);
    EXPECT_EQ(oracleReadBatch(t.output()), b);
  }
}

TEST(TranscoderSummary, ZipkinFirstServiceName) {
  std::vector<zt::Span> spans(2);
  spans[0].annotations.resize(1);  // host not set
  spans[0].binary_annotations.resize(1);
  spans[0].binary_annotations[0].__set_host(zt::Endpoint{});  // empty service name: skipped
  spans[1].annotations.resize(2);
  spans[1].annotations[0].__set_host(zt::Endpoint{});
  spans[1].annotations[0].host.service_name = "frontend";
  spans[1].annotations[1].__set_host(zt::Endpoint{});
  spans[1].annotations[1].host.service_name = "backend";
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    Transcoder t(std::vector<AgentTag>{{"ignored", "for zipkin"}});
    ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary,
                          oracleEmitZipkinBatch(w, spans, T_CALL)),
              RejectReason::kOk);
    EXPECT_EQ(t.summary().format, Format::kZipkin);
    EXPECT_EQ(t.summary().spans, 2u);
    EXPECT_EQ(t.summary().serviceName(), "frontend");
    EXPECT_EQ(oracleReadSpans(t.output(), 2), spans);
  }
}

// ---- --agent.tags ----

jt::Tag stringTag(const std::string& k, const std::string& v) {
  jt::Tag t;
  t.key = k;
  t.vType = jt::TagType::STRING;
  t.__set_vStr(v);
  return t;
}

TEST(TranscoderAgentTags, AppendedToProcessTags) {
  const std::vector<AgentTag> agentTags = {{"zone", "eu-1"}, {"node", "n\xC3\xBC"}, {"", ""}};
  jt::Batch b;
  b.process.serviceName = "svc";
  jt::Tag l;
  l.key = "pid";
  l.vType = jt::TagType::LONG;
  l.__set_vLong(-1);
  b.process.__set_tags({stringTag("hostname", "h"), l});
  b.spans.resize(1);

  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    Transcoder t(agentTags);
    const Protocol p = w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary;
    // With a tags field, without one, and with an empty one.
    for (int variant = 0; variant < 3; ++variant) {
      jt::Batch in = b;
      if (variant == 1) {
        in.process.tags.clear();
        in.process.__isset.tags = false;
      } else if (variant == 2) {
        in.process.tags.clear();
      }
      SCOPED_TRACE(variant);
      ASSERT_EQ(t.transcode(p, oracleEmitBatch(w, in)), RejectReason::kOk);
      jt::Batch expected = in;
      expected.process.__isset.tags = true;
      for (const auto& tag : agentTags) expected.process.tags.push_back(stringTag(tag.key, tag.value));
      EXPECT_EQ(oracleReadBatch(t.output()), expected);
    }
  }
}

TEST(TranscoderAgentTags, EmptyTagsListOfAnyElementType) {
  TValue batch = tStruct({{1, tStruct({{2, tList(tt::kI64)}, {1, tString("svc")}})}, {2, tList(tt::kString)}});
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    Transcoder t(std::vector<AgentTag>{{"a", "b"}});
    ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, emitBatch(w, batch)),
              RejectReason::kOk);
    const jt::Batch out = oracleReadBatch(t.output());
    ASSERT_EQ(out.process.tags.size(), 1u);
    EXPECT_EQ(out.process.tags[0], stringTag("a", "b"));
    EXPECT_TRUE(out.spans.empty());
  }
}

// ---- envelopes ----

TEST(TranscoderEnvelope, CallAndOnewayAnySeqId) {
  const TValue args = tStruct({{1, tBatch()}});
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    const Protocol p = w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary;
    Transcoder t;
    ASSERT_EQ(t.transcode(p, message(w, "emitBatch", args, 4, 0)), RejectReason::kOk);
    const Bytes reference = toBytes(t.output());
    for (int type : {1, 4}) {
      for (int32_t seq : {0, 1, -1, INT32_MAX, INT32_MIN}) {
        ASSERT_EQ(t.transcode(p, message(w, "emitBatch", args, type, seq)), RejectReason::kOk);
        EXPECT_EQ(toBytes(t.output()), reference);
      }
    }
  }
}

TEST(TranscoderEnvelope, NonStrictBinary) {
  const TValue args = tStruct({{1, tBatch()}});
  Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, message(Wire::kBinary, "emitBatch", args, 4, 9)), RejectReason::kOk);
  const Bytes strict = toBytes(t.output());
  const Bytes nonStrict = message(Wire::kBinary, "emitBatch", args, 4, 9, FieldForm::kShort, /*strict=*/false);
  ASSERT_EQ(nonStrict[0], 0x00);
  ASSERT_EQ(t.transcode(Protocol::kBinary, nonStrict), RejectReason::kOk);
  EXPECT_EQ(toBytes(t.output()), strict);
  EXPECT_EQ(oracleReadBatch(t.output()), oracleReadEmitBatch(Wire::kBinary, nonStrict));
  EXPECT_EQ(t.transcode(Protocol::kBinary,
                        message(Wire::kBinary, "emitBatch", args, 2, 9, FieldForm::kShort, false)),
            RejectReason::kBadMessageType);
  EXPECT_EQ(t.transcode(Protocol::kBinary,
                        message(Wire::kBinary, "emitBatc", args, 4, 9, FieldForm::kShort, false)),
            RejectReason::kUnknownMethod);
}

TEST(TranscoderEnvelope, Rejects) {
  const TValue args = tStruct({{1, tBatch()}});
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    SCOPED_TRACE(w == Wire::kCompact ? "compact" : "binary");
    const Protocol p = w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary;
    Transcoder t;
    for (int type : {0, 2, 3, 5, 7})
      EXPECT_EQ(t.transcode(p, message(w, "emitBatch", args, type)), RejectReason::kBadMessageType) << type;
    for (const char* name : {"", "emitbatch", "emitBatchX", "emitZipkinBatc", "submitBatches"})
      EXPECT_EQ(t.transcode(p, message(w, name, args)), RejectReason::kUnknownMethod) << name;
    Bytes trailing = message(w, "emitBatch", args);
    trailing.push_back(0);
    EXPECT_EQ(t.transcode(p, trailing), RejectReason::kTrailingBytes);
    EXPECT_TRUE(t.output().empty());
    EXPECT_EQ(t.transcode(p, Bytes{}), RejectReason::kTruncated);
    EXPECT_EQ(t.transcode(p, Bytes{0x12, 0x34}), RejectReason::kBadEnvelope);
    EXPECT_EQ(t.transcode(p, message(w, "emitZipkinBatch", tStruct())), RejectReason::kMissingField);
    EXPECT_EQ(t.transcode(p, message(w, "emitBatch", tStruct({{2, tI32(1)}}))), RejectReason::kMissingField);
  }
  Transcoder t;
  Bytes badVersion = message(Wire::kCompact, "emitBatch", args);
  badVersion[1] = 0x82;  // ONEWAY, version 2
  EXPECT_EQ(t.transcode(Protocol::kCompact, badVersion), RejectReason::kBadEnvelope);
  badVersion = message(Wire::kBinary, "emitBatch", args);
  badVersion[1] = 0x02;
  EXPECT_EQ(t.transcode(Protocol::kBinary, badVersion), RejectReason::kBadEnvelope);
  Bytes negativeName = message(Wire::kBinary, "emitBatch", args);
  negativeName[4] = 0xFF;
  EXPECT_EQ(t.transcode(Protocol::kBinary, negativeName), RejectReason::kNegativeLength);
  Bytes hugeName = message(Wire::kBinary, "emitBatch", args);
  hugeName[4] = 0x7F;
  EXPECT_EQ(t.transcode(Protocol::kBinary, hugeName), RejectReason::kLengthTooLarge);
}

TEST(TranscoderEnvelope, RepeatedArgsFieldLastWins) {
  // A generated reader keeps the last value of a repeated field; so does the transcoder.
  TValue first = tBatch(1);
  TValue second = tBatch(3);
  second.fields[0].second.fields[0].second = tString("second");
  for (Wire w : {Wire::kCompact, Wire::kBinary}) {
    const Bytes d = message(w, "emitBatch", tStruct({{1, first}, {1, second}}));
    Transcoder t;
    ASSERT_EQ(t.transcode(w == Wire::kCompact ? Protocol::kCompact : Protocol::kBinary, d), RejectReason::kOk);
    EXPECT_EQ(oracleReadBatch(t.output()), oracleReadEmitBatch(w, d));
    EXPECT_EQ(t.summary().serviceName(), "second");
    EXPECT_EQ(t.summary().spans, 3u);
  }
}

TEST(TranscoderReasonName, StableSnakeCaseNames) {
  const std::vector<std::string> expected = {
      "ok",          "truncated",         "wrong_protocol",  "bad_envelope", "bad_message_type",
      "unknown_method", "length_too_large", "negative_length", "depth_exceeded", "bad_varint",
      "bad_type",    "wrong_field_type",  "missing_field",   "trailing_bytes"};
  ASSERT_EQ(expected.size(), static_cast<size_t>(RejectReason::kCount));
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(reasonName(static_cast<RejectReason>(i)), expected[i]);
}

}  // namespace
}  // namespace jagent::decode
