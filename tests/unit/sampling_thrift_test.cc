// The sampling/baggage TBinary codec against Apache Thrift's generated C++ (the oracle), its
// behaviour on broken input, and the JSON bodies against the golden files.
#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <cmath>

#include "BaggageRestrictionManager.h"
#include "SamplingManager.h"
#include "http/sampling_thrift.h"
#include "http_test_util.h"

namespace jagent::http {
namespace {

namespace st = ::jaegertracing::sampling_manager::thrift;
namespace bt = ::jaegertracing::thrift;
using ::apache::thrift::protocol::TBinaryProtocol;
using ::apache::thrift::transport::TMemoryBuffer;
using Bytes = std::vector<uint8_t>;

template <class T>
Bytes oracleWrite(const T& v) {
  auto buf = std::make_shared<TMemoryBuffer>();
  TBinaryProtocol proto(buf);
  v.write(&proto);
  uint8_t* data;
  uint32_t n;
  buf->getBuffer(&data, &n);
  return {data, data + n};
}
template <class T>
T oracleRead(const Bytes& b) {
  auto buf = std::make_shared<TMemoryBuffer>(const_cast<uint8_t*>(b.data()), static_cast<uint32_t>(b.size()),
                                             TMemoryBuffer::OBSERVE);
  TBinaryProtocol proto(buf);
  T v;
  v.read(&proto);
  EXPECT_EQ(buf->available_read(), 0u) << "bytes left over";
  return v;
}

st::SamplingStrategyResponse toOracle(const SamplingStrategyResponse& r) {
  st::SamplingStrategyResponse o;
  o.__set_strategyType(static_cast<st::SamplingStrategyType::type>(r.strategyType));
  if (r.probabilisticSampling) {
    st::ProbabilisticSamplingStrategy p;
    p.__set_samplingRate(r.probabilisticSampling->samplingRate);
    o.__set_probabilisticSampling(p);
  }
  if (r.rateLimitingSampling) {
    st::RateLimitingSamplingStrategy rl;
    rl.__set_maxTracesPerSecond(r.rateLimitingSampling->maxTracesPerSecond);
    o.__set_rateLimitingSampling(rl);
  }
  if (r.operationSampling) {
    st::PerOperationSamplingStrategies pos;
    pos.__set_defaultSamplingProbability(r.operationSampling->defaultSamplingProbability);
    pos.__set_defaultLowerBoundTracesPerSecond(r.operationSampling->defaultLowerBoundTracesPerSecond);
    std::vector<st::OperationSamplingStrategy> ops;
    for (const auto& op : r.operationSampling->perOperationStrategies) {
      st::OperationSamplingStrategy o2;
      o2.__set_operation(op.operation);
      st::ProbabilisticSamplingStrategy p;
      p.__set_samplingRate(op.probabilisticSampling.samplingRate);
      o2.__set_probabilisticSampling(p);
      ops.push_back(o2);
    }
    pos.__set_perOperationStrategies(ops);
    if (r.operationSampling->defaultUpperBoundTracesPerSecond)
      pos.__set_defaultUpperBoundTracesPerSecond(*r.operationSampling->defaultUpperBoundTracesPerSecond);
    o.__set_operationSampling(pos);
  }
  return o;
}

Bytes oracleSamplingResult(const SamplingStrategyResponse& r) {
  st::SamplingManager_getSamplingStrategy_result res;
  res.success = toOracle(r);
  res.__isset.success = true;
  return oracleWrite(res);
}

void expectSame(const SamplingStrategyResponse& a, const SamplingStrategyResponse& b) {
  EXPECT_EQ(a.strategyType, b.strategyType);
  ASSERT_EQ(a.probabilisticSampling.has_value(), b.probabilisticSampling.has_value());
  if (a.probabilisticSampling) {
    EXPECT_EQ(a.probabilisticSampling->samplingRate, b.probabilisticSampling->samplingRate);
  }
  ASSERT_EQ(a.rateLimitingSampling.has_value(), b.rateLimitingSampling.has_value());
  if (a.rateLimitingSampling) {
    EXPECT_EQ(a.rateLimitingSampling->maxTracesPerSecond, b.rateLimitingSampling->maxTracesPerSecond);
  }
  ASSERT_EQ(a.operationSampling.has_value(), b.operationSampling.has_value());
  if (a.operationSampling) {
    const auto &x = *a.operationSampling, &y = *b.operationSampling;
    EXPECT_EQ(x.defaultSamplingProbability, y.defaultSamplingProbability);
    EXPECT_EQ(x.defaultLowerBoundTracesPerSecond, y.defaultLowerBoundTracesPerSecond);
    EXPECT_EQ(x.defaultUpperBoundTracesPerSecond, y.defaultUpperBoundTracesPerSecond);
    ASSERT_EQ(x.perOperationStrategies.size(), y.perOperationStrategies.size());
    for (size_t i = 0; i < x.perOperationStrategies.size(); ++i) {
      EXPECT_EQ(x.perOperationStrategies[i].operation, y.perOperationStrategies[i].operation);
      EXPECT_EQ(x.perOperationStrategies[i].probabilisticSampling.samplingRate,
                y.perOperationStrategies[i].probabilisticSampling.samplingRate);
    }
  }
}

TEST(SamplingThrift, ArgsAreWhatTheGeneratedServerReads) {
  for (const std::string& svc : std::vector<std::string>{"", "svc", std::string("\xff\0x", 3), std::string(70000, 'a')}) {
    auto args = oracleRead<st::SamplingManager_getSamplingStrategy_args>(encodeServiceNameArgs(svc));
    EXPECT_EQ(args.serviceName, svc);
    auto bargs = oracleRead<bt::BaggageRestrictionManager_getBaggageRestrictions_args>(encodeServiceNameArgs(svc));
    EXPECT_EQ(bargs.serviceName, svc);
  }
}

TEST(SamplingThrift, DecodesWhatTheGeneratedServerWrites) {
  for (const auto& [svc, want] : testing::goldenStrategies()) {
    SCOPED_TRACE(svc);
    auto got = decodeSamplingStrategyResult(oracleSamplingResult(want));
    ASSERT_TRUE(got) << got.error().message();
    expectSame(*got, want);
    // And our encoder (used by tests and fakes) is what the generated reader expects.
    auto back = oracleRead<st::SamplingManager_getSamplingStrategy_result>(encodeSamplingStrategyResult(want));
    EXPECT_TRUE(back.success == toOracle(want));
  }
  for (const std::string svc : {"svc-prob", "other"}) {
    bt::BaggageRestrictionManager_getBaggageRestrictions_result res;
    std::vector<bt::BaggageRestriction> list;
    for (const auto& b : testing::goldenBaggage(svc)) {
      bt::BaggageRestriction o;
      o.__set_baggageKey(b.baggageKey);
      o.__set_maxValueLength(b.maxValueLength);
      list.push_back(o);
    }
    res.success = list;
    res.__isset.success = true;
    auto got = decodeBaggageRestrictionsResult(oracleWrite(res));
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(got->size(), list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ((*got)[i].baggageKey, list[i].baggageKey);
      EXPECT_EQ((*got)[i].maxValueLength, list[i].maxValueLength);
    }
    auto back = oracleRead<bt::BaggageRestrictionManager_getBaggageRestrictions_result>(
        encodeBaggageRestrictionsResult(testing::goldenBaggage(svc)));
    EXPECT_TRUE(back.success == list);
  }
}

TEST(SamplingThrift, JsonMatchesGoldenBodies) {
  for (const auto& [svc, strategy] : testing::goldenStrategies()) {
    SCOPED_TRACE(svc);
    auto json = samplingStrategyJson(strategy, false);
    ASSERT_TRUE(json);
    EXPECT_EQ(*json, testing::readGolden("sampling_" + svc + ".json"));
    auto legacy = samplingStrategyJson(strategy, true);
    ASSERT_TRUE(legacy);
    const std::string legacyGolden = "legacy_" + svc + ".json";
    if (svc == "svc-prob" || svc == "svc-rate" || svc == "svc-perop") {
      EXPECT_EQ(*legacy, testing::readGolden(legacyGolden));
    }
    // The legacy body is the same bytes with the enum string replaced by its code.
    std::string expect = *json;
    const std::string from = strategy.strategyType == kRateLimiting ? "\"RATE_LIMITING\"" : "\"PROBABILISTIC\"";
    expect.replace(expect.find(from), from.size(), std::to_string(strategy.strategyType));
    EXPECT_EQ(*legacy, expect);
  }
  EXPECT_EQ(baggageRestrictionsJson(testing::goldenBaggage("svc-prob")), testing::readGolden("baggage_svc-prob.json"));
  EXPECT_EQ(baggageRestrictionsJson({}), testing::readGolden("baggage_empty.json"));
}

TEST(SamplingThrift, JsonOfOddValuesFollowsGo) {
  SamplingStrategyResponse r;
  r.strategyType = 7;  // Go thrift's String() says "<UNSET>", and json.Marshal escapes it
  EXPECT_EQ(*samplingStrategyJson(r, false), R"({"strategyType":"\u003cUNSET\u003e"})");
  EXPECT_EQ(*samplingStrategyJson(r, true), R"({"strategyType":"\u003cUNSET\u003e"})");
  r.strategyType = kRateLimiting;
  r.rateLimitingSampling = RateLimitingSampling{-32768};
  r.probabilisticSampling = ProbabilisticSampling{1e-9};
  EXPECT_EQ(*samplingStrategyJson(r, false),
            R"({"strategyType":"RATE_LIMITING","probabilisticSampling":{"samplingRate":1e-9},)"
            R"("rateLimitingSampling":{"maxTracesPerSecond":-32768}})");
  r.probabilisticSampling->samplingRate = std::nan("");
  EXPECT_FALSE(samplingStrategyJson(r, false));  // json.Marshal fails on NaN → 500 source=thrift
  EXPECT_EQ(baggageRestrictionsJson({{"", -1}}), R"([{"baggageKey":"","maxValueLength":-1}])");
}

TEST(SamplingThrift, RejectsEveryTruncation) {
  const Bytes full = encodeSamplingStrategyResult(testing::goldenStrategies()["svc-perop"]);
  ASSERT_TRUE(decodeSamplingStrategyResult(full));
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = decodeSamplingStrategyResult({full.data(), n});
    EXPECT_FALSE(r) << "prefix of " << n << " bytes decoded";
  }
  const Bytes bag = encodeBaggageRestrictionsResult(testing::goldenBaggage("svc-prob"));
  for (size_t n = 0; n < bag.size(); ++n) EXPECT_FALSE(decodeBaggageRestrictionsResult({bag.data(), n}));
}

TEST(SamplingThrift, BrokenAnswersAreErrorsThatSayWhy) {
  // No success field (e.g. a declared exception or an empty struct): Go says "unknown result".
  auto r = decodeSamplingStrategyResult(Bytes{0x00});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "getSamplingStrategy failed: unknown result");
  EXPECT_EQ(decodeBaggageRestrictionsResult(Bytes{0x00}).error().message(),
            "getBaggageRestrictions failed: unknown result");

  // Required strategyType missing.
  r = decodeSamplingStrategyResult(Bytes{0x0C, 0x00, 0x00, 0x00, 0x00});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "required field SamplingStrategyResponse.strategyType is not set");

  // A list claiming 2^31-1 operations in a few bytes: refused before allocating.
  Bytes huge{0x0C, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,  // success{strategyType=0
             0x0C, 0x00, 0x04,                                            //  operationSampling{
             0x0F, 0x00, 0x03, 0x0C, 0x7F, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00};
  r = decodeSamplingStrategyResult(huge);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("perOperationStrategies"), std::string::npos) << r.error().message();

  // A negative string length.
  Bytes neg{0x0F, 0x00, 0x00, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x0B, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF};
  EXPECT_FALSE(decodeBaggageRestrictionsResult(neg));

  // Unknown fields nested far deeper than anything real: an error, not a stack overflow.
  Bytes deep{0x0C, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
  for (int i = 0; i < 10000; ++i) deep.insert(deep.end(), {0x0C, 0x00, 0x63});
  EXPECT_FALSE(decodeSamplingStrategyResult(deep));
  // A bad type id.
  EXPECT_FALSE(decodeSamplingStrategyResult(Bytes{0x42, 0x00, 0x00, 0x00}));
}

TEST(SamplingThrift, ToleratesWhatGeneratedReadersTolerate) {
  // Unknown fields (any type) are skipped; a known id with the wrong type is skipped too; the
  // last value of a repeated field wins; bytes after the result struct are ignored.
  Bytes b{0x0C, 0x00, 0x00,                                      // success {
          0x0B, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 'x',         //   9: string "x" (unknown)
          0x0B, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,              //   1: string (wrong type for strategyType)
          0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,              //   1: i32 0
          0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,              //   1: i32 1 (wins)
          0x0C, 0x00, 0x03, 0x06, 0x00, 0x01, 0x00, 0x07, 0x00,  //   3: {1: i16 7}
          0x00,                                                  // }
          0x0D, 0x00, 0x05, 0x0B, 0x08, 0x00, 0x00, 0x00, 0x00,  // 5: empty map (unknown)
          0x00, 0xAA};                                           // stop, then a stray byte
  auto r = decodeSamplingStrategyResult(b);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->strategyType, kRateLimiting);
  ASSERT_TRUE(r->rateLimitingSampling);
  EXPECT_EQ(r->rateLimitingSampling->maxTracesPerSecond, 7);
  EXPECT_EQ(*samplingStrategyJson(*r, false), R"({"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7}})");
}

}  // namespace
}  // namespace jagent::http
