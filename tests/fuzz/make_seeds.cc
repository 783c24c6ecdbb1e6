// Writes the fuzzer's seed corpus: the captured client datagrams plus compact and binary
// datagrams encoded by Apache Thrift (every message form real clients send), one file each.
//   fuzz-seeds <test-data-dir> <out-dir>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "Agent.h"
#include "jaeger_types.h"
#include "report/tchannel_frame.h"
#include "zipkincore_types.h"

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TMessageType;
using apache::thrift::transport::TMemoryBuffer;
namespace fs = std::filesystem;
namespace jt = jaegertracing::thrift;
namespace zt = twitter::zipkin::thrift;

namespace {

template <typename Protocol, typename Args>
void write(const fs::path& path, const char* method, TMessageType type, const Args& args) {
  auto buf = std::make_shared<TMemoryBuffer>();
  Protocol proto(buf);
  proto.writeMessageBegin(method, type, 7);
  args.write(&proto);
  proto.writeMessageEnd();
  uint8_t* p;
  uint32_t n;
  buf->getBuffer(&p, &n);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(p), n);
}

jt::Batch batch() {
  jt::Batch b;
  b.process.serviceName = "svc";
  jt::Tag uuid;
  uuid.key = "client-uuid";
  uuid.vType = jt::TagType::STRING;
  uuid.__set_vStr("1234");
  b.process.__set_tags({uuid});
  for (int i = 0; i < 3; ++i) {
    jt::Span s;
    s.traceIdLow = -i - 1;
    s.spanId = i + 1;
    s.operationName = "op";
    s.flags = 1;
    s.startTime = 1;
    s.duration = 2;
    std::vector<jt::Tag> tags;
    for (int t = 0; t < 5; ++t) {
      jt::Tag tag;
      tag.key = std::string("k").append(std::to_string(t));
      tag.vType = static_cast<jt::TagType::type>(t);
      tag.__set_vStr("s");
      tag.__set_vDouble(1.5);
      tag.__set_vBool(true);
      tag.__set_vLong(-5);
      tag.__set_vBinary(std::string("\x00\x01", 2));
      tags.push_back(tag);
    }
    s.__set_tags(tags);
    jt::Log log;
    log.timestamp = 3;
    log.fields = {tags[0]};
    s.__set_logs({log});
    jt::SpanRef ref;
    ref.refType = jt::SpanRefType::FOLLOWS_FROM;
    s.__set_references({ref});
    b.spans.push_back(s);
  }
  b.__set_seqNo(9);
  jt::ClientStats st;
  st.fullQueueDroppedSpans = 1;
  b.__set_stats(st);
  return b;
}

void writeBytes(const fs::path& path, const std::vector<uint8_t>& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Byte streams a collector sends the reporter: init res, call responses (one frame, and one
// fragmented over continue frames, both checksum types), an error, a ping.
void tchannelSeeds(const fs::path& out) {
  namespace tc = jagent::report::tchannel;
  const tc::Header initHeaders[] = {{"host_port", "127.0.0.1:14267"}, {"process_name", "collector"}};
  std::vector<uint8_t> init;
  tc::appendInitRes(init, 1, initHeaders);
  writeBytes(out / "init_res.bin", init);
  const uint8_t arg1[] = {'C', 'o', 'l', 'l', 'e', 'c', 't', 'o', 'r', ':', ':', 's', 'u', 'b', 'm', 'i', 't'};
  const tc::Header th[] = {{"as", "thrift"}, {"re", "c"}};
  for (const size_t arg3Size : {size_t{12}, size_t{150000}}) {
    for (const auto ck : {tc::ChecksumType::kCrc32c, tc::ChecksumType::kCrc32, tc::ChecksumType::kNone}) {
      std::vector<uint8_t> arg3(arg3Size, 0x0C), arg2;
      tc::appendThriftHeaders(arg2, {});
      const std::span<const uint8_t> pieces[] = {arg3};
      tc::CallRes res;
      res.id = 2;
      res.headers = th;
      res.checksum = ck;
      res.arg1 = arg1;
      res.arg2 = arg2;
      res.arg3 = pieces;
      std::vector<uint8_t> stream = init;
      tc::appendCallRes(stream, res);
      writeBytes(out / ("call_res_" + std::to_string(arg3Size) + "_ck" + std::to_string(static_cast<int>(ck)) + ".bin"),
                 stream);
    }
  }
  std::vector<uint8_t> err;
  tc::appendError(err, 3, tc::ErrorCode::kBusy, tc::Tracing{}, "busy");
  tc::appendPingReq(err, 4);
  tc::appendPingRes(err, 5);
  writeBytes(out / "error_ping.bin", err);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: fuzz-seeds <test-data-dir> <out-dir> [transcoder|tchannel|http_request]\n";
    return 2;
  }
  const fs::path data = argv[1], out = argv[2];
  fs::create_directories(out);
  if (argc == 4 && std::string_view(argv[3]) == "tchannel") {
    tchannelSeeds(out);
    return 0;
  }
  if (argc == 4 && std::string_view(argv[3]) == "http_request") {
    const char* heads[] = {
        "GET /sampling?service=svc%20a&service=b;x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "HEAD /%6eope HTTP/1.0\r\nContent-Length: 12\r\nBad\r\n\r\n",
        "POST  /baggageRestrictions?service=+ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/2.0\nX: y\n\n",
        // Collector answers for the OTLP/HTTP client's parser (report/http1_response.h).
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 4\r\n\r\n\x0a\x02\x08\x03",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2;x\r\nok\r\n0\r\nT: 1\r\n\r\n",
        "HTTP/1.0 503 Unavailable\r\nConnection: close\r\n\r\nbody until close"};
    for (size_t i = 0; i < std::size(heads); ++i) std::ofstream(out / ("head" + std::to_string(i))) << heads[i];
    return 0;
  }
  for (const char* f : {"udp_jaeger_client.bin", "udp_otel.bin"}) fs::copy_file(data / f, out / f, fs::copy_options::overwrite_existing);
  const jt::Batch b = batch();
  jaegertracing::agent::thrift::Agent_emitBatch_pargs ja;
  ja.batch = &b;
  write<TCompactProtocol>(out / "compact_call.bin", "emitBatch", TMessageType::T_CALL, ja);
  write<TCompactProtocol>(out / "compact_oneway.bin", "emitBatch", TMessageType::T_ONEWAY, ja);
  write<TBinaryProtocol>(out / "binary_oneway.bin", "emitBatch", TMessageType::T_ONEWAY, ja);
  std::vector<zt::Span> spans(2);
  spans[0].name = "z";
  spans[0].__set_parent_id(4);
  zt::Annotation a;
  a.value = "cs";
  a.host.service_name = "zsvc";
  a.__isset.host = true;
  spans[0].annotations = {a};
  zt::BinaryAnnotation ba;
  ba.key = "lc";
  ba.value = "x";
  spans[1].binary_annotations = {ba};
  jaegertracing::agent::thrift::Agent_emitZipkinBatch_pargs za;
  za.spans = &spans;
  write<TCompactProtocol>(out / "zipkin_compact.bin", "emitZipkinBatch", TMessageType::T_ONEWAY, za);
  write<TBinaryProtocol>(out / "zipkin_binary.bin", "emitZipkinBatch", TMessageType::T_CALL, za);
  // The rules of the protobuf encoders' Zipkin path: a cs+sr span (split), a JSON log, typed,
  // short and unknown-typed binary values, an error to sanitize, a peer endpoint, process tags.
  zt::Span rich;
  rich.name = "rich";
  const char* values[] = {"cs", "sr", R"({"b":"\u00e9","a":"x"})", "ss", "cr"};
  for (const char* v : values) {
    zt::Annotation an;
    an.value = v;
    an.timestamp = 1700000000000000;
    an.__set_host(a.host);
    rich.annotations.push_back(an);
  }
  const std::pair<const char*, int> bins[] = {{"error", 6}, {"n", 3}, {"sa", 0}, {"jaegerClient", 6}, {"odd", 9}};
  for (const auto& [key, type] : bins) {
    zt::BinaryAnnotation bb;
    bb.key = key;
    bb.value = "boom";
    bb.annotation_type = static_cast<zt::AnnotationType::type>(type);
    bb.__set_host(a.host);
    rich.binary_annotations.push_back(bb);
  }
  spans.push_back(rich);
  write<TCompactProtocol>(out / "zipkin_rich_compact.bin", "emitZipkinBatch", TMessageType::T_ONEWAY, za);
  write<TBinaryProtocol>(out / "zipkin_rich_binary.bin", "emitZipkinBatch", TMessageType::T_CALL, za);
  return 0;
}
