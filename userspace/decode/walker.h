// The schema walk: reads the args struct of emitBatch / emitZipkinBatch with a CompactReader or
// a BinaryReader and writes the TBinaryProtocol encoding of the payload as it goes.
//
// Written once as a template so both protocols share the schema logic and each instantiation
// inlines its reader's primitives. Known fields are copied (their wire type checked), unknown
// ones are validated, skipped and dropped — the Go agent re-encoded decoded objects, which drops
// them too. Fields may come in any order.
//
// Ownership/threading: borrows the reader, the writer and the summary for one transcode() call.
// Depth: the args struct is depth 1; each nested struct or container adds one. The known schema
// is at most 8 deep; unknown fields are skipped with the depth bound (kMaxDepth).
#pragma once

#include <algorithm>
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
  Walker(Reader& r, wire::BinaryWriter& w, BatchSummary& summary, std::span<const uint8_t> agentTags,
         uint32_t agentTagCount) noexcept
      : r_(r), w_(w), summary_(summary), agentTags_(agentTags), agentTagCount_(agentTagCount) {}

  // Walks the args struct (envelope already consumed). On failure the reason is r.error().
  bool args(Format format) noexcept {
    bool seen = false;
    return structFields(
               [&](const wire::FieldHeader& f) {
                 if (f.id != 1) return r_.skipField(f, 2);
                 if (seen) {  // a repeated field: the last one wins, as in generated readers
                   w_.rewind();
                   summary_ = BatchSummary{};
                   zipkinServiceSeen_ = false;
                 }
                 seen = true;
                 summary_.format = format;
                 return format == Format::kJaeger ? batchField(f) : zipkinSpansField(f);
               },
               /*writeStop=*/false) &&
           (seen || r_.fail(RejectReason::kMissingField));
  }

 private:
  using FieldHeader = wire::FieldHeader;

  // ---- generic pieces ----

  // Reads fields up to the stop, calling onField for each (it copies or skips the value).
  template <class OnField>
  bool structFields(OnField&& onField, bool writeStop = true) noexcept {
    int16_t lastId = 0;
    FieldHeader f;
    for (;;) {
      if (!r_.readFieldHeader(f, lastId)) [[unlikely]] return false;
      if (f.type == wire::kStop) break;
      if (!onField(f)) [[unlikely]] return false;
    }
    if (writeStop) w_.stop();
    return true;
  }

  bool wrongType() noexcept { return r_.fail(RejectReason::kWrongFieldType); }

  template <uint8_t kType>
  bool scalar(const FieldHeader& f) noexcept {
    if (f.type != kType) [[unlikely]] return wrongType();
    w_.fieldHeader(kType, f.id);
    if constexpr (kType == wire::kI64) {
      return r_.copyI64(w_);
    } else if constexpr (kType == wire::kI32) {
      return r_.copyI32(w_);
    } else if constexpr (kType == wire::kI16) {
      return r_.copyI16(w_);
    } else if constexpr (kType == wire::kString) {
      return r_.copyString(w_);
    } else if constexpr (kType == wire::kDouble) {
      return r_.copyDouble(w_);
    } else {
      static_assert(kType == wire::kBool);
      return r_.copyBoolField(f, w_);
    }
  }

  bool i64Into(const FieldHeader& f, int64_t& v) noexcept {
    if (f.type != wire::kI64) [[unlikely]] return wrongType();
    w_.fieldHeader(wire::kI64, f.id);
    return r_.copyI64(w_, &v);
  }
  bool i32Into(const FieldHeader& f, int32_t& v) noexcept {
    if (f.type != wire::kI32) [[unlikely]] return wrongType();
    w_.fieldHeader(wire::kI32, f.id);
    return r_.copyI32(w_, &v);
  }
  bool stringInto(const FieldHeader& f, std::string_view& v) noexcept {
    if (f.type != wire::kString) [[unlikely]] return wrongType();
    w_.fieldHeader(wire::kString, f.id);
    return r_.copyString(w_, &v);
  }

  // A known list<struct> field: header checks, then each element with Elem.
  bool structListHeader(const FieldHeader& f, uint32_t& n) noexcept {
    if (f.type != wire::kList) [[unlikely]] return wrongType();
    uint8_t elemType;
    if (!r_.readListHeader(elemType, n)) [[unlikely]] return false;
    // An empty list may name any element type; write the schema's so strict readers accept it.
    if (n != 0 && elemType != wire::kStruct) [[unlikely]] return wrongType();
    return true;
  }
  template <bool (Walker::*kElem)(int)>
  bool structList(const FieldHeader& f, int depth, uint32_t* count = nullptr) noexcept {
    uint32_t n;
    if (!structListHeader(f, n)) return false;
    w_.fieldHeader(wire::kList, f.id);
    w_.listHeader(wire::kStruct, n);
    if (count) *count = n;
    for (uint32_t i = 0; i < n; ++i)
      if (!(this->*kElem)(depth + 2)) [[unlikely]] return false;
    return true;
  }
  template <bool (Walker::*kStructFn)(int)>
  bool structField(const FieldHeader& f, int depth) noexcept {
    if (f.type != wire::kStruct) [[unlikely]] return wrongType();
    w_.fieldHeader(wire::kStruct, f.id);
    return (this->*kStructFn)(depth + 1);
  }

  template <size_t kN>
  static void copyTruncated(std::array<char, kN>& dst, uint8_t& len, std::string_view s) noexcept {
    const size_t n = std::min(s.size(), kN);
    std::copy_n(s.data(), n, dst.data());
    len = static_cast<uint8_t>(n);
  }

  // ---- jaeger.thrift ----

  bool batchField(const FieldHeader& f) noexcept {
    if (f.type != wire::kStruct) [[unlikely]] return wrongType();
    return batch(2);
  }

  bool batch(int depth) noexcept {
    using S = schema::Batch;
    bool sawProcess = false, sawSpans = false;
    return structFields([&](const FieldHeader& f) {
             switch (f.id) {
               case S::kProcess:
                 sawProcess = true;
                 return structField<&Walker::process>(f, depth);
               case S::kSpans:
                 sawSpans = true;
                 return structList<&Walker::span>(f, depth, &summary_.spans);
               case S::kSeqNo:
                 summary_.hasSeqNo = true;
                 return i64Into(f, summary_.seqNo);
               case S::kStats:
                 summary_.hasStats = true;
                 return structField<&Walker::clientStats>(f, depth);
               default:
                 return r_.skipField(f, depth + 1);
             }
           }) &&
           ((sawProcess && sawSpans) || r_.fail(RejectReason::kMissingField));
  }

  bool process(int depth) noexcept {
    using S = schema::Process;
    bool sawService = false, sawTags = false;
    summary_.serviceLen = 0;
    summary_.uuidLen = 0;
    const bool ok = structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kServiceName: {
          std::string_view name;
          if (!stringInto(f, name)) return false;
          copyTruncated(summary_.service, summary_.serviceLen, name);
          sawService = true;
          return true;
        }
        case S::kTags: {
          uint32_t n;
          if (!structListHeader(f, n) || !makeRoomForAgentTags(0)) return false;
          w_.fieldHeader(wire::kList, f.id);
          w_.listHeader(wire::kStruct, n + agentTagCount_);
          for (uint32_t i = 0; i < n; ++i)
            if (!processTag(depth + 2)) return false;
          if (agentTagCount_ != 0) w_.bytes(agentTags_.data(), agentTags_.size());
          sawTags = true;
          return true;
        }
        default:
          return r_.skipField(f, depth + 1);
      }
    }, /*writeStop=*/false);
    if (!ok) return false;
    if (!sawService) return r_.fail(RejectReason::kMissingField);
    if (!sawTags && agentTagCount_ != 0) {
      if (!makeRoomForAgentTags(8)) return false;
      w_.fieldHeader(wire::kList, S::kTags);
      w_.listHeader(wire::kStruct, agentTagCount_);
      w_.bytes(agentTags_.data(), agentTags_.size());
    }
    w_.stop();
    return true;
  }

  // The output budget covers the transcoded input; injected tags are extra (per Process, and a
  // hostile batch may repeat Process), so they get their own room.
  bool makeRoomForAgentTags(size_t headerBytes) noexcept {
    if (agentTags_.empty() && headerBytes == 0) return true;
    // Allocation failure is the only way here; count it with the length rejects.
    return w_.extend(agentTags_.size() + headerBytes) || r_.fail(RejectReason::kLengthTooLarge);
  }

  bool clientStats(int depth) noexcept {
    using S = schema::ClientStats;
    ClientStats& st = summary_.stats;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kFullQueueDroppedSpans:
          return i64Into(f, st.fullQueueDroppedSpans);
        case S::kTooLargeDroppedSpans:
          return i64Into(f, st.tooLargeDroppedSpans);
        case S::kFailedToEmitSpans:
          return i64Into(f, st.failedToEmitSpans);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool span(int depth) noexcept {
    using S = schema::Span;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTraceIdLow:
        case S::kTraceIdHigh:
        case S::kSpanId:
        case S::kParentSpanId:
        case S::kStartTime:
        case S::kDuration:
          return scalar<wire::kI64>(f);
        case S::kOperationName:
          return scalar<wire::kString>(f);
        case S::kFlags:
          return scalar<wire::kI32>(f);
        case S::kReferences:
          return structList<&Walker::spanRef>(f, depth);
        case S::kTags:
          return structList<&Walker::tag>(f, depth);
        case S::kLogs:
          return structList<&Walker::log>(f, depth);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool spanRef(int depth) noexcept {
    using S = schema::SpanRef;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kRefType:
          return scalar<wire::kI32>(f);
        case S::kTraceIdLow:
        case S::kTraceIdHigh:
        case S::kSpanId:
          return scalar<wire::kI64>(f);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool log(int depth) noexcept {
    using S = schema::Log;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTimestamp:
          return scalar<wire::kI64>(f);
        case S::kFields:
          return structList<&Walker::tag>(f, depth);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool tag(int depth) noexcept { return tagImpl<false>(depth); }
  bool processTag(int depth) noexcept { return tagImpl<true>(depth); }

  // kProcessTag: also look for the `client-uuid` string tag for the summary.
  template <bool kProcessTag>
  bool tagImpl(int depth) noexcept {
    using S = schema::Tag;
    std::string_view key, vStr;
    int32_t vType = -1;
    bool hasStr = false;
    const bool ok = structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kKey:
          if constexpr (kProcessTag) return stringInto(f, key);
          return scalar<wire::kString>(f);
        case S::kVType:
          if constexpr (kProcessTag) return i32Into(f, vType);
          return scalar<wire::kI32>(f);
        case S::kVStr:
          if constexpr (kProcessTag) {
            hasStr = true;
            return stringInto(f, vStr);
          }
          return scalar<wire::kString>(f);
        case S::kVDouble:
          return scalar<wire::kDouble>(f);
        case S::kVBool:
          return scalar<wire::kBool>(f);
        case S::kVLong:
          return scalar<wire::kI64>(f);
        case S::kVBinary:
          return scalar<wire::kString>(f);
        default:
          return r_.skipField(f, depth + 1);
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
  bool zipkinSpansField(const FieldHeader& f) noexcept {
    uint32_t n;
    if (!structListHeader(f, n)) return false;
    summary_.spans = n;
    for (uint32_t i = 0; i < n; ++i)
      if (!zipkinSpan(3)) [[unlikely]] return false;
    return true;
  }

  bool zipkinSpan(int depth) noexcept {
    using S = schema::ZipkinSpan;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTraceId:
        case S::kId:
        case S::kParentId:
        case S::kTimestamp:
        case S::kDuration:
        case S::kTraceIdHigh:
          return scalar<wire::kI64>(f);
        case S::kName:
          return scalar<wire::kString>(f);
        case S::kAnnotations:
          return structList<&Walker::annotation>(f, depth);
        case S::kBinaryAnnotations:
          return structList<&Walker::binaryAnnotation>(f, depth);
        case S::kDebug:
          return scalar<wire::kBool>(f);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool annotation(int depth) noexcept {
    using S = schema::Annotation;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kTimestamp:
          return scalar<wire::kI64>(f);
        case S::kValue:
          return scalar<wire::kString>(f);
        case S::kHost:
          return structField<&Walker::endpoint>(f, depth);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool binaryAnnotation(int depth) noexcept {
    using S = schema::BinaryAnnotation;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kKey:
        case S::kValue:
          return scalar<wire::kString>(f);
        case S::kAnnotationType:
          return scalar<wire::kI32>(f);
        case S::kHost:
          return structField<&Walker::endpoint>(f, depth);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  bool endpoint(int depth) noexcept {
    using S = schema::Endpoint;
    return structFields([&](const FieldHeader& f) {
      switch (f.id) {
        case S::kIpv4:
          return scalar<wire::kI32>(f);
        case S::kPort:
          return scalar<wire::kI16>(f);
        case S::kServiceName: {
          std::string_view name;
          if (!stringInto(f, name)) return false;
          // The summary wants a service for metrics: the first non-empty one names the batch.
          if (!zipkinServiceSeen_ && !name.empty()) {
            copyTruncated(summary_.service, summary_.serviceLen, name);
            zipkinServiceSeen_ = true;
          }
          return true;
        }
        case S::kIpv6:
          return scalar<wire::kString>(f);
        default:
          return r_.skipField(f, depth + 1);
      }
    });
  }

  Reader& r_;
  wire::BinaryWriter& w_;
  BatchSummary& summary_;
  std::span<const uint8_t> agentTags_;
  uint32_t agentTagCount_;
  bool zipkinServiceSeen_ = false;
};

}  // namespace jagent::decode
