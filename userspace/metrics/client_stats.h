// ClientStatsTracker: the loss that clients themselves report (Batch.seqNo and Batch.stats,
// keyed by the Process tag "client-uuid"), turned into jaeger-agent's client_stats metrics with
// its semantics (reference-agent.md §1.3, jaeger v1.17 reporter/client_metrics.go):
//   jaeger_agent_client_stats_batches_received_total   batches accepted for tracking
//   jaeger_agent_client_stats_batches_sent_total       Δ seqNo (what the client says it sent)
//   jaeger_agent_client_stats_connected_clients        clients heard from within the TTL
//   jaeger_agent_client_stats_spans_dropped_total{cause=full-queue|too-large|send-failure}  Δ stats
// Rules kept from the reference: batches without a client-uuid or a seqNo are ignored; a batch
// whose seqNo is not above the last one seen is ignored (out of order); the first batch of a
// client only sets the baseline (no deltas, so an agent restart does not produce a spike,
// jaeger #2028); a client silent for `ttl` (1 h) is forgotten, swept every `sweepInterval`
// (15 min). Differences, all for safety: a counter never goes down (the reference's Go
// Prometheus counter would panic on a negative delta), connected_clients is current at every
// scrape rather than every 15 min, and at most `maxClients` are tracked (a flood of invented
// UUIDs cannot grow memory; batches from clients beyond it are counted as untracked).
//
// Threading: observe() from any decode worker, concurrently (sharded locks); the gauge and
// sweep may run on the scraper's thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/pipeline.h"
#include "metrics/metrics.h"

namespace jagent::metrics {

class ClientStatsTracker {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds ttl{std::chrono::hours(1)};
    std::chrono::milliseconds sweepInterval{std::chrono::minutes(15)};
    size_t maxClients = 65'536;
    std::function<Clock::time_point()> now = [] { return Clock::now(); };  // tests inject time
  };

  // Registers the metrics. The tracker must outlive every scrape of `registry` (it registers a
  // scrape-time callback).
  ClientStatsTracker(Registry& registry, Options opts);
  explicit ClientStatsTracker(Registry& registry) : ClientStatsTracker(registry, Options{}) {}
  ClientStatsTracker(const ClientStatsTracker&) = delete;
  ClientStatsTracker& operator=(const ClientStatsTracker&) = delete;

  // One successfully decoded batch. Never throws; allocates only for a new client.
  void observe(const BatchSummary& s) noexcept;
  void observe(std::string_view clientUuid, bool hasSeqNo, int64_t seqNo, const ClientStats* stats) noexcept;

  // Forgets clients silent for longer than the TTL; returns how many are left.
  size_t sweep() noexcept;
  [[nodiscard]] size_t clients() const noexcept { return clients_.load(std::memory_order_relaxed); }

 private:
  struct State {
    int64_t seqNo = 0;
    ClientStats stats;
    Clock::time_point lastUpdated{};
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, State, StringHash, std::equal_to<>> clients;
  };
  static constexpr size_t kShards = 16;

  void maybeSweep(Clock::time_point now) noexcept;
  static void addDelta(Counter& c, int64_t now, int64_t before) noexcept {
    if (now > before) c.inc(static_cast<uint64_t>(now) - static_cast<uint64_t>(before));
  }

  Options opts_;
  Counter& batchesReceived_;
  Counter& batchesSent_;
  Counter& droppedFullQueue_;
  Counter& droppedTooLarge_;
  Counter& droppedSendFailure_;
  Counter& untracked_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> clients_{0};
  std::atomic<int64_t> nextSweepNs_{0};
};

}  // namespace jagent::metrics
