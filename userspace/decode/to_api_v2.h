// ApiV2Transcoder: one UDP datagram (Agent.emitBatch, compact or binary) → the protobuf bytes of
// one `jaeger.api_v2.Batch`, as jaeger-agent's gRPC reporter would send it
// (modern-collectors.md §2: Batch.spans without per-span process, then Batch.process with the
// agent tags appended; field tables §1.2; ids §1.3; times §1.4).
//
// output()        the Batch message bytes (no tag, no length).
// postSpansRequest() the same bytes framed as a whole PostSpansRequest{batch=1} (`0a len Batch`),
//                 contiguous in the same buffer — no copy (the body is written after a gap the
//                 frame header is placed into).
//
// Where we differ from the Go agent on purpose (§2.4a): a span whose start time or a log
// timestamp gogo cannot marshal (negative, or ≥ year 10000; §1.4) is dropped alone and counted
// (spansDropped()), where the Go agent loses the whole batch; agent tags come in flag order.
// An unknown Thrift TagType becomes the STRING "Unknown VType: <n>" (Go's text has pointer
// addresses in it and cannot be reproduced, §2.3).
//
// Zipkin (emitZipkinBatch, §2.4): converted by zipkin::ZipkinDomain (zipkin_domain.h) as the Go
// agent's gRPC reporter does — sanitizers, ToDomain, split cs+sr spans — into a Batch with no
// Batch.process and a Process on every span (field 10: service, sorted tags, then the agent tags
// once, in flag order). A span without a service name is delivered as `unknown-service-name`
// and counted (spansUnknownService(), §2.4a); a domain span whose times gogo cannot marshal is
// left out, and its Zipkin span counted in spansDropped(). summary().spans counts Zipkin spans
// (before the split), as the Go agent's reporter metrics do. Output is capped at
// kMaxZipkinOutputBytes (else kLengthTooLarge).
//
// Threading: one instance per decode worker. Buffers are reused; no allocation per datagram
// after warm-up.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "decode/encoding.h"
#include "decode/proto_writer.h"
#include "decode/thrift_view.h"
#include "decode/transcoder.h"
#include "decode/zipkin_domain.h"

namespace jagent::decode {

class ApiV2Transcoder final : public BatchEncoder {
 public:
  explicit ApiV2Transcoder(std::vector<AgentTag> agentTags = {});

  [[nodiscard]] Encoding encoding() const noexcept override { return Encoding::kApiV2; }
  [[nodiscard]] RejectReason transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept override;
  [[nodiscard]] std::span<const uint8_t> output() const noexcept override {
    return {out_.data() + kBodyAt, bodyLen_};
  }
  [[nodiscard]] std::span<const uint8_t> postSpansRequest() const noexcept {
    return {out_.data() + frameAt_, kBodyAt - frameAt_ + bodyLen_};
  }
  [[nodiscard]] uint32_t spansUnknownService() const noexcept override { return unknownService_; }
  static constexpr size_t kMaxZipkinOutputBytes = 4u << 20;  // the default gRPC message limit (§2.5)
  // The two parts of output(), for merging batches whose Process is byte-identical into one
  // Batch (issue #15): Batch = spanRecords() ‖ processRecord(), and the span records of several
  // batches may be concatenated before one shared process record.
  [[nodiscard]] std::span<const uint8_t> spanRecords() const noexcept { return output().first(spansLen_); }
  [[nodiscard]] std::span<const uint8_t> processRecord() const noexcept { return output().subspan(spansLen_); }
  [[nodiscard]] const BatchSummary& summary() const noexcept override { return summary_; }
  [[nodiscard]] uint32_t spansDropped() const noexcept override { return dropped_; }
  // Batch.process is the last record of the body (gogo's field order), so batches of one client
  // process merge into one Batch with the same bytes gogo would write for it.
  [[nodiscard]] uint32_t mergeSuffix() const noexcept override { return static_cast<uint32_t>(processRecord().size()); }

  // Sink interface for view::JaegerReader (public for the template; not for callers). Span tags
  // and log fields are encoded as they are read (kEncodesTags), into tags_, then copied into the
  // span as one run.
  static constexpr bool kEncodesTags = true;
  void encodeTag(view::TagList list, const view::TagView& t) noexcept;
  [[nodiscard]] uint32_t encodedSize() const noexcept { return static_cast<uint32_t>(tw_.size()); }
  void process(const view::ProcessView& p, std::span<const view::TagView> tags) noexcept;
  void spansBegin(uint32_t) noexcept {}
  void spansEnd() noexcept {}
  void span(const view::SpanView& s, const view::Scratch& sc) noexcept;

 private:
  static constexpr size_t kBodyAt = 6;  // proto::kMaxFrameHeader

  [[nodiscard]] RejectReason transcodeZipkin(Protocol expected, std::span<const uint8_t> datagram) noexcept;
  void writeSpanProcess(const zipkin::DomainProcess& p) noexcept;

  std::vector<uint8_t> agentTagsProto_;  // `12 len KeyValue` per agent tag, pre-encoded
  std::vector<uint8_t> out_;
  proto::ProtoWriter w_{out_};
  std::vector<uint8_t> tags_;  // the current span's encoded KeyValue records (tags, log fields)
  proto::ProtoWriter tw_{tags_};
  std::vector<uint8_t> processBuf_;  // Batch.process is written after the spans (gogo order)
  size_t processLen_ = 0;
  bool hasProcess_ = false;
  bool allocFailed_ = false;
  size_t bodyLen_ = 0;
  size_t spansLen_ = 0;  // the span records at the start of the body
  size_t frameAt_ = kBodyAt;
  uint32_t dropped_ = 0;
  view::Scratch scratch_;
  BatchSummary summary_;
  zipkin::ZipkinDomain zipkin_;
  const zipkin::DomainProcess* spanProcess_ = nullptr;  // zipkin: written into each span (field 10)
  uint32_t unknownService_ = 0;
};

// Rewrites one api_v2 Batch `spanRecords ‖ processRecord` (the last `processLen` bytes are the
// `12 len Process` record, as ApiV2Transcoder writes it) into self-contained span records: each
// `0a len Span` becomes `0a len' Span 52 len Process` (Span.process, field 10, which takes
// priority over Batch.process, §1.2), with no Batch.process. Such records concatenate with any
// other batch's, so batches of different client processes can share one PostSpans. Writes into
// `out` (nullptr: only measures) and returns the size; 0 if the bytes are not of that shape.
[[nodiscard]] size_t inlineBatchProcess(std::span<const uint8_t> batch, size_t processLen,
                                        std::vector<uint8_t>* out) noexcept;

}  // namespace jagent::decode
