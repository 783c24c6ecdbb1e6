// jaeger-modern-sink: a cheap Jaeger gRPC / OTLP collector for the three-transport benchmark
// (issue #15; tools/bench/run_bench.py --transports). The counterpart of jaeger-collector-sink,
// which speaks TChannel.
//
//   jaeger-modern-sink --protocol grpc|otlp-grpc|otlp-http [--host 127.0.0.1] [--port P (0 = any)]
//                      [--stats-file PATH] [--stats-interval-ms MS]
//
//   grpc       jaeger.api_v2.CollectorService/PostSpans          (modern-collectors.md §1.1, §1.2)
//   otlp-grpc  opentelemetry...TraceService/Export over gRPC     (§3.10, §4.1)
//   otlp-http  POST /v1/traces, application/x-protobuf, gzip ok  (§4.2)
//
// Requests are never decoded into objects: a bounds-checked field walk (report/protowire.h)
// reads only what the content checksum needs — trace id, span id, start time and duration of
// every span — and sums the digest jaeger-loadgen computes over what it sent (loadgen.cc), so
// equal sums mean the same spans arrived once each with their ids and times intact, whatever the
// encoding. A request that does not parse is answered INVALID_ARGUMENT / 400 and counted in
// `errors`, never as delivered.
//
// gRPC uses libgrpc++'s callback generic service (its own threads); HTTP uses cpp-httplib. The
// sink's CPU is reported apart from the agent's, which is what the benchmark measures.
//
// Prints "ready <port>" on stdout once listening. Stats (JSON: requests, spans, bytes, errors,
// checksum, cpu seconds; `connections` is 1 once listening — gRPC hides its connections, and
// the benchmark only waits on it for TChannel's handshake) go to --stats-file on SIGTERM/SIGINT
// (then it exits 0) and every --stats-interval-ms.

#include <CLI/CLI.hpp>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "report/protowire.h"

namespace {

namespace pw = jagent::report::protowire;

uint64_t mix64(uint64_t z) {  // same as loadgen.cc
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t be64(std::string_view b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

uint64_t digest(uint64_t low, uint64_t high, uint64_t id, uint64_t startUs, uint64_t durationUs) {
  return mix64(id ^ (std::rotl(low, 17) ^ std::rotl(high, 31) ^ std::rotl(startUs, 43) ^ durationUs));
}

struct Tally {
  uint64_t spans = 0;
  uint64_t checksum = 0;
};

// google.protobuf.Timestamp / Duration {seconds = 1, nanos = 2} → microseconds (§1.4).
bool micros(std::string_view msg, uint64_t& us) {
  pw::Reader r(msg);
  pw::Field f;
  int64_t seconds = 0, nanos = 0;
  while (r.next(f)) {
    if (f.number == 1 && f.wire == pw::kVarint) seconds = static_cast<int64_t>(f.varint);
    if (f.number == 2 && f.wire == pw::kVarint) nanos = static_cast<int32_t>(f.varint);
  }
  us = static_cast<uint64_t>(seconds * 1'000'000 + nanos / 1000);
  return !r.bad();
}

// jaeger.api_v2.Span: trace_id 1 (16 bytes), span_id 2 (8), start_time 6, duration 7 (§1.2).
bool apiV2Span(std::string_view span, Tally& t) {
  pw::Reader r(span);
  pw::Field f;
  uint64_t low = 0, high = 0, id = 0, start = 0, duration = 0;
  bool ids = false;
  while (r.next(f)) {
    if (f.wire != pw::kLen) continue;
    if (f.number == 1 && f.bytes.size() == 16) {
      high = be64(f.bytes, 0);
      low = be64(f.bytes, 8);
      ids = true;
    } else if (f.number == 2 && f.bytes.size() == 8) {
      id = be64(f.bytes, 0);
    } else if ((f.number == 6 && !micros(f.bytes, start)) || (f.number == 7 && !micros(f.bytes, duration))) {
      return false;
    }
  }
  if (r.bad() || !ids) return false;
  t.checksum += digest(low, high, id, start, duration);
  ++t.spans;
  return true;
}

// PostSpansRequest{batch = 1: Batch{spans = 1 ...}}.
bool postSpans(std::string_view req, Tally& t) {
  pw::Reader r(req);
  pw::Field f;
  while (r.next(f)) {
    if (f.number != 1 || f.wire != pw::kLen) continue;
    pw::Reader b(f.bytes);
    pw::Field s;
    while (b.next(s))
      if (s.number == 1 && s.wire == pw::kLen && !apiV2Span(s.bytes, t)) return false;
    if (b.bad()) return false;
  }
  return !r.bad();
}

// OTLP Span: trace_id 1, span_id 2, start 7 and end 8 (fixed64 ns) (§3.10).
bool otlpSpan(std::string_view span, Tally& t) {
  pw::Reader r(span);
  pw::Field f;
  uint64_t low = 0, high = 0, id = 0, startNs = 0, endNs = 0;
  bool ids = false;
  while (r.next(f)) {
    if (f.number == 1 && f.wire == pw::kLen && f.bytes.size() == 16) {
      high = be64(f.bytes, 0);
      low = be64(f.bytes, 8);
      ids = true;
    } else if (f.number == 2 && f.wire == pw::kLen && f.bytes.size() == 8) {
      id = be64(f.bytes, 0);
    } else if (f.number == 7 && f.wire == pw::kFixed64) {
      startNs = f.varint;
    } else if (f.number == 8 && f.wire == pw::kFixed64) {
      endNs = f.varint;
    }
  }
  if (r.bad() || !ids) return false;
  t.checksum += digest(low, high, id, startNs / 1000, (endNs - startNs) / 1000);
  ++t.spans;
  return true;
}

// Walks `msg` down the field-number path (each a length-delimited message), calling leaf() on
// every message at the end of it.
template <typename Leaf>
bool walkPath(std::string_view msg, const uint32_t* path, size_t depth, Leaf&& leaf) {
  if (depth == 0) return leaf(msg);
  pw::Reader r(msg);
  pw::Field f;
  while (r.next(f))
    if (f.number == path[0] && f.wire == pw::kLen && !walkPath(f.bytes, path + 1, depth - 1, leaf)) return false;
  return !r.bad();
}

// ExportTraceServiceRequest{resource_spans 1 {scope_spans 2 {spans 2}}}.
bool exportTrace(std::string_view req, Tally& t) {
  static constexpr uint32_t kPath[] = {1, 2, 2};
  return walkPath(req, kPath, 3, [&t](std::string_view span) { return otlpSpan(span, t); });
}

class Stats {
 public:
  void add(bool ok, size_t bytes, const Tally& t) {
    std::lock_guard lock(mu_);
    ++requests_;
    bytes_ += bytes;
    if (!ok) {
      ++errors_;
      return;
    }
    spans_ += t.spans;
    checksum_ += t.checksum;
  }
  void write(const std::string& path) {
    if (path.empty()) return;
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    std::lock_guard lock(mu_);
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return;
    std::fprintf(f,
                 "{\"requests\":%llu,\"spans\":%llu,\"bytes\":%llu,\"errors\":%llu,\"checksum\":%llu,"
                 "\"connections\":1,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f}\n",
                 static_cast<unsigned long long>(requests_), static_cast<unsigned long long>(spans_),
                 static_cast<unsigned long long>(bytes_), static_cast<unsigned long long>(errors_),
                 static_cast<unsigned long long>(checksum_), sec(u.ru_utime), sec(u.ru_stime));
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }

 private:
  std::mutex mu_;
  uint64_t requests_ = 0, spans_ = 0, bytes_ = 0, errors_ = 0, checksum_ = 0;
};

// One unary call over the generic bidi reactor: read the request, count it, answer an empty
// response (a valid PostSpansResponse / ExportTraceServiceResponse) or INVALID_ARGUMENT.
class Call final : public grpc::ServerGenericBidiReactor {
 public:
  Call(Stats& stats, bool otlp) : stats_(stats), otlp_(otlp) { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
      return;
    }
    grpc::Slice s;
    if (!request_.DumpToSingleSlice(&s).ok()) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "unreadable request"));
      return;
    }
    const std::string_view req(reinterpret_cast<const char*>(s.begin()), s.size());
    Tally t;
    const bool parsed = otlp_ ? exportTrace(req, t) : postSpans(req, t);
    stats_.add(parsed, req.size(), t);
    if (!parsed) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed request"));
      return;
    }
    grpc::Slice empty;
    response_ = grpc::ByteBuffer(&empty, 1);
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  Stats& stats_;
  bool otlp_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class Unimplemented final : public grpc::ServerGenericBidiReactor {
 public:
  Unimplemented() { Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method")); }
  void OnDone() override { delete this; }
};

class Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(Stats& stats) : stats_(stats) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    if (ctx->method() == "/jaeger.api_v2.CollectorService/PostSpans") return new Call(stats_, false);
    if (ctx->method() == "/opentelemetry.proto.collector.trace.v1.TraceService/Export") return new Call(stats_, true);
    return new Unimplemented();
  }

 private:
  Stats& stats_;
};

std::atomic<bool> gStop{false};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jaeger-modern-sink: a cheap api_v2 / OTLP collector that validates and counts"};
  std::string protocol, host = "127.0.0.1", statsFile;
  int port = 0, intervalMs = 0;
  app.add_option("--protocol", protocol, "grpc | otlp-grpc | otlp-http")
      ->required()
      ->check(CLI::IsMember({"grpc", "otlp-grpc", "otlp-http"}));
  app.add_option("--host", host);
  app.add_option("--port", port, "0 = any free port");
  app.add_option("--stats-file", statsFile);
  app.add_option("--stats-interval-ms", intervalMs);
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread started below inherits the mask

  Stats stats;
  std::unique_ptr<grpc::Server> grpcServer;
  Service service(stats);
  httplib::Server http;
  std::thread httpThread;
  if (protocol == "otlp-http") {
    http.Post("/v1/traces", [&stats](const httplib::Request& req, httplib::Response& res) {
      Tally t;
      const bool parsed = exportTrace(req.body, t);  // httplib has already undone Content-Encoding: gzip
      stats.add(parsed, req.body.size(), t);
      res.status = parsed ? 200 : 400;
      res.set_content("", "application/x-protobuf");
    });
    port = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    if (port < 0) {
      std::fprintf(stderr, "cannot listen on %s\n", host.c_str());
      return 1;
    }
    httpThread = std::thread([&http] { http.listen_after_bind(); });
  } else {
    grpc::ServerBuilder b;
    b.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(64 << 20);
    b.RegisterCallbackGenericService(&service);
    grpcServer = b.BuildAndStart();
    if (!grpcServer || port == 0) {
      std::fprintf(stderr, "cannot listen on %s\n", host.c_str());
      return 1;
    }
  }
  std::printf("ready %d\n", port);
  std::fflush(stdout);

  std::thread ticker;
  if (intervalMs > 0) {
    ticker = std::thread([&] {
      while (!gStop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(intervalMs));
        stats.write(statsFile);
      }
    });
  }
  int sig = 0;
  ::sigwait(&set, &sig);
  gStop.store(true);
  if (ticker.joinable()) ticker.join();
  if (grpcServer) grpcServer->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (httpThread.joinable()) {
    http.stop();
    httpThread.join();
  }
  stats.write(statsFile);
  return 0;
}
