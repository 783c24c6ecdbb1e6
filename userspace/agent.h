// Agent: the composition root. Builds the pipeline receive → decode → report from the config,
// and owns the start and stop order:
//   start: reporter, decode workers, then receivers (so nothing is received with nowhere to go);
//   stop:  receivers (no new datagrams), decode workers (finish what is queued), reporter (drain
//          to the collectors until the shutdown deadline, count the rest).
// Threading: create/start/stop from the main thread only.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "decode/processor.h"
#include "metrics/metrics.h"
#include "receive/uring_receiver.h"
#include "report/reporter.h"

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

 private:
  explicit Agent(const config::AgentConfig& cfg) : cfg_(cfg) {}

  config::AgentConfig cfg_;
  metrics::Registry registry_;
  std::unique_ptr<report::Reporter> reporter_;
  std::vector<std::unique_ptr<decode::Processor>> processors_;
  std::vector<std::unique_ptr<receive::UringReceiver>> receivers_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace jagent
