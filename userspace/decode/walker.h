// The schema walk: reads the args struct of emitBatch / emitZipkinBatch with a CompactReader or
// a BinaryReader and writes the TBinaryProtocol encoding of the payload as it goes.
//
// Written once as a template so both protocols share the schema logic and each instantiation
// inlines its reader's primitives. Known fields are copied (their wire type checked), unknown
// ones are validated, skipped and dropped — the Go agent re-encoded decoded objects, which drops
// them too. Fields may come in any order.
//
// Speed: the reader and writer are passed as explicit `(r, w)` parameters. Each list of structs
// is walked by an out-of-line function that copies them into locals, and every call that leaves
// the inlined code (nested lists, skipping) goes through copies (`detached`), so the locals'
// addresses never escape and their positions stay in registers. Without this, every byte
// written through uint8_t* forces the compiler to reload them from memory.
//
// Ownership/threading: borrows the summary and the pre-encoded agent tags for one transcode()
// call. Depth: the args struct is depth 1; each nested struct or container adds one. The known
// schema is at most 8 deep; unknown fields are skipped with the depth bound (kMaxDepth).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "decode/schema.h"
#include "decode/thrift_wire.h"
#include "decode/transcoder.h"

namespace jagent::decode {

template <class Reader>
class Walker {
 public:
  using Writer = wire::BinaryWriter;

  Walker(BatchSummary& summary, std::span<const uint8_t> agentTags, uint32_t agentTagCount) noexcept
      : summary_(summary), agentTags_(agentTags), agentTagCount_(agentTagCount) {}

  // Walks the args struct (envelope already consumed). On failure the reason is r.error().
  bool args(Reader& r, Writer& w, Format format) noexcept {
    bool seen = false;
    return structFields(
               r, w,
               [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
                 if (f.id != 1) return skip(r, f, 2);
                 if (seen) {  // a repeated field: the last one wins, as in generated readers
                   w.rewind();
                   summary_ = BatchSummary{};
                   zipkinServiceSeen_ = false;
                 }
                 seen = true;
                 summary_.format = format;
                 if (format == Format::kJaeger) return f.type == wire::kStruct ? batch(r, w, 2) : wrongType(r);
                 return zipkinSpans(r, w, f);
               },
               /*writeStop=*/false) &&
           (seen || r.fail(RejectReason::kMissingField));
  }

 private:
  using FieldHeader = wire::FieldHeader;

  // The structs that occur as list elements or struct fields.
  enum class Elem { kSpan, kSpanRef, kLog, kTag, kProcessTag, kClientStats, kZipkinSpan, kAnnotation,
                    kBinaryAnnotation, kEndpoint };

  // ---- generic pieces ----

  // Runs fn on copies of the cursors, so that whatever fn does with their addresses, the
  // caller's cursors remain private locals.
  template <class Fn>
  JAGENT_WIRE_INLINE static bool detached(Reader& r, Writer& w, Fn&& fn) noexcept {
    Reader rc = r;
    Writer wc = w;
    const bool ok = fn(rc, wc);
    r = rc;
    w = wc;
    return ok;
  }
  JAGENT_WIRE_INLINE static bool skip(Reader& r, const FieldHeader& f, int depth) noexcept {
    Reader rc = r;
    const bool ok = rc.skipField(f, depth);
    r = rc;
    return ok;
  }
  JAGENT_WIRE_INLINE static bool wrongType(Reader& r) noexcept { return r.fail(RejectReason::kWrongFieldType); }

  // Reads fields up to the stop, calling onField for each (it copies or skips the value).
  template <class OnField>
  JAGENT_WIRE_INLINE static bool structFields(Reader& r, Writer& w, OnField&& onField, bool writeStop = true) noexcept {
    int16_t lastId = 0;
    FieldHeader f;
    for (;;) {
      if (!r.readFieldHeader(f, lastId)) [[unlikely]] return false;
      if (f.type == wire::kStop) break;
      if (!onField(f)) [[unlikely]] return false;
    }
    if (writeStop) w.stop();
    return true;
  }

  template <uint8_t kType>
  JAGENT_WIRE_INLINE static bool scalar(Reader& r, Writer& w, const FieldHeader& f) noexcept {
    if (f.type != kType) [[unlikely]] return wrongType(r);
    w.fieldHeader(kType, f.id);
    if constexpr (kType == wire::kI64) {
      return r.copyI64(w);
    } else if constexpr (kType == wire::kI32) {
      return r.copyI32(w);
    } else if constexpr (kType == wire::kI16) {
      return r.copyI16(w);
    } else if constexpr (kType == wire::kString) {
      return r.copyString(w);
    } else if constexpr (kType == wire::kDouble) {
      return r.copyDouble(w);
    } else {
      static_assert(kType == wire::kBool);
      return r.copyBoolField(f, w);
    }
  }

  JAGENT_WIRE_INLINE static bool i64Into(Reader& r, Writer& w, const FieldHeader& f, int64_t& v) noexcept {
    if (f.type != wire::kI64) [[unlikely]] return wrongType(r);
    w.fieldHeader(wire::kI64, f.id);
    return r.copyI64(w, &v);
  }
  JAGENT_WIRE_INLINE static bool i32Into(Reader& r, Writer& w, const FieldHeader& f, int32_t& v) noexcept {
    if (f.type != wire::kI32) [[unlikely]] return wrongType(r);
    w.fieldHeader(wire::kI32, f.id);
    return r.copyI32(w, &v);
  }
  JAGENT_WIRE_INLINE static bool stringInto(Reader& r, Writer& w, const FieldHeader& f, std::string_view& v) noexcept {
    if (f.type != wire::kString) [[unlikely]] return wrongType(r);
    w.fieldHeader(wire::kString, f.id);
    return r.copyString(w, &v);
  }

  // A known list<struct> field's header. An empty list may name any element type; the output
  // names the schema's, so strict readers accept it.
  JAGENT_WIRE_INLINE static bool structListHeader(Reader& r, const FieldHeader& f, uint32_t& n) noexcept {
    if (f.type != wire::kList) [[unlikely]] return wrongType(r);
    uint8_t elemType;
    if (!r.readListHeader(elemType, n)) [[unlikely]] return false;
    if (n != 0 && elemType != wire::kStruct) [[unlikely]] return wrongType(r);
    return true;
  }

  template <Elem kElem>
  [[gnu::noinline]] bool structListOutOfLine(Reader& rIn, Writer& wIn, FieldHeader f, int depth,
                                             uint32_t* count) noexcept {
    Reader r = rIn;
    Writer w = wIn;
    const bool ok = [&]() JAGENT_LAMBDA_INLINE {
      uint32_t n;
      if (!structListHeader(r, f, n)) return false;
      w.fieldHeader(wire::kList, f.id);
      w.listHeader(wire::kStruct, n);
      if (count) *count = n;
      for (uint32_t i = 0; i < n; ++i)
        if (!element<kElem>(r, w, depth + 2)) [[unlikely]] return false;
      return true;
    }();
    rIn = r;
    wIn = w;
    return ok;
  }
  template <Elem kElem>
  JAGENT_WIRE_INLINE bool structList(Reader& r, Writer& w, const FieldHeader& f, int depth,
                                     uint32_t* count = nullptr) noexcept {
    return detached(r, w, [&](Reader& rc, Writer& wc) JAGENT_LAMBDA_INLINE { return structListOutOfLine<kElem>(rc, wc, f, depth, count); });
  }

  template <Elem kElem>
  [[gnu::noinline]] bool structFieldOutOfLine(Reader& rIn, Writer& wIn, FieldHeader f, int depth) noexcept {
    if (f.type != wire::kStruct) [[unlikely]] return wrongType(rIn);
    Reader r = rIn;
    Writer w = wIn;
    w.fieldHeader(wire::kStruct, f.id);
    const bool ok = element<kElem>(r, w, depth + 1);
    rIn = r;
    wIn = w;
    return ok;
  }
  template <Elem kElem>
  JAGENT_WIRE_INLINE bool structField(Reader& r, Writer& w, const FieldHeader& f, int depth) noexcept {
    return detached(r, w, [&](Reader& rc, Writer& wc) JAGENT_LAMBDA_INLINE { return structFieldOutOfLine<kElem>(rc, wc, f, depth); });
  }

  template <Elem kElem>
  JAGENT_WIRE_INLINE bool element(Reader& r, Writer& w, int depth) noexcept {
    if constexpr (kElem == Elem::kSpan) return span(r, w, depth);
    if constexpr (kElem == Elem::kSpanRef) return spanRef(r, w, depth);
    if constexpr (kElem == Elem::kLog) return log(r, w, depth);
    if constexpr (kElem == Elem::kTag) return tag<false>(r, w, depth);
    if constexpr (kElem == Elem::kProcessTag) return tag<true>(r, w, depth);
    if constexpr (kElem == Elem::kClientStats) return clientStats(r, w, depth);
    if constexpr (kElem == Elem::kZipkinSpan) return zipkinSpan(r, w, depth);
    if constexpr (kElem == Elem::kAnnotation) return annotation(r, w, depth);
    if constexpr (kElem == Elem::kBinaryAnnotation) return binaryAnnotation(r, w, depth);
    if constexpr (kElem == Elem::kEndpoint) return endpoint(r, w, depth);
  }

  template <size_t kN>
  static void copyTruncated(std::array<char, kN>& dst, uint8_t& len, std::string_view s) noexcept {
    const size_t n = std::min(s.size(), kN);
    std::copy_n(s.data(), n, dst.data());
    len = static_cast<uint8_t>(n);
  }

  // ---- jaeger.thrift ----

  // Where a field's encoding sits in the output, so that a repeat of it can replace it.
  struct Written {
    size_t at = 0;
    size_t len = 0;
    bool seen = false;
  };

  // Writes field `i` of a struct with `write`, and if the same field was written before in this
  // struct, erases the earlier copy: a repeated field replaces the earlier one (last wins), as
  // generated Thrift readers do. This is what bounds the output by the input when a hostile
  // batch repeats Process (each copy would otherwise carry the injected agent tags): at most one
  // copy of each such field is ever in the output. `slots` are the struct's tracked fields;
  // those written after the erased copy move down with it. Erasing moves only what was written
  // after the earlier copy, so the total work stays linear in the output.
  template <size_t kN, class Fn>
  JAGENT_WIRE_INLINE static bool lastWins(Writer& w, std::array<Written, kN>& slots, size_t i, Fn&& write) noexcept {
    const size_t at = w.size();
    if (!write()) [[unlikely]] return false;
    Written& slot = slots[i];
    const size_t len = w.size() - at;
    if (slot.seen) {
      w.erase(slot.at, slot.len);
      for (Written& other : slots)
        if (other.seen && other.at > slot.at) other.at -= slot.len;
      slot.at = at - slot.len;
    } else {
      slot.at = at;
    }
    slot.len = len;
    slot.seen = true;
    return true;
  }

  bool batch(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Batch;
    enum : size_t { kProcessSlot, kSpansSlot, kSeqNoSlot, kStatsSlot, kSlots };
    std::array<Written, kSlots> slots{};
    return structFields(r, w,
                        [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
                          switch (f.id) {
                            case S::kProcess:
                              return lastWins(w, slots, kProcessSlot, [&] {
                                return f.type == wire::kStruct ? process(r, w, f, depth + 1) : wrongType(r);
                              });
                            case S::kSpans:
                              return lastWins(w, slots, kSpansSlot, [&] {
                                return structList<Elem::kSpan>(r, w, f, depth, &summary_.spans);
                              });
                            case S::kSeqNo:
                              summary_.hasSeqNo = true;
                              return lastWins(w, slots, kSeqNoSlot, [&] { return i64Into(r, w, f, summary_.seqNo); });
                            case S::kStats:
                              summary_.hasStats = true;
                              summary_.stats = ClientStats{};
                              return lastWins(w, slots, kStatsSlot, [&] { return structField<Elem::kClientStats>(r, w, f, depth); });
                            default:
                              return skip(r, f, depth + 1);
                          }
                        }) &&
           ((slots[kProcessSlot].seen && slots[kSpansSlot].seen) || r.fail(RejectReason::kMissingField));
  }

  // Process: also where --agent.tags are appended (to the tags list, created if absent). A
  // repeated tags list replaces the earlier one (lastWins), so the agent tags appear once; the
  // budget reserves room for the few copies that exist before an erase (transcoder.cc).
  [[gnu::noinline]] bool process(Reader& r, Writer& w, const FieldHeader& f, int depth) noexcept {
    using S = schema::Process;
    w.fieldHeader(wire::kStruct, f.id);
    bool sawService = false;
    std::array<Written, 1> tagsSlot{};
    summary_.serviceLen = 0;
    summary_.uuidLen = 0;
    const bool ok = structFields(
        r, w,
        [&](const FieldHeader& pf) JAGENT_LAMBDA_INLINE {
          switch (pf.id) {
            case S::kServiceName: {
              std::string_view name;
              if (!stringInto(r, w, pf, name)) return false;
              copyTruncated(summary_.service, summary_.serviceLen, name);
              sawService = true;
              return true;
            }
            case S::kTags:
              summary_.uuidLen = 0;
              return lastWins(w, tagsSlot, 0, [&] {
                uint32_t n;
                if (!structListHeader(r, pf, n)) return false;
                w.fieldHeader(wire::kList, pf.id);
                w.listHeader(wire::kStruct, n + agentTagCount_);
                for (uint32_t i = 0; i < n; ++i)
                  if (!element<Elem::kProcessTag>(r, w, depth + 2)) return false;
                if (agentTagCount_ != 0) w.bytes(agentTags_.data(), agentTags_.size());
                return true;
              });
            default:
              return skip(r, pf, depth + 1);
          }
        },
        /*writeStop=*/false);
    if (!ok) return false;
    if (!sawService) return r.fail(RejectReason::kMissingField);
    if (!tagsSlot[0].seen && agentTagCount_ != 0) {
      w.fieldHeader(wire::kList, S::kTags);
      w.listHeader(wire::kStruct, agentTagCount_);
      w.bytes(agentTags_.data(), agentTags_.size());
    }
    w.stop();
    return true;
  }

  JAGENT_WIRE_INLINE bool clientStats(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::ClientStats;
    ClientStats& st = summary_.stats;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kFullQueueDroppedSpans:
          return i64Into(r, w, f, st.fullQueueDroppedSpans);
        case S::kTooLargeDroppedSpans:
          return i64Into(r, w, f, st.tooLargeDroppedSpans);
        case S::kFailedToEmitSpans:
          return i64Into(r, w, f, st.failedToEmitSpans);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool span(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Span;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kTraceIdLow:
        case S::kTraceIdHigh:
        case S::kSpanId:
        case S::kParentSpanId:
        case S::kStartTime:
        case S::kDuration:
          return scalar<wire::kI64>(r, w, f);
        case S::kOperationName:
          return scalar<wire::kString>(r, w, f);
        case S::kFlags:
          return scalar<wire::kI32>(r, w, f);
        case S::kReferences:
          return structList<Elem::kSpanRef>(r, w, f, depth);
        case S::kTags:
          return structList<Elem::kTag>(r, w, f, depth);
        case S::kLogs:
          return structList<Elem::kLog>(r, w, f, depth);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool spanRef(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::SpanRef;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kRefType:
          return scalar<wire::kI32>(r, w, f);
        case S::kTraceIdLow:
        case S::kTraceIdHigh:
        case S::kSpanId:
          return scalar<wire::kI64>(r, w, f);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool log(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Log;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kTimestamp:
          return scalar<wire::kI64>(r, w, f);
        case S::kFields:
          return structList<Elem::kTag>(r, w, f, depth);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  // kProcessTag: also look for the `client-uuid` string tag for the summary.
  template <bool kProcessTag>
  JAGENT_WIRE_INLINE bool tag(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Tag;
    std::string_view key, vStr;
    int32_t vType = -1;
    bool hasStr = false;
    const bool ok = structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kKey:
          if constexpr (kProcessTag) return stringInto(r, w, f, key);
          return scalar<wire::kString>(r, w, f);
        case S::kVType:
          if constexpr (kProcessTag) return i32Into(r, w, f, vType);
          return scalar<wire::kI32>(r, w, f);
        case S::kVStr:
          if constexpr (kProcessTag) {
            hasStr = true;
            return stringInto(r, w, f, vStr);
          }
          return scalar<wire::kString>(r, w, f);
        case S::kVDouble:
          return scalar<wire::kDouble>(r, w, f);
        case S::kVBool:
          return scalar<wire::kBool>(r, w, f);
        case S::kVLong:
          return scalar<wire::kI64>(r, w, f);
        case S::kVBinary:
          return scalar<wire::kString>(r, w, f);
        default:
          return skip(r, f, depth + 1);
      }
    });
    if constexpr (kProcessTag) {
      if (ok && hasStr && vType == S::kTypeString && key == "client-uuid")
        copyTruncated(summary_.uuid, summary_.uuidLen, vStr);
    }
    return ok;
  }

  // ---- zipkincore.thrift ----

  // args field 1: list<Span>, written as the bare span structs (no list header).
  [[gnu::noinline]] bool zipkinSpans(Reader& rIn, Writer& wIn, const FieldHeader& f) noexcept {
    Reader r = rIn;
    Writer w = wIn;
    const bool ok = [&]() JAGENT_LAMBDA_INLINE {
      uint32_t n;
      if (!structListHeader(r, f, n)) return false;
      summary_.spans = n;
      for (uint32_t i = 0; i < n; ++i)
        if (!zipkinSpan(r, w, 3)) [[unlikely]] return false;
      return true;
    }();
    rIn = r;
    wIn = w;
    return ok;
  }

  JAGENT_WIRE_INLINE bool zipkinSpan(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::ZipkinSpan;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kTraceId:
        case S::kId:
        case S::kParentId:
        case S::kTimestamp:
        case S::kDuration:
        case S::kTraceIdHigh:
          return scalar<wire::kI64>(r, w, f);
        case S::kName:
          return scalar<wire::kString>(r, w, f);
        case S::kAnnotations:
          return structList<Elem::kAnnotation>(r, w, f, depth);
        case S::kBinaryAnnotations:
          return structList<Elem::kBinaryAnnotation>(r, w, f, depth);
        case S::kDebug:
          return scalar<wire::kBool>(r, w, f);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool annotation(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Annotation;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kTimestamp:
          return scalar<wire::kI64>(r, w, f);
        case S::kValue:
          return scalar<wire::kString>(r, w, f);
        case S::kHost:
          return structField<Elem::kEndpoint>(r, w, f, depth);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool binaryAnnotation(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::BinaryAnnotation;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kKey:
        case S::kValue:
          return scalar<wire::kString>(r, w, f);
        case S::kAnnotationType:
          return scalar<wire::kI32>(r, w, f);
        case S::kHost:
          return structField<Elem::kEndpoint>(r, w, f, depth);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  JAGENT_WIRE_INLINE bool endpoint(Reader& r, Writer& w, int depth) noexcept {
    using S = schema::Endpoint;
    return structFields(r, w, [&](const FieldHeader& f) JAGENT_LAMBDA_INLINE {
      switch (f.id) {
        case S::kIpv4:
          return scalar<wire::kI32>(r, w, f);
        case S::kPort:
          return scalar<wire::kI16>(r, w, f);
        case S::kServiceName: {
          std::string_view name;
          if (!stringInto(r, w, f, name)) return false;
          // The summary wants a service for metrics: the first non-empty one names the batch.
          if (!zipkinServiceSeen_ && !name.empty()) {
            copyTruncated(summary_.service, summary_.serviceLen, name);
            zipkinServiceSeen_ = true;
          }
          return true;
        }
        case S::kIpv6:
          return scalar<wire::kString>(r, w, f);
        default:
          return skip(r, f, depth + 1);
      }
    });
  }

  BatchSummary& summary_;
  std::span<const uint8_t> agentTags_;
  uint32_t agentTagCount_;
  bool zipkinServiceSeen_ = false;
};

}  // namespace jagent::decode
