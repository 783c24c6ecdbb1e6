// OtlpTranscoder's Zipkin path (to_otlp.h): Zipkin spans → domain spans (zipkin_domain.h) → OTLP
// as the Collector converts api_v2 batches (modern-collectors.md §3.8). Kept apart from to_otlp.cc,
// which holds the span and resource writers both paths share.
#include <algorithm>
#include <numeric>

#include "decode/to_otlp.h"

namespace jagent::decode {

namespace {
constexpr std::string_view kNoServiceName = "OTLPResourceNoServiceName";  // §3.8 (TT)
}

// Orders the domain spans: by process group (first appearance of the process: Go regroups by a
// process hash in map order, §3.8, so any order is the Collector's; ours is deterministic), then
// by scope within the group (first appearance), then in datagram order.
void OtlpTranscoder::orderZipkinSpans() noexcept {
  const uint32_t n = zipkin_.spans();
  zOrder_.resize(n);
  std::iota(zOrder_.begin(), zOrder_.end(), 0u);
  std::sort(zOrder_.begin(), zOrder_.end(), [&](uint32_t a, uint32_t b) {
    const uint64_t ha = zipkin_.processHash(a), hb = zipkin_.processHash(b);
    return ha != hb ? ha < hb : a < b;
  });
  zGroup_.resize(n);
  // Within a run of equal hashes (ascending span index) each span joins the first earlier span
  // with an equal process. Runs of distinct processes need a hash collision, so they are short.
  for (uint32_t a = 0; a < n;) {
    uint32_t b = a;
    while (b + 1 < n && zipkin_.processHash(zOrder_[b + 1]) == zipkin_.processHash(zOrder_[a])) ++b;
    for (uint32_t x = a; x <= b; ++x) {
      const uint32_t i = zOrder_[x];
      zGroup_[i] = i;
      for (uint32_t y = a; y < x; ++y) {
        const uint32_t j = zOrder_[y];
        if (zGroup_[j] == j && zipkin_.sameProcess(i, j)) {
          zGroup_[i] = j;
          break;
        }
      }
    }
    a = b + 1;
  }

  zEntries_.clear();
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t k = 0; k < zipkin_.domainSpans(i); ++k) zEntries_.push_back({i, k, zGroup_[i], 0});
  const auto m = static_cast<uint32_t>(zEntries_.size());
  zOrder_.resize(m);
  std::iota(zOrder_.begin(), zOrder_.end(), 0u);
  const auto scopeLess = [&](uint32_t a, uint32_t b) {
    const ZipkinEntry& x = zEntries_[a];
    const ZipkinEntry& y = zEntries_[b];
    if (x.group != y.group) return x.group < y.group;
    if (const int c = zipkin_.scopeName(x.span, x.half).compare(zipkin_.scopeName(y.span, y.half)); c != 0) return c < 0;
    if (const int c = zipkin_.scopeVersion(x.span, x.half).compare(zipkin_.scopeVersion(y.span, y.half)); c != 0)
      return c < 0;
    return a < b;
  };
  std::sort(zOrder_.begin(), zOrder_.end(), scopeLess);
  for (uint32_t a = 0; a < m;) {
    uint32_t b = a;
    const ZipkinEntry& first = zEntries_[zOrder_[a]];
    while (b + 1 < m) {
      const ZipkinEntry& e = zEntries_[zOrder_[b + 1]];
      if (e.group != first.group || zipkin_.scopeName(e.span, e.half) != zipkin_.scopeName(first.span, first.half) ||
          zipkin_.scopeVersion(e.span, e.half) != zipkin_.scopeVersion(first.span, first.half))
        break;
      ++b;
    }
    for (uint32_t x = a; x <= b; ++x) zEntries_[zOrder_[x]].scopeFirst = zOrder_[a];
    a = b + 1;
  }
  std::sort(zOrder_.begin(), zOrder_.end(), [&](uint32_t a, uint32_t b) {
    const ZipkinEntry& x = zEntries_[a];
    const ZipkinEntry& y = zEntries_[b];
    if (x.group != y.group) return x.group < y.group;
    if (x.scopeFirst != y.scopeFirst) return x.scopeFirst < y.scopeFirst;
    return a < b;
  });
}

RejectReason OtlpTranscoder::transcodeZipkin(Protocol expected, std::span<const uint8_t> datagram) noexcept {
  if (const RejectReason r = zipkin_.load(expected, datagram, summary_, true); r != RejectReason::kOk) return r;
  orderZipkinSpans();
  view::SpanView s;
  proto::ProtoWriter::Mark rs{}, ss{};
  bool inResource = false, inScope = false;
  uint32_t group = 0, scope = 0;
  for (const uint32_t idx : zOrder_) {
    const ZipkinEntry& e = zEntries_[idx];
    if (!inResource || e.group != group) {
      if (inScope) w_.end(ss);
      if (inResource) w_.end(rs);
      inScope = false;
      inResource = true;
      group = e.group;
      rs = w_.begin(0x0a, 3);  // ExportTraceServiceRequest.resource_spans
      const zipkin::DomainProcess p = zipkin_.process(e.span);
      if (p.serviceName == kNoServiceName) {  // §3.8: no resource attributes
        w_.byte(0x0a);
        w_.byte(0);
      } else {  // §3.2, with the agent tags after the process tags (as api_v2 carries them)
        process_ = view::ProcessView{p.serviceName, !p.tags.empty()};
        hasProcess_ = true;
        resourceTags_.assign(p.tags.begin(), p.tags.end());
        resourceTags_.insert(resourceTags_.end(), agentTags_.begin(), agentTags_.end());
        writeResource();
      }
    }
    if (!inScope || e.scopeFirst != scope) {
      if (inScope) w_.end(ss);
      inScope = true;
      scope = e.scopeFirst;
      ss = w_.begin(0x12, 3);  // ResourceSpans.scope_spans
      const proto::ProtoWriter::Mark sm = w_.begin(0x0a, 1);  // ScopeSpans.scope (always, as pdata)
      if (const std::string_view name = zipkin_.scopeName(e.span, e.half); !name.empty()) w_.bytesField(0x0a, name);
      if (const std::string_view v = zipkin_.scopeVersion(e.span, e.half); !v.empty()) w_.bytesField(0x12, v);
      w_.end(sm);
    }
    zipkin_.build(e.span, e.half, s, scratch_);
    span(s, scratch_);
    if (w_.size() > kMaxZipkinOutputBytes) return RejectReason::kLengthTooLarge;
  }
  if (inScope) w_.end(ss);
  if (inResource) w_.end(rs);
  if (zipkin_.failed()) return RejectReason::kLengthTooLarge;
  unknownService_ = zipkin_.unknownServiceSpans();
  return RejectReason::kOk;
}

}  // namespace jagent::decode
