// TChannel v2 frame codec. Wire facts: wire-protocols.md §1 (framing, call req/res, continue
// frames, checksums, error frames) and §2 (thrift arg2 headers).
#include "report/tchannel_frame.h"

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace jagent::report::tchannel {

namespace {

// ---- CRC tables ------------------------------------------------------------------------------

// Slice-by-8: table[0] is the classic byte-at-a-time table of the reflected polynomial;
// table[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes fold in one step.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr CrcTables makeCrcTables(uint32_t reflectedPoly) {
  CrcTables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1U) ? (c >> 1) ^ reflectedPoly : c >> 1;
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFU];
  }
  return t;
}

constexpr CrcTables kCrc32cTables = makeCrcTables(0x82F63B78U);  // Castagnoli
constexpr CrcTables kCrc32Tables = makeCrcTables(0xEDB88320U);   // IEEE 802.3 / zlib

uint32_t loadLe32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

uint32_t crcSliceBy8(const CrcTables& t, std::span<const uint8_t> data, uint32_t crc) noexcept {
  const uint8_t* p = data.data();
  size_t n = data.size();
  crc = ~crc;
  while (n >= 8) {
    const uint32_t lo = loadLe32(p) ^ crc;
    const uint32_t hi = loadLe32(p + 4);
    crc = t[7][lo & 0xFFU] ^ t[6][(lo >> 8) & 0xFFU] ^ t[5][(lo >> 16) & 0xFFU] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFFU] ^ t[2][(hi >> 8) & 0xFFU] ^ t[1][(hi >> 16) & 0xFFU] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = t[0][(crc ^ *p++) & 0xFFU] ^ (crc >> 8);
  return ~crc;
}

// ---- CRC32C "shift" operators ---------------------------------------------------------------
// The CRC register is linear over GF(2): crc(s, A‖B) = shift_|B|(crc(s, A)) ^ crc(0, B), where
// shift_n is "feed n zero bytes". So independent streams over consecutive blocks can be
// combined. shift_n for a fixed n is a 32×32 bit matrix; applied with four 256-entry tables
// (one per byte of the register) it costs four lookups.
using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

// Applies the matrix `m` (32 columns: m[i] = image of bit i) to `v`.
constexpr uint32_t gf2Apply(const std::array<uint32_t, 32>& m, uint32_t v) {
  uint32_t r = 0;
  for (int i = 0; v != 0; ++i, v >>= 1)
    if (v & 1U) r ^= m[static_cast<size_t>(i)];
  return r;
}

constexpr ShiftTable makeShiftTable(uint32_t reflectedPoly, size_t zeroBytes) {
  // The operator for one zero bit, then squared up to one byte and on to `zeroBytes` bytes by
  // repeated squaring (binary exponentiation).
  std::array<uint32_t, 32> bit{};
  bit[0] = reflectedPoly;
  for (size_t i = 1; i < 32; ++i) bit[i] = 1U << (i - 1);
  auto mul = [](const std::array<uint32_t, 32>& a, const std::array<uint32_t, 32>& b) {
    std::array<uint32_t, 32> r{};
    for (size_t i = 0; i < 32; ++i) r[i] = gf2Apply(a, b[i]);  // a∘b
    return r;
  };
  std::array<uint32_t, 32> op = bit;  // 1 bit
  for (int i = 0; i < 3; ++i) op = mul(op, op);  // 8 bits = 1 byte
  std::array<uint32_t, 32> acc{};
  for (size_t i = 0; i < 32; ++i) acc[i] = 1U << i;  // identity
  for (size_t n = zeroBytes; n != 0; n >>= 1) {
    if (n & 1U) acc = mul(op, acc);
    op = mul(op, op);
  }
  ShiftTable t{};
  for (size_t k = 0; k < 4; ++k)
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = gf2Apply(acc, b << (8 * k));
  return t;
}

[[maybe_unused]] uint32_t crcShift(const ShiftTable& t, uint32_t crc) noexcept {
  return t[0][crc & 0xFFU] ^ t[1][(crc >> 8) & 0xFFU] ^ t[2][(crc >> 16) & 0xFFU] ^ t[3][crc >> 24];
}

#if defined(__x86_64__)
// The crc32 instruction computes the Castagnoli CRC without the ~ conditioning, 8 bytes per
// instruction with a 3-cycle latency and 1-cycle throughput: one dependency chain uses a third
// of the unit. Three independent chains over three consecutive blocks, combined with the shift
// operator above, run about 3x faster (the CRC was ~5 % of the agent's CPU at 64 KB datagrams
// and most of the collector sink's, docs/benchmarks-analysis.md).
constexpr size_t kCrcLong = 8192;   // per stream, big buffers
constexpr size_t kCrcShort = 256;   // per stream, the tail
const ShiftTable kShiftLong = makeShiftTable(0x82F63B78U, kCrcLong);
const ShiftTable kShiftShort = makeShiftTable(0x82F63B78U, kCrcShort);

__attribute__((target("sse4.2"))) inline void crc3Blocks(const uint8_t*& p, size_t& n, uint64_t& c, size_t block,
                                                        const ShiftTable& shift) noexcept {
  while (n >= 3 * block) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < block; i += 8) {
      uint64_t v0, v1, v2;
      std::memcpy(&v0, p + i, 8);
      std::memcpy(&v1, p + block + i, 8);
      std::memcpy(&v2, p + 2 * block + i, 8);
      c = _mm_crc32_u64(c, v0);
      c1 = _mm_crc32_u64(c1, v1);
      c2 = _mm_crc32_u64(c2, v2);
    }
    c = crcShift(shift, static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1);
    c = crcShift(shift, static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c2);
    p += 3 * block;
    n -= 3 * block;
  }
}

__attribute__((target("sse4.2"))) uint32_t crc32cSse42(std::span<const uint8_t> data, uint32_t crc) noexcept {
  const uint8_t* p = data.data();
  size_t n = data.size();
  uint64_t c = static_cast<uint32_t>(~crc);
  crc3Blocks(p, n, c, kCrcLong, kShiftLong);
  crc3Blocks(p, n, c, kCrcShort, kShiftShort);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}
#endif

bool detectHardwareCrc32c() noexcept {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

// ---- Byte helpers ----------------------------------------------------------------------------

constexpr size_t kTracingSize = std::tuple_size_v<Tracing>;
constexpr size_t kChunkPrefix = 2;  // arg~2

void put16(std::vector<uint8_t>& out, size_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void putBytes(std::vector<uint8_t>& out, std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }
void putString(std::vector<uint8_t>& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }
void store16(uint8_t* p, size_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint16_t load16(const uint8_t* p) noexcept { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t load32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Opens a frame: the 16-byte header with size 0 (patched by endFrame) and zero reserved bytes.
size_t beginFrame(std::vector<uint8_t>& out, FrameType type, uint32_t id) {
  const size_t start = out.size();
  out.resize(start + kFrameHeaderSize, 0);
  out[start + 2] = static_cast<uint8_t>(type);
  store32(&out[start + 4], id);
  return start;
}
void endFrame(std::vector<uint8_t>& out, size_t start) noexcept { store16(&out[start], out.size() - start); }

// Bounds-checked big-endian reader over one payload; every getter fails instead of reading past
// the end, so a hostile length can only make a parse fail.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) noexcept : data_(data) {}
  [[nodiscard]] size_t left() const noexcept { return data_.size() - pos_; }
  [[nodiscard]] std::span<const uint8_t> rest() const noexcept { return data_.subspan(pos_); }
  bool u8(uint8_t& v) noexcept {
    if (left() < 1) return false;
    v = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) noexcept {
    if (left() < 2) return false;
    v = load16(&data_[pos_]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) noexcept {
    if (left() < 4) return false;
    v = load32(&data_[pos_]);
    pos_ += 4;
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>& v) noexcept {
    if (left() < n) return false;
    v = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool str(size_t n, std::string_view& v) noexcept {
    std::span<const uint8_t> b;
    if (!bytes(n, b)) return false;
    v = std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

// ---- Call message encoding -------------------------------------------------------------------

bool sendableChecksum(ChecksumType t) noexcept {
  return t == ChecksumType::kNone || t == ChecksumType::kCrc32 || t == ChecksumType::kCrc32c;
}
size_t checksumFieldSize(ChecksumType t) noexcept { return t == ChecksumType::kNone ? 1 : 5; }

// nh:1 (hk~1 hv~1){nh}
bool transportHeadersEncodable(std::span<const Header> headers) noexcept {
  if (headers.size() > 0xFF) return false;
  return std::all_of(headers.begin(), headers.end(),
                     [](const Header& h) { return h.first.size() <= 0xFF && h.second.size() <= 0xFF; });
}
size_t transportHeadersSize(std::span<const Header> headers) noexcept {
  size_t n = 1;
  for (const auto& [k, v] : headers) n += 2 + k.size() + v.size();
  return n;
}
void putTransportHeaders(std::vector<uint8_t>& out, std::span<const Header> headers) {
  out.push_back(static_cast<uint8_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    out.push_back(static_cast<uint8_t>(k.size()));
    putString(out, k);
    out.push_back(static_cast<uint8_t>(v.size()));
    putString(out, v);
  }
}

// flags:1 ttl:4 tracing:25 service~1 headers csumtype:1 (csum:4)?
size_t callReqPrefixSize(const CallReq& r) noexcept {
  return 1 + 4 + kTracingSize + 1 + r.service.size() + transportHeadersSize(r.headers) + checksumFieldSize(r.checksum);
}
// flags:1 code:1 tracing:25 headers csumtype:1 (csum:4)?
size_t callResPrefixSize(const CallRes& r) noexcept {
  return 1 + 1 + kTracingSize + transportHeadersSize(r.headers) + checksumFieldSize(r.checksum);
}

// tchannel-node's reader wants the whole of arg1 and the start of arg2 in the first frame (it
// fails a request otherwise: Arg1Fragmented) and refuses arg1 over 16 KiB; we never send what a
// Node peer would refuse. Also guarantees arg1 and arg2 both start in the first frame.
bool arg1FitsFirstFrame(size_t prefix, size_t arg1Size) noexcept {
  return arg1Size <= kMaxArg1Size && kFrameHeaderSize + prefix + kChunkPrefix + arg1Size + kChunkPrefix <= kMaxFrameSize;
}

using Pieces = std::span<const std::span<const uint8_t>>;

size_t totalSize(Pieces pieces) noexcept {
  size_t n = 0;
  for (const auto& p : pieces) n += p.size();
  return n;
}

// Walks an arg given as pieces, copying it out chunk by chunk; a chunk may span pieces and a
// piece may span chunks (and frames).
class PieceCursor {
 public:
  explicit PieceCursor(Pieces pieces) noexcept : pieces_(pieces) {}
  // Gather output: like copy(), but pieces of at least kGatherMinPiece bytes become external
  // segments instead of being copied (the meta bytes before them are cut into a segment first).
  // Returns how many bytes went out as external segments.
  size_t refer(size_t n, std::vector<uint8_t>& meta, std::vector<Segment>& segs, size_t& metaCut,
               ChecksumType type, uint32_t& running) {
    size_t external = 0;
    while (n > 0) {
      const auto piece = pieces_[index_];
      const size_t take = std::min(n, piece.size() - offset_);
      const auto part = piece.subspan(offset_, take);
      running = updateChecksum(type, part, running);
      if (piece.size() < kGatherMinPiece) {
        putBytes(meta, part);
      } else {
        if (meta.size() > metaCut) segs.push_back(Segment{nullptr, metaCut, meta.size() - metaCut});
        metaCut = meta.size();
        segs.push_back(Segment{part.data(), 0, part.size()});
        external += part.size();
      }
      offset_ += take;
      n -= take;
      if (offset_ == piece.size()) {
        ++index_;
        offset_ = 0;
      }
    }
    return external;
  }

  // Precondition: n ≤ bytes not yet copied.
  void copy(size_t n, std::vector<uint8_t>& out, ChecksumType type, uint32_t& running) {
    while (n > 0) {
      const auto piece = pieces_[index_];
      const size_t take = std::min(n, piece.size() - offset_);
      const auto part = piece.subspan(offset_, take);
      putBytes(out, part);
      running = updateChecksum(type, part, running);
      offset_ += take;
      n -= take;
      if (offset_ == piece.size()) {
        ++index_;
        offset_ = 0;
      }
    }
  }

 private:
  Pieces pieces_;
  size_t index_ = 0;
  size_t offset_ = 0;
};

// Fragmentation (wire-protocols.md §1.6), laid out byte for byte as tchannel-node 4.0.1 does
// (facts from uber/tchannel-node v2/args.js writeFragmentInto, v2/cont.js, v2/handler.js
// sendCallBodies; checked against the npm package and the captured 3-frame vector):
//  * Frames are filled to exactly kMaxFrameSize. The three args go out in order as `len~2 bytes`
//    chunks. When an arg does not fit in the room left, its chunk takes all the room left
//    (room − 2 bytes) and the rest of the arg becomes the first chunk of the next continue frame.
//  * Edge case "exactly 2 bytes left" when an arg starts: that rule gives an empty chunk for the
//    new arg at the very end of the frame, and the whole arg goes in the next frame. Node does
//    this, so we do too; it is valid because the last chunk of a non-final frame never ends its
//    arg (the next frame's first chunk continues it).
//  * An arg that ends exactly at the end of the frame: if it is arg3 the message is complete and
//    that frame is the last one (no empty trailing frame) — same as Node.
//  * The one deliberate difference: an arg other than arg3 that ends with 0 or 1 bytes left in
//    the frame. Node's loop stops there (it only goes on while ≥ 2 bytes remain) without making a
//    continuation, so the later args are silently dropped and the frame goes out as final (seen
//    with the npm package: arg2 ending 0 or 1 byte short of 65535 loses arg3; an empty arg2 at
//    2 bytes left does too). Node produces no valid message there, so nothing to match: we end
//    the frame there (65535 or 65534 bytes) and start the next continue frame with an empty chunk,
//    which ends the still-open arg (the spec's "0-length first chunk" case; tchannel-go's writer
//    produces the same shape; tchannel-node's reader accepts it, checked with the npm package).
//    Since isEncodable() keeps arg1 and the start of arg2 in the first frame, in practice only
//    arg2 can end this way.
//  * Flags: 0x01 on every frame but the last (the first frame's flags byte is written last).
//    Every frame carries the running checksum after its own arg bytes.
class MessageWriter {
 public:
  MessageWriter(std::vector<uint8_t>& out, uint32_t id, FrameType continueType, ChecksumType checksumType,
                std::vector<Segment>* segments = nullptr) noexcept
      : out_(out), id_(id), continueType_(continueType), checksumType_(checksumType), segs_(segments),
        metaCut_(out.size()) {}

  // Opens the first frame up to and including its flags byte; the caller then appends the
  // type-specific fixed fields and calls writeArgs().
  void openFirst(FrameType type) { openFrame(type); }

  void writeArgs(const std::array<Pieces, 3>& args) {
    writeChecksumField();
    for (size_t a = 0; a < args.size(); ++a) {
      if (room() < kChunkPrefix) {  // never for a == 0 (arg1FitsFirstFrame)
        nextFrame();
        put16(out_, 0);  // ends the previous arg (see above)
      }
      PieceCursor cursor(args[a]);
      size_t left = totalSize(args[a]);
      for (;;) {
        const size_t n = std::min(left, room() - kChunkPrefix);
        put16(out_, n);
        if (segs_) external_ += cursor.refer(n, out_, *segs_, metaCut_, checksumType_, running_);
        else cursor.copy(n, out_, checksumType_, running_);
        left -= n;
        if (left == 0) break;
        nextFrame();
      }
    }
    closeFrame(false);
    if (segs_ && out_.size() > metaCut_) segs_->push_back(Segment{nullptr, metaCut_, out_.size() - metaCut_});
  }

 private:
  // Bytes of the current frame: in `out_` since its start, plus those referred to externally.
  size_t room() const noexcept { return kMaxFrameSize - (out_.size() - start_ + external_); }

  void openFrame(FrameType type) {
    external_ = 0;
    start_ = beginFrame(out_, type, id_);
    flagsPos_ = out_.size();
    out_.push_back(0);
  }
  void writeChecksumField() {
    out_.push_back(static_cast<uint8_t>(checksumType_));
    checksumPos_ = out_.size();
    if (checksumType_ != ChecksumType::kNone) out_.resize(out_.size() + 4, 0);
  }
  void closeFrame(bool more) noexcept {
    out_[flagsPos_] = more ? kFlagMoreFragments : 0;
    if (checksumType_ != ChecksumType::kNone) store32(&out_[checksumPos_], running_);
    store16(&out_[start_], out_.size() - start_ + external_);
  }
  void nextFrame() {
    closeFrame(true);
    openFrame(continueType_);
    writeChecksumField();
  }

  std::vector<uint8_t>& out_;
  uint32_t id_;
  FrameType continueType_;
  ChecksumType checksumType_;
  uint32_t running_ = 0;
  size_t start_ = 0;
  size_t flagsPos_ = 0;
  size_t checksumPos_ = 0;
  std::vector<Segment>* segs_;  // gather mode when set
  size_t metaCut_;              // meta bytes before this offset are already in segments
  size_t external_ = 0;         // external bytes in the current frame
};

// Worst-case output size, so the whole message costs at most one reallocation of `out`.
size_t callMessageReserve(size_t prefix, const std::array<Pieces, 3>& args) noexcept {
  size_t argBytes = 0;
  for (const auto& a : args) argBytes += totalSize(a);
  constexpr size_t kContinueOverhead = kFrameHeaderSize + 1 + 5 + 2 * 3;
  const size_t frames = argBytes / (kMaxFrameSize - kContinueOverhead) + 2;
  return kFrameHeaderSize + prefix + argBytes + 2 * 3 + frames * kContinueOverhead;
}

bool appendInit(std::vector<uint8_t>& out, FrameType type, uint32_t id, std::span<const Header> headers) {
  size_t size = kFrameHeaderSize + 2 + 2;
  for (const auto& [k, v] : headers) size += 2 + k.size() + 2 + v.size();
  if (size > kMaxFrameSize) return false;  // also bounds nh and every length to 16 bits
  out.reserve(out.size() + size);
  const size_t start = beginFrame(out, type, id);
  put16(out, kProtocolVersion);
  put16(out, headers.size());
  for (const auto& [k, v] : headers) {
    put16(out, k.size());
    putString(out, k);
    put16(out, v.size());
    putString(out, v);
  }
  endFrame(out, start);
  return true;
}

void appendEmpty(std::vector<uint8_t>& out, FrameType type, uint32_t id) {
  const size_t start = beginFrame(out, type, id);
  endFrame(out, start);
}

}  // namespace

// ---- Names -----------------------------------------------------------------------------------

const char* errorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalid: return "invalid";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kDeclined: return "declined";
    case ErrorCode::kUnexpected: return "unexpected";
    case ErrorCode::kBadRequest: return "bad_request";
    case ErrorCode::kNetwork: return "network";
    case ErrorCode::kUnhealthy: return "unhealthy";
    case ErrorCode::kFatal: return "fatal";
  }
  return "unknown";
}

const char* frameTypeName(uint8_t type) noexcept {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kInitReq: return "init_req";
    case FrameType::kInitRes: return "init_res";
    case FrameType::kCallReq: return "call_req";
    case FrameType::kCallRes: return "call_res";
    case FrameType::kCallReqContinue: return "call_req_continue";
    case FrameType::kCallResContinue: return "call_res_continue";
    case FrameType::kCancel: return "cancel";
    case FrameType::kClaim: return "claim";
    case FrameType::kPingReq: return "ping_req";
    case FrameType::kPingRes: return "ping_res";
    case FrameType::kError: return "error";
  }
  return "unknown";
}

// ---- Checksums -------------------------------------------------------------------------------

namespace detail {

uint32_t crc32cPortable(std::span<const uint8_t> data, uint32_t crc) noexcept {
  return crcSliceBy8(kCrc32cTables, data, crc);
}

uint32_t crc32cHardware(std::span<const uint8_t> data, uint32_t crc) noexcept {
#if defined(__x86_64__)
  return crc32cSse42(data, crc);
#else
  return crc32cPortable(data, crc);
#endif
}

bool hasHardwareCrc32c() noexcept {
  static const bool kHas = detectHardwareCrc32c();
  return kHas;
}

}  // namespace detail

uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc) noexcept {
  return detail::hasHardwareCrc32c() ? detail::crc32cHardware(data, crc) : detail::crc32cPortable(data, crc);
}

uint32_t crc32(std::span<const uint8_t> data, uint32_t crc) noexcept { return crcSliceBy8(kCrc32Tables, data, crc); }

uint32_t updateChecksum(ChecksumType type, std::span<const uint8_t> data, uint32_t prior) noexcept {
  switch (type) {
    case ChecksumType::kCrc32: return crc32(data, prior);
    case ChecksumType::kCrc32c: return crc32c(data, prior);
    case ChecksumType::kNone:
    case ChecksumType::kFarmhash32: break;
  }
  return prior;
}

// ---- Encoding --------------------------------------------------------------------------------

bool appendInitReq(std::vector<uint8_t>& out, uint32_t id, std::span<const Header> headers) {
  return appendInit(out, FrameType::kInitReq, id, headers);
}

bool appendInitRes(std::vector<uint8_t>& out, uint32_t id, std::span<const Header> headers) {
  return appendInit(out, FrameType::kInitRes, id, headers);
}

void appendPingReq(std::vector<uint8_t>& out, uint32_t id) { appendEmpty(out, FrameType::kPingReq, id); }
void appendPingRes(std::vector<uint8_t>& out, uint32_t id) { appendEmpty(out, FrameType::kPingRes, id); }

void appendError(std::vector<uint8_t>& out, uint32_t id, ErrorCode code, const Tracing& tracing,
                 std::string_view message) {
  constexpr size_t kFixed = kFrameHeaderSize + 1 + kTracingSize + 2;
  message = message.substr(0, kMaxFrameSize - kFixed);
  out.reserve(out.size() + kFixed + message.size());
  const size_t start = beginFrame(out, FrameType::kError, id);
  out.push_back(static_cast<uint8_t>(code));
  putBytes(out, tracing);
  put16(out, message.size());
  putString(out, message);
  endFrame(out, start);
}

bool isEncodable(const CallReq& req) noexcept {
  return req.ttlMs > 0 && req.service.size() <= 0xFF && transportHeadersEncodable(req.headers) &&
         sendableChecksum(req.checksum) && arg1FitsFirstFrame(callReqPrefixSize(req), req.arg1.size());
}

bool isEncodable(const CallRes& res) noexcept {
  return transportHeadersEncodable(res.headers) && sendableChecksum(res.checksum) &&
         arg1FitsFirstFrame(callResPrefixSize(res), res.arg1.size());
}

bool appendCallReq(std::vector<uint8_t>& out, const CallReq& req) {
  if (!isEncodable(req)) return false;
  const std::span<const uint8_t> arg1[1] = {req.arg1};
  const std::span<const uint8_t> arg2[1] = {req.arg2};
  const std::array<Pieces, 3> args{Pieces(arg1), Pieces(arg2), req.arg3};
  out.reserve(out.size() + callMessageReserve(callReqPrefixSize(req), args));

  MessageWriter w(out, req.id, FrameType::kCallReqContinue, req.checksum);
  w.openFirst(FrameType::kCallReq);
  put32(out, req.ttlMs);
  putBytes(out, req.tracing);
  out.push_back(static_cast<uint8_t>(req.service.size()));
  putString(out, req.service);
  putTransportHeaders(out, req.headers);
  w.writeArgs(args);
  return true;
}

bool appendCallReqGather(std::vector<uint8_t>& meta, std::vector<Segment>& segments, const CallReq& req) {
  if (!isEncodable(req)) return false;
  const std::span<const uint8_t> arg1[1] = {req.arg1};
  const std::span<const uint8_t> arg2[1] = {req.arg2};
  const std::array<Pieces, 3> args{Pieces(arg1), Pieces(arg2), req.arg3};
  MessageWriter w(meta, req.id, FrameType::kCallReqContinue, req.checksum, &segments);
  w.openFirst(FrameType::kCallReq);
  put32(meta, req.ttlMs);
  putBytes(meta, req.tracing);
  meta.push_back(static_cast<uint8_t>(req.service.size()));
  putString(meta, req.service);
  putTransportHeaders(meta, req.headers);
  w.writeArgs(args);
  return true;
}

bool appendCallRes(std::vector<uint8_t>& out, const CallRes& res) {
  if (!isEncodable(res)) return false;
  const std::span<const uint8_t> arg1[1] = {res.arg1};
  const std::span<const uint8_t> arg2[1] = {res.arg2};
  const std::array<Pieces, 3> args{Pieces(arg1), Pieces(arg2), res.arg3};
  out.reserve(out.size() + callMessageReserve(callResPrefixSize(res), args));

  MessageWriter w(out, res.id, FrameType::kCallResContinue, res.checksum);
  w.openFirst(FrameType::kCallRes);
  out.push_back(res.code);
  putBytes(out, res.tracing);
  putTransportHeaders(out, res.headers);
  w.writeArgs(args);
  return true;
}

// ---- Thrift arg2 -----------------------------------------------------------------------------

bool appendThriftHeaders(std::vector<uint8_t>& out, std::span<const Header> headers) {
  if (headers.size() > 0xFFFF) return false;
  size_t size = 2;
  for (const auto& [k, v] : headers) {
    if (k.size() > 0xFFFF || v.size() > 0xFFFF) return false;
    size += 4 + k.size() + v.size();
  }
  out.reserve(out.size() + size);
  put16(out, headers.size());
  for (const auto& [k, v] : headers) {
    put16(out, k.size());
    putString(out, k);
    put16(out, v.size());
    putString(out, v);
  }
  return true;
}

bool parseThriftHeaders(std::span<const uint8_t> arg2, std::vector<Header>& out) {
  out.clear();
  Reader r(arg2);
  uint16_t nh = 0;
  if (!r.u16(nh)) return false;
  out.reserve(std::min<size_t>(nh, r.left() / 4));  // each header needs ≥ 4 bytes
  for (uint16_t i = 0; i < nh; ++i) {
    uint16_t kl = 0, vl = 0;
    std::string_view k, v;
    if (!r.u16(kl) || !r.str(kl, k) || !r.u16(vl) || !r.str(vl, v)) return false;
    out.emplace_back(k, v);
  }
  return r.left() == 0;
}

// ---- Parsing ---------------------------------------------------------------------------------

ParseStatus parseFrame(std::span<const uint8_t> stream, FrameView& frame, size_t& consumed) noexcept {
  if (stream.size() < 2) return ParseStatus::kNeedMore;
  const size_t size = load16(stream.data());
  if (size < kFrameHeaderSize) return ParseStatus::kMalformed;
  if (stream.size() < size) return ParseStatus::kNeedMore;
  frame.type = stream[2];
  frame.id = load32(&stream[4]);
  frame.payload = stream.subspan(kFrameHeaderSize, size - kFrameHeaderSize);
  consumed = size;
  return ParseStatus::kOk;
}

std::string_view InitView::get(std::string_view key) const noexcept {
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return {};
}

bool parseInit(std::span<const uint8_t> payload, InitView& out) {
  out.headers.clear();
  Reader r(payload);
  uint16_t nh = 0;
  if (!r.u16(out.version) || !r.u16(nh)) return false;
  out.headers.reserve(std::min<size_t>(nh, r.left() / 4));  // each header needs ≥ 4 bytes
  for (uint16_t i = 0; i < nh; ++i) {
    uint16_t kl = 0, vl = 0;
    std::string_view k, v;
    if (!r.u16(kl) || !r.str(kl, k) || !r.u16(vl) || !r.str(vl, v)) return false;
    out.headers.emplace_back(k, v);
  }
  return r.left() == 0;
}

bool parseError(std::span<const uint8_t> payload, ErrorView& out) noexcept {
  Reader r(payload);
  uint8_t code = 0;
  uint16_t len = 0;
  std::span<const uint8_t> tracing;
  if (!r.u8(code) || !r.bytes(kTracingSize, tracing) || !r.u16(len) || !r.str(len, out.message)) return false;
  out.code = static_cast<ErrorCode>(code);
  std::copy(tracing.begin(), tracing.end(), out.tracing.begin());
  return r.left() == 0;
}

// ---- CallAssembler ---------------------------------------------------------------------------

std::string_view CallAssembler::header(std::string_view key) const noexcept {
  for (const auto& [k, v] : headers_) {
    if (k == key) return v;
  }
  return {};
}

void CallAssembler::reset() noexcept {
  state_ = State::kEmpty;
  request_ = false;
  flags_ = 0;
  code_ = 0;
  checksumType_ = ChecksumType::kNone;
  id_ = 0;
  ttlMs_ = 0;
  checksum_ = 0;
  tracing_ = {};
  service_.clear();
  headers_.clear();
  for (auto& a : args_) a.clear();
  currentArg_ = 0;
  argStarted_ = false;
  argBytes_ = 0;
  frames_ = 0;
}

CallAssembler::Status CallAssembler::feed(const FrameView& frame) {
  switch (state_) {
    case State::kEmpty: return feedFirst(frame);
    case State::kInProgress: return feedContinue(frame);
    case State::kDone:  // a frame after the final one: the message stays as it was completed
    case State::kFailed: break;
  }
  return Status::kMalformed;
}

CallAssembler::Status CallAssembler::feedFirst(const FrameView& frame) {
  if (frame.type == static_cast<uint8_t>(FrameType::kCallReq)) {
    request_ = true;
  } else if (frame.type == static_cast<uint8_t>(FrameType::kCallRes)) {
    request_ = false;
  } else {
    return fail(Status::kMalformed);
  }
  id_ = frame.id;
  frames_ = 1;

  Reader r(frame.payload);
  std::span<const uint8_t> tracing;
  if (!r.u8(flags_)) return fail(Status::kMalformed);
  if (request_ ? !r.u32(ttlMs_) : !r.u8(code_)) return fail(Status::kMalformed);
  if (!r.bytes(kTracingSize, tracing)) return fail(Status::kMalformed);
  std::copy(tracing.begin(), tracing.end(), tracing_.begin());
  if (request_) {
    uint8_t len = 0;
    std::string_view service;
    if (!r.u8(len) || !r.str(len, service)) return fail(Status::kMalformed);
    service_.assign(service);
  }

  uint8_t nh = 0;
  if (!r.u8(nh)) return fail(Status::kMalformed);
  headers_.reserve(std::min<size_t>(nh, r.left() / 2));  // each header needs ≥ 2 bytes
  for (uint8_t i = 0; i < nh; ++i) {
    uint8_t kl = 0, vl = 0;
    std::string_view k, v;
    if (!r.u8(kl) || !r.str(kl, k) || !r.u8(vl) || !r.str(vl, v)) return fail(Status::kMalformed);
    headers_.emplace_back(std::string(k), std::string(v));
  }

  uint8_t type = 0;
  uint32_t csum = 0;
  if (!r.u8(type)) return fail(Status::kMalformed);
  if (type > static_cast<uint8_t>(ChecksumType::kCrc32c)) return fail(Status::kMalformed);
  checksumType_ = static_cast<ChecksumType>(type);
  // Farmhash32 is the one type we cannot compute; accepting it unchecked would let a corrupted
  // body through, so the caller decides (answer with an error, or drop).
  if (checksumType_ == ChecksumType::kFarmhash32) return fail(Status::kUnsupportedChecksum);
  if (checksumType_ != ChecksumType::kNone && !r.u32(csum)) return fail(Status::kMalformed);

  state_ = State::kInProgress;
  return consumeArgs(r.rest(), (flags_ & kFlagMoreFragments) == 0, csum);
}

CallAssembler::Status CallAssembler::feedContinue(const FrameView& frame) {
  const auto expected = request_ ? FrameType::kCallReqContinue : FrameType::kCallResContinue;
  if (frame.type != static_cast<uint8_t>(expected) || frame.id != id_) return fail(Status::kMalformed);
  ++frames_;

  Reader r(frame.payload);
  uint8_t flags = 0, type = 0;
  uint32_t csum = 0;
  if (!r.u8(flags) || !r.u8(type)) return fail(Status::kMalformed);
  if (type != static_cast<uint8_t>(checksumType_)) return fail(Status::kMalformed);  // Go and Node reject a change too
  if (checksumType_ != ChecksumType::kNone && !r.u32(csum)) return fail(Status::kMalformed);
  return consumeArgs(r.rest(), (flags & kFlagMoreFragments) == 0, csum);
}

// Chunk semantics (§1.6): inside a frame, a chunk followed by another chunk ends its arg; the
// last chunk of a non-final frame is continued by the first chunk of the next frame; the final
// frame ends whatever arg is open. Exactly three args must result.
CallAssembler::Status CallAssembler::consumeArgs(std::span<const uint8_t> region, bool lastFrame,
                                                 uint32_t frameChecksum) {
  // Pass 1: structure and checksum, before anything is kept or allocated.
  size_t chunks = 0;
  size_t bytes = 0;
  uint32_t running = checksum_;
  for (size_t off = 0; off < region.size();) {
    if (region.size() - off < kChunkPrefix) return fail(Status::kMalformed);
    const size_t n = load16(&region[off]);
    off += kChunkPrefix;
    if (n > region.size() - off) return fail(Status::kMalformed);
    running = updateChecksum(checksumType_, region.subspan(off, n), running);
    off += n;
    bytes += n;
    ++chunks;
  }
  if (chunks > 0 && currentArg_ + chunks - 1 >= args_.size()) return fail(Status::kMalformed);  // data after arg3
  if (checksumType_ != ChecksumType::kNone && running != frameChecksum) return fail(Status::kBadChecksum);
  if (bytes > maxArgBytes_ - argBytes_) return fail(Status::kMalformed);

  // Pass 2: keep the bytes.
  size_t off = 0;
  for (size_t c = 0; c < chunks; ++c) {
    const size_t n = load16(&region[off]);
    off += kChunkPrefix;
    auto& arg = args_[currentArg_];
    arg.insert(arg.end(), region.begin() + static_cast<std::ptrdiff_t>(off),
               region.begin() + static_cast<std::ptrdiff_t>(off + n));
    off += n;
    argStarted_ = true;
    if (c + 1 < chunks) {
      ++currentArg_;
      argStarted_ = false;
    }
  }
  argBytes_ += bytes;
  checksum_ = running;

  if (!lastFrame) return Status::kIncomplete;
  if (argStarted_) {
    ++currentArg_;
    argStarted_ = false;
  }
  if (currentArg_ != args_.size()) return fail(Status::kMalformed);
  state_ = State::kDone;
  return Status::kComplete;
}

}  // namespace jagent::report::tchannel
