// The protobuf transcoders against captured and hand-checked bytes:
//  * the golden PostSpansRequest vectors of modern-collectors.md §1.6 (what the real jaeger-agent
//    v1.17.1 sent for shared/vectors/udp_jaeger_client.bin and udp_otel.bin), byte for byte;
//  * ProtoWriter's back-patched lengths are canonical (libprotobuf re-serializes them to the same
//    bytes) whichever way the reserved slot was off;
//  * the OTLP output of the same vectors, decoded by libprotobuf;
//  * the framing helpers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api_v2.pb.h"
#include "decode/encoding.h"
#include "decode/proto_writer.h"
#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"
#include "otlp_trace.pb.h"
#include "test_support.h"

namespace jagent::decode {
namespace {

using Bytes = std::vector<uint8_t>;
namespace otlp = ::jagent::test::otlp;

Bytes fromHex(std::string_view hex) {
  Bytes out;
  std::string digits;
  for (char c : hex)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}
std::string toHex(std::span<const uint8_t> b) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

// §1.6 V1: udp_jaeger_client.bin (binary protocol) with --agent.tags=k1=v1,k2=v2. 303 bytes.
constexpr std::string_view kV1 =
    "0aac020a8f010a10000000000000000059b603ad903aa655120859b603ad903aa6551a036f70312801320c088d8386d8"
    "061080fec7fb023a0410c0843d42150a0c73616d706c65722e747970651a05636f6e737442130a0d73616d706c65722e"
    "706172616d10012001420e0a0174100331000000000000f03f4a1a0a0c088d8386d80610c08285fc02120a0a05657665"
    "6e741a01651297010a0464656d6f12060a016b1a0176121d0a0e6a61656765722e76657273696f6e1a0b4e6f64652d33"
    "2e31392e30120e0a08686f73746e616d651a02766d120f0a0269701a093139322e302e322e3212330a0b636c69656e74"
    "2d757569641a2437396633636562342d303131642d343361642d393632622d34346433353432353062386112080a026b"
    "311a02763112080a026b321a027632";
// §1.6 V2: udp_otel.bin (@opentelemetry/exporter-jaeger 2.11, 128-bit id), no agent tags. 180 bytes.
constexpr std::string_view kV2 =
    "0ab1010aa1010a10ed3ba2def21c70c76fb13ce18aa9422e1208fecabbe57cd6a6321a076f74656c2d6f702801320c08"
    "978386d8061080a1f9ce013a0410e0a114420e0a0161100331000000000000f03f42190a0c736572766963652e6e616d"
    "651a096f74656c2d64656d6f42160a116f74656c2e6c6962726172792e6e616d651a017442210a146f74656c2e6c6962"
    "726172792e76657273696f6e1a09756e646566696e6564120b0a096f74656c2d64656d6f";

TEST(ProtoGolden, JaegerClientVectorMatchesTheRealAgentByteForByte) {
  const Bytes datagram = jagent::testing::readTestData("udp_jaeger_client.bin");
  ApiV2Transcoder t({{"k1", "v1"}, {"k2", "v2"}});
  ASSERT_EQ(t.transcode(Protocol::kBinary, datagram), RejectReason::kOk);
  const Bytes want = fromHex(kV1);
  ASSERT_EQ(want.size(), 303u);
  EXPECT_EQ(toHex(t.postSpansRequest()), toHex(want));
  // output() is the Batch inside: PostSpansRequest minus `0a ac 02`.
  EXPECT_EQ(toHex(t.output()), toHex(std::span<const uint8_t>(want).subspan(3)));
  EXPECT_EQ(t.summary().spans, 1u);
  EXPECT_EQ(t.summary().serviceName(), "demo");
  EXPECT_EQ(t.spansDropped(), 0u);
}

TEST(ProtoGolden, OtelExporterVectorMatchesTheRealAgentByteForByte) {
  const Bytes datagram = jagent::testing::readTestData("udp_otel.bin");
  ApiV2Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, datagram), RejectReason::kOk);
  const Bytes want = fromHex(kV2);
  ASSERT_EQ(want.size(), 180u);
  EXPECT_EQ(toHex(t.postSpansRequest()), toHex(want));
}

TEST(ProtoGolden, TheVectorsDecodeWithLibprotobuf) {
  jaeger::api_v2::PostSpansRequest req;
  ASSERT_TRUE(req.ParseFromString(std::string(reinterpret_cast<const char*>(fromHex(kV1).data()), 303)));
  const auto& span = req.batch().spans(0);
  EXPECT_EQ(span.operation_name(), "op1");
  EXPECT_EQ(span.start_time().seconds(), 1795260813);
  EXPECT_EQ(span.start_time().nanos(), 796000000);
  EXPECT_EQ(span.duration().nanos(), 1000000);
  ASSERT_EQ(req.batch().process().tags_size(), 7);
  EXPECT_EQ(req.batch().process().tags(5).key(), "k1");
  EXPECT_EQ(req.batch().process().tags(6).v_str(), "v2");
}

TEST(ProtoGolden, OtlpOfTheJaegerClientVector) {
  const Bytes datagram = jagent::testing::readTestData("udp_jaeger_client.bin");
  OtlpTranscoder t(std::vector<AgentTag>{{"k1", "v1"}});
  ASSERT_EQ(t.transcode(Protocol::kBinary, datagram), RejectReason::kOk);
  otlp::ExportTraceServiceRequest req;
  const auto rec = t.resourceSpansRecord();
  ASSERT_TRUE(req.ParseFromArray(rec.data(), static_cast<int>(rec.size())));
  ASSERT_EQ(req.resource_spans_size(), 1);
  const auto& rs = req.resource_spans(0);
  // §3.2: service.name first; hostname renamed in place to host.name; jaeger.version becomes
  // opencensus.exporterversion "Jaeger-<v>" in its slot; the agent tag last.
  std::vector<std::string> keys;
  for (const auto& kv : rs.resource().attributes()) keys.push_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"service.name", "k", "opencensus.exporterversion", "host.name", "ip",
                                            "client-uuid", "k1"}));
  EXPECT_EQ(rs.resource().attributes(2).value().string_value(), "Jaeger-Node-3.19.0");
  EXPECT_EQ(rs.resource().attributes(3).value().string_value(), "vm");
  ASSERT_EQ(rs.scope_spans_size(), 1);
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "");
  ASSERT_EQ(rs.scope_spans(0).spans_size(), 1);
  const auto& s = rs.scope_spans(0).spans(0);
  EXPECT_EQ(s.name(), "op1");
  EXPECT_EQ(s.flags(), 1u);
  EXPECT_EQ(s.trace_id().size(), 16u);
  EXPECT_EQ(s.parent_span_id(), "");
  EXPECT_EQ(s.start_time_unix_nano(), 1795260813796000000ull);
  EXPECT_EQ(s.end_time_unix_nano(), 1795260813797000000ull);
  ASSERT_EQ(s.attributes_size(), 3);
  EXPECT_EQ(s.attributes(1).key(), "sampler.param");
  EXPECT_TRUE(s.attributes(1).value().bool_value());
  EXPECT_EQ(s.attributes(2).value().double_value(), 1.0);
  ASSERT_EQ(s.events_size(), 1);
  EXPECT_EQ(s.events(0).name(), "e");
  EXPECT_EQ(s.events(0).attributes_size(), 0);
  EXPECT_FALSE(s.has_status());
}

TEST(ProtoGolden, FramingHelpersConcatenateRecords) {
  const Bytes a = jagent::testing::readTestData("udp_jaeger_client.bin");
  const Bytes b = jagent::testing::readTestData("udp_otel.bin");
  OtlpTranscoder t;
  Bytes request;
  ASSERT_EQ(t.transcode(Protocol::kBinary, a), RejectReason::kOk);
  appendResourceSpans(request, t.output());
  EXPECT_EQ(toHex(request), toHex(t.resourceSpansRecord()));
  EXPECT_EQ(request.size(), field1RecordSize(t.output().size()));
  ASSERT_EQ(t.transcode(Protocol::kBinary, b), RejectReason::kOk);
  appendResourceSpans(request, t.output());
  otlp::ExportTraceServiceRequest req;
  ASSERT_TRUE(req.ParseFromArray(request.data(), static_cast<int>(request.size())));
  ASSERT_EQ(req.resource_spans_size(), 2);
  EXPECT_EQ(req.resource_spans(1).resource().attributes(0).value().string_value(), "otel-demo");

  ApiV2Transcoder v;
  ASSERT_EQ(v.transcode(Protocol::kBinary, b), RejectReason::kOk);
  Bytes post;
  appendPostSpansRequest(post, v.output());
  EXPECT_EQ(toHex(post), std::string(kV2));
}

TEST(ProtoGolden, BatchesWithTheSameProcessMerge) {
  // Two datagrams of one client: span records concatenated before one process record parse as
  // one Batch holding both spans (what a reporter may send as a single PostSpans).
  const Bytes a = jagent::testing::readTestData("udp_jaeger_client.bin");
  ApiV2Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, a), RejectReason::kOk);
  Bytes merged(t.spanRecords().begin(), t.spanRecords().end());
  const Bytes process(t.processRecord().begin(), t.processRecord().end());
  ASSERT_EQ(process[0], 0x12);
  ASSERT_EQ(t.transcode(Protocol::kBinary, a), RejectReason::kOk);
  EXPECT_EQ(toHex(t.processRecord()), toHex(process));
  merged.insert(merged.end(), t.spanRecords().begin(), t.spanRecords().end());
  merged.insert(merged.end(), process.begin(), process.end());
  jaeger::api_v2::Batch b;
  ASSERT_TRUE(b.ParseFromArray(merged.data(), static_cast<int>(merged.size())));
  EXPECT_EQ(b.spans_size(), 2);
  EXPECT_EQ(b.process().service_name(), "demo");
}

TEST(ProtoGolden, InlinedProcessMakesSpansSelfContained) {
  // Batches of different client processes share one PostSpans when each span carries its
  // process (Span.process, field 10, §1.2): the rewrite keeps every span field and moves the
  // Batch.process into each span.
  const Bytes a = jagent::testing::readTestData("udp_jaeger_client.bin");
  ApiV2Transcoder t;
  ASSERT_EQ(t.transcode(Protocol::kBinary, a), RejectReason::kOk);
  jaeger::api_v2::Batch original;
  ASSERT_TRUE(original.ParseFromArray(t.output().data(), static_cast<int>(t.output().size())));
  const size_t n = inlineBatchProcess(t.output(), t.mergeSuffix(), nullptr);
  ASSERT_GT(n, t.spanRecords().size());
  std::vector<uint8_t> out;
  ASSERT_EQ(inlineBatchProcess(t.output(), t.mergeSuffix(), &out), n);
  ASSERT_EQ(out.size(), n);
  // Twice, as two datagrams of different processes would be appended to one call.
  Bytes twice = out;
  twice.insert(twice.end(), out.begin(), out.end());
  jaeger::api_v2::Batch b;
  ASSERT_TRUE(b.ParseFromArray(twice.data(), static_cast<int>(twice.size())));
  EXPECT_FALSE(b.has_process());
  ASSERT_EQ(b.spans_size(), 2 * original.spans_size());
  for (int i = 0; i < b.spans_size(); ++i) {
    jaeger::api_v2::Span s = b.spans(i);
    EXPECT_EQ(s.process().SerializeAsString(), original.process().SerializeAsString());
    s.clear_process();
    EXPECT_EQ(s.SerializeAsString(), original.spans(i % original.spans_size()).SerializeAsString());
  }
  // Not of the shape ApiV2Transcoder writes: refused, nothing written.
  EXPECT_EQ(inlineBatchProcess(t.output(), 0, nullptr), 0u);
  EXPECT_EQ(inlineBatchProcess(t.output(), t.mergeSuffix() + 1, nullptr), 0u);
  EXPECT_EQ(inlineBatchProcess(t.output().first(t.output().size() - 1), t.mergeSuffix() - 1, nullptr), 0u);
}

TEST(ProtoGolden, BackPatchedLengthsAreCanonicalWhateverTheGuess) {
  // Bodies of 0..20000 bytes in slots reserved 1..3 wide: the result must be what libprotobuf
  // writes for the same message (minimal length varints).
  for (size_t len : {0u, 1u, 127u, 128u, 200u, 16383u, 16384u, 20000u}) {
    for (uint8_t reserve : {uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
      Bytes buf;
      proto::ProtoWriter w(buf);
      w.reset();
      const auto outer = w.begin(0x0a, reserve);  // PostSpansRequest.batch
      const auto proc = w.begin(0x12, reserve);   // Batch.process
      if (len != 0) w.bytesField(0x0a, std::string(len, 'x'));  // Process.service_name (proto3 omits "")
      w.end(proc);
      w.end(outer);
      ASSERT_FALSE(w.failed());
      jaeger::api_v2::PostSpansRequest want;
      want.mutable_batch()->mutable_process()->set_service_name(std::string(len, 'x'));
      const std::string wantBytes = want.SerializeAsString();
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), w.size()), wantBytes)
          << "len " << len << " reserve " << int(reserve);
    }
  }
}

TEST(ProtoGolden, FactoryPicksTheEncoding) {
  for (Encoding e : {Encoding::kThriftBinary, Encoding::kApiV2, Encoding::kOtlp}) {
    auto enc = makeBatchEncoder(e, {{"k", "v"}});
    EXPECT_EQ(enc->encoding(), e) << encodingName(e);
    EXPECT_EQ(enc->transcode(Protocol::kBinary, jagent::testing::readTestData("udp_otel.bin")), RejectReason::kOk);
    EXPECT_GT(enc->output().size(), 0u);
    EXPECT_EQ(enc->summary().serviceName(), "otel-demo");
  }
}

}  // namespace
}  // namespace jagent::decode
