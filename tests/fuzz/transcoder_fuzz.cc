// libFuzzer target for the transcoder (issue #3): any bytes, never a crash, never an
// out-of-bounds read (ASan/UBSan), and a property on success: the binary the agent forwards,
// wrapped back into a strict-binary datagram, transcodes to exactly itself (so what reaches the
// collector is always well-formed, canonical Thrift binary).
//
// The protocol is chosen by the datagram's first byte the way a port would see it (0x82 compact,
// anything else binary), so seeds are plain captured datagrams.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "decode/transcoder.h"

using jagent::decode::Format;
using jagent::decode::Protocol;
using jagent::decode::RejectReason;
using jagent::decode::Transcoder;

namespace {

void put32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}

std::vector<uint8_t> wrapBinary(Format f, std::span<const uint8_t> body, uint32_t spans) {
  std::vector<uint8_t> d = {0x80, 0x01, 0x00, 0x04};
  const char* name = f == Format::kJaeger ? "emitBatch" : "emitZipkinBatch";
  put32(d, static_cast<uint32_t>(std::strlen(name)));
  d.insert(d.end(), name, name + std::strlen(name));
  put32(d, 0);  // seqid
  if (f == Format::kJaeger) {
    d.insert(d.end(), {0x0C, 0x00, 0x01});  // field 1: struct Batch
    d.insert(d.end(), body.begin(), body.end());
  } else {
    d.insert(d.end(), {0x0F, 0x00, 0x01, 0x0C});  // field 1: list<struct Span>
    put32(d, spans);
    d.insert(d.end(), body.begin(), body.end());
  }
  d.push_back(0x00);  // stop of the args struct
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Transcoder withTags({{"node.name", "fuzz-node"}, {"pod", ""}});
  static Transcoder plain;
  const std::span<const uint8_t> in(data, size);
  const Protocol p = size > 0 && data[0] == 0x82 ? Protocol::kCompact : Protocol::kBinary;
  if (withTags.transcode(p, in) != RejectReason::kOk) return 0;

  const std::vector<uint8_t> first(withTags.output().begin(), withTags.output().end());
  const auto wrapped = wrapBinary(withTags.summary().format, first, withTags.summary().spans);
  const RejectReason r = plain.transcode(Protocol::kBinary, wrapped);
  if (r != RejectReason::kOk || !std::equal(first.begin(), first.end(), plain.output().begin(), plain.output().end()) ||
      plain.summary().spans != withTags.summary().spans) {
    __builtin_trap();  // the forwarded bytes are not a canonical, self-consistent encoding
  }
  return 0;
}
