// One interface over the three batch encodings, so the processor can pick the one its transport
// wants (issue #15):
//   kThriftBinary  Transcoder (transcoder.h): TBinaryProtocol Batch / zipkin spans for TChannel
//   kApiV2         ApiV2Transcoder (to_api_v2.h): jaeger.api_v2.Batch protobuf for gRPC PostSpans
//   kOtlp          OtlpTranscoder (to_otlp.h): opentelemetry ResourceSpans protobuf for OTLP
//
// Every encoder has the shape of Transcoder: transcode(protocol, datagram) → RejectReason, then
// output() and summary() until the next call. One encoder per decode worker; not thread-safe;
// no heap allocation per datagram after warm-up.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "decode/transcoder.h"

namespace jagent::decode {

enum class Encoding : uint8_t { kThriftBinary, kApiV2, kOtlp };

[[nodiscard]] const char* encodingName(Encoding e) noexcept;

class BatchEncoder {
 public:
  BatchEncoder() = default;
  BatchEncoder(const BatchEncoder&) = delete;  // encoders hold writers that point into their own buffers
  BatchEncoder& operator=(const BatchEncoder&) = delete;
  virtual ~BatchEncoder() = default;
  [[nodiscard]] virtual Encoding encoding() const noexcept = 0;
  [[nodiscard]] virtual RejectReason transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept = 0;
  // The encoded batch (see each encoding's header for what exactly).
  [[nodiscard]] virtual std::span<const uint8_t> output() const noexcept = 0;
  // What the reporter appends to a call body for this encoding: the batch as its transport
  // concatenates it. TBinary: output() (a list<Batch> element); api_v2: output() (the gRPC
  // transport frames each call's one Batch as PostSpansRequest); OTLP: output() framed as one
  // ExportTraceServiceRequest.resource_spans record, so records concatenate into a request (a
  // Zipkin datagram may give several such records, one per distinct process, concatenated).
  [[nodiscard]] virtual std::span<const uint8_t> wireRecord() const noexcept { return output(); }
  // Zipkin spans of the accepted batch that named no service anywhere and were delivered as
  // `unknown-service-name` (modern-collectors.md §2.4a: the Go agent drops the whole batch
  // instead). Counted here for the pipeline to export; 0 for kThriftBinary and Jaeger batches.
  [[nodiscard]] virtual uint32_t spansUnknownService() const noexcept { return 0; }
  [[nodiscard]] virtual const BatchSummary& summary() const noexcept = 0;
  // Spans the encoder left out of an accepted batch (api_v2: timestamps gogo cannot marshal;
  // OTLP: blank spans, as the Collector skips them). 0 for kThriftBinary.
  [[nodiscard]] virtual uint32_t spansDropped() const noexcept { return 0; }
  // The trailing bytes of wireRecord() that batches from the same client share and that a
  // reporter may merge on (see EncodedBatch::mergeSuffix); 0 = the encoding does not merge.
  [[nodiscard]] virtual uint32_t mergeSuffix() const noexcept { return 0; }
};

// Factory: the agent tags (--agent.tags, in flag order) are added once per batch Process /
// Resource as each encoding's rules say.
[[nodiscard]] std::unique_ptr<BatchEncoder> makeBatchEncoder(Encoding e, std::vector<AgentTag> agentTags = {});

// ---- framing helpers ------------------------------------------------------------------------

// `0a varint(len) bytes`: a field-1 length-delimited record. This is
//  * a whole PostSpansRequest{batch = <api_v2 Batch bytes>} (modern-collectors.md §1.2), and
//  * one ExportTraceServiceRequest.resource_spans element (§3.10): many OTLP batches coalesce
//    into one request by appending one record each.
void appendField1Record(std::vector<uint8_t>& out, std::span<const uint8_t> message);
// Bytes appendField1Record adds for a message of `len` bytes (for batch-size accounting).
[[nodiscard]] size_t field1RecordSize(size_t len) noexcept;

inline void appendPostSpansRequest(std::vector<uint8_t>& out, std::span<const uint8_t> apiV2Batch) {
  appendField1Record(out, apiV2Batch);
}
inline void appendResourceSpans(std::vector<uint8_t>& exportTraceServiceRequest, std::span<const uint8_t> resourceSpans) {
  appendField1Record(exportTraceServiceRequest, resourceSpans);
}

}  // namespace jagent::decode
