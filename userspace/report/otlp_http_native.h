// OtlpHttpNativeTransport: OTLP/HTTP (`POST <endpoint>/v1/traces`, application/x-protobuf,
// modern-collectors.md §4.2) over plain HTTP/1.1 keep-alive connections owned by the shard's own
// loop (pollFd(), like the TChannel and native gRPC transports): no worker threads, and the body
// goes out by reference (SendQueue, sendmsg) — only gzip, when asked, writes a compressed copy.
//
// Why not cpp-httplib here: it is blocking, so every shard needed worker threads and a hand-off
// per request; at 64 KB datagrams those threads cost 1,100–1,500 perf samples next to the shards'
// 6,638 (docs/benchmarks-analysis.md, "Reporter transports"). cpp-httplib (OtlpHttpTransport)
// still serves https:// endpoints; createOtlpTransport picks.
//
// Connections: `httpConnections` per transport, each doing one request at a time (OTel receivers
// speak HTTP/1.1 over cleartext, §4.4; no pipelining), connected eagerly, re-resolving the host on
// every connect, reconnecting with backoff (100 ms .. 5 s, jitter). A response is read with
// Http1Response (bounded; malformed = the connection is closed).
//
// Outcomes (§4.2, classifyOtlpHttp): 2xx ok with partial_success read; 429/502/503/504 retryable,
// Retry-After honoured; others fail. A request not fully written when its connection broke is
// retryable; one fully written whose answer never came (closed, deadline) is kUnknown; a
// malformed answer is kFailed/bad_response (the collector saw the request).
//
// Threading: all methods on the core's I/O thread except wake() and connectedPeers().
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/async_resolver.h"
#include "common/net.h"
#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "report/otlp_transport.h"
#include "report/socket_poller.h"
#include "report/transport.h"

namespace jagent::report {

class OtlpHttpNativeTransport final : public Transport {
 public:
  // Empty when this client can serve `opts` (an http:// endpoint); otherwise why not.
  [[nodiscard]] static std::string unsupported(const OtlpOptions& opts);
  [[nodiscard]] static Result<std::unique_ptr<OtlpHttpNativeTransport>> create(const OtlpOptions& opts);
  ~OtlpHttpNativeTransport() override;
  OtlpHttpNativeTransport(const OtlpHttpNativeTransport&) = delete;
  OtlpHttpNativeTransport& operator=(const OtlpHttpNativeTransport&) = delete;

  void bind(CompletionSink& sink) override { sink_ = &sink; }
  void maintain(Clock::time_point now) override;
  bool send(std::unique_ptr<OutCall>& call, Clock::time_point now) override;
  void poll(int timeoutMs) override;
  void wake() noexcept override;
  [[nodiscard]] Clock::time_point nextTimer(Clock::time_point now) const override;
  [[nodiscard]] size_t inflight() const override { return inflight_; }
  void abortAll(Clock::time_point now) override;
  [[nodiscard]] int connectedPeers() const noexcept override { return connected_.load(std::memory_order_relaxed); }
  [[nodiscard]] int pollFd() const noexcept override { return poller_.fd(); }
  [[nodiscard]] bool rejectsSpans() const noexcept override { return true; }
  [[nodiscard]] const char* protocolName() const noexcept override { return "otlp"; }

  struct Conn;

 private:
  explicit OtlpHttpNativeTransport(const OtlpOptions& opts);
  Result<void> init();
  void onResolved();
  void connectTo(Conn& c, const SockAddr& addr);
  void onConnected(Conn& c);
  void onReadable(Conn& c);
  void flush(Conn& c);
  void finish(Conn& c, Outcome o, FailReason r, uint32_t rejected, std::chrono::milliseconds retryAfter);
  void onResponse(Conn& c);
  void closeConn(Conn& c, bool failed, const std::string& why);
  void setConnected(Conn& c, bool up);

  OtlpOptions opts_;
  HostPort hp_;
  std::string hostHeader_;
  std::string path_;
  std::string fixedHead_;  // the request head after the request line, up to Content-Length
  CompletionSink* sink_ = nullptr;
  AsyncResolver resolver_;
  SocketPoller poller_;
  std::vector<std::unique_ptr<Conn>> conns_;
  size_t inflight_ = 0;
  size_t next_ = 0;
  std::atomic<int> connected_{0};
  RetryPause pause_{25};  // §4.2, §4.5
  RateLimiter errorLog_;
};

}  // namespace jagent::report
