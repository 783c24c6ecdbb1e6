// Agent: the composition root. Builds the pipeline receive → decode → report from the config,
// and owns the start and stop order:
//   start: reporter, decode workers, then receivers (so nothing is received with nowhere to go);
//   stop:  receivers (no new datagrams), decode workers (finish what is queued), reporter (drain
//          to the collectors until the shutdown deadline, count the rest).
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
#include "decode/processor.h"
#include "http/admin_server.h"
#include "http/sampling_proxy.h"
#include "http/sampling_server.h"
#include "metrics/client_stats.h"
#include "metrics/metrics.h"
#include "receive/uring_receiver.h"
#include "receive/xdp_datapath.h"
#include "report/reporter.h"

namespace jagent {
namespace report {
class TChannelReporter;
}

class Agent {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Agent>> create(const config::AgentConfig& cfg);
  ~Agent();

  [[nodiscard]] Result<void> start();
  void stop();

  [[nodiscard]] metrics::Registry& registry() noexcept { return registry_; }
  // Local UDP port of processor i (0 zipkin-compact, 1 jaeger-compact, 2 jaeger-binary).
  [[nodiscard]] uint16_t udpPort(size_t i) const noexcept;
  // Bound TCP ports of the HTTP servers (useful with :0).
  [[nodiscard]] uint16_t samplingPort() const noexcept { return samplingServer_ ? samplingServer_->port() : 0; }
  [[nodiscard]] uint16_t adminPort() const noexcept { return adminServer_ ? adminServer_->port() : 0; }

 private:
  explicit Agent(const config::AgentConfig& cfg) : cfg_(cfg) {}
  // Sampling proxy + server and admin server (bound, not yet serving). `tchannel` is null in
  // stdout mode.
  [[nodiscard]] Result<void> createHttp(report::TChannelReporter* tchannel);

  config::AgentConfig cfg_;
  metrics::Registry registry_;
  std::unique_ptr<metrics::ClientStatsTracker> clientStats_;  // processors point to it: declared before them
  std::unique_ptr<report::Reporter> reporter_;
  std::vector<std::unique_ptr<decode::Processor>> processors_;
  std::vector<std::unique_ptr<receive::UringReceiver>> receivers_;
  // XDP/AF_XDP path beside the sockets (--xdp.interfaces); null when off. Reset at the end of
  // stop(): detach and unpin after the processors released every UMEM frame.
  std::unique_ptr<receive::XdpDatapath> xdp_;
  // HTTP surfaces, declared last so they are destroyed (stopped) before what they read.
  std::unique_ptr<http::ConfigManager> configManager_;
  std::unique_ptr<http::SamplingProxy> samplingProxy_;
  std::unique_ptr<http::SamplingServer> samplingServer_;
  std::unique_ptr<http::AdminServer> adminServer_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace jagent
