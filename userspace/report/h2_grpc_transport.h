// H2GrpcTransport: unary gRPC calls (api_v2 PostSpans, OTLP/gRPC Export, and the generic calls of
// the sampling proxy) over HTTP/2 with Debian's libnghttp2, run on the shard's own loop.
//
// Why not libgrpc++ here: with it every shard needs a report thread polling a completion queue
// (grpc offers no pollable fd), and at 64 KB datagrams libgrpc++'s threads were the whole gap
// to TChannel: 2,208 of 7,555 perf samples, of which only ~420 are the TCP send copy
// (docs/benchmarks-analysis.md, "Reporter transports"). nghttp2 does the protocol (HPACK,
// frames, flow control, SETTINGS, GOAWAY) and never touches a socket; this class owns the
// sockets, in the shard's io_uring through pollFd() like the TChannel transport, and writes
// DATA frames as iovecs over the call body (NGHTTP2_DATA_FLAG_NO_COPY; SendQueue): no copy
// before the kernel's. libgrpc++ (report/grpc_transport.h) still serves TLS, gzip and grpc
// target URIs (createGrpcClient picks).
//
// Connections: every configured host:port is resolved (off-thread, common/async_resolver.h) to
// all its addresses, each gets a connection, and calls rotate over the ready ones (what the
// round_robin policy did, §5.2); names are re-resolved every 30 s and after a connection fails
// (at most once a second). A connection is ready once the server's SETTINGS arrived. Reconnects
// back off 100 ms .. 5 s with jitter. Keepalive: a PING after 5 min without a frame while calls
// are open (grpc-go's enforcement minimum, §4.4), the connection dropped if unanswered in 20 s.
//
// Outcomes (the core decides retries, never a duplicate after a possibly-processed call):
//   - a grpc-status, or an HTTP status without one (gRPC's HTTP-to-status mapping), goes
//     through GrpcTransport::classify (§4.1, §5.2);
//   - streams refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id) were never
//     processed: kRetryable;
//   - a stream reset or a connection lost after the whole request was written: kUnknown; before:
//     kRetryable;
//   - a deadline passed: RST_STREAM CANCEL, and kUnknown if the request was all written.
//
// Threading: every method on the core's I/O thread (the shard loop) except wake() and
// connectedPeers(). nghttp2 callbacks run inside this class's calls into nghttp2.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/async_resolver.h"
#include "common/net.h"
#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "report/grpc_transport.h"
#include "report/send_queue.h"
#include "report/socket_poller.h"
#include "report/transport.h"

namespace jagent::report {

class H2GrpcTransport final : public Transport {
 public:
  using Options = GrpcTransport::Options;
  // Empty when this client can serve `opts`; otherwise why not (TLS, gzip, a target URI).
  [[nodiscard]] static std::string unsupported(const Options& opts);
  [[nodiscard]] static Result<std::unique_ptr<H2GrpcTransport>> create(const Options& opts,
                                                                        GrpcTransport::ConnMetrics metrics);
  ~H2GrpcTransport() override;
  H2GrpcTransport(const H2GrpcTransport&) = delete;
  H2GrpcTransport& operator=(const H2GrpcTransport&) = delete;

  void bind(CompletionSink& sink) override { sink_ = &sink; }
  void maintain(Clock::time_point now) override;
  bool send(std::unique_ptr<OutCall>& call, Clock::time_point now) override;
  void poll(int timeoutMs) override;
  void wake() noexcept override;
  [[nodiscard]] Clock::time_point nextTimer(Clock::time_point now) const override;
  [[nodiscard]] size_t inflight() const override { return inflight_; }
  void abortAll(Clock::time_point now) override;
  [[nodiscard]] int connectedPeers() const noexcept override { return ready_.load(std::memory_order_relaxed); }
  [[nodiscard]] int pollFd() const noexcept override { return poller_.fd(); }
  [[nodiscard]] bool rejectsSpans() const noexcept override { return opts_.mode == GrpcTransport::Mode::kOtlpExport; }
  [[nodiscard]] const char* protocolName() const noexcept override { return label_.c_str(); }

  // gRPC's mapping of an HTTP status without grpc-status to a status code; exposed for tests.
  [[nodiscard]] static int statusOfHttp(int httpStatus) noexcept;
  // grpc-message is percent-encoded, grpc-status-details-bin base64 without padding.
  [[nodiscard]] static std::string percentDecode(std::string_view s);
  [[nodiscard]] static std::string base64Decode(std::string_view s);

  // nghttp2 callbacks (C linkage trampolines in the .cc) reach these.
  struct Conn;
  struct Call;
  struct Target;

 private:
  H2GrpcTransport(const Options& opts, GrpcTransport::ConnMetrics metrics);
  Result<void> init();
  void onResolved();
  void reconcile(Target& t, const std::vector<SockAddr>& addrs, Clock::time_point now);
  void startConnect(Conn& c, Clock::time_point now);
  void onConnected(Conn& c);
  void onReadable(Conn& c);
  void pump(Conn& c);
  void failConn(Conn& c, const std::string& why);
  void closeConn(Conn& c);
  void setReady(Conn& c, bool ready);
  void finishClosed(Conn& c);
  void completeCall(Conn& c, int32_t stream, Outcome o, FailReason r, uint32_t rejected = 0);
  void settle(Conn& c, int32_t stream, uint32_t h2Error);
  void requestResolve(Target& t, Clock::time_point now);
  Conn* pick(int avoid);

  Options opts_;
  GrpcTransport::ConnMetrics conn_;
  std::string label_;
  std::string method_;
  CompletionSink* sink_ = nullptr;
  AsyncResolver resolver_;
  SocketPoller poller_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;  // by id (epoll data)
  uint64_t nextConnId_ = 1;
  uint64_t rotate_ = 0;
  size_t inflight_ = 0;
  std::atomic<int> ready_{0};
  RetryPause pause_{10};  // §5.2
  RateLimiter errorLog_;
};

// The gRPC client for `opts`: H2GrpcTransport where it can serve them (Engine kAuto/kNative),
// libgrpc++'s GrpcTransport otherwise. kNative with options it cannot serve is an error.
[[nodiscard]] Result<std::unique_ptr<Transport>> createGrpcClient(const GrpcTransport::Options& opts,
                                                                  GrpcTransport::ConnMetrics metrics);

}  // namespace jagent::report
