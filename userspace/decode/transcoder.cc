#include "decode/transcoder.h"

#include <limits>
#include <string_view>

#include "decode/thrift_envelope.h"
#include "decode/thrift_wire.h"
#include "decode/walker.h"

namespace jagent::decode {
namespace {

using wire::BinaryReader;
using wire::BinaryWriter;
using wire::CompactReader;

// Output budget per input byte. Compact → binary grows a value by at most 8x (a 1-byte varint
// becomes an 8-byte i64; with the known schema the worst is 5.5x: a field header plus a 1-byte
// i64 turn 2 bytes into 11). Binary → binary never grows: unknown fields and the envelope are
// dropped, everything else keeps its size. Injected agent tags get room separately: the walker
// writes a new copy of a repeated Process or Process.tags before it erases the earlier one, so
// up to kAgentTagCopies copies (earlier Process, earlier tags list, current tags list) coexist.
constexpr size_t kCompactExpansion = 8;
constexpr size_t kBudgetSlack = 64;
constexpr size_t kAgentTagCopies = 3;
constexpr size_t kTagsListHeader = 3 + 5;  // field header + list header

using envelope::readEnvelope;

template <class Reader>
RejectReason run(std::span<const uint8_t> datagram, BinaryWriter& w, BatchSummary& summary,
                 std::span<const uint8_t> agentTags, uint32_t agentTagCount) noexcept {
  Reader r(datagram.data(), datagram.data() + datagram.size());
  Format format;
  if (!readEnvelope(r, format)) return r.error();
  summary.format = format;
  Walker<Reader> walker(summary, agentTags, agentTagCount);
  if (!walker.args(r, w, format)) return r.error();
  if (r.remaining() != 0) return RejectReason::kTrailingBytes;
  return RejectReason::kOk;
}

void appendBig32(std::vector<uint8_t>& v, uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) v.push_back(static_cast<uint8_t>(x >> shift));
}
void appendFieldHeader(std::vector<uint8_t>& v, uint8_t type, int16_t id) {
  v.push_back(type);
  v.push_back(static_cast<uint8_t>(static_cast<uint16_t>(id) >> 8));
  v.push_back(static_cast<uint8_t>(id));
}
void appendString(std::vector<uint8_t>& v, int16_t id, std::string_view s) {
  appendFieldHeader(v, wire::kString, id);
  appendBig32(v, static_cast<uint32_t>(s.size()));
  v.insert(v.end(), s.begin(), s.end());
}

}  // namespace

}  // namespace jagent::decode

namespace jagent {
const char* reasonName(RejectReason r) noexcept {
  switch (r) {
    case RejectReason::kOk:
      return "ok";
    case RejectReason::kTruncated:
      return "truncated";
    case RejectReason::kWrongProtocol:
      return "wrong_protocol";
    case RejectReason::kBadEnvelope:
      return "bad_envelope";
    case RejectReason::kBadMessageType:
      return "bad_message_type";
    case RejectReason::kUnknownMethod:
      return "unknown_method";
    case RejectReason::kLengthTooLarge:
      return "length_too_large";
    case RejectReason::kNegativeLength:
      return "negative_length";
    case RejectReason::kDepthExceeded:
      return "depth_exceeded";
    case RejectReason::kBadVarint:
      return "bad_varint";
    case RejectReason::kBadType:
      return "bad_type";
    case RejectReason::kWrongFieldType:
      return "wrong_field_type";
    case RejectReason::kMissingField:
      return "missing_field";
    case RejectReason::kTrailingBytes:
      return "trailing_bytes";
    case RejectReason::kCount:
      break;
  }
  return "unknown";
}
}  // namespace jagent

namespace jagent::decode {

Transcoder::Transcoder(std::vector<AgentTag> agentTags) : agentTags_(std::move(agentTags)) {
  using S = schema::Tag;
  for (const AgentTag& t : agentTags_) {
    appendString(agentTagsBinary_, S::kKey, t.key);
    appendFieldHeader(agentTagsBinary_, wire::kI32, S::kVType);
    appendBig32(agentTagsBinary_, static_cast<uint32_t>(S::kTypeString));
    appendString(agentTagsBinary_, S::kVStr, t.value);
    agentTagsBinary_.push_back(wire::kStop);
  }
}

size_t Transcoder::bufferBytes() const noexcept { return out_.size(); }

RejectReason Transcoder::transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  summary_ = BatchSummary{};
  outLen_ = 0;
  if (datagram.empty()) return RejectReason::kTruncated;

  // The first byte names the protocol; the port says which one it must be.
  if (const RejectReason r = envelope::detectProtocol(expected, datagram); r != RejectReason::kOk) return r;
  const Protocol actual = expected;

  // One reservation per datagram, sized from the bytes that arrived (never from a claimed
  // length); after it the walk appends without checks.
  const size_t budget = (actual == Protocol::kCompact ? datagram.size() * kCompactExpansion : datagram.size()) +
                        kBudgetSlack +
                        (agentTags_.empty() ? 0 : kAgentTagCopies * (agentTagsBinary_.size() + kTagsListHeader));
  if (budget > kRetainedOutputBytes) {
    smallRun_ = 0;
  } else if (out_.size() > kRetainedOutputBytes && ++smallRun_ >= kShrinkAfter) {
    std::vector<uint8_t>().swap(out_);  // give the outsized buffer back; start() reallocates small
    smallRun_ = 0;
  }
  BinaryWriter w(out_);
  if (!w.start(budget)) return RejectReason::kLengthTooLarge;

  const auto tagCount = static_cast<uint32_t>(agentTags_.size());
  const RejectReason r =
      actual == Protocol::kCompact
          ? run<CompactReader>(datagram, w, summary_, agentTagsBinary_, tagCount)
          : run<BinaryReader>(datagram, w, summary_, agentTagsBinary_, tagCount);
  if (r == RejectReason::kOk) outLen_ = w.size();
  return r;
}

}  // namespace jagent::decode
