// jaeger-loadgen: a span load generator for benchmarking the agent (issue #7).
//
//   jaeger-loadgen --target host:port [--encoding compact|binary|zipkin] [--size 1k|64k|BYTES]
//                  [--rate DATAGRAMS_PER_S] [--threads N] [--duration SECONDS] [--count DATAGRAMS]
//                  [--seed S] [--batch N] [--spans N] [--templates N] [--processes N] [--cpus 0,1] [--json]
//
// At start it builds a pool of distinct datagrams for the size class and encoding with Apache
// Thrift's generated types (TCompactProtocol / TBinaryProtocol into memory, `emitBatch` or
// `emitZipkinBatch` envelopes): realistic batches with process tags, 5–30 tags per span of mixed
// types (5–8 for datagrams under 4 KB, so that a ~1 KB datagram holds two spans), logs and
// references. Then N threads blast them with sendmmsg, paced by a token bucket
// (--rate 0 = as fast as possible), until --duration or --count or SIGINT/SIGTERM.
//
// Span ids are made unique per datagram at send time without re-encoding: every span id in the
// pool is a sentinel whose encoding has a fixed width (8 bytes in binary; a 10-byte varint in
// compact, because every id is in [2^62, 2^63) so its zigzag form always has 64 significant
// bits), located once after encoding; sending a datagram overwrites those bytes with
// 2^62 | thread<<52 | sequence<<12 | span index.
//
// Content checksum: for every span sent, digest = mix64(spanId ^ rotl(traceIdLow,17) ^
// rotl(traceIdHigh,31) ^ rotl(startTime,43) ^ duration) (zipkin: id, trace_id, trace_id_high,
// timestamp, duration; absent = 0), summed mod 2^64. jaeger-collector-sink computes the same sum
// over what it receives, so equal sums mean the same spans arrived, once each, ids intact.
//
// The final report (stderr; with --json also one JSON object on stdout) counts only datagrams the
// kernel accepted: datagrams, spans, bytes, send_errors, checksum.
// Exit status: 0 ok (even with send errors: they are reported), 2 usage, 1 setup failure.

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
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
using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;

constexpr uint64_t kIdBase = uint64_t{1} << 62;      // every span id is in [2^62, 2^63)
constexpr uint64_t kSentinelThread = 0x3FF;          // thread field value reserved for sentinels
constexpr unsigned kMaxThreads = 1000;
constexpr unsigned kMaxSpansPerDatagram = 4095;      // span index field is 12 bits
constexpr uint64_t kMaxSequence = (uint64_t{1} << 40) - 1;

enum class Encoding { kCompact, kBinary, kZipkin };

struct Options {
  std::string target;
  Encoding encoding = Encoding::kCompact;
  std::string sizeName = "64k";
  size_t maxBytes = 65000;
  double rate = 0;             // datagrams/s over all threads; 0 = unpaced
  unsigned threads = 1;
  double duration = 0;         // seconds; 0 = until --count or a signal
  uint64_t count = 0;          // datagrams; 0 = until --duration or a signal
  uint64_t seed = 1;
  unsigned batch = 32;
  unsigned templates = 0;      // distinct datagrams in the pool; 0 = by size class
  unsigned processes = 0;      // distinct client processes (Batch.process) in the pool; 0 = one per datagram
  size_t spans = 0;            // spans in every datagram; 0 = by size class
  std::vector<int> cpus;
  bool json = false;
  std::string writePool;       // write the pool to this file and exit (decode-bench --pool)
};

[[noreturn]] void usage(const std::string& msg) {
  std::cerr << "jaeger-loadgen: " << msg << "\n";
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{"jaeger-loadgen: realistic Jaeger/Zipkin UDP load from N sendmmsg threads"};
  app.add_option("--target", o.target, "agent host:port (required unless --write-pool)");
  const std::map<std::string, Encoding> encodings{
      {"compact", Encoding::kCompact}, {"binary", Encoding::kBinary}, {"zipkin", Encoding::kZipkin}};
  app.add_option("--encoding", o.encoding, "compact | binary | zipkin")->transform(CLI::CheckedTransformer(encodings));
  app.add_option("--size", o.sizeName, "1k | 64k | BYTES (400..65507)");
  app.add_option("--rate", o.rate, "datagrams/s over all threads (0 = unpaced)")->check(CLI::Range(0.0, 1e9));
  app.add_option("--threads", o.threads, "sender threads")->check(CLI::Range(1u, kMaxThreads));
  app.add_option("--duration", o.duration, "seconds (0 = until --count or a signal)")->check(CLI::Range(0.0, 86400.0));
  app.add_option("--count", o.count, "datagrams (0 = until --duration or a signal)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{kMaxSequence}));
  app.add_option("--seed", o.seed, "random seed");
  app.add_option("--batch", o.batch, "datagrams per sendmmsg")->check(CLI::Range(1u, 1024u));
  app.add_option("--spans", o.spans, "spans per datagram (default: by size class)")
      ->check(CLI::Range(size_t{1}, size_t{kMaxSpansPerDatagram}));
  app.add_option("--templates", o.templates, "distinct datagrams in the pool")->check(CLI::Range(1u, 100000u));
  app.add_option("--processes", o.processes,
                 "distinct client processes the pool's datagrams come from (0 = a new one per datagram); "
                 "a real client sends all its batches with one process")
      ->check(CLI::Range(0u, 100000u));
  app.add_option("--cpus", o.cpus, "pin sender threads, e.g. 0,1")->delimiter(',')->check(CLI::Range(0, 4095));
  app.add_flag("--json", o.json, "final report as JSON");
  app.add_option("--write-pool", o.writePool,
                 "write the pool's datagrams to FILE (each as a 4-byte little-endian length, then the bytes) "
                 "and exit without sending: the exact inputs for decode-bench --pool");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (o.target.empty() && o.writePool.empty()) usage("--target is required");
  if (o.sizeName == "1k") {
    o.maxBytes = 1000;
  } else if (o.sizeName == "64k") {
    o.maxBytes = 65000;  // jaeger clients' UDPPacketMaxLength
  } else {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(o.sizeName.c_str(), &end, 10);
    if (end == o.sizeName.c_str() || *end != '\0' || v < 400 || v > 65507) usage("bad value for --size: " + o.sizeName);
    o.maxBytes = static_cast<size_t>(v);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Content: realistic, seeded.

uint64_t mix64(uint64_t z) {  // splitmix64 finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The part of a span's digest that does not depend on its (patched) id.
uint64_t digestRest(int64_t traceIdLow, int64_t traceIdHigh, int64_t startTime, int64_t duration) {
  return std::rotl(static_cast<uint64_t>(traceIdLow), 17) ^ std::rotl(static_cast<uint64_t>(traceIdHigh), 31) ^
         std::rotl(static_cast<uint64_t>(startTime), 43) ^ static_cast<uint64_t>(duration);
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  int64_t range(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool chance(int percent) { return range(0, 99) < percent; }
  int64_t i64() { return static_cast<int64_t>(rng_()); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(range(0, static_cast<int64_t>(v.size()) - 1))];
  }

  std::string word(size_t lo, size_t hi) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789-_./";
    std::string s(static_cast<size_t>(range(static_cast<int64_t>(lo), static_cast<int64_t>(hi))), 'a');
    for (char& c : s) c = kChars[range(0, sizeof kChars - 2)];
    return s;
  }

  std::string stringValue() {
    static const std::vector<std::string> kValues = {
        "GET", "POST", "server", "client", "producer", "200", "grpc", "mysql", "redis", "kafka",
        "SELECT id, status, total FROM orders WHERE customer_id = ? AND created_at > ?",
        "https://api.example.com/v1/orders/8a2f31c0-5d1e-4bb2-9c47-1f0e2d6a7b93?expand=items",
        "com.example.orders.OrderService/GetOrder", "Connection reset by peer"};
    return chance(60) ? pick(kValues) : word(8, 64);
  }

  // Instrumentation sets each key once per span (a tracer's setTag replaces): keys drawn twice
  // get a suffix, so the pool does not exercise the rare duplicate-key paths on every span (the
  // OTLP encoder collapses duplicates, modern-collectors.md §3.9, at a cost real spans do not pay).
  static void uniqueKeys(std::vector<jt::Tag>& tags) {
    for (size_t i = 0; i < tags.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (tags[j].key == tags[i].key) {
          tags[i].key += "." + std::to_string(i);
          break;
        }
  }

  jt::Tag tag() {
    static const std::vector<std::string> kKeys = {
        "http.method", "http.url", "http.status_code", "component", "span.kind", "peer.service",
        "peer.hostname", "peer.port", "db.type", "db.instance", "db.statement", "error",
        "sampler.type", "sampler.param", "message_bus.destination", "retry.count", "cache.hit",
        "response.size", "user.tier", "region", "thread.name", "request.id"};
    jt::Tag t;
    t.key = chance(85) ? pick(kKeys) : word(4, 24);
    const int64_t r = range(0, 99);
    if (r < 50) {
      t.vType = jt::TagType::STRING;
      t.__set_vStr(stringValue());
    } else if (r < 70) {
      t.vType = jt::TagType::LONG;
      t.__set_vLong(chance(80) ? range(0, 100000) : i64());
    } else if (r < 85) {
      t.vType = jt::TagType::BOOL;
      t.__set_vBool(chance(50));
    } else if (r < 95) {
      t.vType = jt::TagType::DOUBLE;
      t.__set_vDouble(static_cast<double>(range(0, 1'000'000)) / 1000.0);
    } else {
      t.vType = jt::TagType::BINARY;
      std::string b(static_cast<size_t>(range(8, 32)), '\0');
      for (char& c : b) c = static_cast<char>(range(0, 255));
      t.__set_vBinary(b);
    }
    return t;
  }

  jt::Process process() {
    static const std::vector<std::string> kServices = {"frontend", "orders", "payments", "inventory",
                                                       "shipping", "auth", "search", "recommendation"};
    jt::Process p;
    p.serviceName = pick(kServices);
    std::vector<jt::Tag> tags(4);
    tags[0].key = "hostname", tags[0].vType = jt::TagType::STRING, tags[0].__set_vStr("node-" + word(6, 10));
    tags[1].key = "ip", tags[1].vType = jt::TagType::STRING, tags[1].__set_vStr("10.12." + std::to_string(range(0, 255)) + "." + std::to_string(range(1, 254)));
    tags[2].key = "client-uuid", tags[2].vType = jt::TagType::STRING, tags[2].__set_vStr(word(16, 16));
    tags[3].key = "jaeger.version", tags[3].vType = jt::TagType::STRING, tags[3].__set_vStr("Go-2.30.0");
    p.__set_tags(tags);
    return p;
  }

  std::string operation() {
    static const std::vector<std::string> kOps = {
        "HTTP GET /api/v1/orders/{id}", "HTTP POST /api/v1/checkout", "SELECT orders", "redis.GET",
        "kafka.produce orders-events", "grpc.OrderService/GetOrder", "render", "authenticate",
        "cache.lookup", "payment.authorize"};
    return pick(kOps);
  }

  // maxTags bounds the tag count (the 1 KB class needs small spans); logs only when allowed.
  jt::Span span(int64_t sentinelId, int maxTags, bool allowLogs) {
    jt::Span s;
    s.traceIdLow = i64();
    s.traceIdHigh = chance(50) ? 0 : i64();
    s.spanId = sentinelId;
    s.parentSpanId = chance(20) ? 0 : i64();
    s.operationName = operation();
    if (chance(50)) {
      jt::SpanRef ref;
      ref.refType = chance(90) ? jt::SpanRefType::CHILD_OF : jt::SpanRefType::FOLLOWS_FROM;
      ref.traceIdLow = s.traceIdLow;
      ref.traceIdHigh = s.traceIdHigh;
      ref.spanId = s.parentSpanId != 0 ? s.parentSpanId : i64();
      s.__set_references({ref});
    }
    s.flags = 1;
    s.startTime = range(1'700'000'000'000'000, 1'800'000'000'000'000);
    s.duration = range(10, 5'000'000);
    std::vector<jt::Tag> tags(static_cast<size_t>(range(std::min(5, maxTags), maxTags)));
    for (auto& t : tags) t = tag();
    uniqueKeys(tags);
    s.__set_tags(tags);
    if (allowLogs && chance(30)) {
      std::vector<jt::Log> logs(static_cast<size_t>(range(1, 3)));
      for (auto& l : logs) {
        l.timestamp = s.startTime + range(0, s.duration);
        l.fields.resize(static_cast<size_t>(range(2, 4)));
        l.fields[0].key = "event", l.fields[0].vType = jt::TagType::STRING, l.fields[0].__set_vStr(chance(50) ? "error" : "retry");
        for (size_t i = 1; i < l.fields.size(); ++i) l.fields[i] = tag();
        uniqueKeys(l.fields);
      }
      s.__set_logs(logs);
    }
    return s;
  }

  zt::Endpoint endpoint(const std::string& service) {
    zt::Endpoint e;
    e.ipv4 = static_cast<int32_t>(0x0A0C0000u | static_cast<uint32_t>(range(1, 0xFFFF)));
    e.port = static_cast<int16_t>(range(1024, 32000));
    e.service_name = service;
    return e;
  }

  zt::Span zipkinSpan(int64_t sentinelId, int maxTags, bool allowLogs) {
    zt::Span s;
    s.trace_id = i64();
    s.name = operation();
    s.id = sentinelId;
    if (chance(80)) s.__set_parent_id(i64());
    s.__set_timestamp(range(1'700'000'000'000'000, 1'800'000'000'000'000));
    s.__set_duration(range(10, 5'000'000));
    if (chance(50)) s.__set_trace_id_high(i64());
    const zt::Endpoint host = endpoint(chance(50) ? "frontend" : "orders");
    const bool client = chance(50);
    s.annotations.resize(2);
    s.annotations[0].timestamp = s.timestamp, s.annotations[0].value = client ? "cs" : "sr";
    s.annotations[1].timestamp = s.timestamp + s.duration, s.annotations[1].value = client ? "cr" : "ss";
    for (auto& a : s.annotations) a.__set_host(host);
    if (allowLogs && chance(30)) {
      zt::Annotation a;
      a.timestamp = s.timestamp + 1;
      a.value = "retry";
      s.annotations.push_back(a);
    }
    s.binary_annotations.resize(static_cast<size_t>(range(std::min(5, maxTags), maxTags)));
    for (auto& b : s.binary_annotations) {
      const jt::Tag t = tag();
      b.key = t.key;
      switch (t.vType) {
        case jt::TagType::LONG: {
          b.annotation_type = zt::AnnotationType::I64;
          b.value.resize(8);
          const uint64_t v = static_cast<uint64_t>(t.vLong);
          for (int i = 0; i < 8; ++i) b.value[static_cast<size_t>(i)] = static_cast<char>(v >> (56 - 8 * i));
          break;
        }
        case jt::TagType::BOOL: b.annotation_type = zt::AnnotationType::BOOL, b.value = std::string(1, t.vBool ? '\1' : '\0'); break;
        case jt::TagType::BINARY: b.annotation_type = zt::AnnotationType::BYTES, b.value = t.vBinary; break;
        default: b.annotation_type = zt::AnnotationType::STRING, b.value = t.vType == jt::TagType::STRING ? t.vStr : "1.5"; break;
      }
      if (chance(20)) b.__set_host(host);
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// ---------------------------------------------------------------------------------------------
// Encoding

std::unique_ptr<TProtocol> makeProtocol(Encoding e, const std::shared_ptr<TMemoryBuffer>& buf) {
  if (e == Encoding::kBinary) return std::make_unique<TBinaryProtocol>(buf);  // strict: 80 01 00 0T
  return std::make_unique<TCompactProtocol>(buf);
}

template <typename T>
size_t encodedSize(Encoding e, const T& value) {
  auto buf = std::make_shared<TMemoryBuffer>();
  auto p = makeProtocol(e, buf);
  value.write(p.get());
  return buf->available_read();
}

template <typename Args>
std::string encodeMessage(Encoding e, const char* name, int32_t seqid, const Args& args) {
  auto buf = std::make_shared<TMemoryBuffer>();
  auto p = makeProtocol(e, buf);
  // ONEWAY, as jaeger-client-node and -python send it (the agent accepts CALL too).
  p->writeMessageBegin(name, apache::thrift::protocol::T_ONEWAY, seqid);
  args.write(p.get());
  p->writeMessageEnd();
  return buf->getBufferAsString();
}

// The wire bytes of span id `id` in this encoding (varint of the zigzag form, or big-endian).
size_t encodeId(Encoding e, uint64_t id, uint8_t* out) {
  if (e == Encoding::kBinary) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(id >> (56 - 8 * i));
    return 8;
  }
  uint64_t z = id << 1;  // zigzag of a positive value; id < 2^63 so nothing is lost
  size_t n = 0;
  while (z >= 0x80) {
    out[n++] = static_cast<uint8_t>(z | 0x80);
    z >>= 7;
  }
  out[n++] = static_cast<uint8_t>(z);
  return n;
}

struct Template {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> idOffsets;  // where each span's id bytes start
  std::vector<uint64_t> rest;       // digestRest per span
};

uint64_t sentinelId(uint64_t templateIdx, uint64_t spanIdx) {
  return kIdBase | (kSentinelThread << 52) | (templateIdx << 12) | spanIdx;
}

// Finds the (unique) position of each sentinel id in the encoded datagram.
bool locateIds(Encoding e, Template& t, uint64_t templateIdx, size_t spans) {
  for (size_t i = 0; i < spans; ++i) {
    uint8_t pattern[10];
    const size_t n = encodeId(e, sentinelId(templateIdx, i), pattern);
    const auto* begin = t.bytes.data();
    const auto* end = begin + t.bytes.size();
    const auto* hit = std::search(begin, end, pattern, pattern + n);
    if (hit == end) return false;
    if (std::search(hit + 1, end, pattern, pattern + n) != end) return false;  // must be unambiguous
    t.idOffsets.push_back(static_cast<uint32_t>(hit - begin));
  }
  return true;
}

// One datagram of at most maxBytes with exactly `want` spans (0 = as many as fit). Every
// datagram of a run carries the same number of spans, so that datagrams the kernel drops
// convert exactly into spans in the benchmark's accounting. Spans are drawn at full size
// (5–30 tags) while the rest of the datagram still has room for small ones, then smaller.
Template buildTemplate(const Options& o, Gen& g, uint64_t templateIdx, size_t want,
                       const std::vector<jt::Process>& processes) {
  const bool small = o.maxBytes < 4096;
  const int fullTags = small ? 8 : 30;  // a ~1 KB datagram holds two spans of 5–8 tags
  const bool zipkin = o.encoding == Encoding::kZipkin;
  for (int attempt = 0; attempt < 50; ++attempt) {
    jt::Batch batch;
    std::vector<zt::Span> zspans;
    if (!zipkin) {
      batch.process = processes.empty() ? g.process() : processes[templateIdx % processes.size()];
      batch.__set_seqNo(static_cast<int64_t>(templateIdx) + 1);  // like jaeger-client-go
      batch.__set_stats(jt::ClientStats{});
    }
    auto encode = [&]() {
      if (zipkin) {
        at::Agent_emitZipkinBatch_args args;
        args.spans = zspans;
        return encodeMessage(o.encoding, "emitZipkinBatch", 0, args);
      }
      at::Agent_emitBatch_args args;
      args.batch = batch;
      return encodeMessage(o.encoding, "emitBatch", 0, args);
    };
    auto count = [&]() { return zipkin ? zspans.size() : batch.spans.size(); };
    // A small span (5 tags, no logs) as the room to keep for each span still to come.
    const size_t reserve = zipkin ? encodedSize(o.encoding, g.zipkinSpan(1, 5, false)) + 24
                                  : encodedSize(o.encoding, g.span(1, 5, false)) + 24;
    size_t total = encode().size() + 5;  // + list header growth
    bool failed = false;
    for (size_t slot = 0; (want == 0 || slot < want) && slot < kMaxSpansPerDatagram && !failed; ++slot) {
      const size_t keep = want == 0 ? 0 : (want - slot - 1) * reserve;
      bool placed = false;
      for (int tries = 0; tries < 12 && !placed; ++tries) {
        const int maxTags = tries < 4 ? fullTags : std::max(5, fullTags >> (tries - 3));
        const auto id = static_cast<int64_t>(sentinelId(templateIdx, slot));
        size_t sz;
        if (zipkin) {
          zt::Span sp = g.zipkinSpan(id, maxTags, tries < 6);
          sz = encodedSize(o.encoding, sp);
          if (total + sz + keep <= o.maxBytes) zspans.push_back(std::move(sp)), placed = true;
        } else {
          jt::Span sp = g.span(id, maxTags, tries < 6);
          sz = encodedSize(o.encoding, sp);
          if (total + sz + keep <= o.maxBytes) batch.spans.push_back(std::move(sp)), placed = true;
        }
        if (placed) total += sz;
      }
      if (!placed) {
        if (want != 0) failed = true;  // restart this datagram
        break;
      }
    }
    if (failed || count() == 0) continue;
    std::string datagram = encode();
    if (datagram.size() > o.maxBytes) continue;
    Template t;
    t.bytes.assign(datagram.begin(), datagram.end());
    if (zipkin) {
      for (const auto& s : zspans)
        t.rest.push_back(digestRest(s.trace_id, s.__isset.trace_id_high ? s.trace_id_high : 0,
                                    s.__isset.timestamp ? s.timestamp : 0, s.__isset.duration ? s.duration : 0));
    } else {
      for (const auto& s : batch.spans) t.rest.push_back(digestRest(s.traceIdLow, s.traceIdHigh, s.startTime, s.duration));
    }
    if (locateIds(o.encoding, t, templateIdx, count())) return t;
  }
  std::cerr << "jaeger-loadgen: cannot build a datagram of at most " << o.maxBytes << " bytes with " << want
            << " spans\n";
  std::exit(1);
}

// ---------------------------------------------------------------------------------------------
// Sending

std::atomic<bool> gStop{false};

void onSignal(int) { gStop.store(true); }

struct Totals {
  uint64_t datagrams = 0;
  uint64_t spans = 0;
  uint64_t bytes = 0;
  uint64_t sendErrors = 0;
  uint64_t checksum = 0;
  uint64_t wouldBlock = 0;   // EAGAIN/ENOBUFS retries (not errors: the datagram is sent later)
  int lastErrno = 0;
};

double nowSec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleepSec(double s) {
  if (s <= 0) return;
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  ::nanosleep(&ts, nullptr);
}

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

Target resolveTarget(const std::string& hostPort) {
  const size_t colon = hostPort.rfind(':');
  if (colon == std::string::npos) usage("--target must be host:port");
  std::string host = hostPort.substr(0, colon);
  const std::string port = hostPort.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stol(port) < 1 ||
      std::stol(port) > 65535)
    usage("--target port must be 1..65535: " + hostPort);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.empty() ? "127.0.0.1" : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    std::cerr << "jaeger-loadgen: cannot resolve " << hostPort << ": " << ::gai_strerror(rc) << "\n";
    std::exit(1);
  }
  Target t;
  std::memcpy(&t.addr, res->ai_addr, res->ai_addrlen);
  t.len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return t;
}

class Sender {
 public:
  Sender(const Options& o, const std::vector<Template>& pool, const Target& target, unsigned index, uint64_t quota,
         double rate)
      : o_(o), pool_(pool), index_(index), quota_(quota), rate_(rate) {
    fd_ = ::socket(target.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&target.addr), target.len) != 0) {
      std::cerr << "jaeger-loadgen: socket/connect: " << std::strerror(errno) << "\n";
      std::exit(1);
    }
    const int sndbuf = 4 << 20;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    // Each thread patches its own copies, so a batch never aliases a buffer twice.
    copies_.reserve(pool.size());
    for (const Template& t : pool) copies_.push_back(t.bytes);
    cursor_ = (static_cast<size_t>(index) * 7) % pool.size();
  }
  ~Sender() { ::close(fd_); }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  void run(double start, double end) {
    if (!o_.cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(o_.cpus[index_ % o_.cpus.size()], &set);
      (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
    }
    const unsigned batch = std::min<unsigned>(o_.batch, static_cast<unsigned>(pool_.size()));
    std::vector<mmsghdr> msgs(batch);
    std::vector<iovec> iovs(batch);
    std::vector<size_t> which(batch);
    uint64_t seq = 0;
    double tokens = rate_ > 0 ? 1.0 : 0;
    double last = start;
    // Pacing granularity ~200 µs: small bursts, so that pacing (not the generator's sleep
    // pattern) decides whether a small socket buffer overflows.
    const double burst = std::clamp(rate_ * 200e-6, 1.0, static_cast<double>(batch));
    while (!gStop.load(std::memory_order_relaxed)) {
      const uint64_t done = totals_.datagrams + totals_.sendErrors;
      if (quota_ != 0 && done >= quota_) break;
      double now = nowSec();
      if (end > 0 && now >= end) break;
      unsigned n = batch;
      if (quota_ != 0) n = static_cast<unsigned>(std::min<uint64_t>(n, quota_ - done));
      if (rate_ > 0) {
        // Token bucket. It may hold up to 10 ms of sending (at least one sendmmsg batch), so that
        // a sender that was descheduled catches up and the average rate is the one asked for.
        tokens = std::min<double>(tokens + (now - last) * rate_, std::max<double>(batch, rate_ * 0.01));
        last = now;
        if (tokens < burst) {
          sleepSec(std::min((burst - tokens) / rate_, 0.002));
          continue;
        }
        n = static_cast<unsigned>(std::min<double>(n, tokens));
      }
      for (unsigned k = 0; k < n; ++k) {
        const size_t idx = (cursor_ + k) % pool_.size();
        which[k] = idx;
        patch(idx, seq + k);
        iovs[k] = {copies_[idx].data(), copies_[idx].size()};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_iov = &iovs[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      const int r = ::sendmmsg(fd_, msgs.data(), n, 0);
      unsigned sent = r > 0 ? static_cast<unsigned>(r) : 0;
      for (unsigned k = 0; k < sent; ++k) account(which[k], seq + k);
      if (r < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
          ++totals_.wouldBlock;
          sleepSec(50e-6);
          continue;  // nothing sent; the same sequence numbers are used again
        }
        // The first datagram was refused (e.g. ECONNREFUSED from an earlier ICMP): counted, skipped.
        ++totals_.sendErrors;
        totals_.lastErrno = errno;
        sent = 1;
        if (totals_.sendErrors < 10 || totals_.sendErrors % 10000 == 0) sleepSec(1e-3);
      }
      seq += sent;
      cursor_ = (cursor_ + sent) % pool_.size();
      if (rate_ > 0) tokens -= sent;
      if (seq > kMaxSequence) break;
    }
  }

  const Totals& totals() const { return totals_; }

 private:
  uint64_t spanId(uint64_t seq, size_t span) const {
    return kIdBase | (uint64_t{index_} << 52) | ((seq & kMaxSequence) << 12) | span;
  }

  void patch(size_t idx, uint64_t seq) {
    const Template& t = pool_[idx];
    uint8_t* bytes = copies_[idx].data();
    for (size_t i = 0; i < t.idOffsets.size(); ++i) (void)encodeId(encodingForIds(), spanId(seq, i), bytes + t.idOffsets[i]);
  }

  void account(size_t idx, uint64_t seq) {
    const Template& t = pool_[idx];
    ++totals_.datagrams;
    totals_.spans += t.idOffsets.size();
    totals_.bytes += t.bytes.size();
    for (size_t i = 0; i < t.idOffsets.size(); ++i) totals_.checksum += mix64(spanId(seq, i) ^ t.rest[i]);
  }

  Encoding encodingForIds() const { return o_.encoding == Encoding::kBinary ? Encoding::kBinary : Encoding::kCompact; }

  const Options& o_;
  const std::vector<Template>& pool_;
  unsigned index_;
  uint64_t quota_;
  double rate_;
  int fd_ = -1;
  std::vector<std::vector<uint8_t>> copies_;
  size_t cursor_ = 0;
  Totals totals_;
};

const char* encodingName(Encoding e) {
  switch (e) {
    case Encoding::kCompact: return "compact";
    case Encoding::kBinary: return "binary";
    case Encoding::kZipkin: return "zipkin";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parseOptions(argc, argv);

  // Pool: enough distinct datagrams that a sendmmsg batch never repeats one, and that the
  // receiver's caches see a realistic spread (≈2 MB of 64 KB datagrams, ≈1 MB of small ones).
  unsigned templates = o.templates;
  if (templates == 0) templates = o.maxBytes >= 16384 ? 32 : 1024;
  templates = std::max(templates, std::min(o.batch, 1024u));
  Gen g(o.seed);
  std::vector<jt::Process> processes;
  for (unsigned i = 0; i < o.processes; ++i) processes.push_back(g.process());
  std::vector<Template> pool;
  pool.reserve(templates);
  uint64_t poolSpans = 0, poolBytes = 0;
  size_t spansPer = o.spans;
  if (spansPer == 0) {
    // Probe: as many average spans as fit, less a margin so that every datagram can hold them.
    const size_t greedy = buildTemplate(o, g, 0, 0, processes).idOffsets.size();
    spansPer = o.maxBytes < 4096 ? 2 : std::max<size_t>(1, greedy * 95 / 100);  // ~1 KB ≈ 2 spans, as in the anchors
  }
  for (unsigned i = 0; i < templates; ++i) {
    pool.push_back(buildTemplate(o, g, i, spansPer, processes));
    poolSpans += pool.back().idOffsets.size();
    poolBytes += pool.back().bytes.size();
  }
  std::fprintf(stderr, "jaeger-loadgen: %u %s datagrams in the pool, avg %.0f bytes, avg %.2f spans; target %s\n",
               templates, encodingName(o.encoding), static_cast<double>(poolBytes) / templates,
               static_cast<double>(poolSpans) / templates, o.target.c_str());

  if (!o.writePool.empty()) {
    std::FILE* f = std::fopen(o.writePool.c_str(), "wb");
    bool ok = f != nullptr;
    for (size_t i = 0; ok && i < pool.size(); ++i) {
      const auto n = static_cast<uint32_t>(pool[i].bytes.size());
      const uint8_t len[4] = {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n >> 16),
                              static_cast<uint8_t>(n >> 24)};
      ok = std::fwrite(len, 1, 4, f) == 4 && std::fwrite(pool[i].bytes.data(), 1, n, f) == n;
    }
    if (f != nullptr && std::fclose(f) != 0) ok = false;
    if (!ok) {
      std::fprintf(stderr, "jaeger-loadgen: cannot write %s: %s\n", o.writePool.c_str(), std::strerror(errno));
      return 1;
    }
    return 0;
  }
  const Target target = resolveTarget(o.target);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  std::vector<std::unique_ptr<Sender>> senders;
  for (unsigned i = 0; i < o.threads; ++i) {
    const uint64_t quota = o.count == 0 ? 0 : o.count / o.threads + (i < o.count % o.threads ? 1 : 0);
    if (o.count != 0 && quota == 0) continue;
    senders.push_back(std::make_unique<Sender>(o, pool, target, i, quota, o.rate / o.threads));
  }
  rusage before{};  // the pool generation above is not part of sending
  ::getrusage(RUSAGE_SELF, &before);
  const double start = nowSec();
  const double end = o.duration > 0 ? start + o.duration : 0;
  std::vector<std::thread> threads;
  for (auto& s : senders) threads.emplace_back([&s, start, end] { s->run(start, end); });
  for (auto& t : threads) t.join();
  const double elapsed = nowSec() - start;
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto toSec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
  const double cpuUser = toSec(ru.ru_utime) - toSec(before.ru_utime);
  const double cpuSys = toSec(ru.ru_stime) - toSec(before.ru_stime);

  Totals sum;
  for (const auto& s : senders) {
    const Totals& t = s->totals();
    sum.datagrams += t.datagrams;
    sum.spans += t.spans;
    sum.bytes += t.bytes;
    sum.sendErrors += t.sendErrors;
    sum.checksum += t.checksum;
    sum.wouldBlock += t.wouldBlock;
    if (t.lastErrno != 0) sum.lastErrno = t.lastErrno;
  }
  const double secs = std::max(elapsed, 1e-9);
  std::fprintf(stderr,
               "jaeger-loadgen: sent %llu datagrams, %llu spans, %llu bytes in %.3f s (%.0f datagrams/s, %.0f spans/s, "
               "%.1f MB/s); send errors %llu%s%s\n",
               static_cast<unsigned long long>(sum.datagrams), static_cast<unsigned long long>(sum.spans),
               static_cast<unsigned long long>(sum.bytes), elapsed, static_cast<double>(sum.datagrams) / secs,
               static_cast<double>(sum.spans) / secs, static_cast<double>(sum.bytes) / secs / 1e6,
               static_cast<unsigned long long>(sum.sendErrors), sum.lastErrno ? ", last: " : "",
               sum.lastErrno ? std::strerror(sum.lastErrno) : "");
  if (o.json) {
    std::printf(
        "{\"encoding\":\"%s\",\"size\":\"%s\",\"max_bytes\":%zu,\"threads\":%u,\"rate\":%.1f,\"seed\":%llu,"
        "\"templates\":%u,\"datagrams\":%llu,\"spans\":%llu,\"bytes\":%llu,\"send_errors\":%llu,\"would_block\":%llu,"
        "\"checksum\":%llu,\"elapsed_s\":%.6f,\"pool_avg_bytes\":%.1f,\"pool_avg_spans\":%.3f,\"spans_per_datagram\":%zu,"
        "\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
        encodingName(o.encoding), o.sizeName.c_str(), o.maxBytes, o.threads, o.rate,
        static_cast<unsigned long long>(o.seed), templates, static_cast<unsigned long long>(sum.datagrams),
        static_cast<unsigned long long>(sum.spans), static_cast<unsigned long long>(sum.bytes),
        static_cast<unsigned long long>(sum.sendErrors), static_cast<unsigned long long>(sum.wouldBlock),
        static_cast<unsigned long long>(sum.checksum), elapsed, static_cast<double>(poolBytes) / templates,
        static_cast<double>(poolSpans) / templates, spansPer, cpuUser, cpuSys);
    std::fflush(stdout);
  }
  return 0;
}
