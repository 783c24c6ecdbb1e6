// TChannel v2 frame codec (wire-protocols.md §1, §2): encoders that append whole frames to a
// byte vector, a frame splitter for a received byte stream, and a reassembler for (possibly
// fragmented) call req / call res messages. Pure: no I/O, no clocks, no logging.
//
// Ownership: append* functions only append to the caller's vector and never keep pointers into
// their inputs. FrameView / InitView / ErrorView borrow from the caller's bytes and are valid only
// while those bytes are. CallAssembler owns copies of everything it reports.
// Threading: the free functions are reentrant; a CallAssembler belongs to one thread at a time.
// Errors: encoders return false (appending nothing) when their input cannot be represented on
// the wire; nothing here throws except std::bad_alloc from the vectors. Parsers never read past
// the span they are given and never allocate more than a small multiple of the bytes received.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jagent::report::tchannel {

inline constexpr size_t kFrameHeaderSize = 16;
inline constexpr size_t kMaxFrameSize = 0xFFFF;
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr uint32_t kNullFrameId = 0xFFFFFFFF;  // error frames not tied to a message
inline constexpr uint8_t kFlagMoreFragments = 0x01;    // call req/res (+continue) flags bit
inline constexpr size_t kMaxArg1Size = 0x4000;         // spec and tchannel-node limit

enum class FrameType : uint8_t {
  kInitReq = 0x01,
  kInitRes = 0x02,
  kCallReq = 0x03,
  kCallRes = 0x04,
  kCallReqContinue = 0x13,
  kCallResContinue = 0x14,
  kCancel = 0xC0,
  kClaim = 0xC1,
  kPingReq = 0xD0,
  kPingRes = 0xD1,
  kError = 0xFF
};

enum class ChecksumType : uint8_t { kNone = 0, kCrc32 = 1, kFarmhash32 = 2, kCrc32c = 3 };

enum class ErrorCode : uint8_t {
  kInvalid = 0,
  kTimeout = 1,
  kCancelled = 2,
  kBusy = 3,
  kDeclined = 4,
  kUnexpected = 5,
  kBadRequest = 6,
  kNetwork = 7,
  kUnhealthy = 8,
  kFatal = 0xFF
};

// Stable lower-case names ("busy", "bad_request", ...; "unknown" for codes outside the enum),
// usable as metric label values.
[[nodiscard]] const char* errorCodeName(ErrorCode code) noexcept;
// "call_req", "error", ...; "unknown" for anything else. For logs.
[[nodiscard]] const char* frameTypeName(uint8_t type) noexcept;

// ---- Checksums -------------------------------------------------------------------------------
// Both are the usual reflected CRCs with ~0 pre/post conditioning, so they chain:
// crc(b, crc(a)) == crc(a‖b), which is exactly TChannel's per-frame running checksum.
// crc32c("123456789") == 0xE3069283, crc32("123456789") == 0xCBF43926.

// Castagnoli. Uses the SSE4.2 crc32 instruction when the CPU has it, slice-by-8 tables otherwise.
[[nodiscard]] uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0) noexcept;
// IEEE 802.3 / zlib (what TChannel calls csumtype 1). Slice-by-8 tables.
[[nodiscard]] uint32_t crc32(std::span<const uint8_t> data, uint32_t crc = 0) noexcept;
// The running checksum of `type` continued over `data`. kNone (and kFarmhash32, which we cannot
// compute) return `prior` unchanged.
[[nodiscard]] uint32_t updateChecksum(ChecksumType type, std::span<const uint8_t> data, uint32_t prior) noexcept;

namespace detail {
// Both CRC32C implementations, exposed so the tests can check one against the other.
[[nodiscard]] uint32_t crc32cPortable(std::span<const uint8_t> data, uint32_t crc) noexcept;
[[nodiscard]] uint32_t crc32cHardware(std::span<const uint8_t> data, uint32_t crc) noexcept;  // only if hasHardwareCrc32c()
[[nodiscard]] bool hasHardwareCrc32c() noexcept;
}  // namespace detail

// ---- Encoding --------------------------------------------------------------------------------

using Header = std::pair<std::string_view, std::string_view>;
using Tracing = std::array<uint8_t, 25>;  // spanid:8 parentid:8 traceid:8 traceflags:1

// init req/res body: version:2 (always 2) nh:2 (key~2 value~2){nh}. Returns false (and appends
// nothing) if the frame would exceed kMaxFrameSize.
bool appendInitReq(std::vector<uint8_t>& out, uint32_t id, std::span<const Header> headers);
bool appendInitRes(std::vector<uint8_t>& out, uint32_t id, std::span<const Header> headers);
void appendPingReq(std::vector<uint8_t>& out, uint32_t id);
void appendPingRes(std::vector<uint8_t>& out, uint32_t id);
// code:1 tracing:25 message~2. A message too long for one frame is cut to fit (it is only text).
void appendError(std::vector<uint8_t>& out, uint32_t id, ErrorCode code, const Tracing& tracing,
                 std::string_view message);

struct CallReq {
  uint32_t id = 0;
  uint32_t ttlMs = 1000;  // must be > 0: tchannel-node answers ttl 0 with a fatal error and closes
  Tracing tracing{};
  std::string_view service;           // ≤ 255 bytes
  std::span<const Header> headers;    // transport headers, ≤ 255 of them, keys/values ≤ 255 bytes
  ChecksumType checksum = ChecksumType::kCrc32c;  // kFarmhash32 is not supported for sending
  std::span<const uint8_t> arg1;
  std::span<const uint8_t> arg2;
  // arg3 as pieces that are logically concatenated (the reporter coalesces batches with no extra
  // copy: each piece is copied once, straight into the frames).
  std::span<const std::span<const uint8_t>> arg3;
};

struct CallRes {
  uint32_t id = 0;
  uint8_t code = 0;  // 0 OK, 1 application error
  Tracing tracing{};
  std::span<const Header> headers;
  ChecksumType checksum = ChecksumType::kCrc32c;
  std::span<const uint8_t> arg1, arg2;
  std::span<const std::span<const uint8_t>> arg3;
};

// True when appendCallReq/appendCallRes can encode the message: field lengths fit their length
// prefixes; arg1 is ≤ kMaxArg1Size and, with everything before it, fits in the first frame
// with room for arg2's length prefix (tchannel-node rejects a call whose first frame does not
// hold all of arg1); ttl > 0 (req); checksum type 0, 1 or 3.
[[nodiscard]] bool isEncodable(const CallReq& req) noexcept;
[[nodiscard]] bool isEncodable(const CallRes& res) noexcept;

// Appends the whole message: one call req (call res) frame, then call req (res) continue frames
// as needed, each filled to exactly kMaxFrameSize the way tchannel-node 4.0.1 fills them, flag
// 0x01 on all but the last frame, running checksum in every frame. See the fragmentation notes
// in tchannel_frame.cc for the exact rule and the one place it deliberately differs from Node.
// Returns false (appending nothing) when !isEncodable().
bool appendCallReq(std::vector<uint8_t>& out, const CallReq& req);
bool appendCallRes(std::vector<uint8_t>& out, const CallRes& res);

// The same call req, for gather output (sendmsg iovecs) without copying large arg pieces: the
// bytes the encoder makes itself (frame headers, fixed fields, chunk prefixes, checksums, and
// arg pieces shorter than kGatherMinPiece) are appended to `meta`; `segments` receives the whole
// message in order, each a slice of `meta` (by offset: `meta` may grow) or of an arg piece (by
// pointer: the caller keeps those bytes alive and unchanged until they are written). Flattened,
// the segments are byte for byte what appendCallReq() appends. The checksums are computed over
// the same slices, so every body byte is read once here and once by the kernel.
struct Segment {
  const uint8_t* external = nullptr;  // null: meta[offset, offset + size)
  size_t offset = 0;
  size_t size = 0;
};
inline constexpr size_t kGatherMinPiece = 512;
bool appendCallReqGather(std::vector<uint8_t>& meta, std::vector<Segment>& segments, const CallReq& req);

// ---- Thrift over TChannel (as=thrift) arg2: nh:2 (key~2 value~2){nh} ------------------------

inline constexpr std::array<uint8_t, 2> kEmptyThriftHeaders{0, 0};  // the arg2 of every plain call
// Returns false (appending nothing) if the encoding would exceed 65535 headers or a key/value
// would exceed 65535 bytes.
bool appendThriftHeaders(std::vector<uint8_t>& out, std::span<const Header> headers);
// Parses a whole arg2 (trailing bytes are an error, as in both reference peers). The views
// point into `arg2`.
[[nodiscard]] bool parseThriftHeaders(std::span<const uint8_t> arg2, std::vector<Header>& out);

// ---- Parsing ---------------------------------------------------------------------------------

enum class ParseStatus { kOk, kNeedMore, kMalformed };

struct FrameView {
  uint8_t type = 0;
  uint32_t id = 0;
  std::span<const uint8_t> payload;  // the bytes after the 16-byte header
};

// Looks at the start of a byte stream. kNeedMore until the whole frame is there; kMalformed if
// the declared size is < 16 (the stream cannot be resynchronised after that). On kOk, `frame`
// views into `stream` and `consumed` is the frame size.
[[nodiscard]] ParseStatus parseFrame(std::span<const uint8_t> stream, FrameView& frame, size_t& consumed) noexcept;

struct InitView {
  uint16_t version = 0;
  std::vector<Header> headers;  // views into the payload
  // First value for `key`, or an empty view.
  [[nodiscard]] std::string_view get(std::string_view key) const noexcept;
};
// init req/res payload; false on truncation or trailing bytes.
[[nodiscard]] bool parseInit(std::span<const uint8_t> payload, InitView& out);

struct ErrorView {
  ErrorCode code = ErrorCode::kInvalid;
  Tracing tracing{};
  std::string_view message;  // view into the payload
};
// error payload; false on truncation or trailing bytes.
[[nodiscard]] bool parseError(std::span<const uint8_t> payload, ErrorView& out) noexcept;

// Reassembles one call req or call res message from its frames (0x03 then 0x13..., or 0x04 then
// 0x14...), checking as it goes: the same id, frame type family and checksum type in every
// frame; the running checksum of types 1 and 3 (type 2 → kUnsupportedChecksum; type 0 is not
// checked); every chunk within its frame; exactly three args in the end, nothing after arg3;
// header counts and lengths within the frame. A frame's checksum is verified before any of its
// args are kept.
//
// After any status other than kIncomplete, feed() returns kMalformed until reset(); accessors
// are meaningful after kComplete. Args accumulate only the bytes actually received, and at most
// maxArgBytes in total (more is kMalformed) so a hostile peer cannot grow it without bound.
class CallAssembler {
 public:
  enum class Status { kIncomplete, kComplete, kMalformed, kBadChecksum, kUnsupportedChecksum };

  static constexpr size_t kDefaultMaxArgBytes = size_t{64} << 20;
  explicit CallAssembler(size_t maxArgBytes = kDefaultMaxArgBytes) noexcept : maxArgBytes_(maxArgBytes) {}

  // The first frame must be 0x03 or 0x04; later ones the matching continue type.
  Status feed(const FrameView& frame);

  [[nodiscard]] bool isRequest() const noexcept { return request_; }
  [[nodiscard]] uint32_t id() const noexcept { return id_; }
  [[nodiscard]] uint8_t flags() const noexcept { return flags_; }  // of the first frame
  [[nodiscard]] uint32_t ttlMs() const noexcept { return ttlMs_; }  // call req only (0 is passed through; rejecting it is the caller's call)
  [[nodiscard]] uint8_t code() const noexcept { return code_; }    // call res only
  [[nodiscard]] const Tracing& tracing() const noexcept { return tracing_; }
  [[nodiscard]] std::string_view service() const noexcept { return service_; }  // call req only
  [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& headers() const noexcept { return headers_; }
  // First value of a transport header, or an empty view.
  [[nodiscard]] std::string_view header(std::string_view key) const noexcept;
  [[nodiscard]] ChecksumType checksumType() const noexcept { return checksumType_; }
  [[nodiscard]] uint32_t checksum() const noexcept { return checksum_; }  // running value after the last frame fed
  [[nodiscard]] size_t frames() const noexcept { return frames_; }
  [[nodiscard]] const std::vector<uint8_t>& arg1() const noexcept { return args_[0]; }
  [[nodiscard]] const std::vector<uint8_t>& arg2() const noexcept { return args_[1]; }
  [[nodiscard]] const std::vector<uint8_t>& arg3() const noexcept { return args_[2]; }

  // Ready for a new message; keeps the args' capacity.
  void reset() noexcept;

 private:
  enum class State : uint8_t { kEmpty, kInProgress, kDone, kFailed };

  Status feedFirst(const FrameView& frame);
  Status feedContinue(const FrameView& frame);
  Status consumeArgs(std::span<const uint8_t> region, bool lastFrame, uint32_t frameChecksum);
  Status fail(Status s) noexcept {
    state_ = State::kFailed;
    return s;
  }

  size_t maxArgBytes_;
  State state_ = State::kEmpty;
  bool request_ = false;
  uint8_t flags_ = 0;
  uint8_t code_ = 0;
  ChecksumType checksumType_ = ChecksumType::kNone;
  uint32_t id_ = 0;
  uint32_t ttlMs_ = 0;
  uint32_t checksum_ = 0;
  Tracing tracing_{};
  std::string service_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::array<std::vector<uint8_t>, 3> args_;
  size_t currentArg_ = 0;    // the arg the next chunk continues
  bool argStarted_ = false;  // a chunk (maybe empty) of currentArg_ has been seen
  size_t argBytes_ = 0;
  size_t frames_ = 0;
};

}  // namespace jagent::report::tchannel
