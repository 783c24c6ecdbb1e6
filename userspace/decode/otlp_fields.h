// Internal to the OTLP transcoder (to_otlp.cc, to_otlp_attrs.cc, to_otlp_zipkin.cc): the field
// tags of modern-collectors.md §3.10, the keys and values the conversion rules name (§3), and the
// inline writers of the AnyValue/KeyValue messages that every tag becomes. Not an API.
//
// Ownership/threading: constants and pure functions.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "decode/proto_writer.h"
#include "decode/thrift_view.h"

namespace jagent::decode::otlp {

namespace rs_tag {
inline constexpr uint8_t kResource = 0x0a, kScopeSpans = 0x12;
}
namespace ss_tag {
inline constexpr uint8_t kScope = 0x0a, kSpans = 0x12;
}
namespace span_tag {
inline constexpr uint8_t kTraceId = 0x0a, kSpanId = 0x12, kTraceState = 0x1a, kParentSpanId = 0x22, kName = 0x2a,
                         kKind = 0x30, kStart = 0x39, kEnd = 0x41, kAttributes = 0x4a, kEvents = 0x5a, kLinks = 0x6a,
                         kStatus = 0x7a;
inline constexpr uint32_t kFlags = proto::tag(16, proto::kFixed32);  // 85 01
}  // namespace span_tag
inline constexpr uint8_t kEventAttributes = 0x1a;  // Span.Event.attributes (field 3)
namespace any_tag {
inline constexpr uint8_t kString = 0x0a, kBool = 0x10, kInt = 0x18, kDouble = 0x21, kBytes = 0x3a;
}

// Keys and values of §3 (CT constants, TT, semconv).
inline constexpr std::string_view kServiceName = "service.name";
inline constexpr std::string_view kHostName = "host.name";
inline constexpr std::string_view kHostnameTag = "hostname";
inline constexpr std::string_view kJaegerVersion = "jaeger.version";
inline constexpr std::string_view kExporterVersion = "opencensus.exporterversion";
inline constexpr std::string_view kSpanKind = "span.kind";
inline constexpr std::string_view kError = "error";
inline constexpr std::string_view kOtelStatusCode = "otel.status_code";
inline constexpr std::string_view kOtelStatusDescription = "otel.status_description";
inline constexpr std::string_view kHttpStatusCode = "http.status_code";
inline constexpr std::string_view kHttpStatusMessage = "http.status_message";
inline constexpr std::string_view kEvent = "event";
inline constexpr std::string_view kRefTypeKey = "opentracing.ref_type";
inline constexpr std::string_view kTraceState = "w3c.tracestate";
// §3.4: Go's fmt "%q" of a Thrift TagType outside the enum is its String(), "<UNSET>".
inline constexpr std::string_view kUnknownTagType = "<Unknown Jaeger TagType \"<UNSET>\">";

inline constexpr int32_t kThriftString = 0, kThriftDouble = 1, kThriftBool = 2, kThriftLong = 3, kThriftBinary = 4;
enum StatusCode : uint32_t { kUnset = 0, kOk = 1, kErrorCode = 2 };
enum Kind : uint32_t { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };

// What the span rules decided (§3.3, §3.6, §3.7).
struct SpanRules {
  uint32_t kind = kUnspecified;
  uint32_t code = kUnset;
  std::string_view message;
  bool statusSet = false;
};

// The keys whose values the span and event rules read (§3.3, §3.6, §3.7). A tag with one of them
// keeps its view; every other tag is only its encoded KeyValue record.
enum Special : uint8_t {
  kSpanKindKey,
  kErrorKey,
  kOtelCodeKey,
  kOtelDescriptionKey,
  kHttpCodeKey,
  kHttpMessageKey,
  kEventKey,
  kSpecialKeys,
  kNotSpecial = 0xff
};
inline constexpr std::string_view kSpecialKey[kSpecialKeys] = {
    kSpanKind, kError, kOtelStatusCode, kOtelStatusDescription, kHttpStatusCode, kHttpStatusMessage, kEvent};

[[nodiscard]] inline bool knownType(int32_t t) noexcept { return t >= kThriftString && t <= kThriftBinary; }

// pcommon.Value.Str(): the string of a string value, "" for every other type. Unknown Thrift
// types became strings (§3.4), so they have one.
[[nodiscard]] inline std::string_view strOf(const view::TagView& t) noexcept {
  if (t.vType == kThriftString) return t.vStr;
  return knownType(t.vType) ? std::string_view{} : kUnknownTagType;
}

// AnyValue (§3.4): exactly one oneof member, written even when it is the zero value.
[[gnu::always_inline]] inline uint8_t* putAnyValue(uint8_t* p, const view::TagView& t) noexcept {
  switch (t.vType) {
    case kThriftString:
      return proto::putBytesField(p, any_tag::kString, t.vStr.data(), t.vStr.size());
    case kThriftBool:
      return proto::putVarintField(p, any_tag::kBool, t.vBool ? 1 : 0);
    case kThriftLong:
      return proto::putVarintField(p, any_tag::kInt, static_cast<uint64_t>(t.vLong));
    case kThriftDouble: {
      uint64_t bits;
      std::memcpy(&bits, &t.vDouble, 8);
      return proto::putFixed64(p, any_tag::kDouble, bits);
    }
    case kThriftBinary:
      return proto::putBytesField(p, any_tag::kBytes, t.vBinary.data(), t.vBinary.size());
    default:
      return proto::putBytesField(p, any_tag::kString, kUnknownTagType.data(), kUnknownTagType.size());
  }
}

// Encoded size of putAnyValue(t): known from the view, so KeyValue lengths are written up front
// instead of back-patched (this is the most frequent message).
[[nodiscard]] inline size_t lenField(size_t n) noexcept { return 1 + proto::varintSize(n) + n; }
[[nodiscard, gnu::always_inline]] inline size_t anyValueSize(const view::TagView& t) noexcept {
  switch (t.vType) {
    case kThriftString:
      return lenField(t.vStr.size());
    case kThriftBool:
      return 2;
    case kThriftLong:
      return 1 + proto::varintSize(static_cast<uint64_t>(t.vLong));
    case kThriftDouble:
      return 9;
    case kThriftBinary:
      return lenField(t.vBinary.size());
    default:
      return lenField(kUnknownTagType.size());
  }
}

// One KeyValue record `tag len {1: key, 2: AnyValue}`; pdata omits an empty key.
[[gnu::always_inline]] inline void keyValue(proto::ProtoWriter& w, uint8_t tag, std::string_view key,
                                           const view::TagView& value) noexcept {
  const size_t any = anyValueSize(value);
  const size_t body = (key.empty() ? 0 : lenField(key.size())) + lenField(any);
  uint8_t* p = w.reserve(lenField(body));
  if (p == nullptr) return;
  *p++ = tag;
  p += proto::putVarint(p, body);
  if (!key.empty()) p = proto::putBytesField(p, 0x0a, key.data(), key.size());
  *p++ = 0x12;
  p += proto::putVarint(p, any);
  w.commit(putAnyValue(p, value));
}

// A fingerprint of a key from its length and its first and last 8 bytes (fixed-size loads: a
// variable-length memcpy here was a library call per key). Equal for equal keys; keys that
// differ only in the middle of long ones collide, which costs a string compare, not a mistake.
// Keys of 4–7 bytes take two overlapping 4-byte loads (a byte loop before).
// The two halves are folded with a full 64x64→128-bit multiply (high ^ low, as wyhash's mum):
// every input bit reaches the top bits the filters and tables index by. A plain multiply only
// carries differences upward, and the old rotate-and-xor left the last bytes of a key (where
// tracers put suffixes: user.tier.11, user.tier.27) out of the top bits: 23 % of the load
// generator's tag lists then looked like they had a duplicate.
[[nodiscard, gnu::always_inline]] inline uint64_t keyFingerprint(std::string_view k) noexcept {
  uint64_t a = 0, b = 0;
  if (k.size() >= 8) {
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + k.size() - 8, 8);
  } else if (k.size() >= 4) {
    uint32_t x, y;
    std::memcpy(&x, k.data(), 4);
    std::memcpy(&y, k.data() + k.size() - 4, 4);
    a = x;
    b = y;
  } else {
    for (const char c : k) a = (a << 8) | static_cast<uint8_t>(c);
  }
  __extension__ using U128 = unsigned __int128;
  const U128 m = static_cast<U128>(a ^ (k.size() * 0x9E3779B97F4A7C15ULL) ^ 0xA0761D6478BD642FULL) *
                 (b ^ 0xE7037ED1A0B428DBULL);
  return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

// Which special key a tag's key is, from the fingerprint encodeTag() computes for every key
// anyway: one load and compare per tag, taken only by a special key (then the key is compared).
// Testing lengths and first bytes instead mispredicted on the many ordinary keys that share a
// special's length (component, peer.port, cache.hit: 9, like span.kind).
class SpecialIndex {
 public:
  SpecialIndex() noexcept {
    for (uint8_t s = 0; s < kSpecialKeys; ++s) {
      const uint64_t fp = keyFingerprint(kSpecialKey[s]);
      table_[fp >> kShift] = {fp, static_cast<Special>(s)};
    }
  }
  // Every special has a slot of its own (SpecialIndex unit test): fingerprints are fixed.
  [[nodiscard]] bool distinct() const noexcept {
    unsigned n = 0;
    for (const Entry& e : table_) n += e.id != kNotSpecial;
    return n == kSpecialKeys;
  }
  [[nodiscard, gnu::always_inline]] Special find(std::string_view key, uint64_t fp) const noexcept {
    const Entry& e = table_[fp >> kShift];
    if (e.fp != fp) [[likely]] return kNotSpecial;
    return key == kSpecialKey[e.id] ? e.id : kNotSpecial;
  }

 private:
  static constexpr unsigned kShift = 58;  // 64 slots
  struct Entry {
    uint64_t fp = 0;
    Special id = kNotSpecial;
  };
  Entry table_[64];
};
inline const SpecialIndex kSpecialIndex;

}  // namespace jagent::decode::otlp
