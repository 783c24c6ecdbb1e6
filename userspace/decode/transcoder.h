// Transcoder: one UDP datagram (a Thrift `Agent.emitBatch` / `Agent.emitZipkinBatch` message in
// compact or binary protocol) → the TBinaryProtocol bytes the collector wants, in one pass.
//
// Output for a jaeger batch: the binary encoding of one `jaeger.Batch` struct (fields + stop),
// ready to be concatenated after a `list<Batch>` header in `Collector::submitBatches` arg3.
// Output for a zipkin batch: the binary encodings of the N `zipkincore.Span` structs back to
// back (N = summary().spans), ready to be concatenated after a `list<Span>` header in
// `ZipkinCollector::submitZipkinBatch` arg3.
//
// Why this shape: batches are concatenable (design.md decision 2), so the reporter coalesces
// them with memcpy and never re-encodes.
//
// Threading: a Transcoder is owned by one decode worker and is not thread-safe. It keeps its
// output buffer between calls, so after warm-up a datagram costs no heap allocation. The buffer
// is bounded by the input: at most kCompactExpansion x the datagram plus a fixed room for the
// agent tags (a repeated Process or Process.tags replaces the earlier one, so the tags are in
// the output once). After an outsized datagram (a budget above kRetainedOutputBytes) the buffer
// is given back once kShrinkAfter smaller ones in a row have passed, so one hostile or unusual
// datagram does not pin memory, and a client that keeps sending large ones does not reallocate.
// Hostile input: every declared length/count is checked against the bytes left before use,
// nesting depth is bounded, and failures return a RejectReason (never throw, never abort).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jagent::decode {

// The Thrift protocol a port expects (reference-agent.md §1.1: 5775 and 6831 compact, 6832 binary).
enum class Protocol : uint8_t { kCompact, kBinary };

// What the datagram carried.
enum class Format : uint8_t { kJaeger, kZipkin };

// Why a datagram was rejected. Stable names (reasonName) are the `reason` label of the
// decode-rejected metric; keep the list and the names in step.
enum class RejectReason : uint8_t {
  kOk = 0,
  kTruncated,           // ran out of bytes mid-value
  kWrongProtocol,       // e.g. binary bytes on the compact port (first byte says which)
  kBadEnvelope,         // bad protocol id / version / name length in the message header
  kBadMessageType,      // envelope type is not CALL or ONEWAY
  kUnknownMethod,       // not emitBatch / emitZipkinBatch
  kLengthTooLarge,      // declared string/container length larger than the bytes left
  kNegativeLength,      // declared length/count < 0 (binary i32 lengths)
  kDepthExceeded,       // nesting deeper than kMaxDepth
  kBadVarint,           // varint longer than its type allows
  kBadType,             // a wire type id that does not exist
  kWrongFieldType,      // a known field with the wrong wire type
  kMissingField,        // a required field that the collector needs is absent (Batch.process, Batch.spans, ...)
  kTrailingBytes,       // bytes after the end of the message
  kCount
};

[[nodiscard]] const char* reasonName(RejectReason r) noexcept;

inline constexpr int kMaxDepth = 64;

// Output-buffer retention (see Transcoder): 256 KiB covers the budget of any binary datagram and
// of compact datagrams up to 32 KiB.
inline constexpr size_t kRetainedOutputBytes = 256 * 1024;
inline constexpr uint32_t kShrinkAfter = 64;

// Client loss statistics carried by newer clients (jaeger.thrift ClientStats).
struct ClientStats {
  int64_t fullQueueDroppedSpans = 0;
  int64_t tooLargeDroppedSpans = 0;
  int64_t failedToEmitSpans = 0;
};

// What the walk learned about the batch on the way through. Strings are copied into fixed
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

// Tags the agent adds to every jaeger batch's Process.tags (--agent.tags), as string tags.
struct AgentTag {
  std::string key;
  std::string value;
};

class Transcoder {
 public:
  explicit Transcoder(std::vector<AgentTag> agentTags = {});

  // Transcodes one datagram. `expected` is the protocol of the port it arrived on.
  // On kOk, output() and summary() describe it until the next call.
  [[nodiscard]] RejectReason transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept;

  [[nodiscard]] std::span<const uint8_t> output() const noexcept { return {out_.data(), outLen_}; }
  [[nodiscard]] const BatchSummary& summary() const noexcept { return summary_; }
  // Bytes the output buffer holds now (for tests of the retention bound).
  [[nodiscard]] size_t bufferBytes() const noexcept;

 private:
  std::vector<AgentTag> agentTags_;
  std::vector<uint8_t> agentTagsBinary_;  // the injected Tag structs, pre-encoded in binary
  std::vector<uint8_t> out_;              // grows with the budgets needed, shrinks back (transcode())
  size_t outLen_ = 0;
  uint32_t smallRun_ = 0;                 // consecutive datagrams whose budget fit kRetainedOutputBytes
  BatchSummary summary_;
};

}  // namespace jagent::decode
