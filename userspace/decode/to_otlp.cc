#include "decode/to_otlp.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <string_view>

namespace jagent::decode {
namespace {

using proto::ProtoWriter;
using view::TagView;
using Attr = OtlpTranscoder::Attr;

// Field tags of modern-collectors.md §3.10.
namespace rs_tag {
constexpr uint8_t kResource = 0x0a, kScopeSpans = 0x12;
}
namespace ss_tag {
constexpr uint8_t kScope = 0x0a, kSpans = 0x12;
}
namespace span_tag {
constexpr uint8_t kTraceId = 0x0a, kSpanId = 0x12, kTraceState = 0x1a, kParentSpanId = 0x22, kName = 0x2a, kKind = 0x30,
                  kStart = 0x39, kEnd = 0x41, kAttributes = 0x4a, kEvents = 0x5a, kLinks = 0x6a, kStatus = 0x7a;
constexpr uint32_t kFlags = proto::tag(16, proto::kFixed32);  // 85 01
}  // namespace span_tag
namespace any_tag {
constexpr uint8_t kString = 0x0a, kBool = 0x10, kInt = 0x18, kDouble = 0x21, kBytes = 0x3a;
}

// Keys and values of §3 (CT constants, TT, semconv).
constexpr std::string_view kServiceName = "service.name";
constexpr std::string_view kHostName = "host.name";
constexpr std::string_view kHostnameTag = "hostname";
constexpr std::string_view kJaegerVersion = "jaeger.version";
constexpr std::string_view kExporterVersion = "opencensus.exporterversion";
constexpr std::string_view kSpanKind = "span.kind";
constexpr std::string_view kError = "error";
constexpr std::string_view kOtelStatusCode = "otel.status_code";
constexpr std::string_view kOtelStatusDescription = "otel.status_description";
constexpr std::string_view kHttpStatusCode = "http.status_code";
constexpr std::string_view kHttpStatusMessage = "http.status_message";
constexpr std::string_view kEvent = "event";
constexpr std::string_view kRefTypeKey = "opentracing.ref_type";
constexpr std::string_view kTraceState = "w3c.tracestate";
// §3.4: Go's fmt "%q" of a Thrift TagType outside the enum is its String(), "<UNSET>".
constexpr std::string_view kUnknownTagType = "<Unknown Jaeger TagType \"<UNSET>\">";

constexpr int32_t kThriftString = 0, kThriftDouble = 1, kThriftBool = 2, kThriftLong = 3, kThriftBinary = 4;
enum StatusCode : uint32_t { kUnset = 0, kOk = 1, kErrorCode = 2 };
enum Kind : uint32_t { kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };

[[nodiscard]] bool knownType(int32_t t) noexcept { return t >= kThriftString && t <= kThriftBinary; }

// pcommon.Value.Str(): the string of a string value, "" for every other type. Unknown Thrift
// types became strings (§3.4), so they have one.
[[nodiscard]] std::string_view strOf(const TagView& t) noexcept {
  if (t.vType == kThriftString) return t.vStr;
  return knownType(t.vType) ? std::string_view{} : kUnknownTagType;
}

// AnyValue (§3.4): exactly one oneof member, written even when it is the zero value.
[[gnu::always_inline]] inline uint8_t* putAnyValue(uint8_t* p, const TagView& t) noexcept {
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

// Encoded size of anyValue(t): known from the view, so KeyValue lengths are written up front
// instead of back-patched (this is the most frequent message).
[[nodiscard]] size_t lenField(size_t n) noexcept { return 1 + proto::varintSize(n) + n; }
[[nodiscard, gnu::always_inline]] inline size_t anyValueSize(const TagView& t) noexcept {
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

[[gnu::always_inline]] inline void keyValue(ProtoWriter& w, uint8_t tag, std::string_view key,
                                           const TagView& value) noexcept {
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

// 16/8-byte big-endian ids; pdata writes an all-zero id as empty bytes (§3.9).
void traceId(ProtoWriter& w, uint8_t tag, int64_t high, int64_t low) noexcept {
  w.byte(tag);
  if (high == 0 && low == 0) {
    w.byte(0);
    return;
  }
  w.byte(16);
  w.big64(static_cast<uint64_t>(high));
  w.big64(static_cast<uint64_t>(low));
}
void spanId(ProtoWriter& w, uint8_t tag, int64_t id) noexcept {
  w.byte(tag);
  if (id == 0) {
    w.byte(0);
    return;
  }
  w.byte(8);
  w.big64(static_cast<uint64_t>(id));
}

[[nodiscard]] uint32_t kindOf(std::string_view s) noexcept {  // §3.3, exact case
  if (s == "client") return kClient;
  if (s == "server") return kServer;
  if (s == "producer") return kProducer;
  if (s == "consumer") return kConsumer;
  if (s == "internal") return kInternal;
  return kUnspecified;
}

// Go strconv.ParseInt(s, 10, 0) on 64-bit: optional sign, decimal digits, no overflow.
[[nodiscard]] bool parseInt64(std::string_view s, int64_t& out) noexcept {
  if (s.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
    if (s.size() == 1) return false;
  }
  uint64_t v = 0;
  const uint64_t limit = neg ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  out = neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
  return true;
}

}  // namespace

OtlpTranscoder::OtlpTranscoder(std::vector<AgentTag> agentTags) {
  agentTagStrings_.reserve(agentTags.size() * 2);
  for (AgentTag& t : agentTags) {
    agentTagStrings_.push_back(std::move(t.key));
    agentTagStrings_.push_back(std::move(t.value));
  }
  for (size_t i = 0; i + 1 < agentTagStrings_.size(); i += 2) {
    TagView v;
    v.key = agentTagStrings_[i];
    v.vStr = agentTagStrings_[i + 1];
    v.hasStr = true;
    agentTags_.push_back(v);
  }
}

// ---- the attribute map (pdata pcommon.Map semantics) ----------------------------------------

namespace {
// A fingerprint of a key from its length and its first and last 8 bytes (fixed-size loads: a
// variable-length memcpy here was a library call per key). Equal for equal keys; keys that
// differ only in the middle of long ones collide, which costs a string compare, not a mistake.
// Keys of 4–7 bytes take two overlapping 4-byte loads (a byte loop before).
[[gnu::always_inline]] inline uint64_t keyFingerprint(std::string_view k) noexcept {
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
  return (a * 0x9E3779B97F4A7C15ULL) ^ std::rotl(b * 0xC2B2AE3D27D4EB4FULL, 31) ^ (k.size() * 0x165667B19E3779F9ULL);
}
}  // namespace

template <class KeyAt, class FpAt>
bool OtlpTranscoder::hasDuplicateKey(size_t n, KeyAt keyAt, FpAt fpAt) noexcept {
  // Exact for up to kExactKeys (64) keys. First a 1024-bit filter on 10 bits of each key's
  // fingerprint: if no bit is hit twice there is no duplicate, which settles most spans (17 keys
  // collide in it with probability ~12 %). Otherwise a 128-slot table of fingerprints (indexed by
  // their top bits, so probes stay short) finds an equal fingerprint, and then compares keys.
  uint64_t keyFp[kExactKeys];
  {
    uint64_t bits[16] = {};
    bool hit = false;
    for (size_t i = 0; i < n; ++i) {
      keyFp[i] = fpAt(i);
      const uint64_t h = keyFp[i] >> 54;
      const uint64_t bit = uint64_t{1} << (h & 63);
      hit |= (bits[h >> 6] & bit) != 0;
      bits[h >> 6] |= bit;
    }
    if (!hit) return false;
  }
  uint64_t slotFp[128];
  uint8_t at[128];
  uint64_t used[2] = {0, 0};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t f = keyFp[i];
    for (size_t slot = f >> 57;; slot = (slot + 1) & 127) {
      const uint64_t bit = uint64_t{1} << (slot & 63);
      uint64_t& word = used[slot >> 6];
      if (!(word & bit)) {
        word |= bit;
        slotFp[slot] = f;
        at[slot] = static_cast<uint8_t>(i);
        break;
      }
      if (slotFp[slot] == f && keyAt(at[slot]) == keyAt(i)) return true;
    }
  }
  return false;
}

bool OtlpTranscoder::hasDuplicateKey() const noexcept {
  return hasDuplicateKey(
      attrs_.size(), [this](size_t i) { return attrs_[i].key; },
      [this](size_t i) { return keyFingerprint(attrs_[i].key); });
}

void OtlpTranscoder::upsertAll(const TagView* tags, uint32_t n) noexcept {
  for (uint32_t i = 0; i < n; ++i) attrs_.push_back({tags[i].key, &tags[i]});
  dedupe();
}

bool OtlpTranscoder::encodedNeedRules(uint32_t first, uint32_t end) noexcept {
  // Most tag lists have no key the rules read and no duplicate: then the attributes are the
  // encoded records, in order, one copy.
  // The duplicate check comes first and is remembered (encUnique_), so that a list that needs the
  // rules only for a key they read skips the upsert in attrsFromEncoded().
  const EncodedTag* e = encTags_.data() + first;
  const size_t n = end - first;
  encUnique_ = n <= kExactKeys &&
               !hasDuplicateKey(n, [e](size_t i) { return e[i].key; }, [e](size_t i) { return e[i].fp; });
  if (!encUnique_) return true;
  if (encSpecials_ > 0)
    for (size_t i = 0; i < n; ++i)
      if (e[i].special >= 0) return true;
  return false;
}

void OtlpTranscoder::writeEncoded(uint32_t first, uint32_t end) noexcept {
  // The records of one list are contiguous in tagBytes_, in order: one copy.
  const EncodedTag& a = encTags_[first];
  const EncodedTag& z = encTags_[end - 1];
  w_.raw(tagBytes_.data() + a.at, z.at + z.len - a.at);
}

void OtlpTranscoder::attrsFromEncoded(uint32_t first, uint32_t end) noexcept {
  const size_t base = attrs_.size();
  attrs_.resize(base + (end - first));  // one capacity check, not one per tag
  Attr* out = attrs_.data() + base;
  for (uint32_t i = first; i < end; ++i) {
    const EncodedTag& e = encTags_[i];
    *out++ = {e.key, e.special >= 0 ? &specials_[static_cast<size_t>(e.special)] : nullptr, e.at, e.len};
  }
  if (base == 0 && encUnique_) return;  // distinct keys (encodedNeedRules): nothing to upsert
  dedupe();
}

void OtlpTranscoder::dedupe() noexcept {
  // Put(key) updates an existing key in place, else appends: duplicates keep the first
  // position and the last value (§3.2 step 3, §3.9). Short lists: a linear scan per tag.
  // Long ones (hostile: thousands of tags) go through a sort, so the cost stays n log n.
  // Entries already present (service.name) take part.
  const size_t total = attrs_.size();
  // Most tag lists have no duplicate key. For short ones an exact check in one pass proves it
  // (hasDuplicateKey). A 256-bit filter on a weaker hash was used before: with the 5–30 distinct
  // keys of real spans it reported a possible duplicate most of the time, and the quadratic pass
  // below then took ~15 % of the agent's CPU in OTLP mode.
  if (total <= kExactKeys) {
    if (!hasDuplicateKey()) return;
  } else {
    uint64_t seen[4] = {0, 0, 0, 0};
    bool maybeDuplicate = false;
    for (const Attr& a : attrs_) {
      const uint64_t h = keyFingerprint(a.key) >> 56;
      const uint64_t bit = uint64_t{1} << (h & 63);
      maybeDuplicate |= (seen[h >> 6] & bit) != 0;
      seen[h >> 6] |= bit;
    }
    if (!maybeDuplicate) return;
  }
  if (total <= 32) {
    size_t out = 0;
    for (size_t i = 0; i < total; ++i) {
      size_t j = 0;
      while (j < out && attrs_[j].key != attrs_[i].key) ++j;
      if (j < out) {
        attrs_[j].value = attrs_[i].value;
        attrs_[j].at = attrs_[i].at;
        attrs_[j].len = attrs_[i].len;
      } else {
        attrs_[out++] = attrs_[i];
      }
    }
    attrs_.resize(out);
    return;
  }
  order_.resize(total);
  for (uint32_t i = 0; i < total; ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) {
    const int c = attrs_[a].key.compare(attrs_[b].key);
    return c != 0 ? c < 0 : a < b;
  });
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j + 1 < total && attrs_[order_[j + 1]].key == attrs_[order_[i]].key) ++j;
    const Attr last = attrs_[order_[j]];
    attrs_[order_[i]].value = last.value;  // first position, last value
    attrs_[order_[i]].at = last.at;
    attrs_[order_[i]].len = last.len;
    for (size_t k = i + 1; k <= j; ++k) attrs_[order_[k]].value = nullptr, attrs_[order_[k]].len = 0;
    i = j + 1;
  }
  // Removed entries have neither a view nor a record (every kept one has one or the other).
  size_t out = 0;
  for (size_t i = 0; i < total; ++i)
    if (attrs_[i].value != nullptr || attrs_[i].len != 0) attrs_[out++] = attrs_[i];
  attrs_.resize(out);
}

int OtlpTranscoder::find(std::string_view key) const noexcept {
  // Only the keys the rules read are looked up; encoded tags without a view have none of them.
  for (size_t i = 0; i < attrs_.size(); ++i)
    if (attrs_[i].value != nullptr && attrs_[i].key == key) return static_cast<int>(i);
  return -1;
}

void OtlpTranscoder::swapRemove(int i) noexcept {  // pdata Map.Remove (§3.7)
  attrs_[static_cast<size_t>(i)] = attrs_.back();
  attrs_.pop_back();
}

void OtlpTranscoder::writeAttrs(uint8_t tag) noexcept {
  // Encoded records are copied in runs (a swap-remove splits the list into at most three).
  const uint8_t* enc = tagBytes_.data();
  for (size_t i = 0; i < attrs_.size();) {
    const Attr& a = attrs_[i];
    if (a.len == 0) {
      keyValue(w_, tag, a.key, *a.value);
      ++i;
      continue;
    }
    uint32_t end = a.at + a.len;
    size_t j = i + 1;
    for (; j < attrs_.size() && attrs_[j].len != 0 && attrs_[j].at == end; ++j) end += attrs_[j].len;
    w_.raw(enc + a.at, end - a.at);
    i = j;
  }
}

// ---- resource -------------------------------------------------------------------------------

void OtlpTranscoder::process(const view::ProcessView& p, std::span<const TagView> tags) noexcept {
  process_ = p;
  hasProcess_ = true;
  resourceTags_.assign(tags.begin(), tags.end());
  resourceTags_.insert(resourceTags_.end(), agentTags_.begin(), agentTags_.end());
  if (!inSpans_ && !resourceWritten_) writeResource();  // canonical order: resource first
}

void OtlpTranscoder::writeResource() noexcept {
  resourceWritten_ = true;
  const ProtoWriter::Mark m = w_.begin(rs_tag::kResource, 2);
  attrs_.clear();
  const bool hasTags = process_.hasTags || !agentTags_.empty();
  if (hasProcess_ && (!process_.serviceName.empty() || hasTags)) {  // §3.2 step 1
    if (!process_.serviceName.empty()) {
      serviceTag_ = TagView{};
      serviceTag_.vStr = process_.serviceName;
      attrs_.push_back({kServiceName, &serviceTag_});
    }
    upsertAll(resourceTags_.data(), static_cast<uint32_t>(resourceTags_.size()));
    // §3.2 step 4: hostname → host.name (PutEmpty appends, Remove swaps the last into the
    // removed slot: net effect, the entry is renamed in place).
    if (const int h = find(kHostnameTag); h >= 0 && find(kHostName) < 0) attrs_[static_cast<size_t>(h)].key = kHostName;
    // Step 5: jaeger.version → opencensus.exporterversion = "Jaeger-" + Str(), same mechanics.
    if (const int j = find(kJaegerVersion); j >= 0 && find(kExporterVersion) < 0) {
      const std::string_view v = strOf(*attrs_[static_cast<size_t>(j)].value);
      exporterVersion_.assign("Jaeger-");
      exporterVersion_.append(v);
      exporterTag_ = TagView{};
      exporterTag_.vStr = exporterVersion_;
      attrs_[static_cast<size_t>(j)] = {kExporterVersion, &exporterTag_};
    }
    writeAttrs(0x0a);
  }
  w_.end(m);
}

void OtlpTranscoder::spansBegin(uint32_t n) noexcept {
  if (n == 0) return;  // §3.1: no spans, no ScopeSpans
  if (!resourceWritten_ && hasProcess_) writeResource();
  inSpans_ = true;
  scopeSpans_ = w_.begin(rs_tag::kScopeSpans, 3);
  w_.byte(ss_tag::kScope);  // the empty scope (no name, no version), as pdata writes it
  w_.byte(0);
}

void OtlpTranscoder::spansEnd() noexcept {
  if (!inSpans_) return;
  w_.end(scopeSpans_);
  inSpans_ = false;
}

// ---- span -----------------------------------------------------------------------------------

namespace {
// The keys whose values the span and event rules read (§3.3, §3.6, §3.7): their tags keep a view.
constexpr uint32_t kReadLengths = (1u << 5) | (1u << 9) | (1u << 16) | (1u << 19) | (1u << 23);
// The first 4 or 8 bytes as an integer: most keys of a special's length (component, peer.port,
// cache.hit…) differ there, so they are told apart without a memcmp call (5 % of OTLP
// transcoding in decode-bench when compared with ==).
[[nodiscard, gnu::always_inline]] inline uint32_t head4(std::string_view k) noexcept {
  uint32_t v;
  std::memcpy(&v, k.data(), 4);
  return v;
}
[[nodiscard, gnu::always_inline]] inline uint64_t head8(std::string_view k) noexcept {
  uint64_t v;
  std::memcpy(&v, k.data(), 8);
  return v;
}
[[nodiscard, gnu::always_inline]] inline bool readsValue(std::string_view k) noexcept {
  if (k.size() >= 32 || ((kReadLengths >> k.size()) & 1) == 0) [[likely]] return false;
  static const uint32_t kErrorHead = head4(kError), kEventHead = head4(kEvent);
  static const uint64_t kSpanKindHead = head8(kSpanKind), kOtelHead = head8(kOtelStatusCode),
                        kHttpHead = head8(kHttpStatusCode);
  switch (k.size()) {
    case 5: {
      const uint32_t h = head4(k);
      return (h == kErrorHead && k == kError) || (h == kEventHead && k == kEvent);
    }
    case 9:
      return head8(k) == kSpanKindHead && k == kSpanKind;
    case 16: {
      const uint64_t h = head8(k);
      return (h == kOtelHead && k == kOtelStatusCode) || (h == kHttpHead && k == kHttpStatusCode);
    }
    case 19:
      return head8(k) == kHttpHead && k == kHttpStatusMessage;
    default:  // 23
      return head8(k) == kOtelHead && k == kOtelStatusDescription;
  }
}
}  // namespace

[[gnu::always_inline]] inline void OtlpTranscoder::encodeTag(view::TagList list, const TagView& t) noexcept {
  const auto at = static_cast<uint32_t>(tw_.size());
  // Span.attributes is field 9, Event.attributes field 3 (§3.10).
  keyValue(tw_, list == view::TagList::kSpanTags ? span_tag::kAttributes : 0x1a, t.key, t);
  int32_t special = -1;
  if (readsValue(t.key)) [[unlikely]] {
    special = static_cast<int32_t>(specials_.size());
    specials_.push_back(t);
    ++encSpecials_;
  }
  // A count over a vector grown by hand: push_back was an out-of-line call per tag.
  if (encCount_ == encTags_.size()) [[unlikely]]
    encTags_.resize(std::max<size_t>(64, 2 * encTags_.size()));
  // Member by member: an aggregate assignment was built on the stack and copied with 16-byte
  // loads that straddled the narrower stores (a store-forwarding stall, 17 % of this loop).
  EncodedTag& e = encTags_[encCount_++];
  e.key = t.key;
  e.fp = keyFingerprint(t.key);
  e.at = at;
  e.len = static_cast<uint32_t>(tw_.size()) - at;
  e.special = special;
}

void OtlpTranscoder::span(const view::SpanView& s, const view::Scratch& sc) noexcept {
  // The span's encoded tags (encodeTag) are used up here; the next span's start afresh.
  struct NextSpan {
    OtlpTranscoder& t;
    ~NextSpan() {
      if (t.tw_.failed()) t.tagsFailed_ = true;  // reported as kLengthTooLarge by transcode()
      t.tw_.reset();
      t.encCount_ = 0;
      t.encSpecials_ = 0;
      t.specials_.clear();
    }
  } next{*this};
  if (!zipkinMode_ && s.isBlank()) {  // §3.1 (a domain span from Zipkin always has a process: §3.8)
    ++dropped_;
    return;
  }
  ProtoWriter& w = w_;
  const ProtoWriter::Mark m = w.begin(ss_tag::kSpans, 2);
  traceId(w, span_tag::kTraceId, s.traceIdHigh, s.traceIdLow);
  spanId(w, span_tag::kSpanId, s.spanId);
  // §3.8 (the api_v2 path only): the `w3c.tracestate` tag becomes trace_state. Its value is the
  // last such tag's (upsert), and it is removed from the attributes after the status rules.
  bool hasTraceState = false;
  if (zipkinMode_) {
    std::string_view ts;
    for (uint32_t i = 0; i < s.tagsCount; ++i)
      if (const TagView& t = sc.tags[s.tagsFirst + i]; t.key == kTraceState) {
        hasTraceState = true;
        ts = strOf(t);
      }
    if (!ts.empty()) w.bytesField(span_tag::kTraceState, ts);
  }

  // §3.5 parent: parentSpanId, else the first same-trace CHILD_OF ref, else the first
  // same-trace FOLLOWS_FROM ref.
  const view::RefView* refs = sc.refs.data() + s.refsFirst;
  int64_t parent = s.parentSpanId;
  if (parent == 0) {
    const view::RefView* childOf = nullptr;
    const view::RefView* followsFrom = nullptr;
    for (uint32_t i = 0; i < s.refsCount && childOf == nullptr; ++i) {
      const view::RefView& r = refs[i];
      if (r.traceIdHigh != s.traceIdHigh || r.traceIdLow != s.traceIdLow) continue;
      if (r.refType == 0) childOf = &r;
      else if (followsFrom == nullptr && r.refType == 1) followsFrom = &r;
    }
    // The first same-trace CHILD_OF decides, even when its span id is 0 (then: no parent).
    if (const view::RefView* p = childOf != nullptr ? childOf : followsFrom; p != nullptr) parent = p->spanId;
  }
  if (parent != 0) spanId(w, span_tag::kParentSpanId, parent);
  if ((s.flags & 1) != 0) {  // §3.3: only the sampled bit, as W3C 0x1
    w.varint(span_tag::kFlags);
    w.fixed32(1);
  }
  if (!s.operationName.empty()) w.bytesField(span_tag::kName, s.operationName);

  // Attributes, kind and status (§3.3, §3.6, §3.7), in the Collector's order of operations.
  attrs_.clear();
  // Jaeger spans bring their tags encoded (encTags_[tagsAt, tagsEnd)), Zipkin ones as views.
  // Without a key the rules read and without duplicates, the records are the attributes as
  // they are (`direct`), and the rules below find nothing in the empty attrs_.
  const bool direct = s.tagsEnd > s.tagsAt && !encodedNeedRules(s.tagsAt, s.tagsEnd);
  if (s.tagsEnd > s.tagsAt) {
    if (!direct) attrsFromEncoded(s.tagsAt, s.tagsEnd);
  } else {
    upsertAll(sc.tags.data() + s.tagsFirst, s.tagsCount);
  }
  // One pass notes which of the keys the rules look up are present at all (removals never add
  // one), so the common span pays one scan instead of one per key.
  const std::string_view kSpecial[] = {kSpanKind, kError, kOtelStatusCode, kOtelStatusDescription, kHttpStatusCode,
                                       kHttpStatusMessage};
  unsigned present = 0;
  for (const Attr& a : attrs_) {
    if (a.value == nullptr) continue;  // an encoded tag with none of these keys (readsValue)
    for (unsigned b = 0; b < std::size(kSpecial); ++b)
      if (a.key.size() == kSpecial[b].size() && a.key == kSpecial[b]) present |= 1u << b;
  }
  const auto lookup = [&](unsigned bit, std::string_view key) { return (present >> bit) & 1 ? find(key) : -1; };
  uint32_t kind = kUnspecified;
  if (const int k = lookup(0, kSpanKind); k >= 0) {
    kind = kindOf(strOf(*attrs_[static_cast<size_t>(k)].value));
    swapRemove(k);
  }
  if (kind != kUnspecified) w.varintField(span_tag::kKind, kind);
  const uint64_t start = static_cast<uint64_t>(s.startTime) * 1000u;  // wraps, as Go's uint64
  const uint64_t end = (static_cast<uint64_t>(s.startTime) + static_cast<uint64_t>(s.duration)) * 1000u;
  if (start != 0) {
    w.byte(span_tag::kStart);
    w.fixed64(start);
  }
  if (end != 0) {
    w.byte(span_tag::kEnd);
    w.fixed64(end);
  }

  uint32_t code = kUnset;
  std::string_view message;
  bool statusSet = false;
  const auto takeDescription = [&](std::string_view& out) {
    const int d = lookup(3, kOtelStatusDescription);
    if (d < 0) return false;
    out = strOf(*attrs_[static_cast<size_t>(d)].value);
    swapRemove(d);
    return true;
  };
  if (const int e = lookup(1, kError); e >= 0 && attrs_[static_cast<size_t>(e)].value->vType == kThriftBool &&
                                   attrs_[static_cast<size_t>(e)].value->vBool) {
    code = kErrorCode;
    swapRemove(e);
    statusSet = true;
    if (!takeDescription(message))
      if (const int hm = lookup(5, kHttpStatusMessage); hm >= 0) message = strOf(*attrs_[static_cast<size_t>(hm)].value);
  }
  if (const int c = lookup(2, kOtelStatusCode); c >= 0) {
    if (!statusSet) {
      statusSet = true;
      const std::string_view v = strOf(*attrs_[static_cast<size_t>(c)].value);
      const auto upperEq = [&](std::string_view want) {
        if (v.size() != want.size()) return false;
        for (size_t i = 0; i < v.size(); ++i) {
          const char ch = (v[i] >= 'a' && v[i] <= 'z') ? static_cast<char>(v[i] - 'a' + 'A') : v[i];
          if (ch != want[i]) return false;
        }
        return true;
      };
      if (upperEq("OK")) code = kOk;
      else if (upperEq("ERROR")) code = kErrorCode;
      takeDescription(message);
    }
    swapRemove(find(kOtelStatusCode));  // the description removal may have moved it
  } else if (const int hc = lookup(4, kHttpStatusCode); !statusSet && hc >= 0) {
    const TagView& v = *attrs_[static_cast<size_t>(hc)].value;
    int64_t http = 0;
    bool parsed = false;
    if (v.vType == kThriftLong) {
      http = v.vLong;
      parsed = true;
    } else if (v.vType == kThriftString) {
      parsed = parseInt64(v.vStr, http);
    }
    if (parsed) {
      uint32_t c2;
      if (http >= 400 && http < 500 && kind == kClient) c2 = kErrorCode;
      else if (http >= 400 && http < 500 && kind == kServer) c2 = kUnset;
      else c2 = (http >= 100 && http < 399) ? kUnset : kErrorCode;
      if (c2 != kUnset) {
        statusSet = true;
        code = c2;
      }
      if (const int hm = lookup(5, kHttpStatusMessage); hm >= 0) message = strOf(*attrs_[static_cast<size_t>(hm)].value);
    }
  }
  if (hasTraceState) swapRemove(find(kTraceState));
  if (direct) {
    writeEncoded(s.tagsAt, s.tagsEnd);
  } else {
    writeAttrs(span_tag::kAttributes);
  }

  // §3.6 events.
  for (uint32_t i = 0; i < s.logsCount; ++i) {
    const view::LogView& log = sc.logs[s.logsFirst + i];
    const ProtoWriter::Mark em = w.begin(span_tag::kEvents, 1);
    const uint64_t t = static_cast<uint64_t>(log.timestamp) * 1000u;
    if (t != 0) {
      w.byte(0x09);
      w.fixed64(t);
    }
    attrs_.clear();
    if (log.fieldsEnd > log.fieldsAt) {
      if (!encodedNeedRules(log.fieldsAt, log.fieldsEnd)) {  // no `event` key, no duplicate
        writeEncoded(log.fieldsAt, log.fieldsEnd);
        w.end(em);
        continue;
      }
      attrsFromEncoded(log.fieldsAt, log.fieldsEnd);
    } else {
      upsertAll(sc.tags.data() + log.fieldsFirst, log.fieldsCount);
    }
    if (const int ev = find(kEvent); ev >= 0) {
      const std::string_view name = strOf(*attrs_[static_cast<size_t>(ev)].value);
      if (!name.empty()) w.bytesField(0x12, name);
      swapRemove(ev);
    }
    writeAttrs(0x1a);
    w.end(em);
  }

  // §3.5 links: every ref except a CHILD_OF whose span id is the parent's.
  static const TagView kChildOf = [] {
    TagView t;
    t.vStr = "child_of";
    return t;
  }();
  static const TagView kFollowsFrom = [] {
    TagView t;
    t.vStr = "follows_from";
    return t;
  }();
  for (uint32_t i = 0; i < s.refsCount; ++i) {
    const view::RefView& r = refs[i];
    if (r.spanId == parent && r.refType == 0) continue;
    const ProtoWriter::Mark lm = w.begin(span_tag::kLinks, 1);
    traceId(w, 0x0a, r.traceIdHigh, r.traceIdLow);
    spanId(w, 0x12, r.spanId);
    keyValue(w, 0x22, kRefTypeKey, r.refType == 0 ? kChildOf : kFollowsFrom);
    w.end(lm);
  }

  if (statusSet) {  // §3.6 step 4
    const ProtoWriter::Mark sm = w.begin(span_tag::kStatus, 1);
    if (!message.empty()) w.bytesField(0x12, message);
    if (code != kUnset) w.varintField(0x18, code);
    w.end(sm);
  }
  w.end(m);
}

RejectReason OtlpTranscoder::transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  summary_ = BatchSummary{};
  dropped_ = 0;
  hasProcess_ = false;
  resourceWritten_ = false;
  inSpans_ = false;
  bodyLen_ = 0;
  frameAt_ = kBodyAt;
  w_.reset(kBodyAt);  // room for the resource_spans frame header in front of the body
  tw_.reset();
  encCount_ = 0;
  encSpecials_ = 0;
  specials_.clear();
  tagsFailed_ = false;
  Format format = Format::kJaeger;
  unknownService_ = 0;
  zipkinMode_ = false;
  const RejectReason r = view::readJaegerDatagram(expected, datagram, scratch_, summary_, *this, format);
  if (r != RejectReason::kOk) return r;
  if (format == Format::kZipkin) {
    summary_ = BatchSummary{};
    zipkinMode_ = true;
    const RejectReason z = transcodeZipkin(expected, datagram);
    zipkinMode_ = false;
    if (z != RejectReason::kOk) return z;
    if (w_.failed()) return RejectReason::kLengthTooLarge;
    bodyLen_ = w_.size() - kBodyAt;
    frameAt_ = kBodyAt;  // already a sequence of resource_spans records
    return RejectReason::kOk;
  }
  if (!resourceWritten_) writeResource();  // the process came after the spans
  if (w_.failed() || tagsFailed_) return RejectReason::kLengthTooLarge;  // allocation failed
  bodyLen_ = w_.size() - kBodyAt;
  frameAt_ = proto::frameInPlace(out_.data(), kBodyAt, bodyLen_, 0x0a);
  return RejectReason::kOk;
}

}  // namespace jagent::decode
