// GrpcTransport: unary gRPC calls under a ReporterCore, over Debian's libgrpc++ with the generic
// stub (grpc::GenericStub: a method path and pre-serialized bytes; no generated service code,
// modern-collectors.md §7.1). Two users:
//   - Jaeger api_v2 `CollectorService/PostSpans` (§1.1): each OutCall body is ONE serialized
//     `jaeger.api_v2.Batch` (the core runs with maxBatchesPerCall = 1); the request
//     `PostSpansRequest{batch = 1}` is a 1–6 byte prefix (tag 0x0A + varint length, §1.2) plus the
//     body, sent as two slices, the body not copied.
//   - OTLP/gRPC `TraceService/Export` (§4.1, report/otlp_transport.h): the body already is an
//     ExportTraceServiceRequest (concatenated resource_spans records); the response's
//     partial_success is read.
// Generic request/response calls (OutCall::raw(): sampling, §5.4) send the body as is and hand
// back the response bytes.
//
// Connections: one grpc::Channel per configured host:port, target `dns:///host:port` with the
// `round_robin` LB policy (every resolved address gets calls; grpc re-resolves on connection
// loss), calls rotated over the READY channels. Keepalive pings every 5 min (grpc-go servers
// answer faster pings with GOAWAY too_many_pings, §4.4). Message size capped under 4 MiB (§4.4).
// Calls are fail-fast, so send() only takes a call while some channel is READY; otherwise the
// call waits in the core's queue (bounded by queue-max-bytes) while the channel connects.
//
// Outcomes (the core decides retries; never a duplicate after a possibly-processed call):
//   - api_v2: UNAVAILABLE and RESOURCE_EXHAUSTED answered by the collector are retryable (§5.2:
//     jaeger-agent's retry interceptor retries exactly these two codes);
//   - OTLP: CANCELLED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS, and RESOURCE_EXHAUSTED only
//     with a google.rpc.RetryInfo detail, are retryable (§4.1); the rest are failures;
//   - a call whose deadline passed (DEADLINE_EXCEEDED) or whose connection broke after it was
//     started (UNAVAILABLE with a transport-loss message, CANCELLED not by us) is kUnknown: the
//     collector may have processed it;
//   - a RetryInfo retry_delay (§4.1) pauses new calls for that long; other retryable answers
//     pause 50 ms ±10 % (jaeger-agent's backoff, §5.2), doubling while failures continue (≤ 1 s).
//
// Threading: every method on the core's I/O thread except wake() and connectedPeers(). grpc's own
// threads only run the slice release callback (an atomic store).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/result.h"
#include "metrics/metrics.h"
#include "report/retry_pause.h"
#include "report/transport.h"

namespace grpc {
class Channel;
class CompletionQueue;
class Status;
}  // namespace grpc

namespace jagent::report {

struct TlsOptions {
  bool enabled = false;        // --reporter.grpc.tls.enabled
  std::string ca;              // CA bundle file (empty = system trust store)
  std::string cert;            // client certificate file (mTLS)
  std::string key;             // client key file
  std::string serverName;      // SNI / verification name override
  bool skipHostVerify = false; // do not verify the server certificate
};

// Parsed status of a failed call: what GrpcTransport decided, exposed for tests.
struct GrpcVerdict {
  Outcome outcome = Outcome::kFailed;
  FailReason reason = FailReason::kErrorOther;
  std::chrono::milliseconds retryDelay{0};  // from a google.rpc.RetryInfo detail, 0 = none
};

class GrpcTransport final : public Transport {
 public:
  enum class Mode : uint8_t {
    kJaegerPostSpans,  // body = one api_v2 Batch; §5.2 status rules
    kOtlpExport,       // body = ExportTraceServiceRequest; §4.1 status rules, partial success
  };
  struct Options {
    Mode mode = Mode::kJaegerPostSpans;
    std::vector<std::string> hostPorts;        // host:port, or a full grpc target (dns:///…, ipv4:…)
    std::string method;                        // empty = the mode's method path
    std::vector<std::pair<std::string, std::string>> metadata;  // sent with every call (OTLP headers)
    bool gzip = false;                          // grpc-encoding: gzip
    TlsOptions tls;
    std::chrono::milliseconds keepaliveTime{300'000};   // grpc-go's enforcement MinTime (§4.4)
    std::chrono::milliseconds keepaliveTimeout{20'000};
    int maxMessageBytes = 4 * 1024 * 1024 - 64 * 1024;  // under the receivers' 4 MiB (§4.4)
    size_t maxInflight = 64;                            // calls in flight per transport
    std::string protocolLabel;                          // "" = "grpc" / "otlp" by mode
    // Which client runs the calls (--reporter.client; createGrpcClient, report/h2_grpc_transport.h):
    // kAuto = the nghttp2 client on the shard loop where it can (plaintext host:port targets, no
    // gzip), else this one (kLibrary: libgrpc++).
    enum class Engine : uint8_t { kAuto, kNative, kLibrary } engine = Engine::kAuto;
  };
  // Per-protocol connection metrics of jaeger-agent's gRPC reporter (§5.3), shared by every
  // shard's transport: connected = 1 while some shard has a READY channel.
  struct ConnMetrics {
    std::shared_ptr<std::atomic<int>> readyShards = std::make_shared<std::atomic<int>>(0);
    metrics::Counter* reconnects = nullptr;
  };
  [[nodiscard]] static ConnMetrics registerMetrics(metrics::Registry& registry, const char* protocol);

  [[nodiscard]] static Result<std::unique_ptr<GrpcTransport>> create(const Options& opts, ConnMetrics metrics);
  ~GrpcTransport() override;

  void bind(CompletionSink& sink) override { sink_ = &sink; }
  void maintain(Clock::time_point now) override;
  bool send(std::unique_ptr<OutCall>& call, Clock::time_point now) override;
  void poll(int timeoutMs) override;
  void wake() noexcept override;
  [[nodiscard]] Clock::time_point nextTimer(Clock::time_point now) const override;
  [[nodiscard]] size_t inflight() const override { return inflight_; }
  void abortAll(Clock::time_point now) override;
  [[nodiscard]] int connectedPeers() const noexcept override { return ready_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool rejectsSpans() const noexcept override { return opts_.mode == Mode::kOtlpExport; }
  [[nodiscard]] const char* protocolName() const noexcept override { return label_.c_str(); }

  // Maps a final status to an outcome (exposed for tests). `started`: the call went out on a
  // READY channel; `mode`: which table of §4.1/§5.2 applies.
  [[nodiscard]] static GrpcVerdict classify(Mode mode, int code, const std::string& message,
                                            const std::string& details, bool cancelledByUs);
  // google.rpc.Status bytes (grpc-status-details-bin) → RetryInfo.retry_delay, 0 if absent.
  [[nodiscard]] static std::chrono::milliseconds retryDelayOf(const std::string& statusDetails);

  struct Call;
  struct Tag;

 private:
  struct Chan;
  explicit GrpcTransport(const Options& opts, ConnMetrics metrics);
  Result<void> init();
  void handle(void* tag, bool ok);
  void onFinish(Call* c);
  void finishCall(Call* c, Clock::time_point now);
  void watch(Chan& ch);
  void releaseParked(bool force);
  void setReady(Chan& ch, bool ready);

  Options opts_;
  ConnMetrics conn_;
  std::string label_;
  std::string method_;
  CompletionSink* sink_ = nullptr;
  std::unique_ptr<grpc::CompletionQueue> cq_;
  std::vector<std::unique_ptr<Chan>> chans_;
  std::unordered_set<Call*> calls_;        // started, Finish tag not yet seen
  std::vector<Call*> parked_;              // finished, waiting for grpc to release the body slice
  size_t inflight_ = 0;
  size_t next_ = 0;
  std::atomic<int> ready_{0};
  RetryPause pause_{10};  // §5.2
  RateLimiter errorLog_;
  // wake(): one grpc::Alarm outstanding at most.
  std::mutex wakeMu_;
  bool shutdown_ = false;
  std::atomic<bool> wakeArmed_{false};
};

}  // namespace jagent::report
