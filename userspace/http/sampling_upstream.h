// Sampling upstreams chosen with --sampling.upstream (modern-collectors.md §5.4, §5.5), for
// backends that serve strategies but not the reporter's protocol (Jaeger v2's remote_sampling
// extension on :5779 gRPC / :5778 HTTP, the OTel Collector's jaegerremotesampling extension), and
// the only sampling source in otlp mode:
//   * GrpcChannelConfigManager: api_v2 `SamplingManager/GetSamplingStrategy` on a gRPC channel of
//     its own (not the reporter's), through GrpcConfigManager (same request, same decoding);
//   * HttpConfigManager: `GET <path>?service=S`, the JSON that jaeger-clients poll (reference-
//     agent.md §1.1.1: Thrift json.Marshal or gogo jsonpb, strategyType as a string or 0/1),
//     parsed into the same SamplingStrategyResponse so /sampling and / render byte for byte as
//     from the other sources;
//   * SplitConfigManager: sampling from one manager, baggage restrictions from another (the
//     reporter's: TChannel keeps serving /baggageRestrictions when only sampling moves).
// Neither upstream serves baggage restrictions. Both are plaintext (no TLS).
//
// A hostile upstream cannot make the agent allocate what it claims: answers are capped at
// kMaxSamplingAnswerBytes (HTTP: read through a bounded receiver; gRPC: the channel's receive
// limit), JSON nesting and value counts are capped before any tree is built, and every reject is
// counted in jaeger_agent_sampling_upstream_rejects_total{upstream,reason=too_large|malformed}.
// The cache and stale serving stay in SamplingProxy, in front of these.
//
// Threading: getSamplingStrategy() is called from several HTTP worker threads at once; each call
// is independent (the HTTP client is per call, the gRPC channel is thread-safe).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/sampling_proxy.h"
#include "metrics/metrics.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace jagent::http {

// Largest upstream answer accepted, JSON or protobuf: ~12k per-operation strategies.
inline constexpr size_t kMaxSamplingAnswerBytes = 1 << 20;

// Jaeger's sampling JSON (either rendering of §1.1.1) → the proxy's struct. Unknown keys are
// ignored; null sub-objects are absent; a wrong type, an unknown strategyType name, nesting
// deeper than 8 or more than 100k values is an error. defaultUpperBoundTracesPerSecond 0 is
// dropped, as proto3 drops it on the gRPC path (jsonpb with EmitDefaults writes it).
[[nodiscard]] Result<SamplingStrategyResponse> parseSamplingStrategyJson(std::string_view body);

// Rejected upstream answers, by upstream kind ("grpc" | "http").
struct UpstreamRejects {
  UpstreamRejects(metrics::Registry& registry, const std::string& upstream);
  metrics::Counter& tooLarge;
  metrics::Counter& malformed;
};

class GrpcChannelConfigManager final : public ConfigManager {
 public:
  // `target`: host:port (dns:/// resolution). The channel connects lazily, on the first call.
  [[nodiscard]] static Result<std::unique_ptr<GrpcChannelConfigManager>> create(const std::string& target,
                                                                              std::chrono::milliseconds timeout,
                                                                              metrics::Registry& registry);
  ~GrpcChannelConfigManager() override;

  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override;
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string& service) override {
    return inner_->getBaggageRestrictions(service);
  }

 private:
  GrpcChannelConfigManager(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout,
                           metrics::Registry& registry);
  std::shared_ptr<grpc::Channel> channel_;
  UpstreamRejects rejects_;
  std::unique_ptr<GrpcConfigManager> inner_;
};

class HttpConfigManager final : public ConfigManager {
 public:
  struct Options {
    std::string host;                       // name or address (IPv6 without brackets)
    uint16_t port = 80;
    std::string path = "/";                 // ?service= (or &service=) is appended
    std::chrono::milliseconds timeout{1000};  // connect, and each read/write; the body too in total
    size_t maxAnswerBytes = kMaxSamplingAnswerBytes;
  };
  HttpConfigManager(Options opts, metrics::Registry& registry);

  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override;
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string&) override {
    return upstreamError("baggage restrictions are not available from a sampling URL");
  }

 private:
  Options opts_;
  std::string display_;  // http://host:port/path, for error messages
  UpstreamRejects rejects_;
};

class SplitConfigManager final : public ConfigManager {
 public:
  // Both outlive this object.
  SplitConfigManager(ConfigManager& sampling, ConfigManager& baggage) : sampling_(sampling), baggage_(baggage) {}
  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override {
    return sampling_.getSamplingStrategy(service);
  }
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string& service) override {
    return baggage_.getBaggageRestrictions(service);
  }

 private:
  ConfigManager& sampling_;
  ConfigManager& baggage_;
};

// RFC 3986 query-component encoding of a service name (unreserved characters kept).
[[nodiscard]] std::string percentEncode(std::string_view s);

}  // namespace jagent::http
