// OTLP transports under a ReporterCore (modern-collectors.md §4):
//   - OTLP/gRPC: GrpcTransport in kOtlpExport mode (`TraceService/Export`, §4.1);
//   - OTLP/HTTP: OtlpHttpTransport below, `POST <endpoint>/v1/traces` with
//     `Content-Type: application/x-protobuf` (§4.2), over cpp-httplib (already a dependency).
// Contract of both: an OutCall body is a concatenation of `ExportTraceServiceRequest.resource_spans`
// records (tag 0x0A + varint length + ResourceSpans), so the body IS a valid
// ExportTraceServiceRequest; the core concatenates batches (maxBatchesPerCall = 0).
//
// OtlpHttpTransport: a few worker threads, each with one keep-alive HTTP/1.1 connection (OTel
// receivers speak HTTP/1.1 over cleartext, §4.4), each doing one request at a time; send() hands
// a call to an idle worker, poll() collects finished ones through an eventfd. The body is
// streamed from the call's buffer (a content provider: no copy), gzip'ed first when asked (zlib,
// into a per-worker buffer).
// Outcomes (§4.2): 2xx = ok, with `partial_success.rejected_spans` reported as rejected (never
// retried); 429/502/503/504 retryable, `Retry-After` (seconds or HTTP-date) honoured on 429/503 by
// pausing new requests; any other status fails; a failed connect is retryable with backoff and
// jitter; a request written whose response never came is kUnknown (may have been processed).
//
// Threading: Transport methods on the core's I/O thread except wake() and connectedPeers();
// workers only touch their own slot and the done queue (mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "report/grpc_transport.h"
#include "report/transport.h"

namespace jagent::report {

struct OtlpOptions {
  enum class Protocol : uint8_t { kGrpc, kHttpProtobuf };
  Protocol protocol = Protocol::kGrpc;
  // gRPC: host:port, or http(s)://host:port (https forces TLS). HTTP: the full traces URL
  // (config appends /v1/traces to a base endpoint, §4.5).
  std::string endpoint;
  std::vector<std::pair<std::string, std::string>> headers;
  bool gzip = false;
  std::chrono::milliseconds timeout{10'000};
  TlsOptions tls;
  size_t httpConnections = 4;  // concurrent HTTP requests per transport
  GrpcTransport::Options::Engine engine = GrpcTransport::Options::Engine::kAuto;  // --reporter.client
};

// Parses `Retry-After` (§4.2): delta-seconds, or an HTTP-date (RFC 1123). 0 = absent/invalid.
[[nodiscard]] std::chrono::milliseconds parseRetryAfter(const std::string& value,
                                                        std::chrono::system_clock::time_point now);

// gzip (RFC 1952) of `in` into `out` (a reused buffer); false if zlib failed.
[[nodiscard]] bool gzipInto(const std::vector<uint8_t>& in, std::vector<uint8_t>& out);

// What an OTLP/HTTP status means (§4.2): 2xx ok; 429, 502, 503, 504 retryable, with Retry-After
// honoured on 429/503 only; anything else a failure. Shared by both HTTP clients.
struct OtlpHttpVerdict {
  Outcome outcome = Outcome::kFailed;
  FailReason reason = FailReason::kErrorOther;
  std::chrono::milliseconds retryAfter{0};
};
[[nodiscard]] OtlpHttpVerdict classifyOtlpHttp(int status, const std::string& retryAfter);

class OtlpHttpTransport final : public Transport {
 public:
  [[nodiscard]] static Result<std::unique_ptr<OtlpHttpTransport>> create(const OtlpOptions& opts);
  ~OtlpHttpTransport() override;

  void bind(CompletionSink& sink) override { sink_ = &sink; }
  void maintain(Clock::time_point) override {}
  bool send(std::unique_ptr<OutCall>& call, Clock::time_point now) override;
  void poll(int timeoutMs) override;
  void wake() noexcept override;
  [[nodiscard]] Clock::time_point nextTimer(Clock::time_point now) const override;
  [[nodiscard]] size_t inflight() const override { return inflight_; }
  void abortAll(Clock::time_point now) override;
  [[nodiscard]] int connectedPeers() const noexcept override { return reachable_.load(std::memory_order_relaxed) ? 1 : 0; }
  [[nodiscard]] bool rejectsSpans() const noexcept override { return true; }
  [[nodiscard]] const char* protocolName() const noexcept override { return "otlp"; }

  struct Worker;
  struct Done {
    std::unique_ptr<OutCall> call;
    Outcome outcome = Outcome::kFailed;
    FailReason reason = FailReason::kErrorOther;
    uint32_t rejected = 0;
    std::chrono::milliseconds retryAfter{0};
    bool connectFailed = false;
    Worker* worker = nullptr;
  };

 private:
  explicit OtlpHttpTransport(const OtlpOptions& opts);
  Result<void> init();
  void run(Worker& w);
  Done perform(Worker& w, std::unique_ptr<OutCall> call);
  void collect(Clock::time_point now);

  OtlpOptions opts_;
  std::string schemeHostPort_;
  std::string path_;
  CompletionSink* sink_ = nullptr;
  std::vector<std::unique_ptr<Worker>> workers_;
  UniqueFd eventFd_;
  std::mutex mu_;                      // guards done_ and every worker's job slot
  std::deque<Done> done_;
  bool stopping_ = false;
  size_t inflight_ = 0;
  RetryPause pause_{25};  // §4.2, §4.5
  std::atomic<bool> reachable_{true};
  RateLimiter errorLog_;
};

// The transport for `--reporter.type=otlp`: gRPC or HTTP by `opts.protocol`.
[[nodiscard]] Result<std::unique_ptr<Transport>> createOtlpTransport(const OtlpOptions& opts,
                                                                     GrpcTransport::ConnMetrics metrics);

}  // namespace jagent::report
