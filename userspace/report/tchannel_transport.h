// TChannelTransport: the TChannel client under a ReporterCore (wire-protocols.md §1–2). One TCP
// connection per configured collector (keeping at least min-peers connected), the init
// handshake, thrift-over-TChannel calls to service "jaeger-collector" (transport headers
// as=thrift, cn=jaeger-agent), `Collector::submitBatches` / `ZipkinCollector::submitZipkinBatch`
// for batches and any method for generic calls, ping keepalive, reconnect with backoff.
//
// Peer choice: the ready peer with the fewest calls in flight, rotating on ties, avoiding the
// peer that just failed the call. A peer whose socket is more than kMaxUnsentPerPeer behind gets
// no new call (the call waits, bounded, in the core's queue).
//
// Outcomes it reports (the core decides retries): busy/declined/timeout error frames and calls
// that never fully left the socket are kRetryable; a call whose bytes all left the socket and
// whose answer was lost (connection closed, deadline) is kUnknown; bad requests are kFailed.
//
// Threading: all methods on the core's I/O thread except wake() and connectedPeers().
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
#include "metrics/metrics.h"
#include "report/send_queue.h"
#include "report/socket_poller.h"
#include "report/tchannel_frame.h"
#include "report/transport.h"

namespace jagent::report {

class TChannelTransport final : public Transport {
 public:
  struct Options {
    std::vector<std::string> hostPorts;           // --reporter.tchannel.host-port
    int minPeers = 3;                             // --reporter.tchannel.discovery.min-peers
    std::chrono::milliseconds connCheckTimeout{250};  // connect + handshake budget
  };
  // Per-collector connection counts, shared by every shard's transport and exported as
  // jaeger_agent_collector_connected{peer}: the fraction of shards connected to that collector
  // (1 = connected, as jaeger-agent's gauge; 0.5 = half the shards are).
  struct PeerGauges {
    std::vector<std::shared_ptr<std::atomic<int>>> connected;  // index = host-port index
  };
  [[nodiscard]] static PeerGauges registerGauges(const Options& opts, metrics::Registry& registry, size_t shards);

  [[nodiscard]] static Result<std::unique_ptr<TChannelTransport>> create(const Options& opts, PeerGauges gauges);
  ~TChannelTransport() override;

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
  [[nodiscard]] const char* protocolName() const noexcept override { return "tchannel"; }

 private:
  struct Peer;
  TChannelTransport(const Options& opts, PeerGauges gauges);
  Result<void> init();
  void startConnect(Peer& p, Clock::time_point now);
  void connectResolved(Peer& p, const SockAddr& addr);  // after the AsyncResolver answered
  void onResolved();
  void onWritable(Peer& p);
  void onReadable(Peer& p);
  void handleFrame(Peer& p, const tchannel::FrameView& f);
  void completeCall(Peer& p, uint32_t id, Outcome outcome, FailReason reason, uint32_t notOk = 0);
  void failPeer(Peer& p, const std::string& why);
  void flushWrites(Peer& p);
  Peer* pickPeer(int avoid);

  Options opts_;
  PeerGauges gauges_;
  CompletionSink* sink_ = nullptr;
  std::vector<std::unique_ptr<Peer>> peers_;
  SocketPoller poller_;
  // Collector names are resolved here, off the I/O thread (issue #11): a slow or silent DNS
  // server delays only the peer being resolved.
  AsyncResolver resolver_;
  std::atomic<int> connected_{0};
  RateLimiter errorLog_;
  size_t inflight_ = 0;
  int nextPeer_ = 0;
  int lastDispatched_ = -1;
};

}  // namespace jagent::report
