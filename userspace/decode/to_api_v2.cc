#include "decode/to_api_v2.h"

#include <cstring>
#include <string_view>

#include "decode/proto_writer.h"

namespace jagent::decode {
namespace {

using proto::ProtoWriter;
using view::TagView;

// Field tags of modern-collectors.md §1.2.
namespace batch_tag {
constexpr uint8_t kSpans = 0x0a, kProcess = 0x12;
}
namespace span_tag {
constexpr uint8_t kTraceId = 0x0a, kSpanId = 0x12, kOperationName = 0x1a, kReferences = 0x22, kFlags = 0x28,
                  kStartTime = 0x32, kDuration = 0x3a, kTags = 0x42, kLogs = 0x4a;
}
namespace kv_tag {
constexpr uint8_t kKey = 0x0a, kVType = 0x10, kVStr = 0x1a, kVBool = 0x20, kVInt64 = 0x28, kVFloat64 = 0x31,
                  kVBinary = 0x3a;
}
// api_v2 ValueType (§1.2 enums).
constexpr uint64_t kBool = 1, kInt64 = 2, kFloat64 = 3, kBinary = 4;

// §1.4: gogo's TimestampProto refuses seconds ≥ 253402300800 (year 10000); the Thrift i64 is
// taken as uint64 first, so every negative value is out of range too.
constexpr uint64_t kMaxEpochMicros = 253402300800ull * 1000000ull;
[[nodiscard]] bool timestampOk(int64_t micros) noexcept { return static_cast<uint64_t>(micros) < kMaxEpochMicros; }

// google.protobuf.Timestamp / Duration body: seconds (1, int64 varint) and nanos (2, int32
// varint, sign-extended), each only if non-zero.
void secondsNanos(ProtoWriter& w, uint8_t t, int64_t seconds, int32_t nanos) noexcept {
  const auto s = static_cast<uint64_t>(seconds);
  const auto n = static_cast<uint64_t>(static_cast<int64_t>(nanos));
  // One room check for the whole message (≤ 24 bytes), and the length filled in after the
  // varints are written: two per span, this was 4 % of api_v2 transcoding with a check per byte.
  uint8_t* p = w.reserve(24);
  if (p == nullptr) return;
  p[0] = t;
  uint8_t* q = p + 2;
  if (s) q = proto::putVarintField(q, 0x08, s);
  if (n) q = proto::putVarintField(q, 0x10, n);
  p[1] = static_cast<uint8_t>(q - p - 2);  // ≤ 22
  w.commit(q);
}
// §1.4 EpochMicrosecondsAsTime(uint64(v)).
void timestamp(ProtoWriter& w, uint8_t t, int64_t micros) noexcept {
  const auto u = static_cast<uint64_t>(micros);
  secondsNanos(w, t, static_cast<int64_t>(u / 1000000), static_cast<int32_t>((u % 1000000) * 1000));
}
// §1.4 MicrosecondsAsDuration: a wrapping signed multiply, then Go's truncating split (seconds
// and nanos share the sign).
void duration(ProtoWriter& w, uint8_t t, int64_t micros) noexcept {
  const auto ns = static_cast<int64_t>(static_cast<uint64_t>(micros) * 1000u);
  const int64_t seconds = ns / 1000000000;
  secondsNanos(w, t, seconds, static_cast<int32_t>(ns - seconds * 1000000000));
}

void traceId(ProtoWriter& w, int64_t high, int64_t low) noexcept {  // §1.3: always 16 bytes BE
  w.byte(span_tag::kTraceId);  // field 1 in Span and in SpanRef
  w.byte(16);
  w.big64(static_cast<uint64_t>(high));
  w.big64(static_cast<uint64_t>(low));
}
void spanId(ProtoWriter& w, uint8_t t, int64_t id) noexcept {  // §1.3: always 8 bytes BE
  w.byte(t);
  w.byte(8);
  w.big64(static_cast<uint64_t>(id));
}

void spanRef(ProtoWriter& w, int64_t traceLow, int64_t traceHigh, int64_t id, int32_t refType) noexcept {
  // SpanRef: trace_id, span_id always; ref_type if ≠ 0 (the Thrift i32 cast through, §2.2).
  const auto rt = static_cast<uint64_t>(static_cast<int64_t>(refType));
  w.byte(span_tag::kReferences);
  w.byte(static_cast<uint8_t>(28 + (rt ? 1 + proto::varintSize(rt) : 0)));
  traceId(w, traceHigh, traceLow);
  spanId(w, 0x12, id);
  if (rt) w.varintField(0x18, rt);
}

void writeDecimal(ProtoWriter& w, int64_t v) noexcept {
  char buf[24];
  w.raw(buf, proto::putDecimal(buf, v));
}

[[nodiscard]] size_t lenField(size_t n) noexcept { return 1 + proto::varintSize(n) + n; }

// One KeyValue (§2.3 getTag): only the field vType selects is used. The body size is known from
// the view, so the length is written up front (the most frequent message; no back-patch).
// Inlined into the per-tag path (encodeTag): out of line, the TagView the reader filled had to
// be stored and reloaded, and the call was ~16 % of the agent in gRPC mode (perf, 64 KB).
[[gnu::always_inline]] inline void keyValueInline(ProtoWriter& w, uint8_t t, const TagView& tag) noexcept {
  size_t body = tag.key.empty() ? 0 : lenField(tag.key.size());
  switch (tag.vType) {
    case 0:  // STRING: v_type omitted
      if (!tag.vStr.empty()) body += lenField(tag.vStr.size());
      break;
    case 1:  // DOUBLE → FLOAT64; Go writes it if != 0 (so -0.0 is omitted, NaN written)
      body += 2 + (tag.vDouble != 0 ? 9 : 0);
      break;
    case 2:  // BOOL
      body += 2 + (tag.vBool ? 2 : 0);
      break;
    case 3:  // LONG → INT64
      body += 2 + (tag.vLong != 0 ? 1 + proto::varintSize(static_cast<uint64_t>(tag.vLong)) : 0);
      break;
    case 4:  // BINARY
      body += 2 + (tag.vBinary.empty() ? 0 : lenField(tag.vBinary.size()));
      break;
    default: {  // Go: STRING "Unknown VType: %+v" (has pointers in it); ours names the number
      const ProtoWriter::Mark m = w.begin(t, 1);
      if (!tag.key.empty()) w.bytesField(kv_tag::kKey, tag.key);
      constexpr std::string_view kPrefix = "Unknown VType: ";
      const ProtoWriter::Mark s = w.begin(kv_tag::kVStr, 1);
      w.raw(kPrefix.data(), kPrefix.size());
      writeDecimal(w, tag.vType);
      w.end(s);
      w.end(m);
      return;
    }
  }
  uint8_t* p = w.reserve(lenField(body));
  if (p == nullptr) return;
  *p++ = t;
  p += proto::putVarint(p, body);
  if (!tag.key.empty()) p = proto::putBytesField(p, kv_tag::kKey, tag.key.data(), tag.key.size());
  switch (tag.vType) {
    case 0:
      if (!tag.vStr.empty()) p = proto::putBytesField(p, kv_tag::kVStr, tag.vStr.data(), tag.vStr.size());
      break;
    case 1:
      p = proto::putVarintField(p, kv_tag::kVType, kFloat64);
      if (tag.vDouble != 0) {
        uint64_t bits;
        std::memcpy(&bits, &tag.vDouble, 8);
        p = proto::putFixed64(p, kv_tag::kVFloat64, bits);
      }
      break;
    case 2:
      p = proto::putVarintField(p, kv_tag::kVType, kBool);
      if (tag.vBool) p = proto::putVarintField(p, kv_tag::kVBool, 1);
      break;
    case 3:
      p = proto::putVarintField(p, kv_tag::kVType, kInt64);
      if (tag.vLong != 0) p = proto::putVarintField(p, kv_tag::kVInt64, static_cast<uint64_t>(tag.vLong));
      break;
    default:  // 4
      p = proto::putVarintField(p, kv_tag::kVType, kBinary);
      if (!tag.vBinary.empty()) p = proto::putBytesField(p, kv_tag::kVBinary, tag.vBinary.data(), tag.vBinary.size());
      break;
  }
  w.commit(p);
}

void keyValue(ProtoWriter& w, uint8_t t, const TagView& tag) noexcept { keyValueInline(w, t, tag); }

}  // namespace

ApiV2Transcoder::ApiV2Transcoder(std::vector<AgentTag> agentTags) {
  // Pre-encoded `Process.tags` entries: STRING KeyValues (§2.1 addProcessTags), flag order.
  std::vector<uint8_t> buf;
  ProtoWriter w(buf);
  w.reset();
  for (const AgentTag& t : agentTags) {
    TagView v;
    v.key = t.key;
    v.vStr = t.value;
    keyValue(w, 0x12, v);
  }
  agentTagsProto_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(w.size()));
}

void ApiV2Transcoder::process(const view::ProcessView& p, std::span<const TagView> tags) noexcept {
  // Process: service_name if non-empty, tags in order, then the agent tags. Written to its own
  // buffer because gogo puts Batch.process after the spans (§1.6 V1).
  ProtoWriter w(processBuf_);
  w.reset();
  if (!p.serviceName.empty()) w.bytesField(0x0a, p.serviceName);
  for (const TagView& t : tags) keyValue(w, 0x12, t);
  w.raw(agentTagsProto_.data(), agentTagsProto_.size());
  if (w.failed()) {
    hasProcess_ = false;
    allocFailed_ = true;  // reported as kLengthTooLarge by transcode()
    return;
  }
  processLen_ = w.size();
  hasProcess_ = true;
}

[[gnu::always_inline]] inline void ApiV2Transcoder::encodeTag(view::TagList list, const view::TagView& t) noexcept {
  // Span.tags is field 8, Log.fields field 2 (§1.2).
  keyValueInline(tw_, list == view::TagList::kSpanTags ? span_tag::kTags : 0x12, t);
}

void ApiV2Transcoder::span(const view::SpanView& s, const view::Scratch& sc) noexcept {
  // The span's tags and log fields are in tags_ (encodeTag), ready to copy; the next span's
  // start at 0 again.
  struct NextSpan {
    ProtoWriter& tw;
    bool& failed;
    ~NextSpan() {
      if (tw.failed()) failed = true;  // reported as kLengthTooLarge by transcode()
      tw.reset();
    }
  } next{tw_, allocFailed_};
  // §2.4a: a time gogo cannot marshal costs this span only.
  bool ok = timestampOk(s.startTime);
  for (uint32_t i = 0; ok && i < s.logsCount; ++i) ok = timestampOk(sc.logs[s.logsFirst + i].timestamp);
  if (!ok) {
    ++dropped_;
    return;
  }
  ProtoWriter& w = w_;
  const ProtoWriter::Mark m = w.begin(batch_tag::kSpans, 2);
  traceId(w, s.traceIdHigh, s.traceIdLow);
  spanId(w, span_tag::kSpanId, s.spanId);
  if (!s.operationName.empty()) w.bytesField(span_tag::kOperationName, s.operationName);

  // §2.2 MaybeAddParentSpanID: a CHILD_OF ref to the parent goes first unless a ref already has
  // the same span ID and trace ID.
  const view::RefView* refs = sc.refs.data() + s.refsFirst;
  if (s.parentSpanId != 0) {
    bool present = false;
    for (uint32_t i = 0; i < s.refsCount && !present; ++i)
      present = refs[i].spanId == s.parentSpanId && refs[i].traceIdLow == s.traceIdLow &&
                refs[i].traceIdHigh == s.traceIdHigh;
    if (!present) spanRef(w, s.traceIdLow, s.traceIdHigh, s.parentSpanId, 0);
  }
  for (uint32_t i = 0; i < s.refsCount; ++i)
    spanRef(w, refs[i].traceIdLow, refs[i].traceIdHigh, refs[i].spanId, refs[i].refType);

  if (s.flags != 0) w.varintField(span_tag::kFlags, static_cast<uint32_t>(s.flags));
  timestamp(w, span_tag::kStartTime, s.startTime);
  duration(w, span_tag::kDuration, s.duration);
  // Jaeger spans bring their tags encoded (tagsAt..tagsEnd of tags_), Zipkin ones as views.
  const uint8_t* encoded = tags_.data();
  for (uint32_t i = 0; i < s.tagsCount; ++i) keyValue(w, span_tag::kTags, sc.tags[s.tagsFirst + i]);
  w.raw(encoded + s.tagsAt, s.tagsEnd - s.tagsAt);
  for (uint32_t i = 0; i < s.logsCount; ++i) {
    const view::LogView& log = sc.logs[s.logsFirst + i];
    const ProtoWriter::Mark lm = w.begin(span_tag::kLogs, 1);
    timestamp(w, 0x0a, log.timestamp);  // always, even when zero (`0a 00`)
    for (uint32_t k = 0; k < log.fieldsCount; ++k) keyValue(w, 0x12, sc.tags[log.fieldsFirst + k]);
    w.raw(encoded + log.fieldsAt, log.fieldsEnd - log.fieldsAt);
    w.end(lm);
  }
  if (spanProcess_ != nullptr) writeSpanProcess(*spanProcess_);
  w.end(m);
}

void ApiV2Transcoder::writeSpanProcess(const zipkin::DomainProcess& p) noexcept {
  // Span.process (field 10, §1.2): service_name, the sorted tags, then the agent tags once per
  // process in flag order (§2.4a; the Go agent appends them once per span to a shared process).
  const ProtoWriter::Mark m = w_.begin(0x52, 1);
  if (!p.serviceName.empty()) w_.bytesField(0x0a, p.serviceName);
  for (const TagView& t : p.tags) keyValue(w_, 0x12, t);
  w_.raw(agentTagsProto_.data(), agentTagsProto_.size());
  w_.end(m);
}

RejectReason ApiV2Transcoder::transcodeZipkin(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  const RejectReason r = zipkin_.load(expected, datagram, summary_, false);
  if (r != RejectReason::kOk) return r;
  view::SpanView s;
  for (uint32_t i = 0; i < zipkin_.spans(); ++i) {
    const zipkin::DomainProcess p = zipkin_.process(i);
    spanProcess_ = &p;
    const uint32_t before = dropped_;
    for (uint32_t k = 0; k < zipkin_.domainSpans(i); ++k) {
      zipkin_.build(i, k, s, scratch_);
      span(s, scratch_);
    }
    dropped_ = before + (dropped_ != before ? 1 : 0);  // counted per Zipkin span
    spanProcess_ = nullptr;
    if (w_.size() > kMaxZipkinOutputBytes) return RejectReason::kLengthTooLarge;
  }
  if (zipkin_.failed()) return RejectReason::kLengthTooLarge;
  unknownService_ = zipkin_.unknownServiceSpans();
  return RejectReason::kOk;
}

RejectReason ApiV2Transcoder::transcode(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  summary_ = BatchSummary{};
  dropped_ = 0;
  hasProcess_ = false;
  allocFailed_ = false;
  bodyLen_ = 0;
  spansLen_ = 0;
  frameAt_ = kBodyAt;
  w_.reset(kBodyAt);  // room for the PostSpansRequest frame header in front of the body
  tw_.reset();
  Format format = Format::kJaeger;
  unknownService_ = 0;
  const RejectReason r = view::readJaegerDatagram(expected, datagram, scratch_, summary_, *this, format);
  if (r != RejectReason::kOk) return r;
  if (format == Format::kZipkin) {
    summary_ = BatchSummary{};
    if (const RejectReason z = transcodeZipkin(expected, datagram); z != RejectReason::kOk) return z;
  }
  const size_t spansEnd = w_.size();
  if (hasProcess_) {
    w_.byte(batch_tag::kProcess);
    w_.varint(processLen_);
    w_.raw(processBuf_.data(), processLen_);
  }
  if (w_.failed() || allocFailed_) return RejectReason::kLengthTooLarge;  // allocation failed
  bodyLen_ = w_.size() - kBodyAt;
  spansLen_ = spansEnd - kBodyAt;
  frameAt_ = proto::frameInPlace(out_.data(), kBodyAt, bodyLen_, 0x0a);
  return RejectReason::kOk;
}

namespace {
// A varint at p (bounded by end); false if it runs off or is longer than 10 bytes.
bool readVarint(const uint8_t*& p, const uint8_t* end, uint64_t& v) noexcept {
  v = 0;
  for (int shift = 0; shift < 70 && p < end; shift += 7) {
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
}  // namespace

size_t inlineBatchProcess(std::span<const uint8_t> batch, size_t processLen, std::vector<uint8_t>* out) noexcept {
  if (processLen == 0 || processLen >= batch.size()) return 0;
  // The process record: `12 varint(len) Process`.
  const uint8_t* pp = batch.data() + batch.size() - processLen;
  const uint8_t* pend = batch.data() + batch.size();
  uint64_t plen = 0;
  if (*pp++ != 0x12 || !readVarint(pp, pend, plen) || plen != static_cast<uint64_t>(pend - pp)) return 0;
  const size_t field10 = 1 + proto::varintSize(plen) + plen;  // `52 varint(len) Process`
  uint8_t processHead[11];
  processHead[0] = 0x52;
  const size_t processHeadLen = 1 + proto::putVarint(processHead + 1, plen);
  // Measure first: a batch that turns out malformed half-way must leave `out` untouched.
  size_t total = 0;
  for (const uint8_t* p = batch.data(); p < pend - processLen;) {
    uint64_t len = 0;
    if (*p++ != 0x0a || !readVarint(p, pend - processLen, len) || len > static_cast<uint64_t>(pend - processLen - p))
      return 0;
    total += 1 + proto::varintSize(len + field10) + len + field10;
    p += len;
  }
  if (out == nullptr) return total;
  // Appended piece by piece (insert at the end, within the caller's reservation): growing the
  // vector first would zero-fill every byte before it is written (3 % of the agent, perf).
  for (const uint8_t* p = batch.data(); p < pend - processLen;) {
    uint64_t len = 0;
    ++p;
    readVarint(p, pend - processLen, len);
    uint8_t head[11];
    head[0] = 0x0a;
    const size_t headLen = 1 + proto::putVarint(head + 1, len + field10);
    out->insert(out->end(), head, head + headLen);
    out->insert(out->end(), p, p + len);
    out->insert(out->end(), processHead, processHead + processHeadLen);
    out->insert(out->end(), pp, pend);
    p += len;
  }
  return total;
}

}  // namespace jagent::decode
