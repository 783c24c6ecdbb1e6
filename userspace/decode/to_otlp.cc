#include "decode/to_otlp.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <string_view>

namespace jagent::decode {
using namespace otlp;  // NOLINT: this file's vocabulary (otlp_fields.h)

namespace {

using proto::ProtoWriter;
using view::TagView;

// 16/8-byte big-endian ids; pdata writes an all-zero id as empty bytes (§3.9).
void traceId(ProtoWriter& w, uint8_t tag, int64_t high, int64_t low) noexcept {
  w.byte(tag);
  if (high == 0 && low == 0) {
    w.byte(0);
    return;
  }
  w.byte(16);
  w.big64(static_cast<uint64_t>(high));
  w.big64(static_cast<uint64_t>(low));
}
void spanId(ProtoWriter& w, uint8_t tag, int64_t id) noexcept {
  w.byte(tag);
  if (id == 0) {
    w.byte(0);
    return;
  }
  w.byte(8);
  w.big64(static_cast<uint64_t>(id));
}

}  // namespace

OtlpTranscoder::OtlpTranscoder(std::vector<AgentTag> agentTags) {
  agentTagStrings_.reserve(agentTags.size() * 2);
  for (AgentTag& t : agentTags) {
    agentTagStrings_.push_back(std::move(t.key));
    agentTagStrings_.push_back(std::move(t.value));
  }
  for (size_t i = 0; i + 1 < agentTagStrings_.size(); i += 2) {
    TagView v;
    v.key = agentTagStrings_[i];
    v.vStr = agentTagStrings_[i + 1];
    v.hasStr = true;
    agentTags_.push_back(v);
  }
}

// ---- resource -------------------------------------------------------------------------------

void OtlpTranscoder::process(const view::ProcessView& p, std::span<const TagView> tags) noexcept {
  process_ = p;
  hasProcess_ = true;
  resourceTags_.assign(tags.begin(), tags.end());
  resourceTags_.insert(resourceTags_.end(), agentTags_.begin(), agentTags_.end());
  if (!inSpans_ && !resourceWritten_) writeResource();  // canonical order: resource first
}

void OtlpTranscoder::writeResource() noexcept {
  resourceWritten_ = true;
  const ProtoWriter::Mark m = w_.begin(rs_tag::kResource, 2);
  attrs_.clear();
  const bool hasTags = process_.hasTags || !agentTags_.empty();
  if (hasProcess_ && (!process_.serviceName.empty() || hasTags)) {  // §3.2 step 1
    if (!process_.serviceName.empty()) {
      serviceTag_ = TagView{};
      serviceTag_.vStr = process_.serviceName;
      attrs_.push_back({kServiceName, &serviceTag_});
    }
    upsertAll(resourceTags_.data(), static_cast<uint32_t>(resourceTags_.size()));
    // §3.2 step 4: hostname → host.name (PutEmpty appends, Remove swaps the last into the
    // removed slot: net effect, the entry is renamed in place).
    if (const int h = find(kHostnameTag); h >= 0 && find(kHostName) < 0) attrs_[static_cast<size_t>(h)].key = kHostName;
    // Step 5: jaeger.version → opencensus.exporterversion = "Jaeger-" + Str(), same mechanics.
    if (const int j = find(kJaegerVersion); j >= 0 && find(kExporterVersion) < 0) {
      const std::string_view v = strOf(*attrs_[static_cast<size_t>(j)].value);
      exporterVersion_.assign("Jaeger-");
      exporterVersion_.append(v);
      exporterTag_ = TagView{};
      exporterTag_.vStr = exporterVersion_;
      attrs_[static_cast<size_t>(j)] = {kExporterVersion, &exporterTag_};
    }
    writeAttrs(0x0a);
  }
  w_.end(m);
}

void OtlpTranscoder::spansBegin(uint32_t n) noexcept {
  if (n == 0) return;  // §3.1: no spans, no ScopeSpans
  if (!resourceWritten_ && hasProcess_) writeResource();
  inSpans_ = true;
  scopeSpans_ = w_.begin(rs_tag::kScopeSpans, 3);
  w_.byte(ss_tag::kScope);  // the empty scope (no name, no version), as pdata writes it
  w_.byte(0);
}

void OtlpTranscoder::spansEnd() noexcept {
  if (!inSpans_) return;
  w_.end(scopeSpans_);
  inSpans_ = false;
}

// ---- span -----------------------------------------------------------------------------------

[[gnu::always_inline]] inline void OtlpTranscoder::encodeTag(view::TagList list, const TagView& t) noexcept {
  const auto at = static_cast<uint32_t>(tw_.size());
  // Span.attributes is field 9, Event.attributes field 3 (§3.10).
  keyValue(tw_, list == view::TagList::kSpanTags ? span_tag::kAttributes : kEventAttributes, t.key, t);
  // Counts over vectors grown by hand: push_back was an out-of-line call per tag.
  if (encCount_ == encAt_.size()) [[unlikely]] {
    encAt_.resize(std::max<size_t>(64, 2 * encAt_.size()));
    encFp_.resize(encAt_.size());
  }
  const uint64_t fp = keyFingerprint(t.key);
  encAt_[encCount_] = at;
  encFp_[encCount_] = fp;
  if (const Special sp = kSpecialIndex.find(t.key, fp); sp != kNotSpecial) [[unlikely]] {
    if (specialCount_ == specials_.size()) specials_.resize(std::max<size_t>(16, 2 * specials_.size()));
    specials_[specialCount_++] = {t, encCount_, sp};
  }
  ++encCount_;
}

void OtlpTranscoder::span(const view::SpanView& s, const view::Scratch& sc) noexcept {
  // The span's encoded tags (encodeTag) are used up here; the next span's start afresh.
  struct NextSpan {
    OtlpTranscoder& t;
    ~NextSpan() {
      if (t.tw_.failed()) t.tagsFailed_ = true;  // reported as kLengthTooLarge by transcode()
      t.tw_.reset();
      t.encCount_ = 0;
      t.specialCount_ = 0;
    }
  } next{*this};
  if (tw_.failed()) [[unlikely]]
    return;  // records are missing: the datagram is rejected (transcode())
  if (!zipkinMode_ && s.isBlank()) {  // §3.1 (a domain span from Zipkin always has a process: §3.8)
    ++dropped_;
    return;
  }
  ProtoWriter& w = w_;
  const ProtoWriter::Mark m = w.begin(ss_tag::kSpans, 2);
  traceId(w, span_tag::kTraceId, s.traceIdHigh, s.traceIdLow);
  spanId(w, span_tag::kSpanId, s.spanId);
  // §3.8 (the api_v2 path only): the `w3c.tracestate` tag becomes trace_state. Its value is the
  // last such tag's (upsert), and it is removed from the attributes after the status rules.
  bool hasTraceState = false;
  if (zipkinMode_) {
    std::string_view ts;
    for (uint32_t i = 0; i < s.tagsCount; ++i)
      if (const TagView& t = sc.tags[s.tagsFirst + i]; t.key == kTraceState) {
        hasTraceState = true;
        ts = strOf(t);
      }
    if (!ts.empty()) w.bytesField(span_tag::kTraceState, ts);
  }

  // §3.5 parent: parentSpanId, else the first same-trace CHILD_OF ref, else the first
  // same-trace FOLLOWS_FROM ref.
  const view::RefView* refs = sc.refs.data() + s.refsFirst;
  int64_t parent = s.parentSpanId;
  if (parent == 0) {
    const view::RefView* childOf = nullptr;
    const view::RefView* followsFrom = nullptr;
    for (uint32_t i = 0; i < s.refsCount && childOf == nullptr; ++i) {
      const view::RefView& r = refs[i];
      if (r.traceIdHigh != s.traceIdHigh || r.traceIdLow != s.traceIdLow) continue;
      if (r.refType == 0) childOf = &r;
      else if (followsFrom == nullptr && r.refType == 1) followsFrom = &r;
    }
    // The first same-trace CHILD_OF decides, even when its span id is 0 (then: no parent).
    if (const view::RefView* p = childOf != nullptr ? childOf : followsFrom; p != nullptr) parent = p->spanId;
  }
  if (parent != 0) spanId(w, span_tag::kParentSpanId, parent);
  if ((s.flags & 1) != 0) {  // §3.3: only the sampled bit, as W3C 0x1
    w.varint(span_tag::kFlags);
    w.fixed32(1);
  }
  if (!s.operationName.empty()) w.bytesField(span_tag::kName, s.operationName);

  // Attributes, kind and status (§3.3, §3.6, §3.7), in the Collector's order of operations
  // (to_otlp_attrs.cc).
  const SpanRules rules = spanAttributes(s, sc, hasTraceState);
  if (rules.kind != kUnspecified) w.varintField(span_tag::kKind, rules.kind);
  const uint64_t start = static_cast<uint64_t>(s.startTime) * 1000u;  // wraps, as Go's uint64
  const uint64_t end = (static_cast<uint64_t>(s.startTime) + static_cast<uint64_t>(s.duration)) * 1000u;
  if (start != 0) {
    w.byte(span_tag::kStart);
    w.fixed64(start);
  }
  if (end != 0) {
    w.byte(span_tag::kEnd);
    w.fixed64(end);
  }
  writePrepared(span_tag::kAttributes);

  // §3.6 events.
  for (uint32_t i = 0; i < s.logsCount; ++i) {
    const view::LogView& log = sc.logs[s.logsFirst + i];
    const ProtoWriter::Mark em = w.begin(span_tag::kEvents, 1);
    const uint64_t t = static_cast<uint64_t>(log.timestamp) * 1000u;
    if (t != 0) {
      w.byte(0x09);
      w.fixed64(t);
    }
    const std::string_view name = eventAttributes(log, sc);
    if (!name.empty()) w.bytesField(0x12, name);
    writePrepared(kEventAttributes);
    w.end(em);
  }

  // §3.5 links: every ref except a CHILD_OF whose span id is the parent's.
  static const TagView kChildOf = [] {
    TagView t;
    t.vStr = "child_of";
    return t;
  }();
  static const TagView kFollowsFrom = [] {
    TagView t;
    t.vStr = "follows_from";
    return t;
  }();
  for (uint32_t i = 0; i < s.refsCount; ++i) {
    const view::RefView& r = refs[i];
    if (r.spanId == parent && r.refType == 0) continue;
    const ProtoWriter::Mark lm = w.begin(span_tag::kLinks, 1);
    traceId(w, 0x0a, r.traceIdHigh, r.traceIdLow);
    spanId(w, 0x12, r.spanId);
    keyValue(w, 0x22, kRefTypeKey, r.refType == 0 ? kChildOf : kFollowsFrom);
    w.end(lm);
  }

  if (rules.statusSet) {  // §3.6 step 4
    const ProtoWriter::Mark sm = w.begin(span_tag::kStatus, 1);
    if (!rules.message.empty()) w.bytesField(0x12, rules.message);
    if (rules.code != kUnset) w.varintField(0x18, rules.code);
    w.end(sm);
  }
  w.end(m);
}

RejectReason OtlpTranscoder::transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  summary_ = BatchSummary{};
  dropped_ = 0;
  hasProcess_ = false;
  resourceWritten_ = false;
  inSpans_ = false;
  bodyLen_ = 0;
  frameAt_ = kBodyAt;
  w_.reset(kBodyAt);  // room for the resource_spans frame header in front of the body
  tw_.reset();
  encCount_ = 0;
  specialCount_ = 0;
  tagsFailed_ = false;
  Format format = Format::kJaeger;
  unknownService_ = 0;
  zipkinMode_ = false;
  const RejectReason r = view::readJaegerDatagram(expected, datagram, scratch_, summary_, *this, format);
  if (r != RejectReason::kOk) return r;
  if (format == Format::kZipkin) {
    summary_ = BatchSummary{};
    zipkinMode_ = true;
    const RejectReason z = transcodeZipkin(expected, datagram);
    zipkinMode_ = false;
    if (z != RejectReason::kOk) return z;
    if (w_.failed()) return RejectReason::kLengthTooLarge;
    bodyLen_ = w_.size() - kBodyAt;
    frameAt_ = kBodyAt;  // already a sequence of resource_spans records
    return RejectReason::kOk;
  }
  if (!resourceWritten_) writeResource();  // the process came after the spans
  if (w_.failed() || tagsFailed_) return RejectReason::kLengthTooLarge;  // allocation failed
  bodyLen_ = w_.size() - kBodyAt;
  frameAt_ = proto::frameInPlace(out_.data(), kBodyAt, bodyLen_, 0x0a);
  return RejectReason::kOk;
}

}  // namespace jagent::decode
