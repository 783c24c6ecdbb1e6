// Zero-allocation check for the Transcoder: after warm-up, transcoding (accepted or rejected
// datagrams, same size or smaller) must not touch the heap.
//
// This file replaces the global operator new/delete to count allocations, so it is built as its
// own executable (decode_alloc_test), never into unit_tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "decode/encoding.h"
#include "decode/transcoder.h"
#include "decode_test_util.h"

namespace {
std::atomic<uint64_t> gAllocations{0};

void* countedAlloc(size_t n) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* countedAlignedAlloc(size_t n, std::align_val_t a) {
  gAllocations.fetch_add(1, std::memory_order_relaxed);
  const auto align = static_cast<size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(size_t n) { return countedAlloc(n); }
void* operator new[](size_t n) { return countedAlloc(n); }
void* operator new(size_t n, std::align_val_t a) { return countedAlignedAlloc(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return countedAlignedAlloc(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace jagent::decode {
namespace {

using namespace testing;  // NOLINT: test helpers

TEST(DecodeAlloc, CounterSeesAllocations) {
  const uint64_t before = gAllocations.load();
  auto* p = new std::vector<int>(100);
  delete p;
  EXPECT_GE(gAllocations.load() - before, 2u);
}

TEST(DecodeAlloc, SteadyStateTranscodeAllocatesNothing) {
  const jt::Batch big = realisticBatch(120);
  const jt::Batch small = realisticBatch(3);
  std::vector<zt::Span> zipkin(5);
  zipkin[0].annotations.resize(3);
  const Bytes bigCompact = oracleEmitBatch(Wire::kCompact, big);
  const Bytes bigBinary = oracleEmitBatch(Wire::kBinary, big);
  const Bytes smallCompact = oracleEmitBatch(Wire::kCompact, small);
  const Bytes smallBinary = oracleEmitBatch(Wire::kBinary, small);
  const Bytes zipkinCompact = oracleEmitZipkinBatch(Wire::kCompact, zipkin);
  // emitBatch{Batch{Process{serviceName: <declares ~2 GB>}}}
  const Bytes hugeLength = {0x82, 0x81, 0x00, 0x09, 'e', 'm', 'i', 't', 'B', 'a', 't', 'c', 'h',
                            0x1C, 0x1C, 0x18, 0xF0, 0xFF, 0xFF, 0xFF, 0x07, 'x', 0x00, 0x00, 0x00};
  Bytes truncated(bigCompact.begin(), bigCompact.begin() + 30000);
  Bytes trailing = smallBinary;
  trailing.push_back(0);
  ASSERT_GT(bigCompact.size(), 50000u);
  ASSERT_LT(bigCompact.size(), 65000u);

  Transcoder t(std::vector<AgentTag>{{"zone", "eu-west-1"}, {"agent", "jagent"}});
  // Warm-up: the largest datagram of each protocol sizes the output buffer.
  ASSERT_EQ(t.transcode(Protocol::kCompact, bigCompact), RejectReason::kOk);
  ASSERT_EQ(t.transcode(Protocol::kBinary, bigBinary), RejectReason::kOk);

  struct Case {
    Protocol p;
    const Bytes* d;
    bool ok;
  };
  const Case cases[] = {{Protocol::kCompact, &bigCompact, true},    {Protocol::kBinary, &bigBinary, true},
                        {Protocol::kCompact, &smallCompact, true},  {Protocol::kBinary, &smallBinary, true},
                        {Protocol::kCompact, &zipkinCompact, true}, {Protocol::kCompact, &truncated, false},
                        {Protocol::kBinary, &trailing, false},      {Protocol::kBinary, &bigCompact, false}};
  int wrongResults = 0;
  const uint64_t before = gAllocations.load();
  for (int i = 0; i < 1000; ++i) {
    for (const Case& c : cases) {
      const bool ok = t.transcode(c.p, *c.d) == RejectReason::kOk;
      wrongResults += ok != c.ok;
    }
    wrongResults += t.transcode(Protocol::kCompact, hugeLength) != RejectReason::kLengthTooLarge;
  }
  const uint64_t allocations = gAllocations.load() - before;
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(wrongResults, 0);
}

// Zipkin spans that reach every synthesizing rule: split (cs+sr), JSON logs with escapes, bad
// and typed binary values, error sanitizing, peer endpoints, process tags, several processes.
std::vector<zt::Span> zipkinSpans(int n) {
  std::vector<zt::Span> v;
  for (int i = 0; i < n; ++i) {
    zt::Span s;
    s.trace_id = 1000 + i;
    s.id = 2000 + i;
    s.name = "op";
    s.__set_parent_id(i % 3 == 0 ? 0 : 5);
    if (i % 2) s.__set_duration(-3);
    zt::Endpoint host;
    host.service_name = i % 4 ? "svc-a" : "svc-b";
    host.ipv4 = static_cast<int32_t>(0xC0A80001);
    const char* values[] = {"cs", "sr", R"({"b":"caf\u00e9","a":"x"})", "evt", "ss", "cr"};
    for (int k = 0; k < 6; ++k) {
      zt::Annotation a;
      a.timestamp = 1700000000000000 + k;
      a.value = values[k];
      if (k < 2) a.__set_host(host);
      s.annotations.push_back(a);
    }
    const std::pair<const char*, int> bins[] = {{"error", zt::AnnotationType::STRING}, {"n", zt::AnnotationType::I32},
                                                {"lc", zt::AnnotationType::STRING},    {"sa", zt::AnnotationType::BOOL},
                                                {"jaegerClient", zt::AnnotationType::STRING}, {"otel.scope.name", zt::AnnotationType::STRING},
                                                {"odd", 42}};
    for (const auto& [key, type] : bins) {
      zt::BinaryAnnotation b;
      b.key = key;
      b.value = "boom!";
      b.annotation_type = static_cast<zt::AnnotationType::type>(type);
      if (b.key == "sa") b.__set_host(host);
      s.binary_annotations.push_back(b);
    }
    v.push_back(s);
  }
  return v;
}

// The same for the protobuf encoders (to_api_v2, to_otlp), through the common interface.
TEST(DecodeAlloc, SteadyStateProtobufTranscodeAllocatesNothing) {
  const Bytes bigCompact = oracleEmitBatch(Wire::kCompact, realisticBatch(120));
  const Bytes bigBinary = oracleEmitBatch(Wire::kBinary, realisticBatch(120));
  const Bytes smallCompact = oracleEmitBatch(Wire::kCompact, realisticBatch(3));
  const Bytes zipkinCompact = oracleEmitZipkinBatch(Wire::kCompact, zipkinSpans(60));
  const Bytes zipkinBinary = oracleEmitZipkinBatch(Wire::kBinary, zipkinSpans(60));
  const Bytes zipkinSmall = oracleEmitZipkinBatch(Wire::kCompact, zipkinSpans(3));
  const Bytes zipkinTruncated(zipkinCompact.begin(), zipkinCompact.begin() + static_cast<std::ptrdiff_t>(zipkinCompact.size() / 2));
  Bytes truncated(bigCompact.begin(), bigCompact.begin() + 30000);
  for (Encoding e : {Encoding::kApiV2, Encoding::kOtlp}) {
    SCOPED_TRACE(encodingName(e));
    auto t = makeBatchEncoder(e, {{"zone", "eu-west-1"}, {"agent", "jagent"}});
    ASSERT_EQ(t->transcode(Protocol::kCompact, bigCompact), RejectReason::kOk);
    ASSERT_EQ(t->transcode(Protocol::kBinary, bigBinary), RejectReason::kOk);
    ASSERT_EQ(t->transcode(Protocol::kCompact, zipkinCompact), RejectReason::kOk);
    ASSERT_EQ(t->transcode(Protocol::kBinary, zipkinBinary), RejectReason::kOk);
    ASSERT_GT(t->spansDropped() + t->output().size(), 0u);
    struct Case {
      Protocol p;
      const Bytes* d;
      bool ok;
    };
    const Case cases[] = {{Protocol::kCompact, &bigCompact, true},     {Protocol::kBinary, &bigBinary, true},
                          {Protocol::kCompact, &smallCompact, true},   {Protocol::kCompact, &zipkinCompact, true},
                          {Protocol::kBinary, &zipkinBinary, true},    {Protocol::kCompact, &zipkinSmall, true},
                          {Protocol::kCompact, &zipkinTruncated, false},
                          {Protocol::kCompact, &truncated, false},     {Protocol::kBinary, &bigCompact, false}};
    int wrongResults = 0;
    const uint64_t before = gAllocations.load();
    for (int i = 0; i < 300; ++i)
      for (const Case& c : cases) wrongResults += (t->transcode(c.p, *c.d) == RejectReason::kOk) != c.ok;
    EXPECT_EQ(gAllocations.load() - before, 0u);
    EXPECT_EQ(wrongResults, 0);
  }
}

}  // namespace
}  // namespace jagent::decode
