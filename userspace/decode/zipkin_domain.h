// ZipkinDomain: one `Agent.emitZipkinBatch` datagram (compact or binary) → Jaeger domain spans,
// as jaeger-agent's gRPC reporter converts Zipkin spans (modern-collectors.md §2.4: the four
// collector sanitizers in order, then zipkin.ToDomain), with the improvements of §2.4a. Shared by
// the api_v2 and the OTLP encoders (to_api_v2.h, to_otlp.h), which write the domain spans.
//
// Why a whole-span (and whole-datagram) model rather than the one-pass views of thrift_view.h:
// a Zipkin span's start, duration, kind, service name and its split into two spans all depend on
// annotations that may come in any order, and OTLP groups spans by process (§3.8) across the
// datagram. load() therefore reads the datagram once into flat arrays of views (annotations,
// binary annotations, endpoints: string_views into the datagram), applies the sanitizers and
// computes each span's process. build() then fills the same view::SpanView / view::Scratch the
// Jaeger path uses, so the encoders' span writers are shared.
//
// Rules (§2.4), in the order they apply:
//  * sanitizers: start time (first `cs`, else the last `sr` when parentId is unset); duration
//    (default 1 µs; with ≥ 2 annotations last − first, `cs`/`cr` override; a negative duration
//    becomes 1 plus STRING `errNegativeDuration`); parentId 0 → unset plus `errZeroParentID="0"`;
//    a non-BOOL `error` (any case) becomes BOOL (empty/"true" → true, "false" → false, anything
//    else → true plus `error.message` = the old value, a STRING as §2.4 says; the Go code leaves
//    that annotation's type at its zero value, BOOL, which loses the message).
//  * ToDomain: trace id (high or 0, low); parentId → CHILD_OF ref; flags 2 if debug; tags from
//    binary annotations (`lc` → component; `sa`/`ca`/`ma` → peer.service/ipv4/ipv6/port; typed
//    values big-endian; undecodable → STRING "Cannot parse Zipkin value <base64>: <Go error>");
//    span.kind from the first core annotation; logs from the other non-empty annotations (a JSON
//    object of strings gives its fields — in sorted key order, where Go uses random map order —
//    else event=<value>); one process per span (service-name precedence, ip sign-extended,
//    jaegerClient/jaeger.hostname/jaeger.version moved to process tags, tags sorted by key, type,
//    value); a span with both `cs` and `sr` is split in two.
//  * §2.4a: a span without a service name gets `unknown-service-name` (counted:
//    unknownServiceSpans()) instead of the whole batch being dropped.
//
// Hostile input: every malformed datagram is a RejectReason (no crash, bounded work). Output
// growth is bounded: a span gives at most two domain spans; synthesized strings (base64 errors,
// decimal durations, decoded JSON) live in an arena sized from the datagram up front and capped
// (kMaxArenaBytes, else kLengthTooLarge).
//
// Ownership/threading: one instance per encoder (one decode worker). Views borrow the datagram
// until the next load(). Vectors and the arena are reused: nothing allocates per datagram after
// warm-up.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "decode/thrift_view.h"
#include "decode/transcoder.h"

namespace jagent::decode::zipkin {

inline constexpr std::string_view kUnknownServiceName = "unknown-service-name";  // §2.4

struct Endpoint {
  std::string_view serviceName;
  std::string_view ipv6;
  int32_t ipv4 = 0;
  int16_t port = 0;
  bool hasIpv6 = false;
};

struct Annotation {
  int64_t timestamp = 0;
  std::string_view value;
  Endpoint host;
  bool hasHost = false;
};

// zipkincore AnnotationType: BOOL 0, BYTES 1, I16 2, I32 3, I64 4, DOUBLE 5, STRING 6.
struct BinaryAnnotation {
  std::string_view key;
  std::string_view value;
  int32_t type = 0;
  Endpoint host;
  bool hasHost = false;
};

struct RawSpan {
  int64_t traceId = 0, id = 0, parentId = 0, timestamp = 0, duration = 0, traceIdHigh = 0;
  std::string_view name;
  uint32_t annFirst = 0, annCount = 0;  // into annotations_
  uint32_t binFirst = 0, binCount = 0;  // into the raw binary annotations
  bool hasParentId = false, hasTimestamp = false, hasDuration = false, debug = false;
};

// A span's process: service name and its tags (sorted), views valid until the next load().
struct DomainProcess {
  std::string_view serviceName;
  std::span<const view::TagView> tags;
};

// Grow-only byte arena for synthesized strings; its size is reserved before any view into it is
// taken, so views stay valid (an overrun is recorded, never a reallocation).
class Arena {
 public:
  void prepare(size_t bytes);  // may allocate (only when bigger than ever before)
  [[nodiscard]] char* take(size_t n) noexcept;  // nullptr if the reservation was too small
  [[nodiscard]] bool overrun() const noexcept { return overrun_; }

 private:
  std::vector<char> buf_;
  size_t used_ = 0;
  bool overrun_ = false;
};

class ZipkinDomain {
 public:
  static constexpr size_t kMaxArenaBytes = 8u << 20;

  // Reads the datagram (it must be emitZipkinBatch) and prepares every span. `extractScope`
  // (OTLP, §3.8): the first `otel.scope.name` tag of each span (then `otel.scope.version`) is
  // taken out of its tags as the span's scope.
  [[nodiscard]] RejectReason load(Protocol expected, std::span<const uint8_t> datagram, BatchSummary& summary,
                                  bool extractScope) noexcept;

  [[nodiscard]] uint32_t spans() const noexcept { return static_cast<uint32_t>(prepared_.size()); }
  // Domain spans of Zipkin span i: 2 when it has both `cs` and `sr`, else 1.
  [[nodiscard]] uint32_t domainSpans(uint32_t i) const noexcept { return prepared_[i].split ? 2 : 1; }
  [[nodiscard]] DomainProcess process(uint32_t i) const noexcept;
  // Spans that had no service name anywhere and were given kUnknownServiceName (§2.4a).
  [[nodiscard]] uint32_t unknownServiceSpans() const noexcept { return unknownService_; }
  // Same service and the same (sorted) process tags, and a hash of that (for grouping).
  [[nodiscard]] bool sameProcess(uint32_t a, uint32_t b) const noexcept;
  [[nodiscard]] uint64_t processHash(uint32_t i) const noexcept { return prepared_[i].processHash; }
  // The scope of domain span k of span i (only with extractScope; the split half has none).
  [[nodiscard]] std::string_view scopeName(uint32_t i, uint32_t k) const noexcept {
    return k == 0 ? prepared_[i].scopeName : std::string_view{};
  }
  [[nodiscard]] std::string_view scopeVersion(uint32_t i, uint32_t k) const noexcept {
    return k == 0 ? prepared_[i].scopeVersion : std::string_view{};
  }

  // Fills `out` and `sc` (cleared first) with domain span k of span i: ids, times, parent as
  // parentSpanId (the api_v2 writer turns it into the CHILD_OF ref, §2.2), flags, tags, logs.
  void build(uint32_t i, uint32_t k, view::SpanView& out, view::Scratch& sc) noexcept;
  // The arena ran out (a bug in the bound, never expected): the caller rejects the datagram.
  [[nodiscard]] bool failed() const noexcept { return arena_.overrun(); }

 private:
  struct Prepared {
    int64_t timestamp = 0, duration = 0;  // after the sanitizers and ToDomain's fallbacks
    int64_t splitStart = 0, splitDuration = 0;
    uint32_t binFirst = 0, binCount = 0;  // effective binary annotations (sanitized) in bins_
    uint32_t tagFirst = 0, tagCount = 0;  // process tags in procTags_
    std::string_view service;
    std::string_view scopeName, scopeVersion;
    uint64_t processHash = 0;
    int32_t firstCore = -1;  // index (in the span's annotations) of the first core annotation
    bool hasParent = false;
    bool split = false;
    bool splitIsServer = false;  // the second half's span.kind
  };

  template <class Reader>
  friend class ZipkinReader;

  void prepare(uint32_t i) noexcept;
  void sanitize(const RawSpan& s, Prepared& p) noexcept;
  void makeProcess(const RawSpan& s, Prepared& p) noexcept;
  // Span tags of span i (binary annotations, then span.kind) appended to `out`.
  void spanTags(uint32_t i, std::vector<view::TagView>& out) noexcept;
  // Binary annotation → tag with the typed value (or the "Cannot parse" string).
  void convertValue(const BinaryAnnotation& b, view::TagView& t) noexcept;
  void logFields(const Annotation& a, std::vector<view::TagView>& out) noexcept;
  [[nodiscard]] size_t arenaBound() const noexcept;

  std::vector<RawSpan> raw_;
  std::vector<Annotation> annotations_;
  std::vector<BinaryAnnotation> rawBins_;
  std::vector<BinaryAnnotation> bins_;  // sanitized copies, per span ranges
  std::vector<Prepared> prepared_;
  std::vector<view::TagView> procTags_;
  std::vector<view::TagView> tmpTags_;
  struct JsonField {
    std::string_view key, value;
    uint32_t order;
  };
  std::vector<JsonField> json_;
  std::vector<std::string_view> jsonKv_;
  Arena arena_;
  uint32_t unknownService_ = 0;
  bool extractScope_ = false;
};

// ---- pieces shared with the tests -----------------------------------------------------------

// Go's json.Unmarshal(value, &map[string]string): true if `in` is a JSON object whose values are
// all strings or null (null → ""), or the literal null (no fields). `out` gets the fields in
// document order with Go's string decoding (escapes, invalid UTF-8 → U+FFFD); decoded strings
// that differ from the input bytes are written to `arena`.
[[nodiscard]] bool parseJsonStringMap(std::string_view in, Arena& arena, std::vector<std::string_view>& out) noexcept;

}  // namespace jagent::decode::zipkin
