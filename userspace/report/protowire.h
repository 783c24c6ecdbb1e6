// Minimal protobuf wire helpers for the transports: a varint writer and a bounds-checked field
// reader, enough for the few small messages the transports read themselves (google.rpc.Status
// and RetryInfo, ExportTraceServiceResponse.partial_success; modern-collectors.md §3.10, §4.1).
// Header-only; no allocation. Threading: none (pure functions / a reader over caller's bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace jagent::report::protowire {

enum Wire : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Writes `v` as a varint at `out` (room for 10 bytes); returns the bytes written.
inline size_t putVarint(uint8_t* out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<uint8_t>(v);
  return n;
}

struct Field {
  uint32_t number = 0;
  Wire wire = kVarint;
  uint64_t varint = 0;          // kVarint, kFixed64, kFixed32
  std::string_view bytes;       // kLen
};

// Iterates the top-level fields of one message. Stops (next() = false) at the end or at the
// first malformed byte; `bad()` says which.
class Reader {
 public:
  explicit Reader(std::string_view b) : p_(b.data()), end_(b.data() + b.size()) {}
  explicit Reader(const std::vector<uint8_t>& b)
      : p_(reinterpret_cast<const char*>(b.data())), end_(p_ + b.size()) {}

  bool next(Field& f) {
    if (p_ >= end_) return false;
    uint64_t key;
    if (!varint(key)) return fail();
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<Wire>(key & 7);
    switch (f.wire) {
      case kVarint: return varint(f.varint) || fail();
      case kFixed64:
        if (end_ - p_ < 8) return fail();
        f.varint = 0;
        for (int i = 7; i >= 0; --i) f.varint = (f.varint << 8) | static_cast<uint8_t>(p_[i]);
        p_ += 8;
        return true;
      case kFixed32:
        if (end_ - p_ < 4) return fail();
        f.varint = 0;
        for (int i = 3; i >= 0; --i) f.varint = (f.varint << 8) | static_cast<uint8_t>(p_[i]);
        p_ += 4;
        return true;
      case kLen: {
        uint64_t len;
        if (!varint(len) || len > static_cast<uint64_t>(end_ - p_)) return fail();
        f.bytes = std::string_view(p_, len);
        p_ += len;
        return true;
      }
    }
    return fail();
  }
  [[nodiscard]] bool bad() const { return bad_; }

 private:
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const auto b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool fail() {
    bad_ = true;
    p_ = end_;
    return false;
  }
  const char* p_;
  const char* end_;
  bool bad_ = false;
};

// ExportTraceServiceResponse{partial_success = 1: {rejected_spans = 1 int64, error_message = 2}}
// (§3.10, §4.1). Returns rejected_spans (0 when absent), the message into `*message`.
inline uint32_t otlpPartialSuccess(std::string_view response, std::string* message) {
  Reader r(response);
  Field f;
  uint64_t rejected = 0;
  while (r.next(f)) {
    if (f.number != 1 || f.wire != kLen) continue;
    Reader ps(f.bytes);
    Field x;
    while (ps.next(x)) {
      if (x.number == 1 && x.wire == kVarint) rejected = x.varint;
      if (x.number == 2 && x.wire == kLen && message) message->assign(x.bytes);
    }
  }
  return static_cast<uint32_t>(std::min<uint64_t>(rejected, UINT32_MAX));
}
inline uint32_t otlpPartialSuccess(const std::vector<uint8_t>& response, std::string* message) {
  return otlpPartialSuccess(std::string_view(reinterpret_cast<const char*>(response.data()), response.size()), message);
}

}  // namespace jagent::report::protowire
