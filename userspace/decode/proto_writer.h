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
#include <bit>
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

inline void copyBytes(uint8_t* dst, const uint8_t* src, size_t n) noexcept;

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
    attach();
    p_ = base_;
    if (static_cast<size_t>(end_ - base_) < at && !grow(at)) return;
    p_ = base_ + at;
  }
  [[nodiscard]] size_t size() const noexcept { return static_cast<size_t>(p_ - base_); }
  [[nodiscard]] bool failed() const noexcept { return failed_; }
  [[nodiscard]] uint8_t* data() noexcept { return base_; }

  [[gnu::always_inline]] inline bool room(size_t n) noexcept {
    if (static_cast<size_t>(end_ - p_) >= n) [[likely]] return true;
    return grow(size() + n);
  }

  [[gnu::always_inline]] inline void varint(uint64_t v) noexcept {
    if (!room(10)) return;
    p_ += putVarint(p_, v);
  }
  [[gnu::always_inline]] inline void byte(uint8_t b) noexcept {
    if (!room(1)) return;
    *p_++ = b;
  }
  // Two bytes (a tag and a short length, or a two-byte tag).
  [[gnu::always_inline]] inline void bytes2(uint8_t a, uint8_t b) noexcept {
    if (!room(2)) return;
    p_[0] = a;
    p_[1] = b;
    p_ += 2;
  }
  [[gnu::always_inline]] inline void raw(const void* p, size_t n) noexcept {
    if (!room(n)) return;
    if (n != 0) std::memcpy(p_, p, n);
    p_ += n;
  }
  [[gnu::always_inline]] inline void fixed64(uint64_t v) noexcept {  // little-endian on the wire
    if (!room(8)) return;
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    std::memcpy(p_, &v, 8);
    p_ += 8;
  }
  [[gnu::always_inline]] inline void fixed32(uint32_t v) noexcept {
    if (!room(4)) return;
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
    std::memcpy(p_, &v, 4);
    p_ += 4;
  }
  // Big-endian 8 bytes (jaeger/OTLP ids are BE byte strings; modern-collectors.md §1.3).
  [[gnu::always_inline]] inline void big64(uint64_t v) noexcept {
    if (!room(8)) return;
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    std::memcpy(p_, &v, 8);
    p_ += 8;
  }

  // tag + length + bytes (one room check for all three).
  [[gnu::always_inline]] inline void bytesField(uint32_t t, const void* p, size_t n) noexcept {
    if (!room(n + 15)) return;
    p_ += putVarint(p_, t);
    p_ += putVarint(p_, n);
    copyBytes(p_, static_cast<const uint8_t*>(p), n);
    p_ += n;
  }
  [[gnu::always_inline]] inline void bytesField(uint32_t t, std::string_view s) noexcept {
    bytesField(t, s.data(), s.size());
  }
  [[gnu::always_inline]] inline void varintField(uint32_t t, uint64_t v) noexcept {
    if (!room(15)) return;
    p_ += putVarint(p_, t);
    p_ += putVarint(p_, v);
  }

  // Unchecked bulk writing for hot, size-known messages: reserve(n) returns where to write (or
  // nullptr if the room could not be made), commit(p) sets the position after what was written.
  // A plain local pointer lets the compiler keep it in a register across the byte stores.
  [[nodiscard, gnu::always_inline]] inline uint8_t* reserve(size_t n) noexcept { return room(n) ? p_ : nullptr; }
  [[gnu::always_inline]] inline void commit(uint8_t* p) noexcept { p_ = p; }

  // Opens a nested message field: writes the tag, reserves `reserve` bytes for its length.
  [[nodiscard, gnu::always_inline]] inline Mark begin(uint32_t t, uint8_t reserve) noexcept {
    varint(t);
    const Mark m{size(), reserve};
    if (room(reserve)) p_ += reserve;
    return m;
  }
  // Closes it: back-patches the minimal varint, moving the body if the reservation was off.
  [[gnu::always_inline]] inline void end(Mark m) noexcept {
    if (failed_) [[unlikely]] return;
    const size_t body = m.slot + m.reserved;
    const size_t len = size() - body;
    if (m.reserved == 1 && len < 0x80) [[likely]] {
      base_[m.slot] = static_cast<uint8_t>(len);
      return;
    }
    endSlow(m, body, len);
  }

 private:
  [[gnu::noinline]] void endSlow(Mark m, size_t body, size_t len) noexcept {
    const size_t need = varintSize(len);
    if (need != m.reserved) {
      if (need > m.reserved && !room(need - m.reserved)) return;
      std::memmove(base_ + m.slot + need, base_ + body, len);
      p_ = base_ + m.slot + need + len;
    }
    putVarint(base_ + m.slot, len);
  }
  void attach() noexcept {
    base_ = buf_->data();
    end_ = base_ + buf_->size();
  }
  [[gnu::noinline]] bool grow(size_t want) noexcept {
    if (failed_) return false;
    const size_t used = size();
    try {
      buf_->resize(std::max(want, buf_->size() * 2 + 256));
    } catch (...) {
      failed_ = true;
      return false;
    }
    attach();
    p_ = base_ + used;
    return true;
  }

  std::vector<uint8_t>* buf_;
  uint8_t* base_ = nullptr;
  uint8_t* p_ = nullptr;
  uint8_t* end_ = nullptr;
  bool failed_ = false;
};

// Copies n bytes; short strings (most tag keys and values) without a libc call: two
// overlapping fixed-size moves cover any length in a size class, reading only [src, src+n).
[[gnu::always_inline]] inline void copyBytes(uint8_t* dst, const uint8_t* src, size_t n) noexcept {
  if (n > 32) {
    std::memcpy(dst, src, n);
  } else if (n >= 16) {
    uint8_t a[16], b[16];
    std::memcpy(a, src, 16);
    std::memcpy(b, src + n - 16, 16);
    std::memcpy(dst, a, 16);
    std::memcpy(dst + n - 16, b, 16);
  } else if (n >= 8) {
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else {
    for (size_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// Unchecked primitives for ProtoWriter::reserve()d space; each returns the next position.
[[gnu::always_inline]] inline uint8_t* putBytesField(uint8_t* p, uint8_t tag, const void* data, size_t n) noexcept {
  *p++ = tag;
  p += putVarint(p, n);
  copyBytes(p, static_cast<const uint8_t*>(data), n);
  return p + n;
}
[[gnu::always_inline]] inline uint8_t* putVarintField(uint8_t* p, uint8_t tag, uint64_t v) noexcept {
  *p++ = tag;
  return p + putVarint(p, v);
}
[[gnu::always_inline]] inline uint8_t* putFixed64(uint8_t* p, uint8_t tag, uint64_t v) noexcept {
  *p++ = tag;
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
  return p + 8;
}

// Go strconv.FormatInt(v, 10) into `out` (room for 20 bytes); returns the length. For the text
// values the encoders synthesize ("Unknown VType: <n>", errNegativeDuration, Zipkin errors).
inline size_t putDecimal(char* out, int64_t v) noexcept {
  char buf[24];
  size_t n = 0;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) buf[n++] = '-';
  for (size_t i = 0; i < n; ++i) out[i] = buf[n - 1 - i];
  return n;
}

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
