// SamplingProxy (TTL cache, stale serve, size bound) against a fake upstream and a fake clock,
// and TChannelConfigManager against a fake thrift-over-TChannel call function.
#include <gtest/gtest.h>

#include <thread>

#include "http/sampling_proxy.h"
#include "http_test_util.h"

namespace jagent::http {
namespace {

using namespace std::chrono_literals;
using testing::FakeConfigManager;

struct ProxyFixture {
  metrics::Registry reg;
  FakeConfigManager upstream;
  SamplingProxy::Clock::time_point now{std::chrono::hours(1000)};
  std::unique_ptr<SamplingProxy> proxy;

  explicit ProxyFixture(std::chrono::milliseconds ttl = 60s, size_t maxEntries = 100) {
    SamplingProxy::Options o;
    o.ttl = ttl;
    o.maxEntries = maxEntries;
    o.now = [this] { return now; };
    proxy = std::make_unique<SamplingProxy>(upstream, o, reg);
  }
  uint64_t count(const std::string& name, const metrics::Labels& l) { return reg.counterSum(name, l); }
  uint64_t hits(const std::string& ep = "sampling") {
    return count("jaeger_agent_http_server_cache_lookups", {{"endpoint", ep}, {"result", "hit"}});
  }
  uint64_t misses(const std::string& ep = "sampling") {
    return count("jaeger_agent_http_server_cache_lookups", {{"endpoint", ep}, {"result", "miss"}});
  }
  uint64_t stale(const std::string& ep = "sampling") {
    return count("jaeger_agent_http_server_cache_stale_serves", {{"endpoint", ep}});
  }
  uint64_t proxied(const std::string& result, const std::string& ep = "sampling") {
    return count("jaeger_agent_collector_proxy", {{"endpoint", ep}, {"protocol", "tchannel"}, {"result", result}});
  }
  std::string json(const std::string& svc) {
    auto r = proxy->samplingStrategy(svc);
    if (!r) return "error: " + r.error().message();
    return *samplingStrategyJson(*r, false);
  }
};

TEST(SamplingProxy, ServesFromCacheWithinTtl) {
  ProxyFixture f(60s);
  EXPECT_EQ(f.json("svc-prob"), testing::readGolden("sampling_svc-prob.json"));
  f.now += 59s;
  EXPECT_EQ(f.json("svc-prob"), testing::readGolden("sampling_svc-prob.json"));
  EXPECT_EQ(f.upstream.samplingCalls, 1);
  EXPECT_EQ(f.hits(), 1u);
  EXPECT_EQ(f.misses(), 1u);
  EXPECT_EQ(f.proxied("ok"), 1u);
  // Another service is its own entry.
  EXPECT_EQ(f.json("svc-rate"), testing::readGolden("sampling_svc-rate.json"));
  EXPECT_EQ(f.upstream.samplingCalls, 2);
  EXPECT_EQ(f.reg.renderPrometheus().find("jaeger_agent_http_server_cache_entries{endpoint=\"sampling\"} 2\n") !=
                std::string::npos,
            true);
}

TEST(SamplingProxy, RefreshesAfterTtl) {
  ProxyFixture f(60s);
  EXPECT_EQ(f.json("svc-prob"), testing::readGolden("sampling_svc-prob.json"));
  {
    std::lock_guard lock(f.upstream.mu);
    f.upstream.strategies["svc-prob"] = f.upstream.strategies["svc-rate"];
  }
  f.now += 60s;  // expired at exactly the TTL
  EXPECT_EQ(f.json("svc-prob"), testing::readGolden("sampling_svc-rate.json"));
  EXPECT_EQ(f.upstream.samplingCalls, 2);
  EXPECT_EQ(f.misses(), 2u);
  EXPECT_EQ(f.hits(), 0u);
}

TEST(SamplingProxy, ServesTheLastGoodAnswerWhenTheCollectorFails) {
  ProxyFixture f(60s);
  EXPECT_EQ(f.json("svc-perop"), testing::readGolden("sampling_svc-perop.json"));
  f.upstream.failing = true;
  f.now += 10min;
  EXPECT_EQ(f.json("svc-perop"), testing::readGolden("sampling_svc-perop.json"));
  EXPECT_EQ(f.json("svc-perop"), testing::readGolden("sampling_svc-perop.json"));
  EXPECT_EQ(f.stale(), 2u);
  EXPECT_EQ(f.proxied("err"), 2u);  // every stale serve retried the collector first
  // A service never fetched has nothing to fall back on.
  EXPECT_EQ(f.json("svc-rate"), "error: tchannel error: connection refused");
  EXPECT_EQ(f.stale(), 2u);
  // Recovery: a fresh answer replaces the stale one.
  f.upstream.failing = false;
  EXPECT_EQ(f.json("svc-perop"), testing::readGolden("sampling_svc-perop.json"));
  f.now += 1s;
  EXPECT_EQ(f.json("svc-perop"), testing::readGolden("sampling_svc-perop.json"));
  EXPECT_EQ(f.hits(), 1u);
}

TEST(SamplingProxy, BaggageIsCachedSeparately) {
  ProxyFixture f(60s);
  auto b = f.proxy->baggageRestrictions("svc-prob");
  ASSERT_TRUE(b);
  EXPECT_EQ(baggageRestrictionsJson(*b), testing::readGolden("baggage_svc-prob.json"));
  ASSERT_TRUE(f.proxy->baggageRestrictions("svc-prob"));
  EXPECT_EQ(f.upstream.baggageCalls, 1);
  EXPECT_EQ(f.hits("baggage"), 1u);
  EXPECT_EQ(f.upstream.samplingCalls, 0);
  f.upstream.failing = true;
  f.now += 2h;
  b = f.proxy->baggageRestrictions("svc-prob");
  ASSERT_TRUE(b);
  EXPECT_EQ(f.stale("baggage"), 1u);
  EXPECT_EQ(f.stale("sampling"), 0u);
}

TEST(SamplingProxy, BoundsTheNumberOfServices) {
  ProxyFixture f(60s, 3);
  for (int i = 0; i < 10; ++i) {
    std::lock_guard lock(f.upstream.mu);
    f.upstream.strategies["s" + std::to_string(i)] = f.upstream.strategies["svc-prob"];
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.proxy->samplingStrategy("s" + std::to_string(i)));
  EXPECT_EQ(f.count("jaeger_agent_http_server_cache_evictions", {{"endpoint", "sampling"}}), 7u);
  EXPECT_NE(f.reg.renderPrometheus().find("jaeger_agent_http_server_cache_entries{endpoint=\"sampling\"} 3\n"),
            std::string::npos);
  // The three most recent are cached, the rest went.
  const int before = f.upstream.samplingCalls;
  for (int i = 7; i < 10; ++i) ASSERT_TRUE(f.proxy->samplingStrategy("s" + std::to_string(i)));
  EXPECT_EQ(f.upstream.samplingCalls, before);
  ASSERT_TRUE(f.proxy->samplingStrategy("s0"));
  EXPECT_EQ(f.upstream.samplingCalls, before + 1);
  // Use refreshes recency: the cache now holds s0, s9, s8 (s8 least recent). Touching s8 and
  // then adding s1 evicts s9, not s8.
  ASSERT_TRUE(f.proxy->samplingStrategy("s8"));
  ASSERT_TRUE(f.proxy->samplingStrategy("s1"));
  const int calls = f.upstream.samplingCalls;
  ASSERT_TRUE(f.proxy->samplingStrategy("s8"));
  EXPECT_EQ(f.upstream.samplingCalls, calls);
  ASSERT_TRUE(f.proxy->samplingStrategy("s9"));
  EXPECT_EQ(f.upstream.samplingCalls, calls + 1);
}

TEST(SamplingProxy, ZeroSizeIsTheReferenceBehaviour) {
  ProxyFixture f(60s, 0);
  ASSERT_TRUE(f.proxy->samplingStrategy("svc-prob"));
  ASSERT_TRUE(f.proxy->samplingStrategy("svc-prob"));
  EXPECT_EQ(f.upstream.samplingCalls, 2);
  f.upstream.failing = true;
  EXPECT_FALSE(f.proxy->samplingStrategy("svc-prob"));  // nothing to serve stale
  EXPECT_EQ(f.stale(), 0u);
}

TEST(SamplingProxy, ZeroTtlAlwaysAsksButStillServesStale) {
  ProxyFixture f(0ms);
  ASSERT_TRUE(f.proxy->samplingStrategy("svc-prob"));
  ASSERT_TRUE(f.proxy->samplingStrategy("svc-prob"));
  EXPECT_EQ(f.upstream.samplingCalls, 2);
  f.upstream.failing = true;
  EXPECT_TRUE(f.proxy->samplingStrategy("svc-prob"));
  EXPECT_EQ(f.stale(), 1u);
}

TEST(SamplingProxy, ConcurrentUseIsSafe) {
  ProxyFixture f(1ms, 4);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string svc = (i + t) % 3 == 0 ? "svc-prob" : (i % 2 ? "svc-rate" : "svc-perop");
        if (!f.proxy->samplingStrategy(svc) || !f.proxy->baggageRestrictions(svc)) failures++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(f.hits() + f.misses(), 2000u);
}

// ---- TChannelConfigManager ---------------------------------------------------------------------

TEST(SamplingProxy, TChannelUpstreamEncodesArgsAndDecodesResults) {
  std::string seenMethod;
  std::vector<uint8_t> seenArgs;
  std::chrono::milliseconds seenTimeout{};
  TChannelConfigManager m(
      [&](std::string_view method, std::vector<uint8_t> arg3, std::chrono::milliseconds timeout, report::RawCallback cb) {
        seenMethod = std::string(method);
        seenArgs = arg3;
        seenTimeout = timeout;
        report::RawResult r;
        r.ok = true;
        // Answer from another thread, as the reporter's I/O thread does.
        std::thread([cb, method = std::string(method), r]() mutable {
          r.arg3 = method == kGetSamplingStrategy
                       ? encodeSamplingStrategyResult(testing::goldenStrategies()["svc-perop"])
                       : encodeBaggageRestrictionsResult(testing::goldenBaggage("svc-prob"));
          cb(std::move(r));
        }).detach();
      },
      1s);
  auto s = m.getSamplingStrategy("svc-perop");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(*samplingStrategyJson(*s, false), testing::readGolden("sampling_svc-perop.json"));
  EXPECT_EQ(seenMethod, "SamplingManager::getSamplingStrategy");
  EXPECT_EQ(seenArgs, encodeServiceNameArgs("svc-perop"));
  EXPECT_EQ(seenTimeout, 1s);
  auto b = m.getBaggageRestrictions("svc-prob");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(seenMethod, "BaggageRestrictionManager::getBaggageRestrictions");
  EXPECT_EQ(baggageRestrictionsJson(*b), testing::readGolden("baggage_svc-prob.json"));
}

TEST(SamplingProxy, TChannelUpstreamErrorsSayWhatFailed) {
  report::RawResult answer;
  TChannelConfigManager m(
      [&](std::string_view, std::vector<uint8_t>, std::chrono::milliseconds, report::RawCallback cb) { cb(answer); },
      1s);
  answer.ok = false;
  answer.error = "BadRequest: no such endpoint";
  EXPECT_EQ(m.getBaggageRestrictions("x").error().message(),
            "BaggageRestrictionManager::getBaggageRestrictions: BadRequest: no such endpoint");
  answer.ok = true;
  answer.applicationError = true;
  EXPECT_EQ(m.getSamplingStrategy("x").error().message(),
            "SamplingManager::getSamplingStrategy: application error from the collector");
  answer.applicationError = false;
  answer.arg3 = {0x00};
  EXPECT_EQ(m.getSamplingStrategy("x").error().message(), "getSamplingStrategy failed: unknown result");
}

TEST(SamplingProxy, TChannelUpstreamNeverHangsOnALostCallback) {
  report::RawCallback kept;  // never called: the worker must give up on its own
  TChannelConfigManager m(
      [&](std::string_view, std::vector<uint8_t>, std::chrono::milliseconds, report::RawCallback cb) { kept = cb; },
      10ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = m.getSamplingStrategy("x");
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_NE(r.error().message().find("no answer within 10 ms"), std::string::npos);
  report::RawResult late;
  late.ok = true;
  kept(late);  // a late answer after the waiter left is harmless
}

TEST(SamplingProxy, NoCollectorConfigured) {
  NoCollectorConfigManager m;
  EXPECT_EQ(m.getSamplingStrategy("x").error().message(), "no collector configured");
  EXPECT_EQ(m.getBaggageRestrictions("x").error().message(), "no collector configured");
}

}  // namespace
}  // namespace jagent::http
