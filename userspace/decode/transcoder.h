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

#include "common/pipeline.h"

namespace jagent::decode {

// The seam types live in common/pipeline.h; decode:: names kept for its users.
using jagent::AgentTag;
using jagent::BatchSummary;
using jagent::ClientStats;
using jagent::Format;
using jagent::Protocol;
using jagent::reasonName;
using jagent::RejectReason;

inline constexpr int kMaxDepth = 64;

// Output-buffer retention (see Transcoder): 256 KiB covers the budget of any binary datagram and
// of compact datagrams up to 32 KiB.
inline constexpr size_t kRetainedOutputBytes = 256 * 1024;
inline constexpr uint32_t kShrinkAfter = 64;

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
