// ClientStatsTracker: jaeger-agent's client_stats semantics (first batch is a baseline,
// out-of-order batches ignored, expiry after the TTL) plus this agent's bounds.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

#include "metrics/client_stats.h"

namespace jagent::metrics {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  Registry reg;
  ClientStatsTracker::Clock::time_point now{std::chrono::hours(100)};
  std::unique_ptr<ClientStatsTracker> t;
  explicit Fixture(size_t maxClients = 1000) {
    ClientStatsTracker::Options o;
    o.ttl = 1h;
    o.sweepInterval = 15min;
    o.maxClients = maxClients;
    o.now = [this] { return now; };
    t = std::make_unique<ClientStatsTracker>(reg, o);
  }
  void batch(const std::string& uuid, int64_t seq, ClientStats s) { t->observe(uuid, true, seq, &s); }
  uint64_t c(const std::string& name, const Labels& l = {}) { return reg.counterSum(name, l); }
  uint64_t received() { return c("jaeger_agent_client_stats_batches_received"); }
  uint64_t sent() { return c("jaeger_agent_client_stats_batches_sent"); }
  uint64_t dropped(const std::string& cause) { return c("jaeger_agent_client_stats_spans_dropped", {{"cause", cause}}); }
  std::string gauge() {
    const std::string text = reg.renderPrometheus();
    const std::string key = "\njaeger_agent_client_stats_connected_clients ";
    const size_t p = text.find(key);
    if (p == std::string::npos) return "<missing>";
    const size_t start = p + key.size();
    return text.substr(start, text.find('\n', start) - start);
  }
};

TEST(ClientStats, FirstBatchIsOnlyTheBaseline) {
  Fixture f;
  f.batch("a", 100, {7, 8, 9});  // an agent restart in the middle of a client's life
  EXPECT_EQ(f.received(), 1u);
  EXPECT_EQ(f.sent(), 0u);
  EXPECT_EQ(f.dropped("full-queue") + f.dropped("too-large") + f.dropped("send-failure"), 0u);
  f.batch("a", 103, {10, 8, 12});
  EXPECT_EQ(f.received(), 2u);
  EXPECT_EQ(f.sent(), 3u);
  EXPECT_EQ(f.dropped("full-queue"), 3u);
  EXPECT_EQ(f.dropped("too-large"), 0u);
  EXPECT_EQ(f.dropped("send-failure"), 3u);
  EXPECT_EQ(f.gauge(), "1");
}

TEST(ClientStats, OutOfOrderAndReplaysAreIgnored) {
  Fixture f;
  f.batch("a", 5, {0, 0, 0});
  f.batch("a", 9, {4, 0, 0});
  f.batch("a", 7, {100, 100, 100});  // late
  f.batch("a", 9, {100, 100, 100});  // replay
  EXPECT_EQ(f.received(), 2u);
  EXPECT_EQ(f.sent(), 4u);
  EXPECT_EQ(f.dropped("full-queue"), 4u);
  f.batch("a", 10, {6, 1, 0});  // deltas against the last accepted batch, not the ignored ones
  EXPECT_EQ(f.dropped("full-queue"), 6u);
  EXPECT_EQ(f.dropped("too-large"), 1u);
  // seqNo 0 (or below) is never above the initial state: ignored as in the reference.
  f.batch("b", 0, {1, 1, 1});
  EXPECT_EQ(f.received(), 3u);
}

TEST(ClientStats, BatchesWithoutUuidOrSeqNoAreNotTracked) {
  Fixture f;
  ClientStats s{1, 1, 1};
  f.t->observe("", true, 5, &s);
  f.t->observe("a", false, 0, &s);
  EXPECT_EQ(f.received(), 0u);
  EXPECT_EQ(f.gauge(), "0");
  // Stats are optional: seqNo alone still counts batches.
  f.t->observe("a", true, 1, nullptr);
  f.t->observe("a", true, 4, nullptr);
  EXPECT_EQ(f.sent(), 3u);
  f.t->observe("a", true, 5, &s);  // stats appear: the baseline was zero
  EXPECT_EQ(f.dropped("full-queue"), 1u);
}

TEST(ClientStats, CountersNeverGoDown) {
  Fixture f;
  f.batch("a", 1, {10, 10, 10});
  f.batch("a", 2, {3, 3, 3});  // a client that reset its counters
  EXPECT_EQ(f.dropped("full-queue"), 0u);
  f.batch("a", 3, {5, 3, 3});  // growth from the new baseline counts again
  EXPECT_EQ(f.dropped("full-queue"), 2u);
}

TEST(ClientStats, SilentClientsExpire) {
  Fixture f;
  f.batch("a", 1, {});
  f.batch("b", 1, {});
  EXPECT_EQ(f.gauge(), "2");
  f.now += 59min;
  f.batch("b", 2, {});
  f.now += 2min;  // a: 61 min silent, b: 2 min
  EXPECT_EQ(f.gauge(), "1");  // the scrape sweeps
  EXPECT_EQ(f.t->clients(), 1u);
  // A forgotten client starts over with a baseline.
  f.batch("a", 50, {});
  EXPECT_EQ(f.sent(), 1u);  // only b's 1→2
  f.now += 2h;
  f.batch("c", 1, {});  // observe() sweeps too, every sweepInterval
  EXPECT_EQ(f.t->clients(), 1u);
}

TEST(ClientStats, TrackedClientsAreBounded) {
  Fixture f(3);
  for (int i = 0; i < 10; ++i) f.batch(fmt::format("u{}", i), 1, {});
  EXPECT_EQ(f.t->clients(), 3u);
  EXPECT_EQ(f.c("jaeger_agent_client_stats_untracked_batches"), 7u);
  EXPECT_EQ(f.received(), 3u);
  f.batch("u0", 2, {});  // known clients keep working
  EXPECT_EQ(f.sent(), 1u);
}

TEST(ClientStats, ZipkinBatchesAreIgnored) {
  Fixture f;
  BatchSummary s;
  s.format = Format::kZipkin;
  s.hasSeqNo = true;
  s.seqNo = 3;
  s.uuid[0] = 'x';
  s.uuidLen = 1;
  f.t->observe(s);
  EXPECT_EQ(f.received(), 0u);
  s.format = Format::kJaeger;
  f.t->observe(s);
  EXPECT_EQ(f.received(), 1u);
}

TEST(ClientStats, ConcurrentObserversCountExactly) {
  Registry reg;
  ClientStatsTracker t(reg);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (int c = 0; c < 50; ++c) {
        const std::string uuid = fmt::format("w{}-c{}", w, c);
        for (int64_t seq = 1; seq <= 20; ++seq) {
          ClientStats s{seq, 0, 0};
          t.observe(uuid, true, seq, &s);
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.clients(), 200u);
  EXPECT_EQ(reg.counterSum("jaeger_agent_client_stats_batches_received"), 200u * 20);
  EXPECT_EQ(reg.counterSum("jaeger_agent_client_stats_batches_sent"), 200u * 19);
  EXPECT_EQ(reg.counterSum("jaeger_agent_client_stats_spans_dropped", {{"cause", "full-queue"}}), 200u * 19);
}

}  // namespace
}  // namespace jagent::metrics
