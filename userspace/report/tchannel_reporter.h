// TChannelReporter: forwards transcoded batches to Jaeger collectors over TChannel
// (`Collector::submitBatches`, `ZipkinCollector::submitZipkinBatch`, service "jaeger-collector",
// transport headers as=thrift and cn=jaeger-agent; wire-protocols.md §1–2).
//
// Coalescing: batches are concatenated (memcpy) into one open call per format; the call is sent
// when it reaches batch-max-bytes or when its oldest batch is batch-max-delay old.
// Peers: every configured collector gets a connection; each call goes to the ready peer with the
// fewest calls in flight. Busy/declined/timeout errors and calls that never fully left the socket
// are retried on another peer within the call's deadline (= report-timeout). Nothing is lost
// silently: every batch ends submitted, failed, or dropped, each counted by reason.
// Memory: bytes queued + in flight are bounded by queue-max-bytes; beyond it emit() drops.
//
// Threading: emit() from any thread (one mutex, memcpy, rarely an eventfd write). All socket
// work happens on one internal I/O thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/async_resolver.h"
#include "common/net.h"
#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "report/reporter.h"
#include "report/tchannel_frame.h"

namespace jagent::report {

// Outcome of a generic call(): ok = a call res arrived (arg3 holds the Thrift result struct;
// applicationError = call res code was not OK, arg3 then holds the declared exception);
// otherwise `error` says what failed (error frame, timeout, no connection, shutdown).
struct RawResult {
  bool ok = false;
  bool applicationError = false;
  std::vector<uint8_t> arg3;
  std::string error;
};
using RawCallback = std::function<void(RawResult)>;

class TChannelReporter final : public Reporter {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TChannelReporter>> create(const config::ReporterConfig& cfg,
                                                                         metrics::Registry& registry);
  ~TChannelReporter() override;

  void emit(const EncodedBatch& batch) noexcept override;
  void close(std::chrono::steady_clock::time_point deadline) override;

  // A generic thrift-over-TChannel call to service jaeger-collector (e.g.
  // "SamplingManager::getSamplingStrategy"); `arg3` is the TBinary args struct. Goes ahead of
  // queued batches; `callback` runs exactly once, on the I/O thread (keep it short).
  void call(std::string_view method, std::vector<uint8_t> arg3, std::chrono::milliseconds timeout,
            RawCallback callback);

  // Number of peers with a completed handshake (readiness).
  [[nodiscard]] int connectedPeers() const noexcept { return connected_.load(std::memory_order_relaxed); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Call;
  struct Peer;
  struct FormatMetrics;

  TChannelReporter(const config::ReporterConfig& cfg, metrics::Registry& registry);
  Result<void> init();
  void run();
  void wake() noexcept;
  void maintainConnections(Clock::time_point now);
  void startConnect(Peer& p, Clock::time_point now);
  void connectResolved(Peer& p, const SockAddr& addr);  // issue #11: after AsyncResolver
  void onResolved();
  void onWritable(Peer& p);
  void onReadable(Peer& p);
  void handleFrame(Peer& p, const tchannel::FrameView& f);
  void completeCall(Peer& p, uint32_t id, bool ok, const char* reason, bool retryable);
  void dispatch(Clock::time_point now);
  void sendCall(Peer& p, std::unique_ptr<Call> call, Clock::time_point now);
  void failPeer(Peer& p, const std::string& why);
  void flushWrites(Peer& p);
  void updateEpoll(Peer& p);
  void finish(std::unique_ptr<Call> call, const char* outcome);   // terminal accounting
  void expire(Clock::time_point now);
  int pollTimeoutMs(Clock::time_point now) const;
  FormatMetrics& fm(decode::Format f);

  config::ReporterConfig cfg_;
  metrics::Registry& registry_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<std::unique_ptr<FormatMetrics>> formatMetrics_;
  metrics::Counter& retries_;
  metrics::Gauge& queueBytesGauge_;
  RateLimiter dropLog_;
  RateLimiter errorLog_;

  UniqueFd epoll_;
  UniqueFd wakeFd_;
  // Collector names are resolved here, off the I/O thread (issue #11): a slow or silent DNS
  // server delays only the peer being resolved.
  AsyncResolver resolver_;
  std::thread thread_;
  std::atomic<int> connected_{0};

  // Shared with emit(): guarded by mu_.
  std::mutex mu_;
  std::unique_ptr<Call> open_[2];             // per format: the call being filled
  std::deque<std::unique_ptr<Call>> ready_;   // closed calls waiting for a peer
  std::vector<std::vector<uint8_t>> freeBodies_;  // reserved bodies of finished calls, for reuse
  bool closing_ = false;
  Clock::time_point closeDeadline_{};
  std::atomic<size_t> queuedBytes_{0};
  bool stopped_ = false;

  // I/O-thread only.
  size_t inflight_ = 0;
  int nextPeer_ = 0;
  int lastDispatched_ = -1;
};

}  // namespace jagent::report
