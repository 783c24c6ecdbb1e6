// The gRPC (api_v2 PostSpans, GetSamplingStrategy) and OTLP (gRPC and HTTP) transports under a
// real ReporterCore, against a real peer: tests/interop/grpc_peer.py (python3-grpcio server and an
// http.server OTLP/HTTP receiver, decoding every request with python3-protobuf from the
// test-local .proto files in tests/proto, modern-collectors.md §6.3). Requests are built with
// libprotobuf from the same .proto files, so the bytes are real api_v2 / OTLP.
//
// Each case checks at the peer that every batch arrived byte-equal and at most once, and in the
// ReporterMetrics counters that sent = delivered + counted exactly (failed by reason, dropped).
#include <fcntl.h>
#include <sys/resource.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jaeger_api_v2.pb.h"
#include "metrics/metrics.h"
#include "otlp_export.pb.h"
#include "report/grpc_transport.h"
#include "report/h2_grpc_transport.h"
#include "report/otlp_transport.h"
#include "report/protowire.h"
#include "report/reporter_core.h"

namespace jagent::report {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<uint8_t>;
namespace japi = jaeger::api_v2;
namespace otlp = opentelemetry::proto::collector::trace::v1;

std::string hex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

// The scripted peer as a child process: PORTS line on stdout, JSON lines in `out`.
class Peer {
 public:
  explicit Peer(const std::string& script, const std::string& tlsCert = "", const std::string& tlsKey = "",
                bool noLog = false) {
    char tmpl[] = "/tmp/jg-peer-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ::close(fd);
    out_ = tmpl;
    int in[2], outp[2];
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(outp), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(outp[1], 1);
      ::close(in[1]);
      ::close(outp[0]);
      const std::string py = std::string(JG_INTEROP_DIR) + "/grpc_peer.py";
      if (noLog)
        ::execl("/usr/bin/python3", "python3", py.c_str(), "--script", script.c_str(), "--out", out_.c_str(),
                "--no-log", static_cast<char*>(nullptr));
      else if (!tlsCert.empty())
        ::execl("/usr/bin/python3", "python3", py.c_str(), "--script", script.c_str(), "--out", out_.c_str(),
                "--tls-cert", tlsCert.c_str(), "--tls-key", tlsKey.c_str(), static_cast<char*>(nullptr));
      else
        ::execl("/usr/bin/python3", "python3", py.c_str(), "--script", script.c_str(), "--out", out_.c_str(),
                static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(outp[1]);
    stdin_ = in[1];
    std::string line;
    pollfd p{outp[0], POLLIN, 0};
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(outp[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(outp[0]);
    if (std::sscanf(line.c_str(), "PORTS %d %d", &grpcPort_, &httpPort_) != 2) ADD_FAILURE() << "peer did not start: " << line;
  }
  ~Peer() {
    ::close(stdin_);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) != 0) {
        ::unlink(out_.c_str());
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::unlink(out_.c_str());
  }
  std::string grpcAddr() const { return "127.0.0.1:" + std::to_string(grpcPort_); }
  std::string httpUrl() const { return "http://127.0.0.1:" + std::to_string(httpPort_) + "/v1/traces"; }
  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> r;
    std::ifstream in(out_);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) r.push_back(nlohmann::json::parse(line));
    return r;
  }
  bool exited() { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int grpcPort_ = 0, httpPort_ = 0;
  std::string out_;
};

Bytes jaegerBatch(int i, int spans, std::mt19937& rng) {
  japi::Batch b;
  b.mutable_process()->set_service_name("svc-" + std::to_string(i));
  auto* t = b.mutable_process()->add_tags();
  t->set_key("hostname");
  t->set_v_str("host-" + std::to_string(rng() % 1000));
  for (int s = 0; s < spans; ++s) {
    auto* sp = b.add_spans();
    std::string tid(16, '\0'), sid(8, '\0');
    for (char& c : tid) c = static_cast<char>(rng());
    for (char& c : sid) c = static_cast<char>(rng());
    sp->set_trace_id(tid);
    sp->set_span_id(sid);
    sp->set_operation_name("op-" + std::to_string(s) + std::string(rng() % 200, 'x'));
    sp->set_flags(1);
    sp->mutable_start_time()->set_seconds(1700000000 + i);
    sp->mutable_duration()->set_nanos(static_cast<int32_t>(rng() % 1000000));
    auto* kv = sp->add_tags();
    kv->set_key("i");
    kv->set_v_type(japi::INT64);
    kv->set_v_int64(i * 1000 + s);
  }
  std::string out;
  b.SerializeToString(&out);
  return Bytes(out.begin(), out.end());
}

// One `resource_spans` record (tag 0x0A + length + ResourceSpans): a one-element request.
Bytes otlpRecord(int i, int spans, std::mt19937& rng) {
  otlp::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* a = rs->mutable_resource()->add_attributes();
  a->set_key("service.name");
  a->mutable_value()->set_string_value("svc-" + std::to_string(i));
  auto* ss = rs->add_scope_spans();
  for (int s = 0; s < spans; ++s) {
    auto* sp = ss->add_spans();
    std::string tid(16, '\0'), sid(8, '\0');
    for (char& c : tid) c = static_cast<char>(rng());
    for (char& c : sid) c = static_cast<char>(rng());
    sp->set_trace_id(tid);
    sp->set_span_id(sid);
    sp->set_name("op-" + std::to_string(s) + std::string(rng() % 100, 'y'));
    sp->set_kind(2);
    sp->set_start_time_unix_nano(1700000000000000000ull + static_cast<uint64_t>(i));
    sp->set_end_time_unix_nano(1700000000000000000ull + static_cast<uint64_t>(i) + 5);
  }
  std::string out;
  req.SerializeToString(&out);
  return Bytes(out.begin(), out.end());
}

struct Totals {
  uint64_t submitted = 0, failures = 0, droppedQueue = 0, droppedShutdown = 0, rejected = 0, retries = 0;
  std::map<std::string, uint64_t> failedBy;
};

class Harness {
 public:
  Harness(std::unique_ptr<Transport> t, const char* proto, ReporterCore::Options o)
      : metrics_(registry_, proto), core_(std::move(o), std::move(t), metrics_) {
    core_.start();
  }
  ~Harness() { close(); }
  void emit(const Bytes& b, uint32_t spans) {
    BatchSummary s;
    s.spans = spans;
    EncodedBatch e;
    e.format = Format::kJaeger;
    e.bytes = std::span<const uint8_t>(b.data(), b.size());
    e.summary = &s;
    core_.emit(e);
    ++emitted_;
  }
  Totals totals() {
    Totals t;
    auto& m = metrics_.of(Format::kJaeger);
    t.submitted = m.batchesSubmitted->value();
    t.failures = m.batchesFailures->value();
    t.droppedQueue = m.batchesDroppedQueueFull->value();
    t.droppedShutdown = m.batchesDroppedShutdown->value();
    t.rejected = m.spansRejected->value();
    t.retries = metrics_.retries.value();
    for (size_t r = 0; r < static_cast<size_t>(FailReason::kCount); ++r)
      if (m.batchesFailed[r] && m.batchesFailed[r]->value())
        t.failedBy[failReasonName(static_cast<FailReason>(r))] = m.batchesFailed[r]->value();
    return t;
  }
  uint64_t settled() {
    const Totals t = totals();
    return t.submitted + t.failures + t.droppedQueue + t.droppedShutdown;
  }
  // Emits and waits until the batch is settled (one call per batch, deterministic scripts).
  void emitAndWait(const Bytes& b, uint32_t spans, std::chrono::milliseconds limit = 5s) {
    const uint64_t before = settled();
    emit(b, spans);
    const auto until = std::chrono::steady_clock::now() + limit;
    while (settled() == before && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
    EXPECT_GT(settled(), before) << "batch not settled in time";
  }
  void waitSettled(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (settled() < emitted_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  }
  void close(std::chrono::milliseconds drain = 2s) {
    if (closed_) return;
    closed_ = true;
    core_.close(Clock::now() + drain);
  }
  // sent = delivered + counted, exactly.
  void expectAccounted() {
    const Totals t = totals();
    EXPECT_EQ(emitted_, t.submitted + t.failures + t.droppedQueue + t.droppedShutdown);
  }
  ReporterCore& core() { return core_; }
  uint64_t emitted() const { return emitted_; }

 private:
  metrics::Registry registry_;
  ReporterMetrics metrics_;
  ReporterCore core_;
  uint64_t emitted_ = 0;
  bool closed_ = false;
};

ReporterCore::Options coreOpts(uint32_t perCall, std::chrono::milliseconds timeout = 1000ms) {
  ReporterCore::Options o;
  o.batchMaxDelay = 2ms;
  o.maxBatchesPerCall = perCall;
  o.reportTimeout = timeout;
  o.maxAttempts = 5;
  return o;
}

using Engine = GrpcTransport::Options::Engine;

// Both gRPC clients run the same interop tests against the same real peer: libgrpc++
// (GrpcTransport) and the nghttp2 one (H2GrpcTransport).
std::unique_ptr<Transport> grpcTransport(Engine engine, std::vector<std::string> hostPorts) {
  GrpcTransport::Options o;
  o.hostPorts = std::move(hostPorts);
  o.engine = engine;
  auto t = createGrpcClient(o, GrpcTransport::ConnMetrics{});
  EXPECT_TRUE(t.has_value());
  return std::move(*t);
}

// Records of `method`, hex of the request bytes, in arrival order.
std::vector<std::string> requests(const std::vector<nlohmann::json>& recs, const std::string& method,
                                  bool okOnly = false) {
  std::vector<std::string> r;
  for (const auto& j : recs) {
    if (j["m"] != method) continue;
    EXPECT_FALSE(j.contains("decode_error")) << j.dump();
    if (okOnly && (j["action"].contains("code") || j["action"].contains("die") ||
                   (j["action"].contains("status") && j["action"]["status"] != 200)))
      continue;
    r.push_back(j["hex"]);
  }
  return r;
}

std::string postSpansHex(const Bytes& batch) {
  Bytes req{0x0A};
  uint8_t v[10];
  const size_t n = protowire::putVarint(v, batch.size());
  req.insert(req.end(), v, v + n);
  req.insert(req.end(), batch.begin(), batch.end());
  return hex(req);
}

// Splits an ExportTraceServiceRequest into its resource_spans records (as emitted).
std::vector<std::string> otlpRecords(const std::string& reqHex) {
  Bytes b;
  for (size_t i = 0; i + 1 < reqHex.size(); i += 2) b.push_back(static_cast<uint8_t>(std::stoi(reqHex.substr(i, 2), nullptr, 16)));
  std::vector<std::string> out;
  size_t p = 0;
  while (p < b.size()) {
    EXPECT_EQ(b[p], 0x0A);
    size_t len = 0, shift = 0, q = p + 1;
    while (b[q] & 0x80) len |= static_cast<size_t>(b[q++] & 0x7f) << shift, shift += 7;
    len |= static_cast<size_t>(b[q++]) << shift;
    out.push_back(hex(Bytes(b.begin() + static_cast<long>(p), b.begin() + static_cast<long>(q + len))));
    p = q + len;
  }
  return out;
}

// --- api_v2 PostSpans ---------------------------------------------------------------------

class GrpcTransportInterop : public ::testing::TestWithParam<Engine> {};
INSTANTIATE_TEST_SUITE_P(Engines, GrpcTransportInterop, ::testing::Values(Engine::kLibrary, Engine::kNative),
                         [](const auto& p) { return p.param == Engine::kNative ? "native" : "library"; });

TEST_P(GrpcTransportInterop, DeliversEveryBatchByteEqualRoundRobin) {
  Peer a("{}"), b("{}");
  std::mt19937 rng(1);
  std::vector<Bytes> batches;
  std::set<std::string> want;
  {
    Harness h(grpcTransport(GetParam(), {a.grpcAddr(), b.grpcAddr()}), "grpc", coreOpts(1));
    for (int i = 0; i < 300; ++i) {
      batches.push_back(jaegerBatch(i, 1 + i % 20, rng));
      want.insert(postSpansHex(batches.back()));
      h.emit(batches.back(), 1 + i % 20);
      if (i % 50 == 0) std::this_thread::sleep_for(20ms);
    }
    h.waitSettled(10s);
    h.close();
    Totals t = h.totals();
    EXPECT_EQ(t.submitted, 300u);
    EXPECT_EQ(t.failures, 0u);
    h.expectAccounted();
  }
  auto ra = requests(a.records(), "PostSpans"), rb = requests(b.records(), "PostSpans");
  EXPECT_GT(ra.size(), 0u) << "round robin: both collectors get calls";
  EXPECT_GT(rb.size(), 0u);
  std::set<std::string> got(ra.begin(), ra.end());
  got.insert(rb.begin(), rb.end());
  EXPECT_EQ(ra.size() + rb.size(), 300u) << "no duplicates";
  EXPECT_EQ(got, want) << "every batch byte-equal";
}

TEST_P(GrpcTransportInterop, ManyCallsInFlight) {
  // Eight calls that each take 300 ms at the collector finish together, not one after another.
  Peer p(R"({"PostSpans": [{"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300},
                            {"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300}, {"sleep_ms": 300}]})");
  std::mt19937 rng(11);
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1, 2000ms));
  // Let the channel connect first, so that the calls do not wait for it.
  h.emitAndWait(jaegerBatch(100, 1, rng), 1);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 7; ++i) h.emit(jaegerBatch(i, 2, rng), 2);
  h.waitSettled(5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  h.close();
  EXPECT_EQ(h.totals().submitted, 8u);
  h.expectAccounted();
  EXPECT_LT(took, 1200ms) << "calls were not concurrent";
}

TEST_P(GrpcTransportInterop, UnavailableIsRetried) {
  Peer p(R"({"PostSpans": [{"code": 14, "msg": "busy"}, {"code": 14}, {"code": 14}]})");
  std::mt19937 rng(2);
  std::set<std::string> want;
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1));
  for (int i = 0; i < 20; ++i) {
    Bytes b = jaegerBatch(i, 3, rng);
    want.insert(postSpansHex(b));
    h.emit(b, 3);
  }
  h.waitSettled(10s);
  h.close();
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 20u);
  EXPECT_EQ(t.failures, 0u);
  EXPECT_GE(t.retries, 3u);
  h.expectAccounted();
  auto ok = requests(p.records(), "PostSpans", true);
  EXPECT_EQ(std::set<std::string>(ok.begin(), ok.end()), want);
  EXPECT_EQ(ok.size(), 20u) << "each batch processed once";
}

TEST_P(GrpcTransportInterop, ResourceExhaustedWithRetryInfoBacksOff) {
  Peer p(R"({"PostSpans": [{"code": 8, "retry_ms": 400, "msg": "slow down"}]})");
  std::mt19937 rng(3);
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1, 3000ms));
  Bytes b = jaegerBatch(0, 5, rng);
  h.emitAndWait(b, 5);
  h.close();
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 1u);
  EXPECT_EQ(t.retries, 1u);
  h.expectAccounted();
  auto recs = p.records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["hex"], postSpansHex(b));
  EXPECT_EQ(recs[1]["hex"], postSpansHex(b));
  EXPECT_EQ(recs[1]["meta"]["x-retry-attempt"], "1");
  const double gap = recs[1]["t"].get<double>() - recs[0]["t"].get<double>();
  EXPECT_GE(gap, 0.38) << "RetryInfo.retry_delay honoured";
  EXPECT_LT(gap, 2.0);
}

TEST_P(GrpcTransportInterop, SlowCollectorDeadlineIsUnknownNotRetried) {
  Peer p(R"({"PostSpans": [{"sleep_ms": 1500}]})");
  std::mt19937 rng(4);
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1, 500ms));
  std::set<std::string> want;
  for (int i = 0; i < 10; ++i) {
    Bytes b = jaegerBatch(i, 2, rng);
    want.insert(postSpansHex(b));
    if (i == 0) h.emitAndWait(b, 2); else h.emit(b, 2);
  }
  h.waitSettled(5s);
  h.close();
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 9u);
  EXPECT_EQ(t.failures, 1u);
  EXPECT_EQ(t.failedBy["timeout_after_send"], 1u);
  EXPECT_EQ(t.retries, 0u) << "a call that may have been processed is never sent again";
  h.expectAccounted();
  auto all = requests(p.records(), "PostSpans");
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), want);
}

TEST_P(GrpcTransportInterop, CollectorKilledMidStream) {
  Peer p(R"({"PostSpans": [{}, {}, {}, {}, {"die": 1}]})");
  std::mt19937 rng(5);
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1));
  std::vector<Bytes> bs;
  for (int i = 0; i < 12; ++i) bs.push_back(jaegerBatch(i, 4, rng));
  for (int i = 0; i < 5; ++i) h.emitAndWait(bs[i], 4);
  for (int i = 5; i < 12; ++i) h.emit(bs[i], 4);
  std::this_thread::sleep_for(300ms);
  h.close(500ms);
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 4u);
  EXPECT_EQ(t.failures, 1u);
  EXPECT_EQ(t.failedBy["connection_lost_after_send"], 1u) << "the 5th reached the collector, which died";
  EXPECT_EQ(t.droppedShutdown, 7u) << "no collector: queued until the shutdown deadline";
  h.expectAccounted();
  auto all = requests(p.records(), "PostSpans");
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], postSpansHex(bs[static_cast<size_t>(i)]));
  EXPECT_TRUE(p.exited());
}

TEST_P(GrpcTransportInterop, SamplingStrategyRawCall) {
  Peer p(R"({"GetSamplingStrategy": [{}, {"code": 12, "msg": "unimplemented"}]})");
  Harness h(grpcTransport(GetParam(), {p.grpcAddr()}), "grpc", coreOpts(1));
  for (int round = 0; round < 2; ++round) {
    std::promise<RawResult> pr;
    auto fut = pr.get_future();
    // §1.5 observed: request 0a 03 73 76 63 ("svc"), answer 12 09 09 fca9f1d24d62503f.
    h.core().call("jaeger.api_v2.SamplingManager/GetSamplingStrategy", {0x0a, 0x03, 's', 'v', 'c'}, 2000ms,
                  [&pr](RawResult r) { pr.set_value(std::move(r)); });
    ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
    RawResult r = fut.get();
    if (round == 0) {
      EXPECT_TRUE(r.ok) << r.error;
      EXPECT_EQ(hex(r.arg3), "120909fca9f1d24d62503f");
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_NE(r.error.find("unimplemented"), std::string::npos) << r.error;
    }
  }
  auto recs = requests(p.records(), "GetSamplingStrategy");
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0], "0a03737663");
}

TEST(GrpcTransportTls, TlsVerifiesTheCollector) {
  // A self-signed certificate for the name "jg-collector" (openssl CLI), served on 127.0.0.1.
  char dir[] = "/tmp/jg-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string d = dir, cert = d + "/c.pem", key = d + "/k.pem";
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + key + " -out " + cert +
                          " -days 1 -subj /CN=jg-collector -addext subjectAltName=DNS:jg-collector 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Peer p("{}", cert, key);
  std::mt19937 rng(10);
  auto run = [&](TlsOptions tls, std::chrono::milliseconds wait = 3s) {
    GrpcTransport::Options o;
    o.hostPorts = {p.grpcAddr()};
    o.tls = tls;
    auto t = GrpcTransport::create(o, GrpcTransport::ConnMetrics{});
    EXPECT_TRUE(t.has_value());
    Harness h(std::move(*t), "grpc", coreOpts(1));
    for (int i = 0; i < 5; ++i) h.emit(jaegerBatch(i, 2, rng), 2);
    h.waitSettled(wait);
    h.close(300ms);
    h.expectAccounted();
    return h.totals();
  };
  TlsOptions verified;
  verified.enabled = true;
  verified.ca = cert;
  verified.serverName = "jg-collector";
  EXPECT_EQ(run(verified).submitted, 5u) << "CA + server-name override";
  TlsOptions untrusted;
  untrusted.enabled = true;
  untrusted.serverName = "jg-collector";
  Totals u = run(untrusted, 700ms);
  EXPECT_EQ(u.submitted, 0u) << "system trust store: the self-signed collector is refused";
  EXPECT_EQ(u.droppedShutdown, 5u);
  TlsOptions skip;
  skip.enabled = true;
  skip.skipHostVerify = true;
  EXPECT_EQ(run(skip).submitted, 5u) << "skip-host-verify";
  EXPECT_EQ(requests(p.records(), "PostSpans").size(), 10u);
  std::system(("rm -rf " + d).c_str());
}

// --- OTLP ---------------------------------------------------------------------------------

std::unique_ptr<Transport> otlpTransport(OtlpOptions o) {
  auto t = createOtlpTransport(o, GrpcTransport::ConnMetrics{});
  EXPECT_TRUE(t.has_value());
  return std::move(*t);
}

void checkOtlpRecords(const std::vector<std::string>& reqs, const std::set<std::string>& want) {
  std::multiset<std::string> got;
  for (const auto& r : reqs)
    for (auto& rec : otlpRecords(r)) got.insert(rec);
  EXPECT_EQ(got.size(), want.size()) << "no duplicates";
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
}

TEST(OtlpTransportInterop, GrpcGzipHeadersPartialSuccess) {
  Peer p(R"({"Export": [{"partial": 3, "msg": "3 spans too old"}]})");
  OtlpOptions o;
  o.endpoint = "http://" + p.grpcAddr();
  o.gzip = true;
  o.headers = {{"X-Tenant", "team-a"}};
  std::mt19937 rng(6);
  std::set<std::string> want;
  {
    Harness h(otlpTransport(o), "otlp", coreOpts(0));
    for (int i = 0; i < 200; ++i) {
      Bytes b = otlpRecord(i, 1 + i % 7, rng);
      want.insert(hex(b));
      h.emit(b, 1 + i % 7);
    }
    h.waitSettled(10s);
    h.close();
    Totals t = h.totals();
    EXPECT_EQ(t.submitted, 200u);
    EXPECT_EQ(t.failures, 0u);
    EXPECT_EQ(t.rejected, 3u) << "partial success: counted, not retried";
    EXPECT_EQ(t.retries, 0u);
    h.expectAccounted();
  }
  auto recs = p.records();
  ASSERT_FALSE(recs.empty());
  EXPECT_LT(recs.size(), 200u) << "batches coalesce into ExportTraceServiceRequests";
  EXPECT_EQ(recs[0]["meta"]["x-tenant"], "team-a");
  checkOtlpRecords(requests(recs, "Export"), want);
}

class OtlpGrpcInterop : public ::testing::TestWithParam<Engine> {};
INSTANTIATE_TEST_SUITE_P(Engines, OtlpGrpcInterop, ::testing::Values(Engine::kLibrary, Engine::kNative),
                         [](const auto& p) { return p.param == Engine::kNative ? "native" : "library"; });

TEST_P(OtlpGrpcInterop, ResourceExhaustedOnlyRetriedWithRetryInfo) {
  Peer p(R"({"Export": [{"code": 8, "msg": "too big"}, {"code": 8, "retry_ms": 300}, {"code": 3}]})");
  OtlpOptions o;
  o.endpoint = p.grpcAddr();
  o.engine = GetParam();
  std::mt19937 rng(7);
  Harness h(otlpTransport(o), "otlp", coreOpts(0, 3000ms));
  std::vector<Bytes> bs;
  for (int i = 0; i < 5; ++i) {
    bs.push_back(otlpRecord(i, 2, rng));
    h.emitAndWait(bs.back(), 2);
  }
  h.close();
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 3u);
  EXPECT_EQ(t.failures, 2u);
  EXPECT_EQ(t.failedBy["error_busy"], 1u) << "RESOURCE_EXHAUSTED without RetryInfo is final (§4.1)";
  EXPECT_EQ(t.failedBy["error_bad_request"], 1u) << "INVALID_ARGUMENT is final";
  EXPECT_EQ(t.retries, 1u);
  h.expectAccounted();
  auto recs = p.records();
  ASSERT_EQ(recs.size(), 6u);  // b0 refused, b1 throttled + retried, b2 invalid, b3, b4
  EXPECT_GE(recs[2]["t"].get<double>() - recs[1]["t"].get<double>(), 0.28);
}

class OtlpHttpInterop : public ::testing::TestWithParam<Engine> {};
INSTANTIATE_TEST_SUITE_P(Engines, OtlpHttpInterop, ::testing::Values(Engine::kLibrary, Engine::kNative),
                         [](const auto& p) { return p.param == Engine::kNative ? "native" : "library"; });

TEST_P(OtlpHttpInterop, RetryAfterPartialSuccessAndFailures) {
  Peer p(R"({"http": [{"status": 429, "retry_after": "1"}, {"status": 503}, {"partial": 2},
                       {"status": 400}, {"status": 502}]})");
  OtlpOptions o;
  o.protocol = OtlpOptions::Protocol::kHttpProtobuf;
  o.endpoint = p.httpUrl();
  o.gzip = true;
  o.headers = {{"X-Tenant", "team-b"}};
  o.engine = GetParam();
  std::mt19937 rng(8);
  std::vector<Bytes> bs;
  Harness h(otlpTransport(o), "otlp", coreOpts(0, 3000ms));
  for (int i = 0; i < 6; ++i) {
    bs.push_back(otlpRecord(i, 3, rng));
    h.emitAndWait(bs.back(), 3);
  }
  h.close();
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 5u);  // b0 after 429 + 503; b1 refused 400; b2 after 502; b3..b5
  EXPECT_EQ(t.failures, 1u);
  EXPECT_EQ(t.failedBy["error_bad_request"], 1u);
  EXPECT_EQ(t.rejected, 2u);
  EXPECT_EQ(t.retries, 3u);
  h.expectAccounted();
  auto recs = p.records();
  ASSERT_EQ(recs.size(), 9u);  // b0: 429, 503, ok; b1: 400; b2: 502, ok; b3; b4; b5
  EXPECT_EQ(recs[0]["meta"]["content-encoding"], "gzip");
  EXPECT_EQ(recs[0]["meta"]["x-tenant"], "team-b");
  EXPECT_EQ(recs[0]["meta"]["path"], "/v1/traces");
  EXPECT_EQ(recs[0]["meta"]["content-type"], "application/x-protobuf");
  EXPECT_GE(recs[1]["t"].get<double>() - recs[0]["t"].get<double>(), 0.95) << "Retry-After: 1 honoured";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(recs[static_cast<size_t>(i)]["hex"], hex(bs[0]));
  EXPECT_EQ(recs[3]["hex"], hex(bs[1]));
  EXPECT_EQ(recs[4]["hex"], hex(bs[2]));
  EXPECT_EQ(recs[5]["hex"], hex(bs[2]));
  EXPECT_EQ(recs[8]["hex"], hex(bs[5]));
}

TEST_P(OtlpHttpInterop, CollectorKilledMidStream) {
  Peer p(R"({"http": [{}, {"die": 1}]})");
  OtlpOptions o;
  o.protocol = OtlpOptions::Protocol::kHttpProtobuf;
  o.endpoint = p.httpUrl();
  o.engine = GetParam();
  std::mt19937 rng(9);
  Harness h(otlpTransport(o), "otlp", coreOpts(0, 600ms));
  std::vector<Bytes> bs;
  for (int i = 0; i < 4; ++i) {
    bs.push_back(otlpRecord(i, 3, rng));
    // The native client takes a call only on a connected socket: with the collector gone the
    // last two wait in the core's bounded queue (as with gRPC and TChannel) until shutdown.
    if (GetParam() == Engine::kNative && i >= 2) h.emit(bs.back(), 3);
    else h.emitAndWait(bs.back(), 3);
  }
  if (GetParam() == Engine::kNative) std::this_thread::sleep_for(800ms);
  h.close(500ms);
  Totals t = h.totals();
  EXPECT_EQ(t.submitted, 1u);
  EXPECT_EQ(t.failedBy["connection_lost_after_send"], 1u);
  if (GetParam() == Engine::kNative) {
    EXPECT_EQ(t.droppedShutdown, 2u) << "no collector: queued until the shutdown deadline";
  } else {
    // Connect refused: retried with backoff until the call's deadline, then counted by the core.
    EXPECT_EQ(t.failedBy["timeout"], 2u);
  }
  h.expectAccounted();
  auto recs = p.records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[1]["hex"], hex(bs[1]));
}

// Client CPU per batch (not a pass/fail test; run with --gtest_also_run_disabled_tests): 2000
// api_v2 batches of ~64 KB (and OTLP records of the same size) through the transport to the python
// peer, this process's user+system CPU divided by the batches (the peer runs in its own process).
double cpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
TEST(TransportCost, DISABLED_CpuPerBatch) {
  for (int kind = 0; kind < 3; ++kind) {
    Peer p("{}", "", "", true);
    std::mt19937 rng(12);
    std::vector<Bytes> bs;
    for (int i = 0; i < 50; ++i) bs.push_back(kind == 0 ? jaegerBatch(i, 230, rng) : otlpRecord(i, 330, rng));
    std::unique_ptr<Transport> t;
    if (kind == 0) t = grpcTransport(Engine::kAuto, {p.grpcAddr()});
    OtlpOptions o;
    o.endpoint = kind == 1 ? p.grpcAddr() : p.httpUrl();
    o.protocol = kind == 1 ? OtlpOptions::Protocol::kGrpc : OtlpOptions::Protocol::kHttpProtobuf;
    if (kind != 0) t = otlpTransport(o);
    Harness h(std::move(t), kind == 0 ? "grpc" : "otlp", coreOpts(kind == 0 ? 1 : 0, 10000ms));
    h.emitAndWait(bs[0], 1);
    const double c0 = cpuSeconds();
    const auto w0 = std::chrono::steady_clock::now();
    size_t bytes = 0;
    for (int i = 0; i < 2000; ++i) {
      const Bytes& b = bs[static_cast<size_t>(i) % bs.size()];
      bytes += b.size();
      h.emit(b, 1);
      while (h.core().reservedBytes() > (16u << 20)) std::this_thread::sleep_for(1ms);
    }
    h.waitSettled(120s);
    const double cpu = cpuSeconds() - c0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    h.close();
    EXPECT_EQ(h.totals().submitted, 2001u);
    std::printf("%s: %zu batches of %zu bytes avg: client CPU %.1f us/batch, %.2f ms CPU per MB, wall %.2f s\n",
                kind == 0 ? "grpc api_v2" : kind == 1 ? "otlp grpc" : "otlp http", size_t{2000}, bytes / 2000,
                cpu * 1e6 / 2000, cpu * 1e3 / (static_cast<double>(bytes) / 1e6), wall);
  }
}

TEST(GrpcTransportUnit, ClassifiesStatusesPerReference) {
  using M = GrpcTransport::Mode;
  auto c = [](M m, int code, const char* msg = "x", const std::string& det = "") {
    return GrpcTransport::classify(m, code, msg, det, false);
  };
  EXPECT_EQ(c(M::kJaegerPostSpans, 14).outcome, Outcome::kRetryable);
  EXPECT_EQ(c(M::kJaegerPostSpans, 8).outcome, Outcome::kRetryable);        // §5.2
  EXPECT_EQ(c(M::kOtlpExport, 8).outcome, Outcome::kFailed);                // §4.1: no RetryInfo
  EXPECT_EQ(c(M::kJaegerPostSpans, 10).outcome, Outcome::kFailed);
  EXPECT_EQ(c(M::kOtlpExport, 10).outcome, Outcome::kRetryable);
  EXPECT_EQ(c(M::kOtlpExport, 4).outcome, Outcome::kUnknown);
  EXPECT_EQ(c(M::kOtlpExport, 14, "Socket closed").outcome, Outcome::kUnknown);
  EXPECT_EQ(c(M::kOtlpExport, 14, "failed to connect to all addresses").reason, FailReason::kNoConnection);
  EXPECT_EQ(c(M::kOtlpExport, 3).outcome, Outcome::kFailed);
  // Status{code 8, details [Any{RetryInfo{retry_delay {seconds 1, nanos 500000000}}}]}
  const std::string ri = std::string("\x0a\x08\x08\x01\x10\x80\xca\xb5\xee\x01", 10);
  std::string any = "\x0a\x28type.googleapis.com/google.rpc.RetryInfo";
  // Built by appends: GCC 12 at -O3 sees a false -Wrestrict in `"lit" + std::string(...)`.
  any.push_back('\x12');
  any.push_back(static_cast<char>(ri.size()));
  any.append(ri);
  std::string st("\x08\x08\x1a", 3);
  st.push_back(static_cast<char>(any.size()));
  st.append(any);
  EXPECT_EQ(GrpcTransport::retryDelayOf(st), 1500ms);
  EXPECT_EQ(c(M::kOtlpExport, 8, "x", st).outcome, Outcome::kRetryable);
  EXPECT_EQ(parseRetryAfter("3", std::chrono::system_clock::now()), 3000ms);
  EXPECT_EQ(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", std::chrono::system_clock::now()), 0ms);
  EXPECT_EQ(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT",
                            std::chrono::system_clock::from_time_t(1445412470)),
            10000ms);
}

TEST(H2GrpcTransportUnit, StatusHeadersAndHttpMapping) {
  // gRPC's HTTP-to-status mapping, for answers without grpc-status (a proxy's 503, say).
  EXPECT_EQ(H2GrpcTransport::statusOfHttp(503), 14);
  EXPECT_EQ(H2GrpcTransport::statusOfHttp(429), 14);
  EXPECT_EQ(H2GrpcTransport::statusOfHttp(404), 12);
  EXPECT_EQ(H2GrpcTransport::statusOfHttp(401), 16);
  EXPECT_EQ(H2GrpcTransport::statusOfHttp(500), 2);
  // grpc-message is percent-encoded; a broken escape stays as it is.
  EXPECT_EQ(H2GrpcTransport::percentDecode("too%20big%3A 5%"), "too big: 5%");
  EXPECT_EQ(H2GrpcTransport::percentDecode("%zz%4"), "%zz%4");
  // grpc-status-details-bin: base64, padding optional.
  EXPECT_EQ(H2GrpcTransport::base64Decode("aGVsbG8"), "hello");
  EXPECT_EQ(H2GrpcTransport::base64Decode("aGVsbG8="), "hello");
  // What the native client cannot serve goes to libgrpc++ (createGrpcClient), and says why.
  GrpcTransport::Options o;
  o.hostPorts = {"collector:14250"};
  EXPECT_EQ(H2GrpcTransport::unsupported(o), "");
  o.gzip = true;
  EXPECT_EQ(H2GrpcTransport::unsupported(o), "gzip compression");
  o.gzip = false;
  o.tls.enabled = true;
  EXPECT_EQ(H2GrpcTransport::unsupported(o), "TLS");
  o.tls.enabled = false;
  o.hostPorts = {"dns:///collector:14250"};
  EXPECT_NE(H2GrpcTransport::unsupported(o).find("target URI"), std::string::npos);
  o.engine = Engine::kNative;
  EXPECT_FALSE(createGrpcClient(o, GrpcTransport::ConnMetrics{}).has_value());
  o.engine = Engine::kAuto;
  EXPECT_TRUE(createGrpcClient(o, GrpcTransport::ConnMetrics{}).has_value());
}

}  // namespace
}  // namespace jagent::report
