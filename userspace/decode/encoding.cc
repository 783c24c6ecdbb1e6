#include "decode/encoding.h"

#include "decode/proto_writer.h"
#include "decode/to_api_v2.h"
#include "decode/to_otlp.h"

namespace jagent::decode {
namespace {

// The TChannel path's Transcoder behind the common interface (unchanged, only wrapped).
class ThriftBinaryEncoder final : public BatchEncoder {
 public:
  explicit ThriftBinaryEncoder(std::vector<AgentTag> agentTags) : t_(std::move(agentTags)) {}
  Encoding encoding() const noexcept override { return Encoding::kThriftBinary; }
  RejectReason transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept override {
    return t_.transcode(expected, datagram);
  }
  std::span<const uint8_t> output() const noexcept override { return t_.output(); }
  const BatchSummary& summary() const noexcept override { return t_.summary(); }

 private:
  Transcoder t_;
};

}  // namespace

const char* encodingName(Encoding e) noexcept {
  switch (e) {
    case Encoding::kThriftBinary:
      return "thrift_binary";
    case Encoding::kApiV2:
      return "api_v2";
    case Encoding::kOtlp:
      return "otlp";
  }
  return "unknown";
}

std::unique_ptr<BatchEncoder> makeBatchEncoder(Encoding e, std::vector<AgentTag> agentTags) {
  switch (e) {
    case Encoding::kApiV2:
      return std::make_unique<ApiV2Transcoder>(std::move(agentTags));
    case Encoding::kOtlp:
      return std::make_unique<OtlpTranscoder>(std::move(agentTags));
    case Encoding::kThriftBinary:
      break;
  }
  return std::make_unique<ThriftBinaryEncoder>(std::move(agentTags));
}

size_t field1RecordSize(size_t len) noexcept { return 1 + proto::varintSize(len) + len; }

void appendField1Record(std::vector<uint8_t>& out, std::span<const uint8_t> message) {
  uint8_t hdr[proto::kMaxFrameHeader + 4];
  hdr[0] = 0x0a;
  const size_t n = 1 + proto::putVarint(hdr + 1, message.size());
  out.insert(out.end(), hdr, hdr + n);
  out.insert(out.end(), message.begin(), message.end());
}

}  // namespace jagent::decode
