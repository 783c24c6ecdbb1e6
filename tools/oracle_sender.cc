// oracle-sender: sends seeded random Jaeger batches and Zipkin span lists to an agent over UDP,
// encoded by Apache Thrift's generated C++ code (the oracle), and records every span it sent as
// one normalized JSON line (the format of tests/interop/normalize.js).
//
//   oracle-sender --compact-port P [--binary-port P] [--zipkin-port P] [--batches N]
//                 [--zipkin-batches N] [--seed S] [--out sent.jsonl] [--message-type call|oneway|mixed]
//                 [--max-packet 65000] [--pace-us 400]
//
// Jaeger batches go to the compact port as `emitBatch` (TCompactProtocol, message type CALL with
// an incrementing seqid, like jaeger-client-go); with --binary-port every third batch is sent as
// TBinaryProtocol (strict) to that port instead. Zipkin span lists go to the zipkin port as
// `emitZipkinBatch` (TCompactProtocol). Content covers every tag type incl. binary and extreme
// values, logs, references, optional seqNo/stats, absent vs empty optional lists, 64- and
// 128-bit trace ids, negative ids and timestamps. Every datagram is at most --max-packet bytes.
// Span ids are unique across the whole run, so the receiver can key spans by id.
//
// Exit status: 0 when every datagram was handed to the kernel, 1 on any send error, 2 on usage.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <map>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include "Agent.h"
#include "jaeger_types.h"
#include "zipkincore_types.h"

namespace {

namespace jt = ::jaegertracing::thrift;
namespace zt = ::twitter::zipkin::thrift;
namespace at = ::jaegertracing::agent::thrift;
using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TMessageType;
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;

// ---------------------------------------------------------------------------------------------
// Options

enum class MessageType { kCall, kOneway, kMixed };

struct Options {
  int compactPort = 0;
  int binaryPort = 0;
  int zipkinPort = 0;
  int batches = 200;
  int zipkinBatches = -1;  // default: batches / 2
  uint64_t seed = 1;
  std::string out;
  MessageType messageType = MessageType::kCall;
  size_t maxPacket = 65000;
  int paceUs = 400;
  bool forceBinary = false;  // every datagram TBinaryProtocol (self-test of the harness)
};

[[noreturn]] void usage(const std::string& msg) {
  std::cerr << "oracle-sender: " << msg << "\n";
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{"oracle-sender: seeded random Jaeger/Zipkin batches encoded by Apache Thrift, sent over UDP"};
  app.add_option("--compact-port", o.compactPort, "agent compact port (jaeger batches)")->check(CLI::Range(1, 65535));
  app.add_option("--binary-port", o.binaryPort, "agent binary port (every third jaeger batch)")->check(CLI::Range(1, 65535));
  app.add_option("--zipkin-port", o.zipkinPort, "agent zipkin port")->check(CLI::Range(1, 65535));
  app.add_option("--batches", o.batches, "jaeger batches")->check(CLI::Range(0, 1000000));
  app.add_option("--zipkin-batches", o.zipkinBatches, "zipkin datagrams (default: half of --batches with --zipkin-port)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--seed", o.seed, "random seed");
  app.add_option("--out", o.out, "normalized JSON lines of every span sent");
  app.add_option("--max-packet", o.maxPacket, "largest datagram")->check(CLI::Range(512, 65507));
  app.add_option("--pace-us", o.paceUs, "pause between datagrams")->check(CLI::Range(0, 1000000));
  app.add_flag("--force-binary", o.forceBinary, "every datagram TBinaryProtocol (harness self-test)");
  const std::map<std::string, MessageType> types{
      {"call", MessageType::kCall}, {"oneway", MessageType::kOneway}, {"mixed", MessageType::kMixed}};
  app.add_option("--message-type", o.messageType, "call | oneway | mixed")->transform(CLI::CheckedTransformer(types));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (o.compactPort == 0 && o.batches > 0) usage("--compact-port is required when --batches > 0");
  if (o.zipkinBatches < 0) o.zipkinBatches = o.zipkinPort != 0 ? o.batches / 2 : 0;
  if (o.zipkinBatches > 0 && o.zipkinPort == 0) usage("--zipkin-port is required for zipkin batches");
  return o;
}

// ---------------------------------------------------------------------------------------------
// Normalized JSON (must match tests/interop/normalize.js)

class Json {
 public:
  Json& raw(std::string_view s) {
    out_.append(s);
    return *this;
  }
  Json& str(std::string_view s) {
    out_.push_back('"');
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"': out_.append("\\\""); break;
        case '\\': out_.append("\\\\"); break;
        case '\n': out_.append("\\n"); break;
        case '\r': out_.append("\\r"); break;
        case '\t': out_.append("\\t"); break;
        default:
          if (u < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out_.append(buf);
          } else {
            out_.push_back(c);  // UTF-8 passes through; generated strings are valid UTF-8
          }
      }
    }
    out_.push_back('"');
    return *this;
  }
  Json& key(std::string_view k) {
    comma();
    str(k);
    out_.push_back(':');
    first_ = true;  // the value that follows needs no comma
    return *this;
  }
  Json& open(char c) {
    comma();
    out_.push_back(c);
    first_ = true;
    return *this;
  }
  Json& close(char c) {
    out_.push_back(c);
    first_ = false;
    return *this;
  }
  Json& value(std::string_view literal) {
    comma();
    out_.append(literal);
    first_ = false;
    return *this;
  }
  Json& string(std::string_view s) {
    comma();
    str(s);
    first_ = false;
    return *this;
  }
  Json& null() { return value("null"); }
  Json& boolean(bool b) { return value(b ? "true" : "false"); }
  Json& integer(int64_t v) { return value(std::to_string(v)); }
  Json& dec(int64_t v) { return string(std::to_string(v)); }
  Json& hex64(int64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(static_cast<uint64_t>(v)));
    return string(buf);
  }
  Json& hexBytes(std::string_view b) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string h;
    h.reserve(b.size() * 2);
    for (const char c : b) {
      const auto u = static_cast<unsigned char>(c);
      h.push_back(kDigits[u >> 4]);
      h.push_back(kDigits[u & 15]);
    }
    return string(h);
  }
  const std::string& text() const { return out_; }

 private:
  void comma() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string out_;
  bool first_ = true;
};

void writeTag(Json& j, const jt::Tag& t) {
  j.open('{').key("key").string(t.key).key("vType").integer(t.vType).key("value");
  switch (t.vType) {
    case jt::TagType::STRING: t.__isset.vStr ? j.string(t.vStr) : j.null(); break;
    case jt::TagType::DOUBLE:
      t.__isset.vDouble ? j.hex64(static_cast<int64_t>(std::bit_cast<uint64_t>(t.vDouble))) : j.null();
      break;
    case jt::TagType::BOOL: t.__isset.vBool ? j.boolean(t.vBool) : j.null(); break;
    case jt::TagType::LONG: t.__isset.vLong ? j.hex64(t.vLong) : j.null(); break;
    case jt::TagType::BINARY: t.__isset.vBinary ? j.hexBytes(t.vBinary) : j.null(); break;
    default: j.null(); break;
  }
  j.close('}');
}

void writeTags(Json& j, const std::vector<jt::Tag>& tags, bool isset) {
  j.open('[');
  if (isset) {
    for (const auto& t : tags) writeTag(j, t);
  }
  j.close(']');
}

std::string jaegerSpanLine(const jt::Batch& b, const jt::Span& s) {
  Json j;
  j.open('{').key("format").string("jaeger").key("service").string(b.process.serviceName);
  j.key("processTags");
  writeTags(j, b.process.tags, b.process.__isset.tags);
  j.key("seqNo");
  b.__isset.seqNo ? j.dec(b.seqNo) : j.null();
  j.key("stats");
  if (b.__isset.stats) {
    j.open('{')
        .key("fullQueueDroppedSpans").dec(b.stats.fullQueueDroppedSpans)
        .key("tooLargeDroppedSpans").dec(b.stats.tooLargeDroppedSpans)
        .key("failedToEmitSpans").dec(b.stats.failedToEmitSpans)
        .close('}');
  } else {
    j.null();
  }
  j.key("traceIdLow").hex64(s.traceIdLow).key("traceIdHigh").hex64(s.traceIdHigh);
  j.key("spanId").hex64(s.spanId).key("parentSpanId").hex64(s.parentSpanId);
  j.key("operationName").string(s.operationName);
  j.key("references").open('[');
  if (s.__isset.references) {
    for (const auto& r : s.references) {
      j.open('{').key("refType").integer(r.refType).key("traceIdLow").hex64(r.traceIdLow);
      j.key("traceIdHigh").hex64(r.traceIdHigh).key("spanId").hex64(r.spanId).close('}');
    }
  }
  j.close(']');
  j.key("flags").integer(s.flags).key("startTime").dec(s.startTime).key("duration").dec(s.duration);
  j.key("tags");
  writeTags(j, s.tags, s.__isset.tags);
  j.key("logs").open('[');
  if (s.__isset.logs) {
    for (const auto& l : s.logs) {
      j.open('{').key("timestamp").dec(l.timestamp).key("fields");
      writeTags(j, l.fields, true);
      j.close('}');
    }
  }
  j.close(']');
  j.close('}');
  return j.text();
}

void writeEndpoint(Json& j, const zt::Endpoint& e) {
  // ipv4, port and service_name have default requiredness: the C++ writer always writes them.
  j.open('{').key("ipv4").integer(e.ipv4).key("port").integer(e.port);
  j.key("serviceName").string(e.service_name).key("ipv6");
  e.__isset.ipv6 ? j.hexBytes(e.ipv6) : j.null();
  j.close('}');
}

std::string zipkinSpanLine(const zt::Span& s) {
  Json j;
  j.open('{').key("format").string("zipkin").key("traceIdHigh");
  s.__isset.trace_id_high ? j.hex64(s.trace_id_high) : j.null();
  j.key("traceId").hex64(s.trace_id).key("id").hex64(s.id).key("parentId");
  s.__isset.parent_id ? j.hex64(s.parent_id) : j.null();
  j.key("name").string(s.name);
  j.key("annotations").open('[');
  for (const auto& a : s.annotations) {
    j.open('{').key("timestamp").dec(a.timestamp).key("value").string(a.value).key("host");
    a.__isset.host ? writeEndpoint(j, a.host) : void(j.null());
    j.close('}');
  }
  j.close(']');
  j.key("binaryAnnotations").open('[');
  for (const auto& b : s.binary_annotations) {
    j.open('{').key("key").string(b.key).key("value").hexBytes(b.value);
    j.key("annotationType").integer(b.annotation_type).key("host");
    b.__isset.host ? writeEndpoint(j, b.host) : void(j.null());
    j.close('}');
  }
  j.close(']');
  j.key("debug").boolean(s.__isset.debug ? s.debug : false);  // IDL default false
  j.key("timestamp");
  s.__isset.timestamp ? j.dec(s.timestamp) : j.null();
  j.key("duration");
  s.__isset.duration ? j.dec(s.duration) : j.null();
  j.close('}');
  return j.text();
}

// ---------------------------------------------------------------------------------------------
// Random content

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  uint64_t u64() { return rng_(); }
  int64_t i64() { return static_cast<int64_t>(rng_()); }
  // Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool chance(int percent) { return range(0, 99) < percent; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(range(0, static_cast<int64_t>(v.size()) - 1))];
  }

  // A 64-bit value from a mix of edge cases and uniform bits.
  int64_t edgyI64() {
    static const std::vector<int64_t> kEdges = {
        0, 1, -1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
        (int64_t{1} << 53) + 1, -(int64_t{1} << 53) - 1, int64_t{1} << 32, 0x7f, 0x80, 0xff, -0x80};
    return chance(30) ? pick(kEdges) : i64();
  }

  // Id unique across the whole run (never 0).
  int64_t uniqueId() {
    for (;;) {
      const int64_t v = i64();
      if (v != 0 && ids_.insert(v).second) return v;
    }
  }

  double edgyDouble() {
    static const std::vector<double> kEdges = {
        0.0, -0.0, 1.0, -1.0, 0.1, 3.141592653589793, std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
        std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
        -std::numeric_limits<double>::denorm_min(), 9007199254740993.0, 1e300, -1e-300};
    double d = chance(40) ? pick(kEdges) : std::bit_cast<double>(u64());
    // JavaScript (the test collector) only round-trips the canonical NaN bit pattern.
    if (std::isnan(d)) d = std::bit_cast<double>(uint64_t{0x7ff8000000000000});
    return d;
  }

  // Valid UTF-8 text: ASCII, Latin-1, CJK, emoji, control characters, empty, long.
  std::string text(size_t maxLen = 40) {
    static const std::vector<std::string> kPieces = {
        "a", "Z", "0", " ", "-", "_", ".", "/", "\"", "\\", "\n", "\t", std::string(1, '\0'),
        "\x01", "\x1f", "\x7f", "é", "ü", "ß", "Ω", "ж", "中", "日本", "한", "עב", "🚀", "🧪", "\u2028",
        "\xef\xbf\xbf" /* U+FFFF */, "\xf4\x8f\xbf\xbf" /* U+10FFFF */};
    static const std::vector<std::string> kWords = {
        "GET /api/v1/orders", "db.query", "cache-miss", "http.status_code", "peer.service",
        "error", "component", "span.kind", "grpc", "kafka.topic", "user.id", "HTTP POST"};
    if (chance(5)) return "";
    if (chance(35)) return pick(kWords);
    if (chance(3)) {
      std::string s;
      const auto n = static_cast<size_t>(range(200, 1500));
      while (s.size() < n) s += pick(kPieces);
      return s;
    }
    std::string s;
    const auto n = static_cast<size_t>(range(1, static_cast<int64_t>(maxLen)));
    for (size_t i = 0; i < n; ++i) s += pick(kPieces);
    return s;
  }

  std::string bytes(size_t maxLen = 64) {
    if (chance(10)) return "";
    const auto n = static_cast<size_t>(chance(5) ? range(256, 1200) : range(1, static_cast<int64_t>(maxLen)));
    std::string b(n, '\0');
    for (auto& c : b) c = static_cast<char>(range(0, 255));
    return b;
  }

  jt::Tag tag() {
    jt::Tag t;
    t.key = text(20);
    t.vType = static_cast<jt::TagType::type>(range(0, 4));
    const bool allFields = chance(25);  // like jaeger-client-node: every value field present
    const bool omitSelected = chance(1);  // selected field absent: forwarded as is
    auto want = [&](jt::TagType::type which) {
      return t.vType == which ? !omitSelected : allFields;
    };
    if (want(jt::TagType::STRING)) t.__set_vStr(text());
    if (want(jt::TagType::DOUBLE)) t.__set_vDouble(edgyDouble());
    if (want(jt::TagType::BOOL)) t.__set_vBool(chance(50));
    if (want(jt::TagType::LONG)) t.__set_vLong(edgyI64());
    if (want(jt::TagType::BINARY)) t.__set_vBinary(bytes());
    return t;
  }

  std::vector<jt::Tag> tags(int maxCount) {
    std::vector<jt::Tag> v(static_cast<size_t>(range(0, maxCount)));
    for (auto& t : v) t = tag();
    return v;
  }

  jt::Process process() {
    static const std::vector<std::string> kServices = {
        "oracle-frontend", "oracle-backend", "oracle-db", "oracle-ünïcode-服务", "", "o"};
    jt::Process p;
    p.serviceName = chance(90) ? pick(kServices) : text();
    const int mode = static_cast<int>(range(0, 9));
    if (mode == 0) {
      // tags absent
    } else if (mode == 1) {
      p.__set_tags({});
    } else {
      p.__set_tags(tags(8));
    }
    return p;
  }

  jt::Span span(const std::vector<std::pair<int64_t, int64_t>>& traces) {
    jt::Span s;
    const bool reuseTrace = !traces.empty() && chance(50);
    if (reuseTrace) {
      const auto& tr = pick(traces);
      s.traceIdLow = tr.first;
      s.traceIdHigh = tr.second;
    } else {
      s.traceIdLow = i64();
      s.traceIdHigh = chance(30) ? 0 : i64();  // 64-bit and 128-bit ids
    }
    s.spanId = uniqueId();
    s.parentSpanId = chance(30) ? 0 : i64();
    s.operationName = text();
    const int refMode = static_cast<int>(range(0, 5));
    if (refMode == 1) {
      s.__set_references({});
    } else if (refMode >= 2) {
      std::vector<jt::SpanRef> refs(static_cast<size_t>(range(1, 4)));
      for (auto& r : refs) {
        r.refType = static_cast<jt::SpanRefType::type>(range(0, 1));
        r.traceIdLow = chance(50) ? s.traceIdLow : i64();
        r.traceIdHigh = chance(50) ? s.traceIdHigh : i64();
        r.spanId = edgyI64();
      }
      s.__set_references(refs);
    }
    static const std::vector<int32_t> kFlags = {0, 1, 2, 3, std::numeric_limits<int32_t>::max(),
                                                std::numeric_limits<int32_t>::min(), -1};
    s.flags = chance(80) ? static_cast<int32_t>(range(0, 3)) : pick(kFlags);
    s.startTime = chance(85) ? range(1'500'000'000'000'000, 1'900'000'000'000'000) : edgyI64();
    s.duration = chance(85) ? range(0, 10'000'000) : edgyI64();
    const int tagMode = static_cast<int>(range(0, 9));
    if (tagMode == 1) s.__set_tags({});
    else if (tagMode >= 2) s.__set_tags(tags(12));
    const int logMode = static_cast<int>(range(0, 5));
    if (logMode == 1) {
      s.__set_logs({});
    } else if (logMode >= 2) {
      std::vector<jt::Log> logs(static_cast<size_t>(range(1, 4)));
      for (auto& l : logs) {
        l.timestamp = chance(90) ? s.startTime + range(0, 1000) : edgyI64();
        l.fields = tags(5);
      }
      s.__set_logs(logs);
    }
    return s;
  }

  zt::Endpoint endpoint() {
    zt::Endpoint e;
    e.ipv4 = chance(20) ? static_cast<int32_t>(0x7f000001) : static_cast<int32_t>(u64());
    e.port = static_cast<int16_t>(range(-32768, 32767));  // negative = port > 32767 on the wire
    e.service_name = text(16);
    if (chance(30)) {
      std::string v6(16, '\0');
      for (auto& c : v6) c = static_cast<char>(range(0, 255));
      e.__set_ipv6(v6);
    }
    return e;
  }

  zt::Span zipkinSpan() {
    static const std::vector<std::string> kCore = {"cs", "cr", "ss", "sr", "ms", "mr", "ws", "wr"};
    zt::Span s;
    s.trace_id = i64();
    s.name = text();
    s.id = uniqueId();
    if (chance(60)) s.__set_parent_id(i64());
    s.annotations.resize(static_cast<size_t>(range(0, 4)));
    for (auto& a : s.annotations) {
      a.timestamp = chance(90) ? range(1'500'000'000'000'000, 1'900'000'000'000'000) : edgyI64();
      a.value = chance(70) ? pick(kCore) : text();
      if (chance(70)) a.__set_host(endpoint());
    }
    s.binary_annotations.resize(static_cast<size_t>(range(0, 5)));
    for (auto& b : s.binary_annotations) {
      b.key = chance(20) ? pick(std::vector<std::string>{"lc", "ca", "sa", "ma"}) : text(20);
      b.annotation_type = static_cast<zt::AnnotationType::type>(range(0, 6));
      switch (b.annotation_type) {
        case zt::AnnotationType::BOOL: b.value = std::string(1, chance(50) ? '\1' : '\0'); break;
        case zt::AnnotationType::I16: b.value = bytes(2).substr(0, 2); break;
        case zt::AnnotationType::I32: b.value = bytes(4).substr(0, 4); break;
        case zt::AnnotationType::I64:
        case zt::AnnotationType::DOUBLE: b.value = bytes(8).substr(0, 8); break;
        case zt::AnnotationType::STRING: b.value = text(); break;
        default: b.value = bytes(); break;
      }
      if (chance(50)) b.__set_host(endpoint());
    }
    if (chance(30)) s.__set_debug(chance(50));
    if (chance(70)) s.__set_timestamp(range(1'500'000'000'000'000, 1'900'000'000'000'000));
    if (chance(70)) s.__set_duration(chance(90) ? range(0, 10'000'000) : edgyI64());
    if (chance(60)) s.__set_trace_id_high(chance(10) ? 0 : i64());
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::set<int64_t> ids_;
};

// ---------------------------------------------------------------------------------------------
// Encoding and sending

enum class Proto { kCompact, kBinary };

template <typename Args>
std::string encodeMessage(Proto proto, const char* name, TMessageType type, int32_t seqid, const Args& args) {
  auto buffer = std::make_shared<TMemoryBuffer>();
  std::unique_ptr<TProtocol> p;
  if (proto == Proto::kCompact) p = std::make_unique<TCompactProtocol>(buffer);
  else p = std::make_unique<TBinaryProtocol>(buffer);  // strict write: 80 01 00 0T
  p->writeMessageBegin(name, type, seqid);
  args.write(p.get());
  p->writeMessageEnd();
  return buffer->getBufferAsString();
}

class UdpSender {
 public:
  explicit UdpSender(int port, int paceUs) : paceUs_(paceUs) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int sndbuf = 4 << 20;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect 127.0.0.1: ") + std::strerror(err));
    }
  }
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;
  ~UdpSender() { ::close(fd_); }

  // Returns an empty string on success, otherwise the error.
  std::string send(const std::string& datagram) {
    for (int attempt = 0;; ++attempt) {
      const ssize_t n = ::send(fd_, datagram.data(), datagram.size(), 0);
      if (n == static_cast<ssize_t>(datagram.size())) break;
      if (n < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) && attempt < 100) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      return n < 0 ? std::string(std::strerror(errno)) : "short send " + std::to_string(n);
    }
    // Pace proportionally to size: loopback drops when the receiver's buffer fills.
    if (paceUs_ > 0) {
      const auto us = static_cast<long>(paceUs_) * static_cast<long>(datagram.size() / 16384 + 1);
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
    return {};
  }

 private:
  int fd_ = -1;
  int paceUs_ = 0;
};

TMessageType messageTypeFor(MessageType mt, int32_t seqid) {
  switch (mt) {
    case MessageType::kCall: return apache::thrift::protocol::T_CALL;
    case MessageType::kOneway: return apache::thrift::protocol::T_ONEWAY;
    case MessageType::kMixed: break;
  }
  return (seqid % 2 == 0) ? apache::thrift::protocol::T_CALL : apache::thrift::protocol::T_ONEWAY;
}

// Encodes the batch; drops spans from the end until it fits into maxPacket.
std::string fitJaegerBatch(jt::Batch& batch, Proto proto, TMessageType type, int32_t seqid, size_t maxPacket) {
  for (;;) {
    at::Agent_emitBatch_args args;
    args.batch = batch;
    std::string datagram = encodeMessage(proto, "emitBatch", type, seqid, args);
    if (datagram.size() <= maxPacket || batch.spans.size() <= 1) return datagram;
    const size_t keep = std::max<size_t>(1, batch.spans.size() * maxPacket / datagram.size());
    batch.spans.resize(std::min(keep, batch.spans.size() - 1));
  }
}

std::string fitZipkinBatch(std::vector<zt::Span>& spans, Proto proto, TMessageType type, int32_t seqid,
                           size_t maxPacket) {
  for (;;) {
    at::Agent_emitZipkinBatch_args args;
    args.spans = spans;
    std::string datagram = encodeMessage(proto, "emitZipkinBatch", type, seqid, args);
    if (datagram.size() <= maxPacket || spans.size() <= 1) return datagram;
    const size_t keep = std::max<size_t>(1, spans.size() * maxPacket / datagram.size());
    spans.resize(std::min(keep, spans.size() - 1));
  }
}

int run(const Options& o) {
  Gen gen(o.seed);
  std::ofstream out;
  if (!o.out.empty()) {
    out.open(o.out, std::ios::out | std::ios::trunc | std::ios::binary);
    if (!out) {
      std::cerr << "oracle-sender: cannot open " << o.out << "\n";
      return 1;
    }
  }
  std::unique_ptr<UdpSender> compact, binary, zipkin;
  if (o.batches > 0) compact = std::make_unique<UdpSender>(o.compactPort, o.paceUs);
  if (o.batches > 0 && o.binaryPort != 0) binary = std::make_unique<UdpSender>(o.binaryPort, o.paceUs);
  if (o.zipkinBatches > 0) zipkin = std::make_unique<UdpSender>(o.zipkinPort, o.paceUs);

  size_t jaegerSpans = 0, zipkinSpans = 0, compactDatagrams = 0, binaryDatagrams = 0, bytes = 0,
         maxDatagram = 0;
  int errors = 0;
  size_t skippedOversize = 0;
  int32_t seqid = 0;
  std::vector<std::pair<int64_t, int64_t>> traces;
  int64_t batchSeqNo = 0;

  for (int i = 0; i < o.batches; ++i) {
    jt::Batch batch;
    batch.process = gen.process();
    // Sizes from one span to "fill the datagram"; the largest ones exceed one TChannel frame
    // once re-encoded as binary.
    const int64_t want = gen.chance(10) ? 1 : gen.chance(15) ? 400 : gen.range(2, 60);
    for (int64_t k = 0; k < want; ++k) {
      batch.spans.push_back(gen.span(traces));
      const auto& s = batch.spans.back();
      if (traces.size() < 64) traces.emplace_back(s.traceIdLow, s.traceIdHigh);
      else traces[static_cast<size_t>(gen.range(0, 63))] = {s.traceIdLow, s.traceIdHigh};
    }
    if (gen.chance(60)) batch.__set_seqNo(++batchSeqNo);
    if (gen.chance(40)) {
      jt::ClientStats st;
      st.fullQueueDroppedSpans = gen.range(0, 1000);
      st.tooLargeDroppedSpans = gen.chance(90) ? gen.range(0, 10) : gen.edgyI64();
      st.failedToEmitSpans = gen.range(0, 100);
      batch.__set_stats(st);
    }
    ++seqid;
    const bool useBinary = binary && i % 3 == 2;
    const std::string datagram =
        fitJaegerBatch(batch, useBinary || o.forceBinary ? Proto::kBinary : Proto::kCompact,
                       messageTypeFor(o.messageType, seqid),
                       seqid, o.maxPacket);
    if (datagram.size() > o.maxPacket) {
      ++skippedOversize;  // one random span larger than a datagram: not sent, not recorded
      continue;
    }
    const std::string err = (useBinary ? binary : compact)->send(datagram);
    if (!err.empty()) {
      std::cerr << "oracle-sender: send to " << (useBinary ? o.binaryPort : o.compactPort) << ": " << err << "\n";
      ++errors;
      continue;  // not sent, not recorded
    }
    (useBinary || o.forceBinary ? binaryDatagrams : compactDatagrams)++;
    bytes += datagram.size();
    maxDatagram = std::max(maxDatagram, datagram.size());
    jaegerSpans += batch.spans.size();
    if (out) {
      for (const auto& s : batch.spans) out << jaegerSpanLine(batch, s) << '\n';
    }
  }

  size_t zipkinDatagrams = 0;
  for (int i = 0; i < o.zipkinBatches; ++i) {
    std::vector<zt::Span> spans(static_cast<size_t>(gen.chance(10) ? 1 : gen.chance(10) ? 300 : gen.range(2, 40)));
    for (auto& s : spans) s = gen.zipkinSpan();
    ++seqid;
    const std::string datagram = fitZipkinBatch(spans, o.forceBinary ? Proto::kBinary : Proto::kCompact,
                                                messageTypeFor(o.messageType, seqid), seqid, o.maxPacket);
    if (datagram.size() > o.maxPacket) {
      ++skippedOversize;  // one random span larger than a datagram: not sent, not recorded
      continue;
    }
    const std::string err = zipkin->send(datagram);
    if (!err.empty()) {
      std::cerr << "oracle-sender: send to " << o.zipkinPort << ": " << err << "\n";
      ++errors;
      continue;
    }
    ++zipkinDatagrams;
    bytes += datagram.size();
    maxDatagram = std::max(maxDatagram, datagram.size());
    zipkinSpans += spans.size();
    if (out) {
      for (const auto& s : spans) out << zipkinSpanLine(s) << '\n';
    }
  }
  if (out) {
    out.flush();
    if (!out) {
      std::cerr << "oracle-sender: writing " << o.out << " failed\n";
      return 1;
    }
  }
  std::cout << "oracle-sender: jaeger " << jaegerSpans << " spans in " << compactDatagrams << " compact + "
            << binaryDatagrams << " binary datagrams, zipkin " << zipkinSpans << " spans in " << zipkinDatagrams
            << " datagrams, " << bytes << " bytes (largest " << maxDatagram << "), seed " << o.seed
            << ", skipped oversize " << skippedOversize << ", send errors " << errors << std::endl;
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parseOptions(argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "oracle-sender: " << e.what() << "\n";
    return 1;
  }
}
