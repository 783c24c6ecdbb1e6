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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz-seeds <test-data-dir> <out-dir>\n";
    return 2;
  }
  const fs::path data = argv[1], out = argv[2];
  fs::create_directories(out);
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
  return 0;
}
