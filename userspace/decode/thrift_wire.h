// Thrift wire primitives for the transcoder: a CompactReader and a BinaryReader with the same
// interface (so the schema walk in walker.h is written once and instantiated twice), and a
// BinaryWriter that appends into space reserved up front.
//
// Ownership: readers borrow the datagram bytes, the writer borrows the output vector; both live
// for one transcode() call on one thread. Nothing here allocates except BinaryWriter::start, and
// only when the buffer must grow past its current size.
//
// Errors: every read is bounds-checked. A failed read records the RejectReason in the reader
// (fail()) and returns false; callers return false up the stack without touching the reader
// again. Nothing throws.
//
// Types: both readers report types as TBinaryProtocol type ids (kI64 = 10, ...), which is also
// what the writer emits, so the walker compares and writes one vocabulary.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "decode/transcoder.h"

namespace jagent::decode::wire {

// Hot-path primitives must inline: the walker keeps readers and writers in locals whose address
// never escapes, so the compiler can hold their positions in registers (a byte store through
// uint8_t* may alias any object in memory, which otherwise forces a reload after every write).
#define JAGENT_WIRE_INLINE [[gnu::always_inline]] inline
#define JAGENT_LAMBDA_INLINE __attribute__((always_inline))

// TBinaryProtocol type ids.
inline constexpr uint8_t kStop = 0;
inline constexpr uint8_t kBool = 2;
inline constexpr uint8_t kByte = 3;
inline constexpr uint8_t kDouble = 4;
inline constexpr uint8_t kI16 = 6;
inline constexpr uint8_t kI32 = 8;
inline constexpr uint8_t kI64 = 10;
inline constexpr uint8_t kString = 11;
inline constexpr uint8_t kStruct = 12;
inline constexpr uint8_t kMap = 13;
inline constexpr uint8_t kSet = 14;
inline constexpr uint8_t kList = 15;
inline constexpr uint8_t kUuid = 16;
inline constexpr uint8_t kInvalid = 0xFF;

// ---- byte order -----------------------------------------------------------------------------

template <typename T>
[[nodiscard]] inline T toBig(T v) noexcept {
  if constexpr (std::endian::native == std::endian::big || sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  } else {
    return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  }
}

template <typename T>
[[nodiscard]] inline T loadBig(const uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return toBig(v);
}

template <typename T>
inline void storeBig(uint8_t* p, T v) noexcept {
  v = toBig(v);
  std::memcpy(p, &v, sizeof v);
}

[[nodiscard]] inline uint64_t loadLittle64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// ---- writer ---------------------------------------------------------------------------------

// Appends TBinaryProtocol bytes without per-append checks. The caller reserves a budget that
// bounds everything it will write (start); debug, sanitizer and fuzz builds check every write
// against it (JAGENT_CHECK), so an under-computed budget is a finding, not a silent overrun.
class BinaryWriter {
 public:
  explicit BinaryWriter(std::vector<uint8_t>& buf) noexcept : buf_(&buf) {}

  // Budget of `budget` bytes from the start of the buffer. False only if allocation failed.
  [[nodiscard]] bool start(size_t budget) noexcept { return resizeTo(0, budget); }
  void rewind() noexcept { p_ = buf_->data(); }
  // Removes [from, from + n) from what was written, moving the rest down (last-wins for a
  // repeated field: the earlier copy goes). Never grows the output.
  void erase(size_t from, size_t n) noexcept {
    JAGENT_CHECK(from + n <= size());
    std::memmove(buf_->data() + from, buf_->data() + from + n, size() - from - n);
    p_ -= n;
  }
  [[nodiscard]] size_t size() const noexcept { return static_cast<size_t>(p_ - buf_->data()); }

  JAGENT_WIRE_INLINE void u8(uint8_t v) noexcept {
    JAGENT_CHECK(p_ + 1 <= end_);
    *p_++ = v;
  }
  template <typename T>
  JAGENT_WIRE_INLINE void big(T v) noexcept {
    JAGENT_CHECK(p_ + sizeof(T) <= end_);
    storeBig(p_, v);
    p_ += sizeof(T);
  }
  JAGENT_WIRE_INLINE void bytes(const uint8_t* s, size_t n) noexcept {
    JAGENT_CHECK(p_ + n <= end_);
    std::memcpy(p_, s, n);
    p_ += n;
  }
  JAGENT_WIRE_INLINE void fieldHeader(uint8_t type, int16_t id) noexcept {
    JAGENT_CHECK(p_ + 3 <= end_);
    p_[0] = type;
    storeBig(p_ + 1, id);
    p_ += 3;
  }
  JAGENT_WIRE_INLINE void listHeader(uint8_t elemType, uint32_t n) noexcept {
    JAGENT_CHECK(p_ + 5 <= end_);
    p_[0] = elemType;
    storeBig(p_ + 1, n);
    p_ += 5;
  }
  JAGENT_WIRE_INLINE void stop() noexcept { u8(kStop); }

 private:
  bool resizeTo(size_t used, size_t budget) noexcept {
    if (budget > buf_->size()) {
      // Geometric growth: a warm-up of slowly growing datagrams costs a few allocations, not one
      // each; the buffer stays within twice the largest budget (the Transcoder shrinks it back).
      try {
        buf_->resize(std::max(budget, buf_->size() * 2));
      } catch (...) {
        return false;
      }
    }
    p_ = buf_->data() + used;
    end_ = buf_->data() + budget;
    return true;
  }

  std::vector<uint8_t>* buf_;
  uint8_t* p_ = nullptr;
  uint8_t* end_ = nullptr;
};

// ---- shared reader pieces -------------------------------------------------------------------

struct FieldHeader {
  uint8_t type = kStop;  // binary type id
  bool boolValue = false;  // compact bool fields carry their value in the header
  int16_t id = 0;
};

[[nodiscard]] constexpr bool isValidBinaryType(uint8_t t) noexcept {
  return t <= kUuid && ((0x1FD5Cu >> t) & 1u) != 0;  // 2 3 4 6 8 10 11 12 13 14 15 16
}

// Base of both readers: position, bounds, error slot.
class ReaderBase {
 public:
  ReaderBase(const uint8_t* p, const uint8_t* end) noexcept : p_(p), end_(end) {}

  [[nodiscard]] size_t remaining() const noexcept { return static_cast<size_t>(end_ - p_); }
  [[nodiscard]] RejectReason error() const noexcept { return err_; }
  JAGENT_WIRE_INLINE bool fail(RejectReason r) noexcept {
    err_ = r;
    return false;
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readRaw(const uint8_t*& data, size_t n) noexcept {
    if (remaining() < n) [[unlikely]] return fail(RejectReason::kTruncated);
    data = p_;
    p_ += n;
    return true;
  }
  // The byte `i` ahead, or -1 past the end; advance() steps over bytes peek() has seen.
  [[nodiscard]] JAGENT_WIRE_INLINE int peek(size_t i = 0) const noexcept { return remaining() > i ? p_[i] : -1; }
  JAGENT_WIRE_INLINE void advance(size_t n) noexcept { p_ += n; }
  [[nodiscard]] JAGENT_WIRE_INLINE bool skipRaw(size_t n) noexcept {
    if (remaining() < n) [[unlikely]] return fail(RejectReason::kTruncated);
    p_ += n;
    return true;
  }

 protected:
  // Checks a container header's element count against the bytes left, before any element is
  // touched: `minSize` is the smallest encoding of one element.
  JAGENT_WIRE_INLINE bool checkCount(uint32_t n, uint32_t minSize) noexcept {
    if (static_cast<uint64_t>(n) * minSize > remaining()) [[unlikely]]
      return fail(RejectReason::kLengthTooLarge);
    return true;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  RejectReason err_ = RejectReason::kOk;
};

// ---- compact --------------------------------------------------------------------------------

class CompactReader : public ReaderBase {
 public:
  using ReaderBase::ReaderBase;

  // Varints: at most 5 bytes for 32-bit values and 10 for 64-bit ones (longer ⇒ kBadVarint);
  // excess high bits of the last byte are dropped, as Apache Thrift does.
  [[nodiscard]] JAGENT_WIRE_INLINE bool readVarint32(uint32_t& out) noexcept { return readVarint<uint32_t, 5>(out); }
  [[nodiscard]] JAGENT_WIRE_INLINE bool readVarint64(uint64_t& out) noexcept { return readVarint<uint64_t, 10>(out); }

  // The fast path reads without bounds checks when the longest legal varint fits in what is
  // left; the slow path checks every byte.
  template <typename T, int kMaxBytes>
  [[nodiscard]] JAGENT_WIRE_INLINE bool readVarint(T& out) noexcept {
    if (remaining() >= kMaxBytes) [[likely]] {
      const uint8_t* p = p_;
      T b = p[0];
      if (b < 0x80) {
        out = b;
        p_ = p + 1;
        return true;
      }
      T v = b & 0x7F;
      for (int i = 1; i < kMaxBytes; ++i) {
        b = p[i];
        v |= (b & 0x7F) << (7 * i);
        if (b < 0x80) {
          out = v;
          p_ = p + i + 1;
          return true;
        }
      }
      return fail(RejectReason::kBadVarint);
    }
    uint64_t v;
    if (!readVarintSlow(v, kMaxBytes)) return false;
    out = static_cast<T>(v);
    return true;
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readFieldHeader(FieldHeader& f, int16_t& lastId) noexcept {
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    const uint8_t b = *p_++;
    if (b == 0) {
      f.type = kStop;
      return true;
    }
    const uint8_t t = b & 0x0F;
    f.type = kTypeMap[t];
    if (f.type == kInvalid) [[unlikely]] return fail(RejectReason::kBadType);
    f.boolValue = t == 1;
    const uint8_t delta = b >> 4;
    if (delta != 0) [[likely]] {
      f.id = static_cast<int16_t>(lastId + delta);
    } else {
      uint32_t z;
      if (!readVarint32(z)) return false;
      f.id = static_cast<int16_t>(unzigzag32(z));
    }
    lastId = f.id;
    return true;
  }

  // list<> and set<>. An empty container may declare any element type (elemType is then
  // kInvalid for unknown ids); a non-empty one must declare a valid type.
  [[nodiscard]] JAGENT_WIRE_INLINE bool readListHeader(uint8_t& elemType, uint32_t& n) noexcept {
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    const uint8_t b = *p_++;
    uint32_t size = b >> 4;
    if (size == 15) {
      if (!readVarint32(size)) return false;
      if (static_cast<int32_t>(size) < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    }
    n = size;
    elemType = kTypeMap[b & 0x0F];
    if (size == 0) return true;
    if (elemType == kInvalid) [[unlikely]] return fail(RejectReason::kBadType);
    return checkCount(size, kMinSize[elemType]);
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readMapHeader(uint8_t& keyType, uint8_t& valueType, uint32_t& n) noexcept {
    uint32_t size;
    if (!readVarint32(size)) return false;
    if (static_cast<int32_t>(size) < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    n = size;
    keyType = valueType = kInvalid;
    if (size == 0) return true;
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    const uint8_t kv = *p_++;
    keyType = kTypeMap[kv >> 4];
    valueType = kTypeMap[kv & 0x0F];
    if (keyType == kInvalid || valueType == kInvalid) [[unlikely]] return fail(RejectReason::kBadType);
    return checkCount(size, kMinSize[keyType] + kMinSize[valueType]);
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readBinary(const uint8_t*& data, uint32_t& n) noexcept {
    uint32_t len;
    if (!readVarint32(len)) return false;
    if (static_cast<int32_t>(len) < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    if (len > remaining()) [[unlikely]] return fail(RejectReason::kLengthTooLarge);
    data = p_;
    n = len;
    p_ += len;
    return true;
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readI64(int64_t& v) noexcept {
    uint64_t z;
    if (!readVarint64(z)) return false;
    v = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    return true;
  }
  [[nodiscard]] JAGENT_WIRE_INLINE bool readI32(int32_t& v) noexcept {
    uint32_t z;
    if (!readVarint32(z)) return false;
    v = unzigzag32(z);
    return true;
  }

  // ---- copy one value into the writer (the hot path) ----

  JAGENT_WIRE_INLINE bool copyI64(BinaryWriter& w, int64_t* seen = nullptr) noexcept {
    int64_t v;
    if (!readI64(v)) return false;
    if (seen) *seen = v;
    w.big(v);
    return true;
  }
  JAGENT_WIRE_INLINE bool copyI32(BinaryWriter& w, int32_t* seen = nullptr) noexcept {
    int32_t v;
    if (!readI32(v)) return false;
    if (seen) *seen = v;
    w.big(v);
    return true;
  }
  JAGENT_WIRE_INLINE bool copyI16(BinaryWriter& w) noexcept {
    int32_t v;
    if (!readI32(v)) return false;
    w.big(static_cast<int16_t>(v));
    return true;
  }
  JAGENT_WIRE_INLINE bool copyByte(BinaryWriter& w) noexcept {
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    w.u8(*p_++);
    return true;
  }
  JAGENT_WIRE_INLINE bool copyDouble(BinaryWriter& w) noexcept {
    if (remaining() < 8) [[unlikely]] return fail(RejectReason::kTruncated);
    w.big(loadLittle64(p_));  // compact doubles are little-endian, binary ones big-endian
    p_ += 8;
    return true;
  }
  JAGENT_WIRE_INLINE bool copyString(BinaryWriter& w, std::string_view* seen = nullptr) noexcept {
    const uint8_t* data;
    uint32_t n;
    if (!readBinary(data, n)) return false;
    if (seen) *seen = {reinterpret_cast<const char*>(data), n};
    w.big(n);
    w.bytes(data, n);
    return true;
  }
  JAGENT_WIRE_INLINE bool copyBoolField(const FieldHeader& f, BinaryWriter& w) noexcept {
    w.u8(f.boolValue ? 1 : 0);
    return true;
  }

  // ---- skipping (unknown fields) ----

  JAGENT_WIRE_INLINE bool skipField(const FieldHeader& f, int depth) noexcept {
    if (f.type == kBool) return true;  // the value was in the field header
    return skipValue(f.type, depth);
  }
  bool skipValue(uint8_t type, int depth) noexcept;

 private:
  static constexpr int32_t unzigzag32(uint32_t z) noexcept {
    return static_cast<int32_t>((z >> 1) ^ (~(z & 1) + 1));
  }

  // Near the end of the datagram. The loop is out of line and takes the position by value, so
  // the reader's address stays private to the caller.
  JAGENT_WIRE_INLINE bool readVarintSlow(uint64_t& out, int maxBytes) noexcept {
    uint64_t v = 0;
    const int n = varintSlow(p_, end_, v, maxBytes);
    if (n <= 0) [[unlikely]] return fail(n == 0 ? RejectReason::kTruncated : RejectReason::kBadVarint);
    p_ += n;
    out = v;
    return true;
  }
  // Bytes consumed; 0 = ran out of bytes, -1 = too long.
  [[gnu::noinline]] static int varintSlow(const uint8_t* p, const uint8_t* end, uint64_t& out, int maxBytes) noexcept {
    uint64_t v = 0;
    for (int i = 0; i < maxBytes; ++i) {
      if (p + i == end) return 0;
      const uint64_t b = p[i];
      v |= (b & 0x7F) << (7 * i);
      if (b < 0x80) {
        out = v;
        return i + 1;
      }
    }
    return -1;
  }

  bool skipVarint(int maxBytes) noexcept {
    for (int i = 0; i < maxBytes; ++i) {
      if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
      if (*p_++ < 0x80) return true;
    }
    return fail(RejectReason::kBadVarint);
  }

  // Compact type nibble → binary type id. 1 and 2 are BOOL (true/false in field headers).
  static constexpr std::array<uint8_t, 16> kTypeMap = {
      kInvalid, kBool, kBool,   kByte, kI16, kI32,   kI64,   kDouble,
      kString,  kList, kSet,    kMap,  kStruct, kUuid, kInvalid, kInvalid};
  // Smallest compact encoding of one value of each binary type id (0 for invalid ids).
  static constexpr std::array<uint8_t, 17> kMinSize = {0, 0, 1, 1, 8, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 16};
};

inline bool CompactReader::skipValue(uint8_t type, int depth) noexcept {
  switch (type) {
    case kBool:
    case kByte:
      return skipRaw(1);
    case kI16:
    case kI32:
      return skipVarint(5);
    case kI64:
      return skipVarint(10);
    case kDouble:
      return skipRaw(8);
    case kUuid:
      return skipRaw(16);
    case kString: {
      const uint8_t* data;
      uint32_t n;
      return readBinary(data, n);
    }
    case kStruct: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      int16_t lastId = 0;
      FieldHeader f;
      for (;;) {
        if (!readFieldHeader(f, lastId)) return false;
        if (f.type == kStop) return true;
        if (!skipField(f, depth + 1)) return false;
      }
    }
    case kList:
    case kSet: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      uint8_t et;
      uint32_t n;
      if (!readListHeader(et, n)) return false;
      if (n == 0) return true;
      switch (et) {  // fixed-size elements: the count was checked against the bytes left
        case kBool:
        case kByte:
          p_ += n;
          return true;
        case kDouble:
          p_ += static_cast<size_t>(n) * 8;
          return true;
        case kUuid:
          p_ += static_cast<size_t>(n) * 16;
          return true;
        default:
          break;
      }
      for (uint32_t i = 0; i < n; ++i)
        if (!skipValue(et, depth + 1)) return false;
      return true;
    }
    case kMap: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      uint8_t kt, vt;
      uint32_t n;
      if (!readMapHeader(kt, vt, n)) return false;
      for (uint32_t i = 0; i < n; ++i)
        if (!skipValue(kt, depth + 1) || !skipValue(vt, depth + 1)) return false;
      return true;
    }
    default:
      return fail(RejectReason::kBadType);
  }
}

// ---- binary ---------------------------------------------------------------------------------

class BinaryReader : public ReaderBase {
 public:
  using ReaderBase::ReaderBase;

  [[nodiscard]] JAGENT_WIRE_INLINE bool readFieldHeader(FieldHeader& f, int16_t& /*lastId*/) noexcept {
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    const uint8_t t = *p_;
    if (t == kStop) {
      ++p_;
      f.type = kStop;
      return true;
    }
    if (!isValidBinaryType(t)) [[unlikely]] return fail(RejectReason::kBadType);
    if (remaining() < 3) [[unlikely]] return fail(RejectReason::kTruncated);
    f.type = t;
    f.id = loadBig<int16_t>(p_ + 1);
    p_ += 3;
    return true;
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readListHeader(uint8_t& elemType, uint32_t& n) noexcept {
    if (remaining() < 5) [[unlikely]] return fail(RejectReason::kTruncated);
    elemType = p_[0];
    const int32_t size = loadBig<int32_t>(p_ + 1);
    p_ += 5;
    if (size < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    n = static_cast<uint32_t>(size);
    if (!isValidBinaryType(elemType)) {
      elemType = kInvalid;
      return n == 0 ? true : fail(RejectReason::kBadType);
    }
    return checkCount(n, kMinSize[elemType]);
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readMapHeader(uint8_t& keyType, uint8_t& valueType, uint32_t& n) noexcept {
    if (remaining() < 6) [[unlikely]] return fail(RejectReason::kTruncated);
    keyType = p_[0];
    valueType = p_[1];
    const int32_t size = loadBig<int32_t>(p_ + 2);
    p_ += 6;
    if (size < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    n = static_cast<uint32_t>(size);
    if (n == 0) return true;
    if (!isValidBinaryType(keyType) || !isValidBinaryType(valueType)) [[unlikely]]
      return fail(RejectReason::kBadType);
    return checkCount(n, kMinSize[keyType] + kMinSize[valueType]);
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readBinary(const uint8_t*& data, uint32_t& n) noexcept {
    if (remaining() < 4) [[unlikely]] return fail(RejectReason::kTruncated);
    const int32_t len = loadBig<int32_t>(p_);
    p_ += 4;
    if (len < 0) [[unlikely]] return fail(RejectReason::kNegativeLength);
    if (static_cast<uint32_t>(len) > remaining()) [[unlikely]] return fail(RejectReason::kLengthTooLarge);
    data = p_;
    n = static_cast<uint32_t>(len);
    p_ += len;
    return true;
  }

  [[nodiscard]] JAGENT_WIRE_INLINE bool readI64(int64_t& v) noexcept {
    if (remaining() < 8) [[unlikely]] return fail(RejectReason::kTruncated);
    v = loadBig<int64_t>(p_);
    p_ += 8;
    return true;
  }
  [[nodiscard]] JAGENT_WIRE_INLINE bool readI32(int32_t& v) noexcept {
    if (remaining() < 4) [[unlikely]] return fail(RejectReason::kTruncated);
    v = loadBig<int32_t>(p_);
    p_ += 4;
    return true;
  }

  // ---- copy: the input already is binary, so values move as bytes ----

  JAGENT_WIRE_INLINE bool copyI64(BinaryWriter& w, int64_t* seen = nullptr) noexcept {
    if (remaining() < 8) [[unlikely]] return fail(RejectReason::kTruncated);
    if (seen) *seen = loadBig<int64_t>(p_);
    w.bytes(p_, 8);
    p_ += 8;
    return true;
  }
  JAGENT_WIRE_INLINE bool copyI32(BinaryWriter& w, int32_t* seen = nullptr) noexcept {
    if (remaining() < 4) [[unlikely]] return fail(RejectReason::kTruncated);
    if (seen) *seen = loadBig<int32_t>(p_);
    w.bytes(p_, 4);
    p_ += 4;
    return true;
  }
  JAGENT_WIRE_INLINE bool copyI16(BinaryWriter& w) noexcept { return copyFixed(w, 2); }
  JAGENT_WIRE_INLINE bool copyByte(BinaryWriter& w) noexcept { return copyFixed(w, 1); }
  JAGENT_WIRE_INLINE bool copyDouble(BinaryWriter& w) noexcept { return copyFixed(w, 8); }
  JAGENT_WIRE_INLINE bool copyString(BinaryWriter& w, std::string_view* seen = nullptr) noexcept {
    const uint8_t* start = p_;
    const uint8_t* data;
    uint32_t n;
    if (!readBinary(data, n)) return false;
    if (seen) *seen = {reinterpret_cast<const char*>(data), n};
    w.bytes(start, 4 + static_cast<size_t>(n));
    return true;
  }
  JAGENT_WIRE_INLINE bool copyBoolField(const FieldHeader& /*f*/, BinaryWriter& w) noexcept {
    if (p_ == end_) [[unlikely]] return fail(RejectReason::kTruncated);
    w.u8(*p_++ != 0 ? 1 : 0);  // normalise: strict readers expect 0/1
    return true;
  }

  JAGENT_WIRE_INLINE bool skipField(const FieldHeader& f, int depth) noexcept { return skipValue(f.type, depth); }
  bool skipValue(uint8_t type, int depth) noexcept;

 private:
  JAGENT_WIRE_INLINE bool copyFixed(BinaryWriter& w, size_t n) noexcept {
    if (remaining() < n) [[unlikely]] return fail(RejectReason::kTruncated);
    w.bytes(p_, n);
    p_ += n;
    return true;
  }

  // Encoded size of one value of each type id: exact for fixed-size types, a lower bound for
  // the others (string: length; struct: stop; list/set: header; map: header).
  static constexpr std::array<uint8_t, 17> kMinSize = {0, 0, 1, 1, 8, 0, 2, 0, 4, 0, 8, 4, 1, 6, 5, 5, 16};
  static constexpr bool isFixed(uint8_t t) noexcept {
    return t == kBool || t == kByte || t == kDouble || t == kI16 || t == kI32 || t == kI64 || t == kUuid;
  }
};

inline bool BinaryReader::skipValue(uint8_t type, int depth) noexcept {
  switch (type) {
    case kBool:
    case kByte:
    case kI16:
    case kI32:
    case kI64:
    case kDouble:
    case kUuid:
      return skipRaw(kMinSize[type]);
    case kString: {
      const uint8_t* data;
      uint32_t n;
      return readBinary(data, n);
    }
    case kStruct: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      int16_t lastId = 0;
      FieldHeader f;
      for (;;) {
        if (!readFieldHeader(f, lastId)) return false;
        if (f.type == kStop) return true;
        if (!skipValue(f.type, depth + 1)) return false;
      }
    }
    case kList:
    case kSet: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      uint8_t et;
      uint32_t n;
      if (!readListHeader(et, n)) return false;
      if (n == 0) return true;
      if (isFixed(et)) {  // the count was checked against the bytes left
        p_ += static_cast<size_t>(n) * kMinSize[et];
        return true;
      }
      for (uint32_t i = 0; i < n; ++i)
        if (!skipValue(et, depth + 1)) return false;
      return true;
    }
    case kMap: {
      if (depth > kMaxDepth) [[unlikely]] return fail(RejectReason::kDepthExceeded);
      uint8_t kt, vt;
      uint32_t n;
      if (!readMapHeader(kt, vt, n)) return false;
      for (uint32_t i = 0; i < n; ++i)
        if (!skipValue(kt, depth + 1) || !skipValue(vt, depth + 1)) return false;
      return true;
    }
    default:
      return fail(RejectReason::kBadType);
  }
}

}  // namespace jagent::decode::wire
