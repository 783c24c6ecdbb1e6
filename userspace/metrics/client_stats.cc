#include "metrics/client_stats.h"

namespace jagent::metrics {
namespace {

constexpr const char* kDroppedHelp = "Total count of spans dropped by clients";

int64_t toNs(ClientStatsTracker::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

ClientStatsTracker::ClientStatsTracker(Registry& r, Options opts)
    : opts_(std::move(opts)),
      batchesReceived_(r.counter("jaeger_agent_client_stats_batches_received",
                                 "Total count of batches received from conforming clients")),
      batchesSent_(r.counter("jaeger_agent_client_stats_batches_sent", "Total count of batches sent by clients")),
      droppedFullQueue_(r.counter("jaeger_agent_client_stats_spans_dropped", kDroppedHelp, {{"cause", "full-queue"}})),
      droppedTooLarge_(r.counter("jaeger_agent_client_stats_spans_dropped", kDroppedHelp, {{"cause", "too-large"}})),
      droppedSendFailure_(r.counter("jaeger_agent_client_stats_spans_dropped", kDroppedHelp, {{"cause", "send-failure"}})),
      untracked_(r.counter("jaeger_agent_client_stats_untracked_batches",
                           "Batches with client stats not tracked because the tracker was full of other clients")) {
  nextSweepNs_.store(toNs(opts_.now()) + std::chrono::nanoseconds(opts_.sweepInterval).count());
  r.callbackGauge("jaeger_agent_client_stats_connected_clients", "Total count of unique clients sending data to the agent",
                  {}, [this] { return static_cast<double>(sweep()); });
}

void ClientStatsTracker::observe(const BatchSummary& s) noexcept {
  if (s.format != Format::kJaeger) return;
  observe(s.clientUuid(), s.hasSeqNo, s.seqNo, s.hasStats ? &s.stats : nullptr);
}

void ClientStatsTracker::observe(std::string_view uuid, bool hasSeqNo, int64_t seqNo,
                                 const ClientStats* stats) noexcept {
  if (uuid.empty() || !hasSeqNo) return;
  const Clock::time_point now = opts_.now();
  maybeSweep(now);
  Shard& shard = shards_[StringHash{}(uuid) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.clients.find(uuid);
  if (it == shard.clients.end()) {
    if (clients_.load(std::memory_order_relaxed) >= opts_.maxClients) {
      untracked_.inc();
      return;
    }
    try {
      it = shard.clients.emplace(std::string(uuid), State{0, {}, now}).first;
    } catch (...) {  // out of memory: lose the statistics, never the agent
      untracked_.inc();
      return;
    }
    clients_.fetch_add(1, std::memory_order_relaxed);
  }
  State& st = it->second;
  if (st.seqNo >= seqNo) return;  // out of order (or a replay): the next batch makes up for it
  batchesReceived_.inc();
  if (st.seqNo != 0) {  // not the first batch seen from this client
    addDelta(batchesSent_, seqNo, st.seqNo);
    if (stats) {
      addDelta(droppedSendFailure_, stats->failedToEmitSpans, st.stats.failedToEmitSpans);
      addDelta(droppedTooLarge_, stats->tooLargeDroppedSpans, st.stats.tooLargeDroppedSpans);
      addDelta(droppedFullQueue_, stats->fullQueueDroppedSpans, st.stats.fullQueueDroppedSpans);
    }
  }
  st.lastUpdated = now;
  st.seqNo = seqNo;
  if (stats) st.stats = *stats;
}

void ClientStatsTracker::maybeSweep(Clock::time_point now) noexcept {
  int64_t next = nextSweepNs_.load(std::memory_order_relaxed);
  const int64_t n = toNs(now);
  if (n < next) return;
  // One thread wins the sweep; the others go on.
  if (!nextSweepNs_.compare_exchange_strong(next, n + std::chrono::nanoseconds(opts_.sweepInterval).count(),
                                            std::memory_order_relaxed))
    return;
  sweep();
}

size_t ClientStatsTracker::sweep() noexcept {
  const Clock::time_point now = opts_.now();
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.clients.begin(); it != shard.clients.end();) {
      if (now - it->second.lastUpdated > opts_.ttl) {
        it = shard.clients.erase(it);
        clients_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        ++it;
      }
    }
  }
  return clients_.load(std::memory_order_relaxed);
}

}  // namespace jagent::metrics
