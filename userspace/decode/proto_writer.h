// ProtoWriter: appends protobuf wire bytes into a reused std::vector<uint8_t>, with nested
// messages written in one pass (modern-collectors.md §1.2, §3.10 give the field tags).
//
// Nested lengths: a protobuf length prefix precedes the message but is only known after it. We
// reserve a slot of the varint width we expect for the message kind (1 byte for KeyValue,
// Timestamp, SpanRef; 2 for a Span; 3 for a Batch or ResourceSpans), write the body, then
// back-patch the minimal varint. When the guess was wrong the body is moved by memmove (down
// when shorter, up when longer), so the output is always canonical — minimal varints, as every
// real protobuf encoder writes them (byte-exact with gogo for the §1.6 vectors) — and a good
// guess costs nothing. Why not compute sizes first: that needs either a second pass over the
// Thrift input or a size tree per message; the guesses are right for nearly all real spans, so
// back-patching is cheaper than both.
//
// Growth: every write checks the room it needs and grows the vector geometrically, so after
// warm-up (largest output seen) nothing allocates. Allocation failure is recorded (failed())
// and turns later writes into no-ops; the caller rejects the datagram.
//
// Ownership/threading: borrows the vector; one thread, one transcode() at a time. Positions are
// offsets (not pointers) wherever they outlive a write, because growth may move the buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace jagent::decode::proto {

// Wire types.
inline constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5;
[[nodiscard]] constexpr uint32_t tag(uint32_t field, uint32_t wireType) noexcept { return (field << 3) | wireType; }

[[nodiscard]] constexpr size_t varintSize(uint64_t v) noexcept {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes v at p (room must exist); returns bytes written.
inline size_t putVarint(uint8_t* p, uint64_t v) noexcept {
  size_t i = 0;
  while (v >= 0x80) {
    p[i++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  p[i++] = static_cast<uint8_t>(v);
  return i;
}

class ProtoWriter {
 public:
  // A nested message in progress: where its length slot is and how wide it was reserved.
  struct Mark {
    size_t slot;
    uint8_t reserved;
  };

  explicit ProtoWriter(std::vector<uint8_t>& buf) noexcept : buf_(&buf) {}

  // Starts writing at offset `at` (earlier bytes are kept; later ones are overwritten).
  void reset(size_t at = 0) noexcept {
    failed_ = false;
    pos_ = at;
    if (buf_->size() < at && !grow(at)) return;
  }
  [[nodiscard]] size_t size() const noexcept { return pos_; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] uint8_t* data() noexcept { return buf_->data(); }
  // Drops everything from offset `at` on (e.g. a span that turned out to be invalid).
  void truncate(size_t at) noexcept { pos_ = at; }

  [[gnu::always_inline]] inline bool room(size_t n) noexcept {
    if (buf_->size() - pos_ >= n) [[likely]] return true;
    return grow(pos_ + n);
  }

  [[gnu::always_inline]] inline void varint(uint64_t v) noexcept {
    if (!room(10)) return;
    pos_ += putVarint(buf_->data() + pos_, v);
  }
  [[gnu::always_inline]] inline void byte(uint8_t b) noexcept {
    if (!room(1)) return;
    (*buf_)[pos_++] = b;
  }
  [[gnu::always_inline]] inline void raw(const void* p, size_t n) noexcept {
    if (!room(n)) return;
    if (n != 0) std::memcpy(buf_->data() + pos_, p, n);
    pos_ += n;
  }
  void fixed64(uint64_t v) noexcept {  // little-endian on the wire
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    raw(b, 8);
  }
  void fixed32(uint32_t v) noexcept {
    uint8_t b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    raw(b, 4);
  }
  // Big-endian 8 bytes (jaeger/OTLP ids are BE byte strings; modern-collectors.md §1.3).
  void big64(uint64_t v) noexcept {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    raw(b, 8);
  }

  // tag + length + bytes.
  void bytesField(uint32_t t, const void* p, size_t n) noexcept {
    varint(t);
    varint(n);
    raw(p, n);
  }
  void bytesField(uint32_t t, std::string_view s) noexcept { bytesField(t, s.data(), s.size()); }
  void varintField(uint32_t t, uint64_t v) noexcept {
    varint(t);
    varint(v);
  }

  // Opens a nested message field: writes the tag, reserves `reserve` bytes for its length.
  [[nodiscard]] Mark begin(uint32_t t, uint8_t reserve) noexcept {
    varint(t);
    const Mark m{pos_, reserve};
    if (room(reserve)) pos_ += reserve;
    return m;
  }
  // Closes it: back-patches the minimal varint, moving the body if the reservation was off.
  void end(Mark m) noexcept {
    if (failed_) return;
    const size_t body = m.slot + m.reserved;
    const size_t len = pos_ - body;
    const size_t need = varintSize(len);
    if (need != m.reserved) {
      if (need > m.reserved && !room(need - m.reserved)) return;
      uint8_t* base = buf_->data();
      std::memmove(base + m.slot + need, base + body, len);
      pos_ = m.slot + need + len;
    }
    putVarint(buf_->data() + m.slot, len);
  }

 private:
  [[gnu::noinline]] bool grow(size_t want) noexcept {
    if (failed_) return false;
    try {
      buf_->resize(std::max(want, buf_->size() * 2 + 256));
      return true;
    } catch (...) {
      failed_ = true;
      return false;
    }
  }

  std::vector<uint8_t>* buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Writes `tag(field,kLen) varint(len)` right before `body` at offset `bodyAt` of `buf`, where at
// least kMaxFrameHeader bytes were left free in front of it; returns the offset of the first byte
// of the framed record. Lets a transcoder hand out "field 1, length-delimited" records without
// copying the body (see encoding.h).
inline constexpr size_t kMaxFrameHeader = 6;  // 1 tag byte + up to 5 length bytes (< 4 GiB)
inline size_t frameInPlace(uint8_t* buf, size_t bodyAt, size_t bodyLen, uint8_t tagByte) noexcept {
  uint8_t hdr[kMaxFrameHeader];
  hdr[0] = tagByte;
  const size_t n = 1 + putVarint(hdr + 1, bodyLen);
  std::memcpy(buf + bodyAt - n, hdr, n);
  return bodyAt - n;
}

}  // namespace jagent::decode::proto
