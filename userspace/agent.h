// Agent: the composition root. Builds N shards from the config and owns the start and stop order.
//
// A shard is one thread with one io_uring: a SO_REUSEPORT socket per UDP port it serves, each
// datagram decoded inline (pipeline::DecodeStage) and appended to the shard's own reporter core,
// whose collector connections the same thread drives (the transport's epoll fd is polled by the
// ring). From the kernel to the collector socket: no lock taken by another thread, no hand-off.
// Shards share nothing on the hot path but relaxed metric counters; the kernel spreads datagrams
// over the shards' sockets at random (a reuseport BPF program), so one busy client still reaches
// every shard.
//
//   start: reporters, then receivers (so nothing is received with nowhere to go);
//   stop:  receivers (no new datagrams), then every reporter drains to its collectors until
//          the shutdown deadline, in parallel, and counts the rest.
// The HTTP servers bracket both: the admin server (health, /metrics) starts first and answers
// 503 until everything is up, goes back to 503 the moment stop() begins, and stops last after
// the sampling server, so the drain stays observable.
// Threading: create/start/stop from the main thread only.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "http/admin_server.h"
#include "http/sampling_proxy.h"
#include "http/sampling_server.h"
#include "metrics/client_stats.h"
#include "metrics/metrics.h"
#include "pipeline/decode_stage.h"
#include "receive/uring_receiver.h"
#include "receive/xdp_datapath.h"
#include "report/reporter.h"
#include "report/reporter_core.h"

namespace jagent {

class Agent {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Agent>> create(const config::AgentConfig& cfg);
  ~Agent();

  [[nodiscard]] Result<void> start();
  void stop();

  [[nodiscard]] metrics::Registry& registry() noexcept { return registry_; }
  // Local UDP port of processor i (0 zipkin-compact, 1 jaeger-compact, 2 jaeger-binary).
  [[nodiscard]] uint16_t udpPort(size_t i) const noexcept;
  [[nodiscard]] size_t shards() const noexcept { return shards_; }
  // Bound TCP ports of the HTTP servers (useful with :0).
  [[nodiscard]] uint16_t samplingPort() const noexcept { return samplingServer_ ? samplingServer_->port() : 0; }
  [[nodiscard]] uint16_t adminPort() const noexcept { return adminServer_ ? adminServer_->port() : 0; }

 private:
  explicit Agent(const config::AgentConfig& cfg) : cfg_(cfg) {}
  [[nodiscard]] Result<void> createReporters();
  [[nodiscard]] Result<void> createPorts();
  [[nodiscard]] pipeline::DecodeStage::Options stageOptions(const config::ProcessorConfig& pc, bool concurrent) const;
  // Sampling proxy + server and admin server (bound, not yet serving).
  [[nodiscard]] Result<void> createHttp();

  config::AgentConfig cfg_;
  size_t shards_ = 1;
  metrics::Registry registry_;
  std::unique_ptr<metrics::ClientStatsTracker> clientStats_;  // stages point to it: declared before them
  std::unique_ptr<report::ReporterMetrics> reporterMetrics_;
  // One reporter per shard; `cores_` are the same objects when forwarding (empty in stdout mode).
  std::vector<std::unique_ptr<report::Reporter>> reporters_;
  std::vector<report::ReporterCore*> cores_;
  decode::Encoding encoding_ = decode::Encoding::kThriftBinary;  // what the stages emit (the transport's)
  [[nodiscard]] report::Reporter& stageReporter(size_t shard) { return *reporters_[shard % reporters_.size()]; }
  std::vector<std::unique_ptr<pipeline::PortMetrics>> portMetrics_;    // per UDP port
  std::vector<std::unique_ptr<pipeline::DecodeStage>> stages_;         // per (port, shard), and per XDP port
  std::vector<std::unique_ptr<receive::UdpCounters>> portCounters_;    // per UDP port, shared by its shards
  // One receive loop per shard: a socket per port the shard serves; it also drives the shard's
  // reporter core when the transport offers a pollable fd.
  std::vector<std::unique_ptr<receive::UringReceiver>> receivers_;     // [shard]
  std::vector<std::vector<int>> socketOf_;                             // [shard][port] → socket index, -1
  std::vector<report::ReporterCore*> ownThreadCores_;                  // cores not driven by a shard loop
  // XDP/AF_XDP path beside the sockets (--xdp.interfaces); null when off. Reset at the end of
  // stop(): detach and unpin after the stages released every UMEM frame.
  std::unique_ptr<receive::XdpDatapath> xdp_;
  // HTTP surfaces, declared last so they are destroyed (stopped) before what they read.
  std::unique_ptr<http::ConfigManager> configManager_;     // the reporter's (or none)
  std::unique_ptr<http::ConfigManager> samplingUpstream_;  // --sampling.upstream, if set
  std::unique_ptr<http::ConfigManager> splitManager_;      // upstream sampling + reporter's baggage
  std::unique_ptr<http::SamplingProxy> samplingProxy_;
  std::unique_ptr<http::SamplingServer> samplingServer_;
  std::unique_ptr<http::AdminServer> adminServer_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace jagent
