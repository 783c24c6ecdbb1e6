// api_v2 SamplingStrategyResponse decoding for the gRPC sampling proxy (modern-collectors.md §1.5,
// §5.4), from the observed bytes and from a hand-encoded per-operation answer.
#include <gtest/gtest.h>

#include "http/sampling_proxy.h"

namespace jagent::http {
namespace {

TEST(GrpcSampling, DecodesObservedProbabilisticAnswer) {
  // jaeger-all-in-one v1.17.1 with no strategy file: 12 09 09 fca9f1d24d62503f (§1.5).
  const std::vector<uint8_t> b{0x12, 0x09, 0x09, 0xfc, 0xa9, 0xf1, 0xd2, 0x4d, 0x62, 0x50, 0x3f};
  auto r = decodeApiV2SamplingStrategy(b);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->strategyType, kProbabilistic);
  ASSERT_TRUE(r->probabilisticSampling);
  EXPECT_DOUBLE_EQ(r->probabilisticSampling->samplingRate, 0.001);
  EXPECT_FALSE(r->operationSampling);
}

TEST(GrpcSampling, DecodesRateLimitingAndPerOperation) {
  std::vector<uint8_t> b{0x08, 0x01, 0x1a, 0x02, 0x08, 0x05};  // RATE_LIMITING, maxTracesPerSecond 5
  // operationSampling{defaultSamplingProbability 0.5, perOperationStrategies [{operation "op", p 1.0}]}
  const std::vector<uint8_t> op{0x0a, 0x02, 'o', 'p', 0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
  std::vector<uint8_t> po{0x09, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0x1a, static_cast<uint8_t>(op.size())};
  po.insert(po.end(), op.begin(), op.end());
  b.push_back(0x22);
  b.push_back(static_cast<uint8_t>(po.size()));
  b.insert(b.end(), po.begin(), po.end());
  auto r = decodeApiV2SamplingStrategy(b);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->strategyType, kRateLimiting);
  ASSERT_TRUE(r->rateLimitingSampling);
  EXPECT_EQ(r->rateLimitingSampling->maxTracesPerSecond, 5);
  ASSERT_TRUE(r->operationSampling);
  EXPECT_DOUBLE_EQ(r->operationSampling->defaultSamplingProbability, 0.5);
  ASSERT_EQ(r->operationSampling->perOperationStrategies.size(), 1u);
  EXPECT_EQ(r->operationSampling->perOperationStrategies[0].operation, "op");
  EXPECT_DOUBLE_EQ(r->operationSampling->perOperationStrategies[0].probabilisticSampling.samplingRate, 1.0);
  EXPECT_FALSE(r->operationSampling->defaultUpperBoundTracesPerSecond);
}

TEST(GrpcSampling, RejectsTruncatedAnswer) {
  EXPECT_FALSE(decodeApiV2SamplingStrategy(std::vector<uint8_t>{0x12, 0x09, 0x09, 0xfc}));
}

}  // namespace
}  // namespace jagent::http
