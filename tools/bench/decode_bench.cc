// Decode benchmark (issue #3): the one-pass transcoder against Apache Thrift's generated C++ code
// on the same inputs, side by side in one run.
//   transcode/*      this agent: compact|binary datagram → binary Batch bytes (+ summary)
//   apache_decode/*  Apache Thrift: datagram → Agent_emitBatch_args objects (TMemoryBuffer OBSERVE)
//   apache_reencode/* Apache decode + TBinaryProtocol re-encode of the Batch (what a
//                    straightforward agent does before forwarding)
//   encoding/*       the three output encodings side by side on the same compact datagrams
//                    (encoding 0 = TBinary for TChannel, 1 = api_v2 protobuf, 2 = OTLP protobuf)
//   encoding_binary/* the same on binary datagrams
// Inputs (fixed seed): ~1 KB batch, ~64 KB batch of ~120 realistic spans (performance-anchors
// §4b: 24-char operation, 10 tags — 6 strings, 2 longs, 1 bool, 1 double — a 2-field log on 25 %
// of spans, a CHILD_OF ref on 50 %), and a tag-heavy batch (40 tags per span).
// Throughput counters: bytes/s of input datagram, spans/s.
// --pool=FILE adds encoding/input:4: the datagrams of a jaeger-loadgen pool (`jaeger-loadgen
// --write-pool FILE --encoding compact --size 64k`), the exact load of the agent benchmarks
// (tools/bench/transports.py): its pooled keys (span.kind, error, http.status_code...) send many
// spans through the OTLP attribute rules, which the synthetic inputs rarely do.
#include <benchmark/benchmark.h>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Agent.h"
#include "decode/encoding.h"
#include "decode/transcoder.h"
#include "jaeger_types.h"

namespace {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TCompactProtocol;
using apache::thrift::protocol::TMessageType;
using apache::thrift::transport::TMemoryBuffer;
namespace jt = jaegertracing::thrift;

std::string randomString(std::mt19937_64& rng, size_t minLen, size_t maxLen) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./";
  std::uniform_int_distribution<size_t> len(minLen, maxLen);
  std::string s(len(rng), ' ');
  for (char& c : s) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

jt::Tag stringTag(std::mt19937_64& rng) {
  jt::Tag t;
  t.key = randomString(rng, 6, 20);
  t.vType = jt::TagType::STRING;
  t.__set_vStr(randomString(rng, 12, 64));
  return t;
}

jt::Span makeSpan(std::mt19937_64& rng, int extraStringTags) {
  jt::Span s;
  s.traceIdLow = static_cast<int64_t>(rng());
  s.traceIdHigh = static_cast<int64_t>(rng());
  s.spanId = static_cast<int64_t>(rng());
  s.parentSpanId = static_cast<int64_t>(rng());
  s.operationName = randomString(rng, 24, 24);
  s.flags = 1;
  s.startTime = 1'700'000'000'000'000 + static_cast<int64_t>(rng() % 1'000'000'000);
  s.duration = static_cast<int64_t>(rng() % 5'000'000);
  std::vector<jt::Tag> tags;
  for (int i = 0; i < 6 + extraStringTags; ++i) tags.push_back(stringTag(rng));
  for (int i = 0; i < 2; ++i) {
    jt::Tag t;
    t.key = randomString(rng, 6, 20);
    t.vType = jt::TagType::LONG;
    t.__set_vLong(static_cast<int64_t>(rng() % 100000));
    tags.push_back(t);
  }
  jt::Tag b;
  b.key = "error";
  b.vType = jt::TagType::BOOL;
  b.__set_vBool(rng() % 2 == 0);
  tags.push_back(b);
  jt::Tag d;
  d.key = "sampler.param";
  d.vType = jt::TagType::DOUBLE;
  d.__set_vDouble(0.001 * static_cast<double>(rng() % 1000));
  tags.push_back(d);
  s.__set_tags(tags);
  if (rng() % 4 == 0) {
    jt::Log log;
    log.timestamp = s.startTime + 10;
    log.fields = {stringTag(rng), stringTag(rng)};
    s.__set_logs({log});
  }
  if (rng() % 2 == 0) {
    jt::SpanRef r;
    r.refType = jt::SpanRefType::CHILD_OF;
    r.traceIdLow = s.traceIdLow;
    r.traceIdHigh = s.traceIdHigh;
    r.spanId = s.parentSpanId;
    s.__set_references({r});
  }
  return s;
}

// The load generator's tag mix (tools/loadgen.cc): 5–30 tags of random type (50 % string, 20 %
// long, 15 % bool, 10 % double, 5 % binary), so a type switch cannot be learned from the order.
jt::Tag mixedTag(std::mt19937_64& rng, int i) {
  jt::Tag t;
  t.key = randomString(rng, 4, 20) + "." + std::to_string(i);  // unique per span, as tracers set them
  const uint64_t r = rng() % 100;
  if (r < 50) {
    t.vType = jt::TagType::STRING;
    t.__set_vStr(randomString(rng, 3, 64));
  } else if (r < 70) {
    t.vType = jt::TagType::LONG;
    t.__set_vLong(static_cast<int64_t>(rng() % 100000));
  } else if (r < 85) {
    t.vType = jt::TagType::BOOL;
    t.__set_vBool(rng() % 2 == 0);
  } else if (r < 95) {
    t.vType = jt::TagType::DOUBLE;
    t.__set_vDouble(0.001 * static_cast<double>(rng() % 1000000));
  } else {
    t.vType = jt::TagType::BINARY;
    t.__set_vBinary(randomString(rng, 8, 32));
  }
  return t;
}

jt::Batch makeBatch(int spans, int extraStringTags, uint64_t seed) {
  std::mt19937_64 rng(seed);
  jt::Batch b;
  b.process.serviceName = "checkout-service";
  std::vector<jt::Tag> ptags;
  for (const char* k : {"hostname", "ip", "client-uuid", "jaeger.version"}) {
    jt::Tag t;
    t.key = k;
    t.vType = jt::TagType::STRING;
    t.__set_vStr(randomString(rng, 8, 36));
    ptags.push_back(t);
  }
  b.process.__set_tags(ptags);
  for (int i = 0; i < spans; ++i) {
    b.spans.push_back(makeSpan(rng, extraStringTags < 0 ? 0 : extraStringTags));
    if (extraStringTags < 0) {  // the mixed input: the load generator's tags instead
      std::vector<jt::Tag> tags(5 + rng() % 26);
      for (size_t k = 0; k < tags.size(); ++k) tags[k] = mixedTag(rng, static_cast<int>(k));
      b.spans.back().__set_tags(tags);
    }
  }
  b.__set_seqNo(42);
  return b;
}

template <typename Protocol>
std::vector<uint8_t> encode(const jt::Batch& batch) {
  auto buf = std::make_shared<TMemoryBuffer>();
  Protocol proto(buf);
  jaegertracing::agent::thrift::Agent_emitBatch_pargs args;
  args.batch = &batch;
  proto.writeMessageBegin("emitBatch", TMessageType::T_ONEWAY, 0);
  args.write(&proto);
  proto.writeMessageEnd();
  uint8_t* p;
  uint32_t n;
  buf->getBuffer(&p, &n);
  return {p, p + n};
}

struct Input {
  std::vector<uint8_t> bytes;
  int spans;
};

// Largest batch of `perSpan`-shaped spans whose compact encoding stays under `limit` bytes.
Input makeInput(bool compact, size_t limit, int extraStringTags, uint64_t seed) {
  int lo = 1, hi = 400;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (encode<TCompactProtocol>(makeBatch(mid, extraStringTags, seed)).size() <= limit) lo = mid;
    else hi = mid - 1;
  }
  const jt::Batch b = makeBatch(lo, extraStringTags, seed);
  return {compact ? encode<TCompactProtocol>(b) : encode<TBinaryProtocol>(b), lo};
}

const Input& input(int which, bool compact) {
  static const Input inputs[2][3] = {
      {makeInput(false, 1024, 0, 1), makeInput(false, 64000, 0, 2), makeInput(false, 64000, 30, 3)},
      {makeInput(true, 1024, 0, 1), makeInput(true, 64000, 0, 2), makeInput(true, 64000, 30, 3)}};
  return inputs[compact ? 1 : 0][which];
}

// Input 3 of the encoding benchmark: 16 different ~64 KB compact datagrams of the mixed tags,
// taken in turn (one repeated datagram lets the branch predictor learn its tag types).
constexpr int kMixedInputs = 16;
const std::vector<Input>& mixedInputs() {
  static const std::vector<Input> v = [] {
    std::vector<Input> out;
    for (int i = 0; i < kMixedInputs; ++i) out.push_back(makeInput(true, 64000, -1, 100 + static_cast<uint64_t>(i)));
    return out;
  }();
  return v;
}

void setCounters(benchmark::State& state, const Input& in) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.bytes.size()));
  state.counters["spans/s"] = benchmark::Counter(static_cast<double>(state.iterations() * in.spans),
                                                 benchmark::Counter::kIsRate);
  state.counters["bytes"] = static_cast<double>(in.bytes.size());
  state.counters["spans"] = in.spans;
}

void transcode(benchmark::State& state) {
  const bool compact = state.range(1) != 0;
  const Input& in = input(static_cast<int>(state.range(0)), compact);
  jagent::decode::Transcoder t;
  const auto proto = compact ? jagent::decode::Protocol::kCompact : jagent::decode::Protocol::kBinary;
  for (auto _ : state) {
    auto r = t.transcode(proto, in.bytes);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(t.output().data());
    if (r != jagent::decode::RejectReason::kOk) state.SkipWithError("transcode rejected the input");
  }
  setCounters(state, in);
}

template <bool kReencode>
void apacheBench(benchmark::State& state) {
  const bool compact = state.range(1) != 0;
  const Input& in = input(static_cast<int>(state.range(0)), compact);
  auto out = std::make_shared<TMemoryBuffer>(static_cast<uint32_t>(in.bytes.size() * 2));
  TBinaryProtocol writer(out);
  for (auto _ : state) {
    auto buf = std::make_shared<TMemoryBuffer>(const_cast<uint8_t*>(in.bytes.data()),
                                               static_cast<uint32_t>(in.bytes.size()), TMemoryBuffer::OBSERVE);
    std::unique_ptr<apache::thrift::protocol::TProtocol> proto;
    if (compact) proto = std::make_unique<TCompactProtocol>(buf);
    else proto = std::make_unique<TBinaryProtocol>(buf);
    std::string name;
    TMessageType type;
    int32_t seq;
    proto->readMessageBegin(name, type, seq);
    jaegertracing::agent::thrift::Agent_emitBatch_args args;
    args.read(proto.get());
    proto->readMessageEnd();
    if constexpr (kReencode) {
      out->resetBuffer();
      args.batch.write(&writer);
    }
    benchmark::DoNotOptimize(args.batch.spans.data());
  }
  setCounters(state, in);
}

void inputs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"input", "compact"});
  for (int compact : {1, 0})
    for (int which : {0, 1, 2}) b->Args({which, compact});
}

// The three encodings (issue #15) through the common interface, on the ~1 KB, ~64 KB, tag-heavy
// ~64 KB and mixed-type ~64 KB compact batches (and the load generator's pool, input 4).
std::vector<Input>& poolInputs() {
  static std::vector<Input> v;
  return v;
}

bool loadPool(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (f == nullptr) return false;
  uint8_t len[4];
  while (std::fread(len, 1, 4, f) == 4) {
    const uint32_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<uint32_t>(len[3]) << 24);
    Input in{std::vector<uint8_t>(n), 0};
    if (n > 65535 || std::fread(in.bytes.data(), 1, n, f) != n) break;
    auto t = jagent::decode::makeBatchEncoder(jagent::decode::Encoding::kThriftBinary);
    if (t->transcode(jagent::decode::Protocol::kCompact, in.bytes) != jagent::decode::RejectReason::kOk) break;
    in.spans = static_cast<int>(t->summary().spans);
    poolInputs().push_back(std::move(in));
  }
  const bool ok = std::feof(f) != 0 && !poolInputs().empty();
  std::fclose(f);
  return ok;
}

void encoding(benchmark::State& state) {
  const bool mixed = state.range(0) >= 3;
  const std::vector<Input>& many = state.range(0) == 4 ? poolInputs() : mixedInputs();
  const auto which = static_cast<jagent::decode::Encoding>(state.range(1));
  auto t = jagent::decode::makeBatchEncoder(which);
  size_t next = 0, bytes = 0, spans = 0, outBytes = 0;
  for (auto _ : state) {
    const Input& in = mixed ? many[next++ % many.size()] : input(static_cast<int>(state.range(0)), true);
    auto r = t->transcode(jagent::decode::Protocol::kCompact, in.bytes);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(t->output().data());
    if (r != jagent::decode::RejectReason::kOk) state.SkipWithError("transcode rejected the input");
    bytes += in.bytes.size();
    spans += static_cast<size_t>(in.spans);
    outBytes += t->output().size();
  }
  const double n = static_cast<double>(std::max<size_t>(state.iterations(), 1));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["spans/s"] = benchmark::Counter(static_cast<double>(spans), benchmark::Counter::kIsRate);
  state.counters["bytes"] = static_cast<double>(bytes) / n;
  state.counters["spans"] = static_cast<double>(spans) / n;
  state.counters["out_bytes"] = static_cast<double>(outBytes) / n;
}

// The same encoders on binary datagrams (port 6832, jaeger-client-node), inputs 0–2.
void encodingBinary(benchmark::State& state) {
  const auto which = static_cast<jagent::decode::Encoding>(state.range(1));
  const Input& in = input(static_cast<int>(state.range(0)), false);
  auto t = jagent::decode::makeBatchEncoder(which);
  for (auto _ : state) {
    auto r = t->transcode(jagent::decode::Protocol::kBinary, in.bytes);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(t->output().data());
    if (r != jagent::decode::RejectReason::kOk) state.SkipWithError("transcode rejected the input");
  }
  setCounters(state, in);
}

void encodingsBinary(benchmark::internal::Benchmark* b) {
  b->ArgNames({"input", "encoding"});
  for (int which : {0, 1, 2})
    for (int e : {0, 1, 2}) b->Args({which, e});
}

void encodings(benchmark::internal::Benchmark* b) {
  b->ArgNames({"input", "encoding"});
  for (int which : {0, 1, 2, 3})  // 3: the load generator's mix of tag types, 16 datagrams
    for (int e : {0, 1, 2}) b->Args({which, e});
  if (!poolInputs().empty())
    for (int e : {0, 1, 2}) b->Args({4, e});
}

}  // namespace

int main(int argc, char** argv) {
  // --pool=FILE is ours; the rest go to Google Benchmark.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--pool=", 7) == 0) {
      if (!loadPool(argv[i] + 7)) {
        std::fprintf(stderr, "decode-bench: cannot read a datagram pool from %s\n", argv[i] + 7);
        return 2;
      }
      continue;
    }
    argv[kept++] = argv[i];
  }
  argc = kept;
  benchmark::RegisterBenchmark("transcode", transcode)->Apply(inputs);
  benchmark::RegisterBenchmark("encoding", encoding)->Apply(encodings);
  benchmark::RegisterBenchmark("encoding_binary", encodingBinary)->Apply(encodingsBinary);
  benchmark::RegisterBenchmark("apache_decode", apacheBench<false>)->Apply(inputs);
  benchmark::RegisterBenchmark("apache_reencode", apacheBench<true>)->Apply(inputs);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
