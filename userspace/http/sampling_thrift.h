// The sampling and baggage IDL (wire-protocols.md §3.4, §3.5) as plain C++ values, their
// TBinary codec for thrift-over-TChannel (§2: arg3 = args struct out, result struct in, no
// message envelope), and their JSON as jaeger-agent v1.17.1 rendered it (§3.6).
//
// Decoding is bounded: it reuses decode::wire::BinaryReader (every length and count checked
// against the bytes left, nesting depth capped), so a hostile or broken collector answer is an
// error, never a crash or an allocation of what the bytes claim.
//
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace jagent::http {

// enum SamplingStrategyType (Thrift 0.9.2 codes, also the legacy JSON form).
inline constexpr int32_t kProbabilistic = 0;
inline constexpr int32_t kRateLimiting = 1;

struct ProbabilisticSampling {
  double samplingRate = 0;
};
struct RateLimitingSampling {
  int16_t maxTracesPerSecond = 0;
};
struct OperationSampling {
  std::string operation;
  ProbabilisticSampling probabilisticSampling;
};
struct PerOperationSampling {
  double defaultSamplingProbability = 0;
  double defaultLowerBoundTracesPerSecond = 0;
  std::vector<OperationSampling> perOperationStrategies;
  std::optional<double> defaultUpperBoundTracesPerSecond;
};
struct SamplingStrategyResponse {
  int32_t strategyType = kProbabilistic;
  std::optional<ProbabilisticSampling> probabilisticSampling;
  std::optional<RateLimitingSampling> rateLimitingSampling;
  std::optional<PerOperationSampling> operationSampling;
};
struct BaggageRestriction {
  std::string baggageKey;
  int32_t maxValueLength = 0;
};

// An error whose message is exactly `msg` (no errno text): these messages reach HTTP clients
// as "collector error: <msg>".
[[nodiscard]] inline Unexpected upstreamError(std::string msg) { return Unexpected(Error{{}, std::move(msg)}); }

// TChannel arg1 of the two upstream methods.
inline constexpr std::string_view kGetSamplingStrategy = "SamplingManager::getSamplingStrategy";
inline constexpr std::string_view kGetBaggageRestrictions = "BaggageRestrictionManager::getBaggageRestrictions";

// `{1: string serviceName}`: the args struct of both methods.
[[nodiscard]] std::vector<uint8_t> encodeServiceNameArgs(std::string_view serviceName);

// Result structs `{0: success}`. A missing success field, a missing required field, or any
// malformed byte is an error whose message says which.
[[nodiscard]] Result<SamplingStrategyResponse> decodeSamplingStrategyResult(std::span<const uint8_t> arg3);
[[nodiscard]] Result<std::vector<BaggageRestriction>> decodeBaggageRestrictionsResult(std::span<const uint8_t> arg3);

// Encoders of the same result structs (tests and fakes: the inverse of the decoders).
[[nodiscard]] std::vector<uint8_t> encodeSamplingStrategyResult(const SamplingStrategyResponse& r);
[[nodiscard]] std::vector<uint8_t> encodeBaggageRestrictionsResult(const std::vector<BaggageRestriction>& r);

// json.Marshal of the Go thrift structs, byte for byte: fields in IDL order, unset optionals
// omitted, perOperationStrategies as [] when empty, strategyType as "PROBABILISTIC" /
// "RATE_LIMITING" ("<UNSET>" for other codes, escaped as Go does). `legacy` = the `/` endpoint:
// strategyType as the integer 0 / 1. Fails only where json.Marshal fails (NaN or ±Inf).
[[nodiscard]] Result<std::string> samplingStrategyJson(const SamplingStrategyResponse& r, bool legacy);
[[nodiscard]] std::string baggageRestrictionsJson(const std::vector<BaggageRestriction>& r);

}  // namespace jagent::http
