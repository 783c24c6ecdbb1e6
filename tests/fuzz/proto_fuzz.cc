// libFuzzer target for the protobuf transcoders (to_api_v2, to_otlp, with their Zipkin path
// zipkin_domain; issue #15): any bytes, never
// a crash, never an out-of-bounds read (ASan/UBSan). Properties:
//  * both encoders share the Thrift reader, so they agree on accept/reject and on the reason;
//  * whatever is accepted is well-formed protobuf: every tag has a known wire type, every length
//    fits, down through the message fields the schema nests (request → Batch → Span/Process for
//    api_v2; record → ResourceSpans → Resource/ScopeSpans → Span for OTLP).
// The protocol is chosen by the first byte (0x82 compact, anything else binary).
#include <cstddef>
#include <cstdint>
#include <span>

#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"

using jagent::decode::ApiV2Transcoder;
using jagent::decode::OtlpTranscoder;
using jagent::decode::Protocol;
using jagent::decode::RejectReason;

namespace {

bool varint(const uint8_t*& p, const uint8_t* end, uint64_t& v) {
  v = 0;
  for (int i = 0; i < 10; ++i) {
    if (p == end) return false;
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if (b < 0x80) return true;
  }
  return false;
}

// Wire-format check; descends into fields 1 and 2 (the nested messages of every level above)
// while `levels` > 0.
bool wellFormed(std::span<const uint8_t> b, int levels) {
  const uint8_t* p = b.data();
  const uint8_t* end = p + b.size();
  while (p != end) {
    uint64_t tag, v;
    if (!varint(p, end, tag) || (tag >> 3) == 0) return false;
    switch (tag & 7) {
      case 0:
        if (!varint(p, end, v)) return false;
        break;
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      case 2:
        if (!varint(p, end, v) || v > static_cast<uint64_t>(end - p)) return false;
        if (levels > 0 && (tag >> 3) <= 2 && !wellFormed({p, static_cast<size_t>(v)}, levels - 1)) return false;
        p += v;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ApiV2Transcoder apiV2({{"node.name", "fuzz-node"}, {"pod", ""}});
  static OtlpTranscoder otlp({{"hostname", "fuzz-node"}, {"pod", ""}});
  const std::span<const uint8_t> in(data, size);
  const Protocol p = size > 0 && data[0] == 0x82 ? Protocol::kCompact : Protocol::kBinary;
  const RejectReason a = apiV2.transcode(p, in);
  const RejectReason o = otlp.transcode(p, in);
  // Zipkin output is capped per encoding (kMaxZipkinOutputBytes): only that reason may differ.
  if (a != o && a != RejectReason::kLengthTooLarge && o != RejectReason::kLengthTooLarge) __builtin_trap();
  if (a != RejectReason::kOk || o != RejectReason::kOk) return 0;
  // api_v2: PostSpansRequest → Batch → Span / Process (a Span's fields 1, 2 are ids, not messages).
  if (!wellFormed(apiV2.postSpansRequest(), 2)) __builtin_trap();
  // OTLP: record(s) → ResourceSpans → Resource / ScopeSpans → KeyValue / Span (a Zipkin datagram
  // gives one record per process, emitZipkinBatch seeds come from make_seeds).
  if (!wellFormed(otlp.resourceSpansRecord(), 3)) __builtin_trap();
  return 0;
}
