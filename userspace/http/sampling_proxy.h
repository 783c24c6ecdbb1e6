// The collector side of the sampling endpoints: what jaeger-agent calls a ConfigManager
// (SamplingManager::getSamplingStrategy / BaggageRestrictionManager::getBaggageRestrictions
// over TChannel, reference-agent.md §1.1.1), and SamplingProxy, the cache in front of it.
//
// Beyond the reference (which makes one blocking RPC per HTTP request):
//   * each service's answer is served from memory for `ttl`;
//   * when the collector fails, the last good answer for that service is served instead of a
//     500 (counted as a stale serve): a client keeps its last strategy on a failed poll anyway,
//     so this only hides the outage from clients that just restarted;
//   * at most `maxEntries` services per endpoint are remembered (least recently used evicted),
//     so a client inventing service names cannot grow the agent's memory.
//   ttl = 0 asks the collector every time but still serves stale on failure; maxEntries = 0
//   turns the cache off entirely (reference behaviour).
//
// Threading: every method may be called from several HTTP worker threads at once. A miss calls
// the upstream outside the cache lock (two concurrent misses for one service make two calls).
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/result.h"
#include "http/sampling_thrift.h"
#include "metrics/metrics.h"
#include "report/transport.h"

namespace jagent::http {

// The upstream, blocking (bounded by its own timeout). Implementations are thread-safe.
class ConfigManager {
 public:
  virtual ~ConfigManager() = default;
  [[nodiscard]] virtual Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) = 0;
  [[nodiscard]] virtual Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string& service) = 0;
};

// Upstream over a thrift-over-TChannel call function (ReporterCore::call in the agent; a
// fake in tests). Blocks the calling thread until the callback or `timeout` (+ a margin).
class TChannelConfigManager final : public ConfigManager {
 public:
  using RawCall = std::function<void(std::string_view method, std::vector<uint8_t> arg3,
                                     std::chrono::milliseconds timeout, report::RawCallback callback)>;
  TChannelConfigManager(RawCall call, std::chrono::milliseconds timeout) : call_(std::move(call)), timeout_(timeout) {}

  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override;
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string& service) override;

 private:
  Result<std::vector<uint8_t>> roundTrip(std::string_view method, const std::string& service);
  RawCall call_;
  std::chrono::milliseconds timeout_;
};

// Upstream over Jaeger api_v2 gRPC (modern-collectors.md §5.4): `GetSamplingStrategy` on the
// reporter's gRPC channels (ReporterCore::call with report::GrpcTransport), request
// `SamplingStrategyParameters{serviceName = 1}`, answer decoded from the §1.5 field table. Baggage
// restrictions have no gRPC method (jaeger-agent's gRPC manager does not serve them either).
class GrpcConfigManager final : public ConfigManager {
 public:
  using RawCall = TChannelConfigManager::RawCall;
  // `malformed` (optional, outlives this): counts answers that do not decode.
  GrpcConfigManager(RawCall call, std::chrono::milliseconds timeout, metrics::Counter* malformed = nullptr)
      : call_(std::move(call)), timeout_(timeout), malformed_(malformed) {}

  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override;
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string&) override {
    return upstreamError("baggage restrictions are not available over gRPC");
  }

 private:
  RawCall call_;
  std::chrono::milliseconds timeout_;
  metrics::Counter* malformed_;
};

// api_v2 `SamplingStrategyResponse` bytes (§1.5) → the proxy's response struct.
[[nodiscard]] Result<SamplingStrategyResponse> decodeApiV2SamplingStrategy(std::span<const uint8_t> bytes);
inline constexpr std::string_view kGrpcGetSamplingStrategy = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy";

// Stdout mode: there is no collector to ask.
class NoCollectorConfigManager final : public ConfigManager {
 public:
  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string&) override { return noCollector(); }
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string&) override { return noCollector(); }

 private:
  static Unexpected noCollector() { return upstreamError("no collector configured"); }
};

class SamplingProxy {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds ttl{60'000};
    size_t maxEntries = 10'000;   // per endpoint
    // The `protocol` label of jaeger_agent_collector_proxy_total per endpoint: how the upstream
    // is reached ("tchannel", "grpc" as jaeger-agent's gRPC reporter labels it, §5.3; "http").
    std::string samplingProtocol = "tchannel";
    std::string baggageProtocol = "tchannel";
    std::function<Clock::time_point()> now = [] { return Clock::now(); };  // tests inject time
  };

  // `upstream` and `registry` outlive the proxy.
  SamplingProxy(ConfigManager& upstream, Options opts, metrics::Registry& registry);
  ~SamplingProxy();

  [[nodiscard]] Result<SamplingStrategyResponse> samplingStrategy(const std::string& service);
  [[nodiscard]] Result<std::vector<BaggageRestriction>> baggageRestrictions(const std::string& service);

 private:
  template <typename T>
  class Cache;
  struct EndpointMetrics;

  template <typename T, typename Fetch>
  Result<T> get(Cache<T>& cache, EndpointMetrics& m, const std::string& service, Fetch&& fetch);

  ConfigManager& upstream_;
  Options opts_;
  std::unique_ptr<Cache<SamplingStrategyResponse>> sampling_;
  std::unique_ptr<Cache<std::vector<BaggageRestriction>>> baggage_;
  std::unique_ptr<EndpointMetrics> samplingMetrics_;
  std::unique_ptr<EndpointMetrics> baggageMetrics_;
  RateLimiter staleLog_;
};

}  // namespace jagent::http
