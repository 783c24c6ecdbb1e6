// The OTLP transcoder's key fingerprint and special-key index (decode/otlp_fields.h): what the
// duplicate check and the special lookup rely on to be fast. Correctness never depends on the
// fingerprint (equal fingerprints are confirmed by comparing keys; the differential tests cover
// the output), so these tests pin the properties that keep the fast paths fast.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "decode/otlp_fields.h"

namespace jagent::decode::otlp {
namespace {

TEST(OtlpFields, EverySpecialKeyHasItsOwnSlotAndIsFound) {
  EXPECT_TRUE(kSpecialIndex.distinct());
  for (uint8_t s = 0; s < kSpecialKeys; ++s) {
    const std::string_view k = kSpecialKey[s];
    EXPECT_EQ(kSpecialIndex.find(k, keyFingerprint(k)), static_cast<Special>(s)) << k;
  }
  // Same length and first bytes as specials, or a special's prefix: not specials.
  for (const std::string_view k : {"component", "peer.port", "errors", "span.kin", "span.kind.1", "http.status_cod",
                                   "otel.status_codes", "event.2", ""})
    EXPECT_EQ(kSpecialIndex.find(k, keyFingerprint(k)), kNotSpecial) << k;
}

// The duplicate check's filters index fingerprints by bits 44..63. Keys that differ only in a
// suffix (a tracer's "user.tier.11", "user.tier.27") must differ there; an earlier fingerprint
// left the last bytes out of the top bits and sent 23 % of real tag lists to the slow path.
TEST(OtlpFields, FingerprintTopBitsSeeEveryByteOfShortAndSuffixedKeys) {
  std::vector<std::string> keys;
  for (const char* base : {"user.tier", "db.statement", "message_bus.destination", "error", "q", "abcd"})
    for (int i = 0; i < 100; ++i) keys.push_back(std::string(base) + "." + std::to_string(i));
  std::set<uint64_t> top;
  for (const std::string& k : keys) top.insert(keyFingerprint(k) >> 44);
  // 600 keys into 2^20 values: a handful of collisions at most by chance.
  EXPECT_GE(top.size(), keys.size() - 3);
  EXPECT_EQ(keyFingerprint("user.tier.11"), keyFingerprint(std::string("user.tier.11")));
}

}  // namespace
}  // namespace jagent::decode::otlp
