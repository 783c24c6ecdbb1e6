// OtlpTranscoder: one UDP datagram (Agent.emitBatch, compact or binary) → the protobuf bytes of
// one `opentelemetry.proto.trace.v1.ResourceSpans`, as the OTel Collector's `jaeger` receiver
// converts a Thrift batch (modern-collectors.md §3.1–3.7, edge cases §3.9, wire table §3.10).
//
// output()           the ResourceSpans message bytes (no tag, no length).
// resourceSpansRecord() the same bytes framed as one `ExportTraceServiceRequest.resource_spans`
//                    element (`0a len ResourceSpans`), contiguous in the same buffer: a request
//                    is the concatenation of such records (appendResourceSpans in encoding.h).
//
// --agent.tags are added to the process tags (as STRING tags, in flag order) before the
// resource is built, so they follow the same upsert and hostname/jaeger.version rules (§3.2).
// Attribute order follows the Collector's pdata map, including its swap-remove (§3.7).
// Blank spans are skipped as the Collector does (§3.1) and counted in spansDropped().
//
// Zipkin (emitZipkinBatch) has no OTLP path in the Collector (its receiver panics, §1.1). We
// convert it as the Go agent would for api_v2 (zipkin::ZipkinDomain, §2.4/§2.4a) and then as the
// Collector turns those api_v2 spans into OTLP (§3.8): one ResourceSpans per distinct process
// (same service and sorted tags; agent tags appended), in order of first appearance where Go uses
// map order; ScopeSpans by (otel.scope.name, otel.scope.version), first appearance; the
// `w3c.tracestate` tag becomes trace_state. For such a datagram output() and wireRecord() are
// the same bytes: the concatenated `ExportTraceServiceRequest.resource_spans` records (zero
// spans: none), so the reporter's concatenation of wireRecord()s stays a valid request.
// spansUnknownService() counts spans delivered as `unknown-service-name`.
//
// Threading: one instance per decode worker; buffers are reused, no allocation per datagram
// after warm-up.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "decode/encoding.h"
#include "decode/otlp_fields.h"
#include "decode/proto_writer.h"
#include "decode/thrift_view.h"
#include "decode/transcoder.h"
#include "decode/zipkin_domain.h"

namespace jagent::decode {

class OtlpTranscoder final : public BatchEncoder {
 public:
  explicit OtlpTranscoder(std::vector<AgentTag> agentTags = {});

  [[nodiscard]] Encoding encoding() const noexcept override { return Encoding::kOtlp; }
  [[nodiscard]] RejectReason transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept override;
  [[nodiscard]] std::span<const uint8_t> output() const noexcept override {
    return {out_.data() + kBodyAt, bodyLen_};
  }
  [[nodiscard]] std::span<const uint8_t> resourceSpansRecord() const noexcept {
    return {out_.data() + frameAt_, kBodyAt - frameAt_ + bodyLen_};
  }
  [[nodiscard]] std::span<const uint8_t> wireRecord() const noexcept override { return resourceSpansRecord(); }
  [[nodiscard]] const BatchSummary& summary() const noexcept override { return summary_; }
  [[nodiscard]] uint32_t spansDropped() const noexcept override { return dropped_; }
  [[nodiscard]] uint32_t spansUnknownService() const noexcept override { return unknownService_; }
  static constexpr size_t kMaxZipkinOutputBytes = 4u << 20;  // the default gRPC message limit (§4.4)

  // Sink interface for view::JaegerReader (public for the template; not for callers). Span tags
  // and log fields are encoded as they are read (kEncodesTags): each KeyValue record into
  // tagBytes_, its start into encAt_ and its key's fingerprint into encFp_; a view is kept only
  // for the few keys whose values the rules read (specials_). encodedSize() counts the records.
  static constexpr bool kEncodesTags = true;
  void encodeTag(view::TagList list, const view::TagView& t) noexcept;
  [[nodiscard]] uint32_t encodedSize() const noexcept { return encCount_; }
  void process(const view::ProcessView& p, std::span<const view::TagView> tags) noexcept;
  void spansBegin(uint32_t n) noexcept;
  void spansEnd() noexcept;
  void span(const view::SpanView& s, const view::Scratch& sc) noexcept;

  // An attribute being assembled: its key and the Thrift tag that holds its value — as a view
  // (nullptr if not kept), and/or as its encoded KeyValue record (len > 0: tagBytes_[at, at+len)).
  struct Attr {
    std::string_view key;
    const view::TagView* value;
    uint32_t at = 0, len = 0;
  };

 private:
  static constexpr size_t kBodyAt = proto::kMaxFrameHeader;
  static constexpr size_t kExactKeys = 64;

  // A tag list with distinct keys (the common case), as record positions [0, n) of the list at
  // encoded record `first`, and where in it the specials are. The rules' removals are pdata's
  // swap-removes on `perm`, made only when one happens; until then the records are in order and
  // are copied as one run.
  struct ListMap {
    uint32_t first = 0, n = 0;
    bool permuted = false;
    int16_t ord[otlp::kSpecialKeys];  // position of each special in the list, -1 if absent
    const view::TagView* view[otlp::kSpecialKeys];
    uint8_t perm[kExactKeys];
    [[nodiscard]] bool has(otlp::Special s) const noexcept { return ord[s] >= 0; }
    [[nodiscard]] const view::TagView& value(otlp::Special s) const noexcept { return *view[s]; }
    void remove(otlp::Special s) noexcept;
  };
  class AttrMap;  // the same interface over attrs_ (to_otlp_attrs.cc)
  struct SpecialTag {
    view::TagView view;
    uint32_t index;  // encoded record number
    otlp::Special id = otlp::kNotSpecial;
  };

  void writeResource() noexcept;
  // ---- the attribute map (to_otlp_attrs.cc) ----
  // A span's tags: applies the rules and their removals, leaving the attributes to
  // writePrepared(). hasTraceState: a Zipkin span's w3c.tracestate is removed last (§3.8).
  otlp::SpanRules spanAttributes(const view::SpanView& s, const view::Scratch& sc, bool hasTraceState) noexcept;
  // A log's fields: the event name (§3.6: the `event` value, removed), the rest to writePrepared().
  std::string_view eventAttributes(const view::LogView& log, const view::Scratch& sc) noexcept;
  void writePrepared(uint8_t tag) noexcept;
  // A list's attributes: encoded records [at, end), or else `count` views (Zipkin). True: they
  // are in listMap_ (distinct keys); false: in attrs_, upserted. Sets listIsMap_.
  bool prepareList(uint32_t at, uint32_t end, const view::TagView* views, uint32_t count) noexcept;
  // Encoded records [first, end): into listMap_ when their keys are distinct (returns true),
  // else into attrs_ with pdata's upsert.
  bool prepareEncoded(uint32_t first, uint32_t end) noexcept;
  [[nodiscard]] uint32_t recordEnd(uint32_t i) const noexcept {
    return i + 1 < encCount_ ? encAt_[i + 1] : static_cast<uint32_t>(tw_.size());
  }
  [[nodiscard]] std::string_view recordKey(uint32_t i) const noexcept;
  // Collects tags into attrs_ with pdata's upsert (first position, last value).
  void upsertAll(const view::TagView* tags, uint32_t n) noexcept;
  void dedupe() noexcept;
  // Exact for n <= kExactKeys; fp[i] must be keyFingerprint(keyAt(i)).
  template <class KeyAt>
  [[nodiscard]] bool hasDuplicateKey(size_t n, KeyAt keyAt, const uint64_t* fp) noexcept;
  int find(std::string_view key) const noexcept;
  void swapRemove(int i) noexcept;
  void writeAttrs(uint8_t tag) noexcept;
  // Zipkin (to_otlp_zipkin.cc).
  [[nodiscard]] RejectReason transcodeZipkin(Protocol expected, std::span<const uint8_t> datagram) noexcept;
  void orderZipkinSpans() noexcept;

  std::vector<std::string> agentTagStrings_;  // keys and values the agent-tag views point into
  std::vector<view::TagView> agentTags_;
  std::vector<uint8_t> out_;
  proto::ProtoWriter w_{out_};
  std::vector<Attr> attrs_;       // scratch
  std::vector<uint8_t> tagBytes_;  // the current span's encoded tags and log fields
  proto::ProtoWriter tw_{tagBytes_};
  // Per encoded record [0, encCount_) of the current span (grown by hand: push_back was an
  // out-of-line call per tag): where it starts in tagBytes_ (it ends where the next starts), and
  // its key's fingerprint.
  std::vector<uint32_t> encAt_;
  std::vector<uint64_t> encFp_;
  uint32_t encCount_ = 0;
  std::vector<SpecialTag> specials_;  // [0, specialCount_): the current span's tags with a special key
  uint32_t specialCount_ = 0;
  ListMap listMap_;
  uint64_t dupFilterA_[16] = {}, dupFilterB_[16] = {};  // hasDuplicateKey's, all zero between calls
  bool listIsMap_ = false;  // what writePrepared() writes: listMap_, or attrs_
  bool tagsFailed_ = false;  // tw_ could not grow
  std::vector<uint32_t> order_;   // scratch for de-duplicating long tag lists
  std::vector<view::TagView> resourceTags_;  // process tags + agent tags (views), per datagram
  view::TagView serviceTag_;      // synthesized values
  view::TagView exporterTag_;
  std::string exporterVersion_;   // "Jaeger-" + jaeger.version
  view::ProcessView process_;
  bool hasProcess_ = false;
  bool resourceWritten_ = false;
  bool inSpans_ = false;
  proto::ProtoWriter::Mark scopeSpans_{};
  size_t bodyLen_ = 0;
  size_t frameAt_ = kBodyAt;
  uint32_t dropped_ = 0;
  view::Scratch scratch_;
  BatchSummary summary_;
  zipkin::ZipkinDomain zipkin_;
  struct ZipkinEntry {  // one domain span: Zipkin span, half, and its ResourceSpans/ScopeSpans keys
    uint32_t span;
    uint32_t half;
    uint32_t group;       // the first Zipkin span with the same process
    uint32_t scopeFirst;  // the first entry of the group with the same scope
  };
  std::vector<ZipkinEntry> zEntries_;
  std::vector<uint32_t> zOrder_;
  std::vector<uint32_t> zGroup_;  // per Zipkin span
  bool zipkinMode_ = false;
  uint32_t unknownService_ = 0;
};

}  // namespace jagent::decode
