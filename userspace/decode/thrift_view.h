// Thrift → views: the read half shared by the protobuf transcoders (to_api_v2, to_otlp).
//
// Reads the envelope and the emitBatch args with the CompactReader / BinaryReader of
// thrift_wire.h (same hostile-input rules as the TBinary walker: every declared length and count
// is checked against the bytes left before use, depth is bounded by kMaxDepth, failures are a
// RejectReason). Instead of writing Thrift, it hands the encoder one *span at a time* as flat views:
// scalars by value, strings as string_views into the datagram, tags/refs/logs as index ranges
// into scratch arrays that the transcoder keeps between calls (cleared per span, so their
// capacity is reused and nothing allocates after warm-up).
//
// Why views per span rather than writing protobuf while reading: both target formats need
// look-ahead inside a span that Thrift's field order does not give — api_v2 inserts the parent
// CHILD_OF ref *before* the references only if none of them matches (§2.2); OTLP derives kind and
// status from several tags, de-duplicates keys and removes some (§3.3–3.7), and picks the parent
// from the references (§3.5). A span's views are a few dozen bytes per tag, live in cache, and
// the encoder then writes each output field once, in canonical field order, whatever order the
// Thrift fields came in. The input is still read exactly once. Tags, the bulk of a span, are the
// exception when the encoder can take them one at a time (Sink::kEncodesTags below): storing and
// re-reading their views cost more than the look-ahead saves.
//
// Ownership/threading: borrows the datagram, the scratch and the summary for one transcode()
// call on one thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "decode/schema.h"
#include "decode/thrift_envelope.h"
#include "decode/thrift_wire.h"
#include "decode/transcoder.h"

namespace jagent::decode::view {

using envelope::detectProtocol;
using envelope::readEnvelope;

struct TagView {
  std::string_view key;
  std::string_view vStr;
  std::string_view vBinary;
  int64_t vLong = 0;
  double vDouble = 0;
  int32_t vType = 0;  // Thrift TagType: STRING 0, DOUBLE 1, BOOL 2, LONG 3, BINARY 4
  bool vBool = false;
  bool hasStr = false;
};

struct RefView {
  int32_t refType = 0;  // CHILD_OF 0, FOLLOWS_FROM 1
  int64_t traceIdLow = 0;
  int64_t traceIdHigh = 0;
  int64_t spanId = 0;
};

struct LogView {
  int64_t timestamp = 0;
  uint32_t fieldsFirst = 0;  // into Scratch::tags
  uint32_t fieldsCount = 0;
  uint32_t fieldsAt = 0, fieldsEnd = 0;  // a Sink with kEncodesTags: its encoded bytes instead
};

struct SpanView {
  int64_t traceIdLow = 0, traceIdHigh = 0, spanId = 0, parentSpanId = 0, startTime = 0, duration = 0;
  int32_t flags = 0;
  std::string_view operationName;
  uint32_t tagsFirst = 0, tagsCount = 0;  // into Scratch::tags
  uint32_t refsFirst = 0, refsCount = 0;  // into Scratch::refs
  uint32_t logsFirst = 0, logsCount = 0;  // into Scratch::logs
  uint32_t tagsAt = 0, tagsEnd = 0;       // a Sink with kEncodesTags: its encoded bytes instead
  bool hasRefs = false, hasTags = false, hasLogs = false;  // the optional lists were present

  // Go's reflect.DeepEqual(span, &jaeger.Span{}) (modern-collectors.md §3.1): all zero, no lists.
  [[nodiscard]] bool isBlank() const noexcept {
    return traceIdLow == 0 && traceIdHigh == 0 && spanId == 0 && parentSpanId == 0 && startTime == 0 &&
           duration == 0 && flags == 0 && operationName.empty() && !hasRefs && !hasTags && !hasLogs;
  }
};

struct ProcessView {
  std::string_view serviceName;
  bool hasTags = false;  // Process.tags was present (Go: tags != nil)
};

// Scratch arrays; owned by a transcoder, reused across datagrams.
struct Scratch {
  std::vector<TagView> tags;         // span tags and log fields of the current span
  std::vector<RefView> refs;         // current span
  std::vector<LogView> logs;         // current span
  std::vector<TagView> processTags;  // the batch's process (lives for the whole datagram)
  void clearSpan() noexcept {
    tags.clear();
    refs.clear();
    logs.clear();
  }
};

// ---- the jaeger Batch walk ------------------------------------------------------------------

// Sink concept (an encoder):
//   void process(const ProcessView&, std::span<const TagView> tags);   // once per Process field
//   void spansBegin(uint32_t n);                                        // the spans list header
//   void span(const SpanView&, const Scratch&);                         // per span, in order
//   void spansEnd();                                                    // after the last span
// Optionally, `static constexpr bool kEncodesTags = true` with
//   void encodeTag(uint8_t list, const TagView&);  // list: kSpanTags or kLogFields
//   uint32_t encodedSize() const;                  // bytes encoded so far (offsets for the views)
// Then span tags and log fields are handed over one at a time as they are read, not stored:
// SpanView::tagsAt/tagsEnd and LogView::fieldsAt/fieldsEnd are ranges of the sink's own encoded
// bytes, and tagsCount/fieldsCount stay 0. For an encoder whose tags need no look-ahead (api_v2,
// §2.3): it writes each tag once, straight from the wire, instead of storing ~80 bytes of view
// and reading them back — with the load generator's tag mix that store and re-read was a third
// of api_v2's transcoding time (decode-bench encoding/input:3; docs/benchmarks-analysis.md).
enum class TagList : uint8_t { kSpanTags, kLogFields };

template <class Reader, class Sink>
class JaegerReader {
 public:
  using FieldHeader = wire::FieldHeader;
  static constexpr bool kEncodesTags = requires { requires Sink::kEncodesTags; };

  JaegerReader(Scratch& scratch, BatchSummary& summary, Sink& sink) noexcept
      : scratch_(scratch), summary_(summary), sink_(sink) {}

  // Reads emitBatch's args struct (envelope consumed). On failure the reason is r.error().
  bool args(Reader& r) noexcept {
    bool seen = false;
    return fields(r, [&](const FieldHeader& f) {
             if (f.id != schema::EmitBatchArgs::kBatch) return r.skipField(f, 2);
             if (seen) return r.fail(RejectReason::kWrongFieldType);  // a second batch: refuse rather than merge
             seen = true;
             return f.type == wire::kStruct ? batch(r, 2) : wrongType(r);
           }) &&
           (seen || r.fail(RejectReason::kMissingField));
  }

 private:
  static bool wrongType(Reader& r) noexcept { return r.fail(RejectReason::kWrongFieldType); }

  // Speed (as in walker.h): the hot functions work on a local copy of the reader whose address
  // never escapes, so its position stays in a register; anything that leaves the inlined code
  // (nested lists, skipping) gets a copy of that copy.
  template <class Fn>
  [[gnu::always_inline]] static bool detached(Reader& r, Fn&& fn) noexcept {
    Reader c = r;
    const bool ok = fn(c);
    r = c;
    return ok;
  }
  [[gnu::always_inline]] static bool skip(Reader& r, const FieldHeader& f, int depth) noexcept {
    return detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE { return c.skipField(f, depth); });
  }

  template <class OnField>
  [[gnu::always_inline]] static bool fields(Reader& r, OnField&& onField) noexcept {
    int16_t lastId = 0;
    FieldHeader f;
    for (;;) {
      if (!r.readFieldHeader(f, lastId)) [[unlikely]] return false;
      if (f.type == wire::kStop) return true;
      if (!onField(f)) [[unlikely]] return false;
    }
  }

  [[gnu::always_inline]] static bool i64(Reader& r, const FieldHeader& f, int64_t& v) noexcept {
    if (f.type != wire::kI64) [[unlikely]] return wrongType(r);
    return r.readI64(v);
  }
  [[gnu::always_inline]] static bool i32(Reader& r, const FieldHeader& f, int32_t& v) noexcept {
    if (f.type != wire::kI32) [[unlikely]] return wrongType(r);
    return r.readI32(v);
  }
  [[gnu::always_inline]] static bool str(Reader& r, const FieldHeader& f, std::string_view& v) noexcept {
    if (f.type != wire::kString) [[unlikely]] return wrongType(r);
    const uint8_t* p;
    uint32_t n;
    if (!r.readBinary(p, n)) return false;
    v = {reinterpret_cast<const char*>(p), n};
    return true;
  }
  [[gnu::always_inline]] static bool dbl(Reader& r, const FieldHeader& f, double& v) noexcept {
    if (f.type != wire::kDouble) [[unlikely]] return wrongType(r);
    const uint8_t* p;
    if (!r.readRaw(p, 8)) return false;
    // Compact doubles are little-endian, binary ones big-endian.
    const uint64_t bits = std::is_same_v<Reader, wire::CompactReader> ? wire::loadLittle64(p) : wire::loadBig<uint64_t>(p);
    std::memcpy(&v, &bits, 8);
    return true;
  }
  [[gnu::always_inline]] static bool boolean(Reader& r, const FieldHeader& f, bool& v) noexcept {
    if (f.type != wire::kBool) [[unlikely]] return wrongType(r);
    if constexpr (std::is_same_v<Reader, wire::CompactReader>) {
      v = f.boolValue;  // compact bool fields carry their value in the header
      return true;
    } else {
      const uint8_t* p;
      if (!r.readRaw(p, 1)) return false;
      v = *p != 0;
      return true;
    }
  }
  // A known list<struct> field's header (an empty list may name any element type).
  static bool structList(Reader& r, const FieldHeader& f, uint32_t& n) noexcept {
    if (f.type != wire::kList) [[unlikely]] return wrongType(r);
    uint8_t elemType;
    if (!r.readListHeader(elemType, n)) return false;
    if (n != 0 && elemType != wire::kStruct) [[unlikely]] return wrongType(r);
    return true;
  }

  bool batch(Reader& r, int depth) noexcept {
    using S = schema::Batch;
    bool sawProcess = false, sawSpans = false;
    return fields(r,
                  [&](const FieldHeader& f) {
                    switch (f.id) {
                      case S::kProcess:
                        // A repeated process or spans field (never sent by a client): Thrift
                        // readers keep the last, protobuf would merge; refuse rather than guess.
                        if (sawProcess) return wrongType(r);
                        sawProcess = true;
                        return f.type == wire::kStruct ? process(r, depth + 1) : wrongType(r);
                      case S::kSpans: {
                        if (sawSpans) return wrongType(r);
                        sawSpans = true;
                        uint32_t n;
                        if (!structList(r, f, n)) return false;
                        summary_.spans = n;
                        sink_.spansBegin(n);
                        for (uint32_t i = 0; i < n; ++i)
                          if (!span(r, depth + 2)) return false;
                        sink_.spansEnd();
                        return true;
                      }
                      case S::kSeqNo:
                        summary_.hasSeqNo = true;
                        return i64(r, f, summary_.seqNo);
                      case S::kStats:
                        summary_.hasStats = true;
                        return f.type == wire::kStruct ? clientStats(r, depth + 1) : wrongType(r);
                      default:
                        return skip(r, f, depth + 1);
                    }
                  }) &&
           ((sawProcess && sawSpans) || r.fail(RejectReason::kMissingField));
  }

  bool clientStats(Reader& r, int depth) noexcept {
    using S = schema::ClientStats;
    ClientStats& st = summary_.stats;
    return fields(r, [&](const FieldHeader& f) {
      switch (f.id) {
        case S::kFullQueueDroppedSpans:
          return i64(r, f, st.fullQueueDroppedSpans);
        case S::kTooLargeDroppedSpans:
          return i64(r, f, st.tooLargeDroppedSpans);
        case S::kFailedToEmitSpans:
          return i64(r, f, st.failedToEmitSpans);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  template <size_t kN>
  static void copyTruncated(std::array<char, kN>& dst, uint8_t& len, std::string_view s) noexcept {
    const size_t n = std::min(s.size(), kN);
    std::copy_n(s.data(), n, dst.data());
    len = static_cast<uint8_t>(n);
  }

  bool process(Reader& r, int depth) noexcept {
    using S = schema::Process;
    ProcessView pv;
    bool sawService = false;
    scratch_.processTags.clear();
    const bool ok = fields(r, [&](const FieldHeader& f) {
      switch (f.id) {
        case S::kServiceName:
          sawService = true;
          return str(r, f, pv.serviceName);
        case S::kTags: {
          pv.hasTags = true;
          scratch_.processTags.clear();  // a repeated field: the last one wins, as in generated readers
          return tagList(r, f, depth, scratch_.processTags);
        }
        default:
          return skip(r, f, depth + 1);
      }
    });
    if (!ok) return false;
    if (!sawService) return r.fail(RejectReason::kMissingField);
    copyTruncated(summary_.service, summary_.serviceLen, pv.serviceName);
    summary_.uuidLen = 0;
    for (const TagView& t : scratch_.processTags)
      if (t.hasStr && t.vType == schema::Tag::kTypeString && t.key == "client-uuid")
        copyTruncated(summary_.uuid, summary_.uuidLen, t.vStr);
    sink_.process(pv, scratch_.processTags);
    return true;
  }

  // list<Tag> into `out` (appended).
  [[gnu::noinline]] bool tagList(Reader& rIn, const FieldHeader& f, int depth, std::vector<TagView>& out) noexcept {
    Reader r = rIn;
    const bool ok = [&]() JAGENT_LAMBDA_INLINE {
      uint32_t n;
      if (!structList(r, f, n)) return false;
      for (uint32_t i = 0; i < n; ++i) {
        TagView& t = out.emplace_back();
        if (!tag(r, depth + 2, t)) [[unlikely]] return false;
      }
      return true;
    }();
    rIn = r;
    return ok;
  }

  // list<Tag> handed to the sink's encoder one tag at a time (kEncodesTags).
  [[gnu::noinline]] bool encodedTagList(Reader& rIn, const FieldHeader& f, int depth, TagList list) noexcept {
    Reader r = rIn;
    const bool ok = [&]() JAGENT_LAMBDA_INLINE {
      uint32_t n;
      if (!structList(r, f, n)) return false;
      for (uint32_t i = 0; i < n; ++i) {
        TagView t;
        if (!fastTag(r, t)) [[unlikely]] {
          t = TagView{};
          if (!tag(r, depth + 2, t)) return false;
        }
        sink_.encodeTag(list, t);
      }
      return true;
    }();
    rIn = r;
    return ok;
  }

  // A Tag as Thrift's writers lay it out: key (field 1), vType (2), at most one value field,
  // stop, ids ascending — in compact, every header one short-form byte; in binary, a type byte
  // and a big-endian id. Read with the same primitives (same limits) as tag(), but without the
  // generic loop's header decoding and field dispatch (decode-bench encoding/input:4, compact:
  // OTLP 86 → 75 µs, api_v2 66 → 56 µs). Any other layout, or any error, returns false with `r`
  // untouched, and tag() reads the same bytes (reporting the error, if it is one).
  [[gnu::always_inline]] static bool fastTag(Reader& r, TagView& t) noexcept {
    constexpr bool kCompact = std::is_same_v<Reader, wire::CompactReader>;
    Reader c = r;
    // Field `id` of binary type `type` (compact: its short-form header byte `compact`).
    const auto header = [&c](uint8_t compact, uint8_t type, uint8_t id) JAGENT_LAMBDA_INLINE {
      if constexpr (kCompact) {
        if (c.peek() != compact) return false;
        c.advance(1);
      } else {
        if (c.peek() != type || c.peek(1) != 0 || c.peek(2) != id) return false;
        c.advance(3);
      }
      return true;
    };
    const auto binary = [&c](std::string_view& v) JAGENT_LAMBDA_INLINE {
      const uint8_t* p;
      uint32_t n;
      if (!c.readBinary(p, n)) return false;
      v = {reinterpret_cast<const char*>(p), n};
      return true;
    };
    if (!header(0x18, wire::kString, 1) || !binary(t.key) || !header(0x15, wire::kI32, 2) || !c.readI32(t.vType))
      return false;
    // The value field: which one, from its header (compact: one byte, a bool's value in it).
    int which;
    if constexpr (kCompact) {
      which = c.peek();
    } else {
      const int type = c.peek();
      which = type == 0 ? 0 : c.peek(1) != 0 ? -1 : (type << 8) | c.peek(2);
    }
    switch (which) {
      case kCompact ? 0x18 : (wire::kString << 8 | 3):  // vStr
        c.advance(kCompact ? 1 : 3);
        t.hasStr = true;
        if (!binary(t.vStr)) return false;
        break;
      case kCompact ? 0x27 : (wire::kDouble << 8 | 4): {  // vDouble: compact little-, binary big-endian
        c.advance(kCompact ? 1 : 3);
        const uint8_t* p;
        if (!c.readRaw(p, 8)) return false;
        const uint64_t bits = kCompact ? wire::loadLittle64(p) : wire::loadBig<uint64_t>(p);
        std::memcpy(&t.vDouble, &bits, 8);
        break;
      }
      case kCompact ? 0x31 : (wire::kBool << 8 | 5):  // vBool
        if constexpr (kCompact) {
          c.advance(1);
          t.vBool = true;
        } else {
          const uint8_t* p;
          c.advance(3);
          if (!c.readRaw(p, 1)) return false;
          t.vBool = *p != 0;
        }
        break;
      case kCompact ? 0x32 : -2:  // compact vBool false
        c.advance(1);
        break;
      case kCompact ? 0x46 : (wire::kI64 << 8 | 6):  // vLong
        c.advance(kCompact ? 1 : 3);
        if (!c.readI64(t.vLong)) return false;
        break;
      case kCompact ? 0x58 : (wire::kString << 8 | 7):  // vBinary
        c.advance(kCompact ? 1 : 3);
        if (!binary(t.vBinary)) return false;
        break;
      case 0:  // no value field
        break;
      default:
        return false;
    }
    if (c.peek() != 0x00) return false;  // stop
    c.advance(1);
    r = c;
    return true;
  }

  [[gnu::always_inline]] bool tag(Reader& r, int depth, TagView& t) noexcept {
    using S = schema::Tag;
    return fields(r, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kKey:
          return str(r, f, t.key);
        case S::kVType:
          return i32(r, f, t.vType);
        case S::kVStr:
          t.hasStr = true;
          return str(r, f, t.vStr);
        case S::kVDouble:
          return dbl(r, f, t.vDouble);
        case S::kVBool:
          return boolean(r, f, t.vBool);
        case S::kVLong:
          return i64(r, f, t.vLong);
        case S::kVBinary:
          return str(r, f, t.vBinary);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  [[gnu::noinline]] bool span(Reader& rIn, int depth) noexcept {
    using S = schema::Span;
    scratch_.clearSpan();
    SpanView s;
    Reader r = rIn;
    const bool ok = fields(r, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kTraceIdLow:
          return i64(r, f, s.traceIdLow);
        case S::kTraceIdHigh:
          return i64(r, f, s.traceIdHigh);
        case S::kSpanId:
          return i64(r, f, s.spanId);
        case S::kParentSpanId:
          return i64(r, f, s.parentSpanId);
        case S::kOperationName:
          return str(r, f, s.operationName);
        case S::kFlags:
          return i32(r, f, s.flags);
        case S::kStartTime:
          return i64(r, f, s.startTime);
        case S::kDuration:
          return i64(r, f, s.duration);
        case S::kReferences: {
          s.hasRefs = true;
          uint32_t n;
          if (!structList(r, f, n)) return false;
          s.refsFirst = static_cast<uint32_t>(scratch_.refs.size());
          s.refsCount = n;
          return detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE {
            for (uint32_t i = 0; i < n; ++i)
              if (!spanRef(c, depth + 2, scratch_.refs.emplace_back())) return false;
            return true;
          });
        }
        case S::kTags: {
          s.hasTags = true;
          if constexpr (kEncodesTags) {
            s.tagsAt = sink_.encodedSize();
            if (!detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE {
                  return encodedTagList(c, f, depth, TagList::kSpanTags);
                }))
              return false;
            s.tagsEnd = sink_.encodedSize();
            return true;
          }
          s.tagsFirst = static_cast<uint32_t>(scratch_.tags.size());
          if (!detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE { return tagList(c, f, depth, scratch_.tags); }))
            return false;
          s.tagsCount = static_cast<uint32_t>(scratch_.tags.size()) - s.tagsFirst;
          return true;
        }
        case S::kLogs: {
          s.hasLogs = true;
          uint32_t n;
          if (!structList(r, f, n)) return false;
          s.logsFirst = static_cast<uint32_t>(scratch_.logs.size());
          s.logsCount = n;
          return detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE {
            for (uint32_t i = 0; i < n; ++i)
              if (!log(c, depth + 2, static_cast<uint32_t>(scratch_.logs.size()))) return false;
            return true;
          });
        }
        default:
          return skip(r, f, depth + 1);
      }
    });
    rIn = r;
    if (!ok) return false;
    sink_.span(s, scratch_);
    return true;
  }

  [[gnu::noinline]] bool spanRef(Reader& rIn, int depth, RefView& ref) noexcept {
    Reader r = rIn;
    const bool ok = spanRefFields(r, depth, ref);
    rIn = r;
    return ok;
  }
  [[gnu::always_inline]] bool spanRefFields(Reader& r, int depth, RefView& ref) noexcept {
    using S = schema::SpanRef;
    return fields(r, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kRefType:
          return i32(r, f, ref.refType);
        case S::kTraceIdLow:
          return i64(r, f, ref.traceIdLow);
        case S::kTraceIdHigh:
          return i64(r, f, ref.traceIdHigh);
        case S::kSpanId:
          return i64(r, f, ref.spanId);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  // Appends one LogView at index `at` (fields may be read before the log's own slot exists, so
  // the slot is taken first and addressed by index: emplace_back may move the array).
  bool log(Reader& r, int depth, uint32_t at) noexcept {
    using S = schema::Log;
    scratch_.logs.emplace_back();
    return fields(r, [&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTimestamp:
          return i64(r, f, scratch_.logs[at].timestamp);
        case S::kFields: {
          if constexpr (kEncodesTags) {
            const uint32_t from = sink_.encodedSize();
            if (!detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE {
                  return encodedTagList(c, f, depth, TagList::kLogFields);
                }))
              return false;
            scratch_.logs[at].fieldsAt = from;
            scratch_.logs[at].fieldsEnd = sink_.encodedSize();
            return true;
          }
          const auto first = static_cast<uint32_t>(scratch_.tags.size());
          if (!detached(r, [&](Reader& c) JAGENT_LAMBDA_INLINE { return tagList(c, f, depth, scratch_.tags); }))
            return false;
          scratch_.logs[at].fieldsFirst = first;
          scratch_.logs[at].fieldsCount = static_cast<uint32_t>(scratch_.tags.size()) - first;
          return true;
        }
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  Scratch& scratch_;
  BatchSummary& summary_;
  Sink& sink_;
};

// Envelope + args for either protocol. Zipkin batches are reported through `format` and left
// unread (the caller decides). Returns kOk or the reason.
template <class Sink>
RejectReason readJaegerDatagram(Protocol expected, std::span<const uint8_t> datagram, Scratch& scratch,
                                BatchSummary& summary, Sink& sink, Format& format) noexcept {
  if (const RejectReason pr = detectProtocol(expected, datagram); pr != RejectReason::kOk) return pr;
  const auto run = [&](auto reader) -> RejectReason {
    if (!readEnvelope(reader, format)) return reader.error();
    summary.format = format;
    if (format != Format::kJaeger) return RejectReason::kOk;
    JaegerReader<decltype(reader), Sink> jr(scratch, summary, sink);
    if (!jr.args(reader)) return reader.error();
    if (reader.remaining() != 0) return RejectReason::kTrailingBytes;
    return RejectReason::kOk;
  };
  const uint8_t* b = datagram.data();
  const uint8_t* e = b + datagram.size();
  return expected == Protocol::kCompact ? run(wire::CompactReader(b, e)) : run(wire::BinaryReader(b, e));
}

}  // namespace jagent::decode::view
