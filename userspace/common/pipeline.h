// The types that cross the seams of the data path, in one leaf header (design.md "One folder,
// one seam"): receive/ produces Datagrams, decode/ turns them into EncodedBatches with a
// BatchSummary, report/ sends them. Every stage includes this header and none includes another
// stage's headers for these types, so the folders form a DAG (tests/lint/include_rules.py).
//
// Nothing here allocates per datagram or owns a thread.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace jagent {

// The Thrift protocol a port expects (reference-agent.md §1.1: 5775 and 6831 compact, 6832 binary).
enum class Protocol : uint8_t { kCompact, kBinary };

// What a datagram carried.
enum class Format : uint8_t { kJaeger, kZipkin };

[[nodiscard]] constexpr const char* formatName(Format f) noexcept { return f == Format::kJaeger ? "jaeger" : "zipkin"; }

// Why the decoder rejected a datagram. Stable names (reasonName) are the `reason` label of the
// decode-rejected metric and the field names of the XDP user_stats map; keep them in step.
enum class RejectReason : uint8_t {
  kOk = 0,
  kTruncated,           // ran out of bytes mid-value
  kWrongProtocol,       // e.g. binary bytes on the compact port (first byte says which)
  kBadEnvelope,         // bad protocol id / version / name length in the message header
  kBadMessageType,      // envelope type is not CALL or ONEWAY
  kUnknownMethod,       // not emitBatch / emitZipkinBatch
  kLengthTooLarge,      // declared string/container length larger than the bytes left
  kNegativeLength,      // declared length/count < 0 (binary i32 lengths)
  kDepthExceeded,       // nesting deeper than decode::kMaxDepth
  kBadVarint,           // varint longer than its type allows
  kBadType,             // a wire type id that does not exist
  kWrongFieldType,      // a known field with the wrong wire type
  kMissingField,        // a required field that the collector needs is absent (Batch.process, Batch.spans, ...)
  kTrailingBytes,       // bytes after the end of the message
  kCount
};

[[nodiscard]] const char* reasonName(RejectReason r) noexcept;  // defined in decode/transcoder.cc

// Tags the agent adds to every jaeger batch's Process.tags (--agent.tags), as string tags.
struct AgentTag {
  std::string key;
  std::string value;
};

// Client loss statistics carried by newer clients (jaeger.thrift ClientStats).
struct ClientStats {
  int64_t fullQueueDroppedSpans = 0;
  int64_t tooLargeDroppedSpans = 0;
  int64_t failedToEmitSpans = 0;
};

// What the decoder learned about a batch on the way through. Strings are copied into fixed
// buffers (truncated if longer) so the summary outlives the datagram without allocating.
struct BatchSummary {
  Format format = Format::kJaeger;
  uint32_t spans = 0;
  std::string_view serviceName() const { return {service.data(), serviceLen}; }  // jaeger: Process.serviceName; zipkin: first endpoint service_name seen, may be empty
  std::string_view clientUuid() const { return {uuid.data(), uuidLen}; }         // Process tag "client-uuid" (vType STRING), may be empty
  bool hasSeqNo = false;
  int64_t seqNo = 0;
  bool hasStats = false;
  ClientStats stats;

  std::array<char, 128> service{};
  uint8_t serviceLen = 0;
  std::array<char, 64> uuid{};
  uint8_t uuidLen = 0;
};

// ---- receive → decode ------------------------------------------------------------------------

// Implemented by receivers; release() must be thread-safe and must not block for long.
class BufferOwner {
 public:
  virtual void release(uint32_t token) noexcept = 0;

 protected:
  ~BufferOwner() = default;
};

// The bytes of one UDP payload, borrowed from the receiver that produced it (an io_uring
// provided buffer or an AF_XDP UMEM frame). Move-only: exactly one holder may give the buffer
// back, by release() or by destruction, after which the bytes are gone.
struct Datagram {
  std::span<const uint8_t> bytes;
  sockaddr_in6 peer{};          // sockaddr_in or sockaddr_in6 (family tells), for reject logs
  BufferOwner* owner = nullptr;
  uint32_t token = 0;

  Datagram() = default;
  Datagram(const Datagram&) = delete;
  Datagram& operator=(const Datagram&) = delete;
  Datagram(Datagram&& o) noexcept : bytes(o.bytes), peer(o.peer), owner(std::exchange(o.owner, nullptr)), token(o.token) {}
  Datagram& operator=(Datagram&& o) noexcept {
    if (this != &o) {
      release();
      bytes = o.bytes;
      peer = o.peer;
      owner = std::exchange(o.owner, nullptr);
      token = o.token;
    }
    return *this;
  }
  ~Datagram() { release(); }

  void release() noexcept {
    if (owner) owner->release(token);
    owner = nullptr;
  }
};

// Where receivers hand datagrams. push() never blocks. true: the sink took the datagram (and
// releases it). false: "full"; the datagram was not consumed and the caller counts the drop
// (the buffer is released when the caller's Datagram goes out of scope).
class DatagramSink {
 public:
  virtual bool push(Datagram& d) noexcept = 0;
  // False while the sink would only drop what it is given (e.g. the reporter's queue is full):
  // the receiver then stops reading, so the kernel drops (and counts) instead of the agent
  // spending CPU on datagrams it cannot forward. Any thread; cheap (one relaxed load).
  [[nodiscard]] virtual bool accepting() const noexcept { return true; }

 protected:
  ~DatagramSink() = default;
};

// ---- decode → report -------------------------------------------------------------------------

// One transcoded UDP batch, borrowed from the decoder until Reporter::emit() returns.
struct EncodedBatch {
  Format format = Format::kJaeger;
  std::span<const uint8_t> bytes;            // binary Batch struct, or N binary zipkin Span structs
  const BatchSummary* summary = nullptr;
  uint16_t port = 0;                         // local UDP port it arrived on (for logs)
  uint32_t spansDropped = 0;                 // of summary->spans, left out by the encoder (counted there)
  // The last `mergeSuffix` bytes of `bytes` are a part that batches may share (api_v2: the
  // `Batch.process` record). A reporter whose calls hold one message may merge batches whose
  // suffixes are byte-identical into one, by inserting the rest before the shared suffix. 0 = none.
  uint32_t mergeSuffix = 0;
  [[nodiscard]] uint32_t spans() const noexcept { return summary ? summary->spans - spansDropped : 0; }
};

}  // namespace jagent
