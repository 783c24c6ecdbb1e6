// The Thrift message envelope of the agent's UDP datagrams (Agent.emitBatch /
// Agent.emitZipkinBatch, compact or binary, strict or not), shared by every decoder: the TBinary
// transcoder (transcoder.cc) and the protobuf ones (thrift_view.h). Facts: wire-protocols.md
// (envelopes); jaeger-client-go writes CALL for oneway methods, Node/Python ONEWAY, and Go and
// Apache Thrift accept both binary forms, so do we. Header-only, no state.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "decode/thrift_wire.h"
#include "decode/transcoder.h"

namespace jagent::decode::envelope {

inline bool checkMessageType(wire::ReaderBase& r, uint32_t type) noexcept {
  // jaeger-client-go writes CALL for oneway methods, Node/Python ONEWAY.
  if (type != 1 && type != 4) return r.fail(RejectReason::kBadMessageType);
  return true;
}
inline bool checkMethod(wire::ReaderBase& r, const uint8_t* name, uint32_t n, Format& format) noexcept {
  const std::string_view s(reinterpret_cast<const char*>(name), n);
  if (s == "emitBatch") {
    format = Format::kJaeger;
  } else if (s == "emitZipkinBatch") {
    format = Format::kZipkin;
  } else {
    return r.fail(RejectReason::kUnknownMethod);
  }
  return true;
}
inline bool readEnvelope(wire::CompactReader& r, Format& format) noexcept {
  const uint8_t* h;
  if (!r.readRaw(h, 2)) return false;
  if (h[0] != 0x82 || (h[1] & 0x1F) != 1) return r.fail(RejectReason::kBadEnvelope);
  if (!checkMessageType(r, h[1] >> 5)) return false;
  uint32_t seqId;
  const uint8_t* name;
  uint32_t n;
  return r.readVarint32(seqId) && r.readBinary(name, n) && checkMethod(r, name, n, format);
}
inline bool readEnvelope(wire::BinaryReader& r, Format& format) noexcept {
  const uint8_t* h;
  if (!r.readRaw(h, 4)) return false;
  const uint32_t word = wire::loadBig<uint32_t>(h);
  const uint8_t* name;
  uint32_t n;
  if ((word & 0x80000000u) != 0) {
    if ((word & 0xFFFF0000u) != 0x80010000u) return r.fail(RejectReason::kBadEnvelope);
    return checkMessageType(r, word & 0xFF) && r.readBinary(name, n) && checkMethod(r, name, n, format) &&
           r.skipRaw(4);
  }
  if (word > r.remaining()) return r.fail(RejectReason::kLengthTooLarge);
  const uint8_t* type;
  return r.readRaw(name, word) && r.readRaw(type, 1) && checkMessageType(r, *type) &&
         checkMethod(r, name, word, format) && r.skipRaw(4);
}

// The first byte names the protocol; the port says which one it must be.
inline RejectReason detectProtocol(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  if (datagram.empty()) return RejectReason::kTruncated;
  Protocol actual;
  if (datagram[0] == 0x82) {
    actual = Protocol::kCompact;
  } else if (datagram[0] == 0x80 || datagram[0] == 0x00) {
    actual = Protocol::kBinary;
  } else {
    return RejectReason::kBadEnvelope;
  }
  return actual == expected ? RejectReason::kOk : RejectReason::kWrongProtocol;
}

}  // namespace jagent::decode::envelope
