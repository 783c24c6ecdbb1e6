// OtlpTranscoder's attribute maps: pdata's pcommon.Map semantics (upsert: first position, last
// value; Remove: swap the last entry into the removed slot) and the span and event rules that
// read and remove keys (modern-collectors.md §3.3, §3.6, §3.7, edge cases §3.9).
//
// Two representations of one list, one set of rules (templates over the map):
//  * ListMap, the common case: a Jaeger tag list whose keys are distinct. Its attributes are the
//    KeyValue records encodeTag() wrote, in order; the specials (keys the rules read) were noted
//    as they were read, so the rules look nothing up, and a removal permutes positions. Writing
//    copies runs of records. With the load generator's tags most spans carry span.kind, error or
//    http.status_code, so this is the path most spans take.
//  * attrs_ (AttrMap): duplicate keys (the upsert must run), lists longer than kExactKeys, and
//    Zipkin spans, whose tags arrive as views. Lookups scan the list.
#include <algorithm>
#include <cstring>
#include <iterator>

#include "decode/to_otlp.h"

namespace jagent::decode {

using namespace otlp;  // NOLINT: this file's vocabulary
using view::TagView;

namespace {

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

[[nodiscard]] bool upperEq(std::string_view v, std::string_view want) noexcept {
  if (v.size() != want.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    const char ch = (v[i] >= 'a' && v[i] <= 'z') ? static_cast<char>(v[i] - 'a' + 'A') : v[i];
    if (ch != want[i]) return false;
  }
  return true;
}

}  // namespace

// ---- the rules, on either map ----------------------------------------------------------------

// Map: has(Special), value(Special) -> const TagView&, remove(Special) (pdata Map.Remove).
// The order of removals is the Collector's: it decides the final attribute order.
template <class Map>
static SpanRules applySpanRules(Map& m) noexcept {
  SpanRules r;
  if (m.has(kSpanKindKey)) {
    r.kind = kindOf(strOf(m.value(kSpanKindKey)));
    m.remove(kSpanKindKey);
  }
  const auto takeDescription = [&](std::string_view& out) {
    if (!m.has(kOtelDescriptionKey)) return false;
    out = strOf(m.value(kOtelDescriptionKey));
    m.remove(kOtelDescriptionKey);
    return true;
  };
  if (m.has(kErrorKey) && m.value(kErrorKey).vType == kThriftBool && m.value(kErrorKey).vBool) {
    r.code = kErrorCode;
    m.remove(kErrorKey);
    r.statusSet = true;
    if (!takeDescription(r.message) && m.has(kHttpMessageKey)) r.message = strOf(m.value(kHttpMessageKey));
  }
  if (m.has(kOtelCodeKey)) {
    if (!r.statusSet) {
      r.statusSet = true;
      const std::string_view v = strOf(m.value(kOtelCodeKey));
      if (upperEq(v, "OK")) r.code = kOk;
      else if (upperEq(v, "ERROR")) r.code = kErrorCode;
      takeDescription(r.message);
    }
    m.remove(kOtelCodeKey);
  } else if (!r.statusSet && m.has(kHttpCodeKey)) {
    const TagView& v = m.value(kHttpCodeKey);
    int64_t http = 0;
    bool parsed = false;
    if (v.vType == kThriftLong) {
      http = v.vLong;
      parsed = true;
    } else if (v.vType == kThriftString) {
      parsed = parseInt64(v.vStr, http);
    }
    if (parsed) {
      uint32_t c;
      if (http >= 400 && http < 500 && r.kind == kClient) c = kErrorCode;
      else if (http >= 400 && http < 500 && r.kind == kServer) c = kUnset;
      else c = (http >= 100 && http < 399) ? kUnset : kErrorCode;
      if (c != kUnset) {
        r.statusSet = true;
        r.code = c;
      }
      if (m.has(kHttpMessageKey)) r.message = strOf(m.value(kHttpMessageKey));
    }
  }
  return r;
}

template <class Map>
static std::string_view applyEventRules(Map& m) noexcept {  // §3.6
  if (!m.has(kEventKey)) return {};
  const std::string_view name = strOf(m.value(kEventKey));
  m.remove(kEventKey);
  return name;
}

void OtlpTranscoder::ListMap::remove(Special s) noexcept {
  if (!permuted) {
    for (uint32_t i = 0; i < n; ++i) perm[i] = static_cast<uint8_t>(i);
    permuted = true;
  }
  const auto o = static_cast<uint8_t>(ord[s]);
  uint32_t pos = 0;
  while (perm[pos] != o) ++pos;
  perm[pos] = perm[--n];
  ord[s] = -1;
}

// attrs_ behind the ListMap interface. One pass first notes which special keys are present at
// all (removals never add one), so a span without them pays one scan instead of one per key.
class OtlpTranscoder::AttrMap {
 public:
  explicit AttrMap(OtlpTranscoder& t) noexcept : t_(t) {
    for (const Attr& a : t.attrs_) {
      if (a.value == nullptr) continue;  // an encoded tag without a special key
      for (unsigned b = 0; b < kSpecialKeys; ++b)
        if (a.key.size() == kSpecialKey[b].size() && a.key == kSpecialKey[b]) present_ |= 1u << b;
    }
  }
  [[nodiscard]] bool has(Special s) const noexcept { return ((present_ >> s) & 1) != 0 && t_.find(kSpecialKey[s]) >= 0; }
  [[nodiscard]] const TagView& value(Special s) const noexcept {
    return *t_.attrs_[static_cast<size_t>(t_.find(kSpecialKey[s]))].value;
  }
  void remove(Special s) noexcept { t_.swapRemove(t_.find(kSpecialKey[s])); }

 private:
  OtlpTranscoder& t_;
  unsigned present_ = 0;
};

SpanRules OtlpTranscoder::spanAttributes(const view::SpanView& s, const view::Scratch& sc,
                                         bool hasTraceState) noexcept {
  if (prepareList(s.tagsAt, s.tagsEnd, sc.tags.data() + s.tagsFirst, s.tagsCount)) return applySpanRules(listMap_);
  AttrMap m(*this);
  const SpanRules r = applySpanRules(m);
  if (hasTraceState) swapRemove(find(kTraceState));
  return r;
}

std::string_view OtlpTranscoder::eventAttributes(const view::LogView& log, const view::Scratch& sc) noexcept {
  if (prepareList(log.fieldsAt, log.fieldsEnd, sc.tags.data() + log.fieldsFirst, log.fieldsCount))
    return applyEventRules(listMap_);
  AttrMap m(*this);
  return applyEventRules(m);
}

bool OtlpTranscoder::prepareList(uint32_t at, uint32_t end, const TagView* views, uint32_t count) noexcept {
  // Jaeger spans bring their tags encoded (records [at, end)), Zipkin ones as views.
  attrs_.clear();
  listIsMap_ = at < end && prepareEncoded(at, end);
  if (at >= end) upsertAll(views, count);
  return listIsMap_;
}

bool OtlpTranscoder::prepareEncoded(uint32_t first, uint32_t end) noexcept {
  const size_t n = end - first;
  const uint64_t* fp = encFp_.data() + first;
  if (n <= kExactKeys &&
      !hasDuplicateKey(n, [this, first](size_t i) { return recordKey(first + static_cast<uint32_t>(i)); }, fp)) {
    ListMap& m = listMap_;
    m.first = first;
    m.n = static_cast<uint32_t>(n);
    m.permuted = false;
    std::fill(std::begin(m.ord), std::end(m.ord), int16_t{-1});
    for (uint32_t k = 0; k < specialCount_; ++k)
      if (const SpecialTag& sp = specials_[k]; sp.index >= first && sp.index < end) {
        m.ord[sp.id] = static_cast<int16_t>(sp.index - first);
        m.view[sp.id] = &sp.view;
      }
    return true;
  }
  // Duplicate keys (or a list too long for the exact check): pdata's upsert on attrs_.
  attrs_.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t at = encAt_[first + i];
    attrs_[i] = {recordKey(first + i), nullptr, at, recordEnd(first + i) - at};
  }
  for (uint32_t k = 0; k < specialCount_; ++k)
    if (const SpecialTag& sp = specials_[k]; sp.index >= first && sp.index < end)
      attrs_[sp.index - first].value = &sp.view;
  dedupe();
  return false;
}

std::string_view OtlpTranscoder::recordKey(uint32_t i) const noexcept {
  // `tag len [0a klen key] 12 …`, as keyValue() wrote it: minimal varints, an empty key omitted.
  const uint8_t* p = tagBytes_.data() + encAt_[i] + 1;
  while (*p & 0x80) ++p;
  ++p;
  if (*p != 0x0a) return {};
  ++p;
  size_t len = 0;
  for (unsigned shift = 0;; shift += 7) {
    const uint8_t b = *p++;
    len |= static_cast<size_t>(b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  return {reinterpret_cast<const char*>(p), len};
}

void OtlpTranscoder::writePrepared(uint8_t tag) noexcept {
  if (!listIsMap_) {
    writeAttrs(tag);
    return;
  }
  const ListMap& m = listMap_;
  const uint8_t* enc = tagBytes_.data();
  if (m.n == 0) return;
  if (!m.permuted) {  // no removal: the records as they are, one copy
    w_.raw(enc + encAt_[m.first], recordEnd(m.first + m.n - 1) - encAt_[m.first]);
    return;
  }
  // A swap-remove splits the list into at most three runs of consecutive records.
  for (uint32_t i = 0; i < m.n;) {
    const uint32_t a = m.first + m.perm[i];
    uint32_t b = a;
    uint32_t j = i + 1;
    for (; j < m.n && m.first + m.perm[j] == b + 1; ++j) ++b;
    w_.raw(enc + encAt_[a], recordEnd(b) - encAt_[a]);
    i = j;
  }
}

// ---- attrs_: pdata's upsert and removal --------------------------------------------------------

template <class KeyAt>
bool OtlpTranscoder::hasDuplicateKey(size_t n, KeyAt keyAt, const uint64_t* fp) noexcept {
  // Exact for up to kExactKeys (64) keys. First two 1024-bit filters on different bits of each
  // key's fingerprint: a key is a possible duplicate only if its bits are already set in both, so
  // if none is, there is no duplicate, which settles nearly every span (0.2 % of the load
  // generator's tag lists go further). The filters are members, cleared word by word after use:
  // zeroing 256 bytes per list (rep stos) was a third of this function. Then a 128-slot table of
  // fingerprints (indexed by their top bits, so probes stay short) finds an equal fingerprint,
  // and then compares keys.
  bool hit = false;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t a = fp[i] >> 54, b = (fp[i] >> 44) & 1023;
    const uint64_t bitA = uint64_t{1} << (a & 63), bitB = uint64_t{1} << (b & 63);
    hit |= (dupFilterA_[a >> 6] & bitA) != 0 && (dupFilterB_[b >> 6] & bitB) != 0;
    dupFilterA_[a >> 6] |= bitA;
    dupFilterB_[b >> 6] |= bitB;
  }
  for (size_t i = 0; i < n; ++i) {
    dupFilterA_[fp[i] >> 60] = 0;
    dupFilterB_[(fp[i] >> 50) & 15] = 0;
  }
  if (!hit) return false;
  uint64_t slotFp[128];
  uint8_t at[128];
  uint64_t used[2] = {0, 0};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t f = fp[i];
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

void OtlpTranscoder::upsertAll(const TagView* tags, uint32_t n) noexcept {
  for (uint32_t i = 0; i < n; ++i) attrs_.push_back({tags[i].key, &tags[i]});
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
    uint64_t fp[kExactKeys];
    for (size_t i = 0; i < total; ++i) fp[i] = keyFingerprint(attrs_[i].key);
    if (!hasDuplicateKey(total, [this](size_t i) { return attrs_[i].key; }, fp)) return;
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

}  // namespace jagent::decode
