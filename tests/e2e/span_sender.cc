// e2e-span-sender: sends real Jaeger batches (Agent::emitBatch, encoded by Apache Thrift's
// generated C++ code, oneway like the Jaeger clients) to host:port over UDP.
//
//   e2e-span-sender --host 10.201.0.1 --port 6831 [--protocol compact|binary] [--batches N]
//                   [--spans K] [--big-bytes B] [--service NAME] [--pace-us US]
//
// --batches N datagrams of K spans each; with --big-bytes one more datagram of about B bytes
// (spans carrying a large string tag), e.g. 60000 to get a datagram that a 1500-byte MTU
// fragments. Prints one line: "sent datagrams=… spans=… bytes=… largest=…". Exit 1 on any send
// error, 2 on usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include "Agent.h"
#include "jaeger_types.h"

namespace {

namespace jt = ::jaegertracing::thrift;
namespace at = ::jaegertracing::agent::thrift;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;

struct Options {
  std::string host = "127.0.0.1";
  int port = 6831;
  bool binary = false;
  int batches = 10;
  int spans = 5;
  size_t bigBytes = 0;
  std::string service = "e2e-sender";
  int paceUs = 200;
};

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "e2e-span-sender: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: e2e-span-sender --host H --port P [--protocol compact|binary] [--batches N] [--spans K]\n"
               "                       [--big-bytes B] [--service NAME] [--pace-us US]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + std::string(flag));
      return argv[++i];
    };
    if (flag == "--host") o.host = value();
    else if (flag == "--port") o.port = std::atoi(value().c_str());
    else if (flag == "--protocol") {
      const std::string v = value();
      if (v != "compact" && v != "binary") usage("bad --protocol " + v);
      o.binary = v == "binary";
    } else if (flag == "--batches") o.batches = std::atoi(value().c_str());
    else if (flag == "--spans") o.spans = std::atoi(value().c_str());
    else if (flag == "--big-bytes") o.bigBytes = static_cast<size_t>(std::atol(value().c_str()));
    else if (flag == "--service") o.service = value();
    else if (flag == "--pace-us") o.paceUs = std::atoi(value().c_str());
    else usage("unknown flag " + std::string(flag));
  }
  if (o.port <= 0 || o.port > 65535 || o.batches < 0 || o.spans <= 0 || o.bigBytes > 65000) usage("bad value");
  return o;
}

jt::Span makeSpan(int64_t id, size_t tagBytes) {
  jt::Span s;
  s.__set_traceIdLow(0x1000 + id);
  s.__set_traceIdHigh(0);
  s.__set_spanId(id);
  s.__set_parentSpanId(0);
  s.__set_operationName("e2e-op-" + std::to_string(id));
  s.__set_flags(1);
  s.__set_startTime(1'700'000'000'000'000 + id);
  s.__set_duration(1000 + id);
  jt::Tag tag;
  tag.__set_key("payload");
  tag.__set_vType(jt::TagType::STRING);
  tag.__set_vStr(std::string(tagBytes, 'x'));
  s.__set_tags({tag});
  return s;
}

std::string encode(bool binary, const jt::Batch& batch, int32_t seqid) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  std::unique_ptr<TProtocol> p;
  if (binary) p = std::make_unique<TBinaryProtocol>(buffer);
  else p = std::make_unique<TCompactProtocol>(buffer);
  at::Agent_emitBatch_args args;
  args.batch = batch;
  p->writeMessageBegin("emitBatch", apache::thrift::protocol::T_ONEWAY, seqid);
  args.write(p.get());
  p->writeMessageEnd();
  return buffer->getBufferAsString();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(o.port));
  if (fd < 0 || ::inet_pton(AF_INET, o.host.c_str(), &to.sin_addr) != 1) {
    std::perror("socket/host");
    return 1;
  }
  jt::Process process;
  process.__set_serviceName(o.service);
  int64_t nextId = 1;
  size_t datagrams = 0, spans = 0, bytes = 0, largest = 0;
  auto send = [&](const jt::Batch& b) {
    const std::string d = encode(o.binary, b, static_cast<int32_t>(datagrams));
    if (::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) !=
        static_cast<ssize_t>(d.size())) {
      std::perror("sendto");
      std::exit(1);
    }
    ++datagrams;
    spans += b.spans.size();
    bytes += d.size();
    largest = std::max(largest, d.size());
    if (o.paceUs > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.paceUs));
  };
  for (int i = 0; i < o.batches; ++i) {
    jt::Batch b;
    b.__set_process(process);
    for (int k = 0; k < o.spans; ++k) b.spans.push_back(makeSpan(nextId++, 16));
    send(b);
  }
  if (o.bigBytes > 0) {
    // Spans of ~6 KB each until the next one would pass the target size.
    jt::Batch b;
    b.__set_process(process);
    constexpr size_t kTag = 6000;
    while (encode(o.binary, b, 0).size() + kTag + 200 <= o.bigBytes) b.spans.push_back(makeSpan(nextId++, kTag));
    const size_t room = o.bigBytes - encode(o.binary, b, 0).size();
    if (room > 300) b.spans.push_back(makeSpan(nextId++, room - 300));
    send(b);
  }
  std::printf("sent datagrams=%zu spans=%zu bytes=%zu largest=%zu\n", datagrams, spans, bytes, largest);
  ::close(fd);
  return 0;
}
