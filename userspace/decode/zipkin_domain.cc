#include "decode/zipkin_domain.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "decode/proto_writer.h"
#include "decode/schema.h"
#include "decode/thrift_envelope.h"
#include "decode/thrift_wire.h"

namespace jagent::decode::zipkin {

using view::TagView;

namespace {

// Thrift jaeger TagType numbers, which view::TagView carries (thrift_view.h).
constexpr int32_t kString = 0, kDouble = 1, kBool = 2, kLong = 3, kBinary = 4;
// zipkincore AnnotationType.
enum : int32_t { kZBool = 0, kZBytes = 1, kZI16 = 2, kZI32 = 3, kZI64 = 4, kZDouble = 5, kZString = 6 };

constexpr std::string_view kCs = "cs", kCr = "cr", kSr = "sr", kSs = "ss";
[[nodiscard]] bool isCore(std::string_view v) noexcept { return v == kCs || v == kCr || v == kSr || v == kSs; }
// §2.4 processTagAnnotations: the key each process-tag annotation becomes, or empty.
[[nodiscard]] std::string_view processKey(std::string_view k) noexcept {
  if (k == "jaegerClient" || k == "jaeger.version") return "jaeger.version";
  if (k == "jaeger.hostname") return "hostname";
  return {};
}

// Go strings.EqualFold(want, s) for the ASCII words the error sanitizer compares with: ASCII
// case folding, plus U+017F (ſ, C5 BF) which folds to 's'.
[[nodiscard]] bool equalFold(std::string_view s, std::string_view want) noexcept {
  size_t i = 0;
  for (const char w : want) {
    if (i >= s.size()) return false;
    const char c = s[i];
    const char lc = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lc == w) {
      ++i;
    } else if (w == 's' && s.substr(i, 2) == "\xC5\xBF") {
      i += 2;
    } else {
      return false;
    }
  }
  return i == s.size();
}

// Does the typed value of a binary annotation fail to decode (Go binary.Read, §2.4)?
[[nodiscard]] size_t numberSize(int32_t type) noexcept {
  switch (type) {
    case kZI16: return 2;
    case kZI32: return 4;
    case kZI64: case kZDouble: return 8;
    default: return 0;
  }
}
[[nodiscard]] bool parseFails(const BinaryAnnotation& b) noexcept {
  const size_t n = numberSize(b.type);
  if (n != 0) return b.value.size() < n;
  return !(b.type == kZBool || b.type == kZBytes || b.type == kZString);
}
constexpr std::string_view kCannotParse = "Cannot parse Zipkin value ";
constexpr size_t kMaxErrorText = 48;  // ": unknown zipkin annotation type: -2147483648"
[[nodiscard]] size_t base64Size(size_t n) noexcept { return (n + 2) / 3 * 4; }

size_t base64(char* out, std::string_view in) noexcept {  // StdEncoding, padded
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0, i = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out[o++] = kAlphabet[v >> 18];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = kAlphabet[(v >> 6) & 63];
    out[o++] = kAlphabet[v & 63];
  }
  if (const size_t rest = in.size() - i; rest != 0) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (rest == 2 ? uint32_t{p[i + 1]} << 8 : 0);
    out[o++] = kAlphabet[v >> 18];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}

[[nodiscard]] uint64_t loadBe(std::string_view v, size_t n) noexcept {
  uint64_t x = 0;
  for (size_t i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(v[i]);
  return x;
}

// model.KeyValue ordering for Process tags (§2.4 "sorted by key, then type, then value"), with
// api_v2 ValueType numbers for the type. Two departures from Go's comparator, which is not a
// strict weak order: INT64 values compare as numbers (Go subtracts, which overflows), and NaN
// sorts after every other FLOAT64 (Go's answer depends on the argument order).
[[nodiscard]] int apiV2Type(int32_t thriftType) noexcept {
  switch (thriftType) {
    case kBool: return 1;
    case kLong: return 2;
    case kDouble: return 3;
    case kBinary: return 4;
    default: return 0;
  }
}
[[nodiscard]] int compareTags(const TagView& a, const TagView& b) noexcept {
  if (const int c = a.key.compare(b.key); c != 0) return c;
  const int ta = apiV2Type(a.vType), tb = apiV2Type(b.vType);
  if (ta != tb) return ta < tb ? -1 : 1;
  switch (a.vType) {
    case kBool: return static_cast<int>(a.vBool) - static_cast<int>(b.vBool);
    case kLong: return a.vLong < b.vLong ? -1 : a.vLong > b.vLong ? 1 : 0;
    case kDouble: {
      const bool na = std::isnan(a.vDouble), nb = std::isnan(b.vDouble);
      if (na || nb) return static_cast<int>(na) - static_cast<int>(nb);
      return a.vDouble < b.vDouble ? -1 : a.vDouble > b.vDouble ? 1 : 0;
    }
    case kBinary: return a.vBinary.compare(b.vBinary);
    default: return a.vStr.compare(b.vStr);
  }
}

[[nodiscard]] uint64_t fnv(uint64_t h, const void* p, size_t n) noexcept {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

TagView stringTag(std::string_view key, std::string_view value) noexcept {
  TagView t;
  t.key = key;
  t.vStr = value;
  t.hasStr = true;
  return t;
}
TagView longTag(std::string_view key, int64_t v) noexcept {
  TagView t;
  t.key = key;
  t.vType = kLong;
  t.vLong = v;
  return t;
}

}  // namespace

// ---- reading the datagram -------------------------------------------------------------------

template <class Reader>
class ZipkinReader {
 public:
  using FieldHeader = wire::FieldHeader;
  ZipkinReader(Reader& r, ZipkinDomain& d, BatchSummary& s) noexcept : r_(r), d_(d), summary_(s) {}

  bool args() noexcept {
    bool seen = false;
    return fields([&](const FieldHeader& f) {
             if (f.id != schema::EmitZipkinBatchArgs::kSpans) return r_.skipField(f, 2);
             if (seen) return wrongType();  // a second list: refuse rather than guess which wins
             seen = true;
             uint32_t n;
             if (!structList(f, n)) return false;
             summary_.spans = n;
             for (uint32_t i = 0; i < n; ++i)
               if (!span(3)) return false;
             return true;
           }) &&
           (seen || r_.fail(RejectReason::kMissingField));
  }

 private:
  bool wrongType() noexcept { return r_.fail(RejectReason::kWrongFieldType); }

  template <class OnField>
  bool fields(OnField&& onField) noexcept {
    int16_t lastId = 0;
    FieldHeader f;
    for (;;) {
      if (!r_.readFieldHeader(f, lastId)) return false;
      if (f.type == wire::kStop) return true;
      if (!onField(f)) return false;
    }
  }
  bool structList(const FieldHeader& f, uint32_t& n) noexcept {
    if (f.type != wire::kList) return wrongType();
    uint8_t elemType;
    if (!r_.readListHeader(elemType, n)) return false;
    if (n != 0 && elemType != wire::kStruct) return wrongType();
    return true;
  }
  bool i64(const FieldHeader& f, int64_t& v) noexcept { return f.type == wire::kI64 ? r_.readI64(v) : wrongType(); }
  bool i32(const FieldHeader& f, int32_t& v) noexcept { return f.type == wire::kI32 ? r_.readI32(v) : wrongType(); }
  bool i16(const FieldHeader& f, int16_t& v) noexcept {
    if (f.type != wire::kI16) return wrongType();
    if constexpr (std::is_same_v<Reader, wire::CompactReader>) {
      int32_t x;
      if (!r_.readI32(x)) return false;  // a zigzag varint, as the TBinary walker reads it
      v = static_cast<int16_t>(x);
    } else {
      const uint8_t* p;
      if (!r_.readRaw(p, 2)) return false;
      v = static_cast<int16_t>((p[0] << 8) | p[1]);
    }
    return true;
  }
  bool str(const FieldHeader& f, std::string_view& v) noexcept {
    if (f.type != wire::kString) return wrongType();
    const uint8_t* p;
    uint32_t n;
    if (!r_.readBinary(p, n)) return false;
    v = {reinterpret_cast<const char*>(p), n};
    return true;
  }
  bool boolean(const FieldHeader& f, bool& v) noexcept {
    if (f.type != wire::kBool) return wrongType();
    if constexpr (std::is_same_v<Reader, wire::CompactReader>) {
      v = f.boolValue;
    } else {
      const uint8_t* p;
      if (!r_.readRaw(p, 1)) return false;
      v = *p != 0;
    }
    return true;
  }

  // A list<struct> field appended to `out`; a repeated list replaces the earlier one (as Thrift
  // readers do: the span's range moves to the new elements).
  template <class T, class ReadOne>
  bool list(const FieldHeader& f, std::vector<T>& out, uint32_t& first, uint32_t& count, ReadOne&& readOne) noexcept {
    uint32_t n;
    if (!structList(f, n)) return false;
    first = static_cast<uint32_t>(out.size());
    count = n;
    for (uint32_t i = 0; i < n; ++i)
      if (!readOne(out.emplace_back())) return false;
    return true;
  }

  bool span(int depth) noexcept {
    using S = schema::ZipkinSpan;
    RawSpan s;
    const bool ok = fields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTraceId: return i64(f, s.traceId);
        case S::kName: return str(f, s.name);
        case S::kId: return i64(f, s.id);
        case S::kParentId: s.hasParentId = true; return i64(f, s.parentId);
        case S::kTimestamp: s.hasTimestamp = true; return i64(f, s.timestamp);
        case S::kDuration: s.hasDuration = true; return i64(f, s.duration);
        case S::kTraceIdHigh: return i64(f, s.traceIdHigh);
        case S::kDebug: return boolean(f, s.debug);
        case S::kAnnotations:
          return list(f, d_.annotations_, s.annFirst, s.annCount,
                      [&](Annotation& a) { return annotation(depth + 2, a); });
        case S::kBinaryAnnotations:
          return list(f, d_.rawBins_, s.binFirst, s.binCount,
                      [&](BinaryAnnotation& b) { return binaryAnnotation(depth + 2, b); });
        default: return r_.skipField(f, depth + 1);
      }
    });
    if (!ok) return false;
    d_.raw_.push_back(s);
    return true;
  }

  bool annotation(int depth, Annotation& a) noexcept {
    using S = schema::Annotation;
    return fields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTimestamp: return i64(f, a.timestamp);
        case S::kValue: return str(f, a.value);
        case S::kHost: return host(f, depth, a.host, a.hasHost);
        default: return r_.skipField(f, depth + 1);
      }
    });
  }

  bool binaryAnnotation(int depth, BinaryAnnotation& b) noexcept {
    using S = schema::BinaryAnnotation;
    return fields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kKey: return str(f, b.key);
        case S::kValue: return str(f, b.value);
        case S::kAnnotationType: return i32(f, b.type);
        case S::kHost: return host(f, depth, b.host, b.hasHost);
        default: return r_.skipField(f, depth + 1);
      }
    });
  }

  // An optional Endpoint field (a repeated one replaces the earlier).
  bool host(const FieldHeader& f, int depth, Endpoint& e, bool& has) noexcept {
    if (f.type != wire::kStruct) return wrongType();
    has = true;
    e = Endpoint{};
    return endpoint(depth + 1, e);
  }

  bool endpoint(int depth, Endpoint& e) noexcept {
    using S = schema::Endpoint;
    return fields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kIpv4: return i32(f, e.ipv4);
        case S::kPort: return i16(f, e.port);
        case S::kServiceName:
          if (!str(f, e.serviceName)) return false;
          // The summary names the batch by the first non-empty endpoint service (as walker.h).
          if (summary_.serviceLen == 0 && !e.serviceName.empty()) {
            const size_t n = std::min(e.serviceName.size(), summary_.service.size());
            std::copy_n(e.serviceName.data(), n, summary_.service.data());
            summary_.serviceLen = static_cast<uint8_t>(n);
          }
          return true;
        case S::kIpv6: e.hasIpv6 = true; return str(f, e.ipv6);
        default: return r_.skipField(f, depth + 1);
      }
    });
  }

  Reader& r_;
  ZipkinDomain& d_;
  BatchSummary& summary_;
};

RejectReason ZipkinDomain::load(Protocol expected, std::span<const uint8_t> datagram, BatchSummary& summary,
                                bool extractScope) noexcept {
  raw_.clear();
  annotations_.clear();
  rawBins_.clear();
  bins_.clear();
  prepared_.clear();
  procTags_.clear();
  unknownService_ = 0;
  extractScope_ = extractScope;
  if (const RejectReason pr = envelope::detectProtocol(expected, datagram); pr != RejectReason::kOk) return pr;
  const auto run = [&](auto reader) -> RejectReason {
    Format format = Format::kJaeger;
    if (!envelope::readEnvelope(reader, format)) return reader.error();
    if (format != Format::kZipkin) return RejectReason::kUnknownMethod;
    summary.format = Format::kZipkin;
    ZipkinReader<decltype(reader)> zr(reader, *this, summary);
    if (!zr.args()) return reader.error();
    if (reader.remaining() != 0) return RejectReason::kTrailingBytes;
    return RejectReason::kOk;
  };
  const uint8_t* b = datagram.data();
  const uint8_t* e = b + datagram.size();
  const RejectReason r = expected == Protocol::kCompact ? run(wire::CompactReader(b, e)) : run(wire::BinaryReader(b, e));
  if (r != RejectReason::kOk) return r;
  const size_t bound = arenaBound();
  if (bound > kMaxArenaBytes) return RejectReason::kLengthTooLarge;
  try {
    arena_.prepare(bound);
    prepared_.reserve(raw_.size());
  } catch (...) {
    return RejectReason::kLengthTooLarge;
  }
  for (uint32_t i = 0; i < raw_.size(); ++i) {
    prepared_.emplace_back();
    prepare(i);
  }
  return arena_.overrun() ? RejectReason::kLengthTooLarge : RejectReason::kOk;
}

// Every synthesized string, counted generously: each binary annotation is converted at most
// three times (process tags or span tags in load(), span tags again in build(), the scope pass),
// a negative duration's decimal once, and a JSON annotation value decodes to ≤ 3× its bytes.
size_t ZipkinDomain::arenaBound() const noexcept {
  size_t n = 64;
  for (const BinaryAnnotation& b : rawBins_)
    n += 3 * (kCannotParse.size() + base64Size(b.value.size()) + kMaxErrorText) + 2 * base64Size(b.value.size());
  n += raw_.size() * 24;
  for (const Annotation& a : annotations_) n += 3 * a.value.size();
  return n;
}

// ---- sanitizers and process -----------------------------------------------------------------

void ZipkinDomain::sanitize(const RawSpan& s, Prepared& p) noexcept {
  const Annotation* ann = annotations_.data() + s.annFirst;
  bool hasTimestamp = s.hasTimestamp;
  int64_t timestamp = s.timestamp;
  // 1. SpanStartTime: the first cs; else the last sr when parentId is unset.
  if (!hasTimestamp && s.annCount > 0) {
    for (uint32_t i = 0; i < s.annCount; ++i) {
      if (ann[i].value == kCs) {
        timestamp = ann[i].timestamp;
        hasTimestamp = true;
        break;
      }
      if (ann[i].value == kSr && !s.hasParentId) {
        timestamp = ann[i].timestamp;
        hasTimestamp = true;
      }
    }
  }
  p.binFirst = static_cast<uint32_t>(bins_.size());
  bins_.insert(bins_.end(), rawBins_.begin() + s.binFirst, rawBins_.begin() + s.binFirst + s.binCount);
  // 2. SpanDuration.
  int64_t duration = s.duration;
  if (!s.hasDuration) {
    duration = 1;
    if (s.annCount >= 2) {
      int64_t first = ann[0].timestamp, last = ann[s.annCount - 1].timestamp;
      for (uint32_t i = 0; i < s.annCount; ++i) {
        if (ann[i].value == kCs) first = ann[i].timestamp;
        else if (ann[i].value == kCr) last = ann[i].timestamp;
      }
      if (first < last) {
        duration = static_cast<int64_t>(static_cast<uint64_t>(last) - static_cast<uint64_t>(first));  // Go wraps
        if (!hasTimestamp) {
          timestamp = first;
          hasTimestamp = true;
        }
      }
    }
  } else if (duration < 0) {
    char* d = arena_.take(24);
    BinaryAnnotation b;
    b.key = "errNegativeDuration";
    b.type = kZString;
    if (d != nullptr) b.value = {d, proto::putDecimal(d, duration)};
    bins_.push_back(b);
    duration = 1;
  }
  // 3. ParentID: a set zero becomes unset.
  p.hasParent = s.hasParentId;
  if (s.hasParentId && s.parentId == 0) {
    BinaryAnnotation b;
    b.key = "errZeroParentID";
    b.value = "0";
    b.type = kZString;
    bins_.push_back(b);
    p.hasParent = false;
  }
  // 4. ErrorTag, over the annotations present before it ran (Go ranges over the old slice).
  const size_t n = bins_.size();
  for (size_t i = p.binFirst; i < n; ++i) {
    BinaryAnnotation& b = bins_[i];
    if (b.type == kZBool || !equalFold(b.key, "error")) continue;
    const std::string_view old = b.value;
    b.type = kZBool;
    if (old.empty() || equalFold(old, "true")) {
      b.value = "\x01";
    } else if (equalFold(old, "false")) {
      b.value = std::string_view("\x00", 1);
    } else {
      b.value = "\x01";
      BinaryAnnotation m;
      m.key = "error.message";
      m.value = old;
      m.type = kZString;
      bins_.push_back(m);
    }
  }
  p.binCount = static_cast<uint32_t>(bins_.size()) - p.binFirst;

  // ToDomain's getStartTimeAndDuration: a zero (or still unset) timestamp falls back to cs/sr.
  const auto find = [&](std::string_view v) -> const Annotation* {
    for (uint32_t i = 0; i < s.annCount; ++i)
      if (ann[i].value == v) return &ann[i];
    return nullptr;
  };
  if (!hasTimestamp) timestamp = 0;
  const Annotation* cs = find(kCs);
  const Annotation* sr = find(kSr);
  if (timestamp == 0) {
    if (cs != nullptr) {
      timestamp = cs->timestamp;
      if (const Annotation* cr = find(kCr); cr != nullptr && duration == 0)
        duration = static_cast<int64_t>(static_cast<uint64_t>(cr->timestamp) - static_cast<uint64_t>(cs->timestamp));
    } else if (sr != nullptr) {
      timestamp = sr->timestamp;
      if (const Annotation* ss = find(kSs); ss != nullptr && duration == 0)
        duration = static_cast<int64_t>(static_cast<uint64_t>(ss->timestamp) - static_cast<uint64_t>(sr->timestamp));
    }
  }
  p.timestamp = timestamp;
  p.duration = duration;
  p.firstCore = -1;
  for (uint32_t i = 0; i < s.annCount && p.firstCore < 0; ++i)
    if (isCore(ann[i].value)) p.firstCore = static_cast<int32_t>(i);
  p.split = cs != nullptr && sr != nullptr;
}

void ZipkinDomain::convertValue(const BinaryAnnotation& b, TagView& t) noexcept {
  const std::string_view v = b.value;
  if (parseFails(b)) {
    // Go: "Cannot parse Zipkin value <base64>: <binary.Read error | unknown type>".
    char* d = arena_.take(kCannotParse.size() + base64Size(v.size()) + kMaxErrorText);
    if (d == nullptr) return;
    size_t n = kCannotParse.size();
    std::memcpy(d, kCannotParse.data(), n);
    n += base64(d + n, v);
    std::string_view err;
    char num[24];
    size_t numLen = 0;
    if (numberSize(b.type) != 0) {
      err = v.empty() ? ": EOF" : ": unexpected EOF";
    } else {
      err = ": unknown zipkin annotation type: ";
      numLen = proto::putDecimal(num, b.type);
    }
    std::memcpy(d + n, err.data(), err.size());
    n += err.size();
    std::memcpy(d + n, num, numLen);
    n += numLen;
    t.vType = kString;
    t.vStr = {d, n};
    t.hasStr = true;
    return;
  }
  switch (b.type) {
    case kZBool:
      t.vType = kBool;
      t.vBool = v == "\x01";
      return;
    case kZBytes:
      t.vType = kBinary;
      t.vBinary = v;
      return;
    case kZI16:
    case kZI32:
    case kZI64: {  // big-endian, sign-extended from its width; extra bytes are not read
      const size_t n = numberSize(b.type);
      const unsigned shift = static_cast<unsigned>(64 - 8 * n);
      t.vType = kLong;
      t.vLong = static_cast<int64_t>(loadBe(v, n) << shift) >> shift;
      return;
    }
    case kZDouble:
      t.vType = kDouble;
      t.vDouble = std::bit_cast<double>(loadBe(v, 8));
      return;
    default:  // STRING
      t.vType = kString;
      t.vStr = v;
      t.hasStr = true;
      return;
  }
}

void ZipkinDomain::makeProcess(const RawSpan& s, Prepared& p) noexcept {
  const Annotation* ann = annotations_.data() + s.annFirst;
  const BinaryAnnotation* bins = bins_.data() + p.binFirst;
  // findServiceNameAndIP: core annotation host, then `lc`, then any annotation, then any binary
  // annotation; the ip comes from the same endpoint.
  const Endpoint* host = nullptr;
  for (uint32_t i = 0; i < s.annCount && host == nullptr; ++i)
    if (isCore(ann[i].value) && ann[i].hasHost && !ann[i].host.serviceName.empty()) host = &ann[i].host;
  for (uint32_t i = 0; i < p.binCount && host == nullptr; ++i)
    if (bins[i].key == "lc" && bins[i].hasHost && !bins[i].host.serviceName.empty()) host = &bins[i].host;
  for (uint32_t i = 0; i < s.annCount && host == nullptr; ++i)
    if (ann[i].hasHost && !ann[i].host.serviceName.empty()) host = &ann[i].host;
  for (uint32_t i = 0; i < p.binCount && host == nullptr; ++i)
    if (bins[i].hasHost && !bins[i].host.serviceName.empty()) host = &bins[i].host;
  if (host != nullptr) {
    p.service = host->serviceName;
  } else {
    p.service = kUnknownServiceName;
    ++unknownService_;
  }
  p.tagFirst = static_cast<uint32_t>(procTags_.size());
  for (uint32_t i = 0; i < p.binCount; ++i) {
    const std::string_view key = processKey(bins[i].key);
    if (key.empty()) continue;
    TagView& t = procTags_.emplace_back();
    convertValue(bins[i], t);
    t.key = key;
  }
  // int64(uint64(int32)): sign-extended, unlike peer.ipv4.
  if (host != nullptr && host->ipv4 != 0) procTags_.push_back(longTag("ip", host->ipv4));
  p.tagCount = static_cast<uint32_t>(procTags_.size()) - p.tagFirst;
  const auto first = procTags_.begin() + p.tagFirst;
  std::sort(first, procTags_.end(), [](const TagView& a, const TagView& b) { return compareTags(a, b) < 0; });

  uint64_t h = fnv(0xcbf29ce484222325ull, p.service.data(), p.service.size());
  for (auto it = first; it != procTags_.end(); ++it) {
    h = fnv(h, it->key.data(), it->key.size());
    h = fnv(h, &it->vType, sizeof it->vType);
    h = fnv(h, it->vStr.data(), it->vStr.size());
    h = fnv(h, it->vBinary.data(), it->vBinary.size());
    h = fnv(h, &it->vLong, sizeof it->vLong);
    h = fnv(h, &it->vBool, sizeof it->vBool);
  }
  p.processHash = h;
}

void ZipkinDomain::prepare(uint32_t i) noexcept {
  const RawSpan& s = raw_[i];
  Prepared& p = prepared_[i];
  sanitize(s, p);
  makeProcess(s, p);
  if (p.split) {
    const Annotation* ann = annotations_.data() + s.annFirst;
    const auto find = [&](std::string_view v) -> const Annotation* {
      for (uint32_t k = 0; k < s.annCount; ++k)
        if (ann[k].value == v) return &ann[k];
      return nullptr;
    };
    // result[0].IsRPCClient(): the first span.kind tag of the first half is STRING "client".
    tmpTags_.clear();
    spanTags(i, tmpTags_);
    bool client = false;
    for (const TagView& t : tmpTags_)
      if (t.key == "span.kind") {
        client = t.vType == kString && t.vStr == "client";
        break;
      }
    p.splitIsServer = client;
    const Annotation* from = find(client ? kSr : kCs);
    const Annotation* to = find(client ? kSs : kCr);
    p.splitStart = from->timestamp;
    p.splitDuration =
        to != nullptr ? static_cast<int64_t>(static_cast<uint64_t>(to->timestamp) - static_cast<uint64_t>(from->timestamp))
                      : 0;
  }
  bool scopeTag = false;  // only a binary annotation can give the tag: skip the rest cheaply
  for (uint32_t k = 0; extractScope_ && !scopeTag && k < p.binCount; ++k) scopeTag = bins_[p.binFirst + k].key == "otel.scope.name";
  if (scopeTag) {
    // §3.8 getScope: scope name from the first otel.scope.name tag, version likewise (only if a
    // name was found); both are taken out of the tags in build().
    tmpTags_.clear();
    spanTags(i, tmpTags_);
    for (const TagView& t : tmpTags_)
      if (t.key == "otel.scope.name") {
        p.scopeName = t.vType == kString ? t.vStr : std::string_view{};
        for (const TagView& v : tmpTags_)
          if (v.key == "otel.scope.version") {
            p.scopeVersion = v.vType == kString ? v.vStr : std::string_view{};
            break;
          }
        break;
      }
  }
}

DomainProcess ZipkinDomain::process(uint32_t i) const noexcept {
  const Prepared& p = prepared_[i];
  return {p.service, std::span<const TagView>(procTags_.data() + p.tagFirst, p.tagCount)};
}

bool ZipkinDomain::sameProcess(uint32_t a, uint32_t b) const noexcept {
  const Prepared& x = prepared_[a];
  const Prepared& y = prepared_[b];
  if (x.service != y.service || x.tagCount != y.tagCount) return false;
  for (uint32_t k = 0; k < x.tagCount; ++k) {
    const TagView& s = procTags_[x.tagFirst + k];
    const TagView& t = procTags_[y.tagFirst + k];
    if (compareTags(s, t) != 0) return false;
    if (s.vType == kDouble && std::isnan(s.vDouble) != std::isnan(t.vDouble)) return false;
  }
  return true;
}

// ---- domain spans ---------------------------------------------------------------------------

void ZipkinDomain::spanTags(uint32_t i, std::vector<TagView>& out) noexcept {
  const RawSpan& s = raw_[i];
  const Prepared& p = prepared_[i];
  for (uint32_t k = 0; k < p.binCount; ++k) {
    const BinaryAnnotation& b = bins_[p.binFirst + k];
    if (!processKey(b.key).empty()) continue;
    if (b.key == "lc") {
      out.push_back(stringTag("component", b.value));
    } else if (b.key == "sa" || b.key == "ca" || b.key == "ma") {
      if (!b.hasHost) continue;  // getPeerTags(nil)
      out.push_back(stringTag("peer.service", b.host.serviceName));
      if (b.host.ipv4 != 0) out.push_back(longTag("peer.ipv4", static_cast<uint32_t>(b.host.ipv4)));
      if (b.host.hasIpv6) {
        TagView t;
        t.key = "peer.ipv6";
        t.vType = kBinary;
        t.vBinary = b.host.ipv6;
        out.push_back(t);
      }
      if (b.host.port != 0) out.push_back(longTag("peer.port", static_cast<uint16_t>(b.host.port)));
    } else {
      TagView& t = out.emplace_back();
      convertValue(b, t);
      t.key = b.key;
    }
  }
  if (p.firstCore >= 0) {
    const std::string_view v = annotations_[s.annFirst + static_cast<uint32_t>(p.firstCore)].value;
    out.push_back(stringTag("span.kind", (v == kCs || v == kCr) ? "client" : "server"));
  }
}

void ZipkinDomain::logFields(const Annotation& a, std::vector<TagView>& out) noexcept {
  // getLogFields: a JSON object of strings gives its fields (Go map order is random: ours is
  // sorted by key; a repeated key keeps its last value), anything else event=<value>.
  json_.clear();
  std::vector<std::string_view>& kv = jsonKv_;
  kv.clear();
  if (!parseJsonStringMap(a.value, arena_, kv)) {
    out.push_back(stringTag("event", a.value));
    return;
  }
  for (uint32_t k = 0; k + 1 < kv.size(); k += 2) json_.push_back({kv[k], kv[k + 1], k});
  std::sort(json_.begin(), json_.end(), [](const JsonField& x, const JsonField& y) {
    const int c = x.key.compare(y.key);
    return c != 0 ? c < 0 : x.order < y.order;
  });
  for (size_t k = 0; k < json_.size(); ++k) {
    if (k + 1 < json_.size() && json_[k + 1].key == json_[k].key) continue;  // the last one wins
    out.push_back(stringTag(json_[k].key, json_[k].value));
  }
}

void ZipkinDomain::build(uint32_t i, uint32_t k, view::SpanView& out, view::Scratch& sc) noexcept {
  const RawSpan& s = raw_[i];
  const Prepared& p = prepared_[i];
  sc.clearSpan();
  out = view::SpanView{};
  out.traceIdLow = s.traceId;
  out.traceIdHigh = s.traceIdHigh;
  out.spanId = s.id;
  out.parentSpanId = p.hasParent ? s.parentId : 0;
  out.operationName = s.name;
  out.flags = s.debug ? 2 : 0;
  out.hasTags = true;
  if (k == 1) {  // the split half: only span.kind, timing from sr/ss or cs/cr
    out.startTime = p.splitStart;
    out.duration = p.splitDuration;
    sc.tags.push_back(stringTag("span.kind", p.splitIsServer ? "server" : "client"));
    out.tagsCount = 1;
    return;
  }
  out.startTime = p.timestamp;
  out.duration = p.duration;
  spanTags(i, sc.tags);
  if (extractScope_) {
    const auto erase = [&](std::string_view key) {
      for (auto it = sc.tags.begin(); it != sc.tags.end(); ++it)
        if (it->key == key) {
          sc.tags.erase(it);
          return true;
        }
      return false;
    };
    if (erase("otel.scope.name")) erase("otel.scope.version");
  }
  out.tagsCount = static_cast<uint32_t>(sc.tags.size());
  const Annotation* ann = annotations_.data() + s.annFirst;
  for (uint32_t a = 0; a < s.annCount; ++a) {
    if (ann[a].value.empty() || isCore(ann[a].value)) continue;
    const auto first = static_cast<uint32_t>(sc.tags.size());
    logFields(ann[a], sc.tags);
    view::LogView& log = sc.logs.emplace_back();
    log.timestamp = ann[a].timestamp;
    log.fieldsFirst = first;
    log.fieldsCount = static_cast<uint32_t>(sc.tags.size()) - first;
  }
  out.logsCount = static_cast<uint32_t>(sc.logs.size());
  out.hasLogs = out.logsCount != 0;
}

}  // namespace jagent::decode::zipkin
