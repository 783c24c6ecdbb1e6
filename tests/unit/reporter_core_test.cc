// ReporterCore with a scripted transport and a fake clock: coalescing, the reserved-bytes bound,
// retries only of what was not processed, deadlines, the shutdown drain, generic calls, body
// recycling, and the accounting identity (every span ends submitted, failed or dropped).
// Deterministic and in-process: no thread, no socket, no sleep.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <random>

#include "metrics/metrics.h"
#include "report/reporter_core.h"

namespace jagent::report {
namespace {

using std::chrono::milliseconds;

// A transport whose connections and answers the test scripts.
class ScriptedTransport final : public Transport {
 public:
  void bind(CompletionSink& s) override { sink = &s; }
  void maintain(Clock::time_point) override {}
  bool send(std::unique_ptr<OutCall>& call, Clock::time_point) override {
    if (!up) return false;
    ++call->attempts;
    call->lastPeer = 0;
    sent.push_back(std::move(call));
    return true;
  }
  void poll(int) override {}
  void wake() noexcept override { ++wakes; }
  Clock::time_point nextTimer(Clock::time_point now) const override { return now + milliseconds(100); }
  size_t inflight() const override { return sent.size(); }
  void abortAll(Clock::time_point now) override {
    while (!sent.empty()) answer(Outcome::kFailed, FailReason::kConnectionLostAfterSend, now);
  }
  int connectedPeers() const noexcept override { return up ? 1 : 0; }
  const char* protocolName() const noexcept override { return "test"; }

  // Completes the oldest call in flight.
  void answer(Outcome o, FailReason r, Clock::time_point now, uint32_t rejected = 0) {
    ASSERT_FALSE(sent.empty());
    auto c = std::move(sent.front());
    sent.pop_front();
    sink->complete(std::move(c), o, r, now, rejected);
  }

  CompletionSink* sink = nullptr;
  bool up = true;
  int wakes = 0;
  std::deque<std::unique_ptr<OutCall>> sent;
};

struct Fixture {
  metrics::Registry reg;
  ReporterMetrics metrics{reg, "test"};
  Clock::time_point t0 = Clock::now();
  Clock::time_point now = t0;
  ScriptedTransport* transport = nullptr;
  std::unique_ptr<ReporterCore> core;
  BatchSummary summary;
  std::vector<uint8_t> bytes;
  uint64_t emittedSpans = 0;

  explicit Fixture(size_t batchMax = 64 * 1024, size_t queueMax = 4u << 20, int maxAttempts = 3) {
    auto t = std::make_unique<ScriptedTransport>();
    transport = t.get();
    ReporterCore::Options o;
    o.batchMaxBytes = batchMax;
    o.batchMaxDelay = milliseconds(20);
    o.queueMaxBytes = queueMax;
    o.reportTimeout = milliseconds(1000);
    o.maxAttempts = maxAttempts;
    o.clock = [this] { return now; };
    core = std::make_unique<ReporterCore>(o, std::move(t), metrics);
  }
  void emit(size_t size, uint32_t spans, Format f = Format::kJaeger) {
    bytes.assign(size, 0xAB);
    summary.format = f;
    summary.spans = spans;
    emittedSpans += spans;
    core->emit(EncodedBatch{f, bytes, &summary, 6831});
  }
  // A Jaeger batch of these bytes whose last `suffix` bytes are its process (mergeBySuffix).
  void emitMergeable(const std::string& all, uint32_t spans, uint32_t suffix = 2) {
    summary.format = Format::kJaeger;
    summary.spans = spans;
    emittedSpans += spans;
    core->emit(EncodedBatch{Format::kJaeger, std::span(reinterpret_cast<const uint8_t*>(all.data()), all.size()),
                            &summary, 6831, 0, suffix});
  }
  // Answers every sent call OK; then every span is accounted for and nothing stays reserved.
  void answerAllOkAndExpectAccounted() {
    while (!transport->sent.empty()) transport->answer(Outcome::kOk, FailReason::kNone, now);
    EXPECT_EQ(accounted(), emittedSpans);
    EXPECT_EQ(core->reservedBytes(), 0u);
  }
  // A fresh core with these options (the clock is the fixture's).
  void reset(ReporterCore::Options o) {
    core.reset();
    auto t = std::make_unique<ScriptedTransport>();
    transport = t.get();
    o.clock = [this] { return now; };
    core = std::make_unique<ReporterCore>(o, std::move(t), metrics);
  }
  void advance(milliseconds d) { now += d; }
  uint64_t sum(const char* name, const metrics::Labels& l = {}) const { return reg.counterSum(name, l); }
  uint64_t accounted() const {
    return sum("jaeger_agent_reporter_spans_submitted") + sum("jaeger_agent_reporter_spans_failures") +
           sum("jaeger_agent_reporter_spans_dropped");
  }
};

TEST(ReporterCore, CoalescesUntilTheDelayThenSendsOneCall) {
  Fixture f;
  for (int i = 0; i < 10; ++i) f.emit(1000, 3);
  f.core->step(f.now);
  EXPECT_TRUE(f.transport->sent.empty()) << "sent before batch-max-delay";
  f.advance(milliseconds(20));
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(f.transport->sent[0]->batches, 10u);
  EXPECT_EQ(f.transport->sent[0]->items, 10u);
  EXPECT_EQ(f.transport->sent[0]->spans, 30u);
  EXPECT_EQ(f.transport->sent[0]->body.size(), 10'000u);
  f.advance(milliseconds(7));
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_submitted"), 30u);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_calls"), 1u);
  // The call took 7 ms from send to answer: in the (0.005, 0.01] bucket.
  EXPECT_EQ(f.metrics.callSeconds.count(), 1u);
  EXPECT_EQ(f.metrics.callSeconds.bucket(3), 1u);
  EXPECT_NEAR(f.metrics.callSeconds.sum(), 0.007, 1e-6);
  const std::string text = f.reg.renderPrometheus();
  EXPECT_NE(text.find("jaeger_agent_reporter_call_duration_seconds_bucket{protocol=\"test\",le=\"0.01\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("jaeger_agent_reporter_call_duration_seconds_count{protocol=\"test\"} 1"), std::string::npos);
  EXPECT_EQ(f.core->reservedBytes(), 0u);
}

TEST(ReporterCore, AFullCallGoesWithoutWaitingAndFormatsDoNotMix) {
  Fixture f(/*batchMax=*/8192);
  for (int i = 0; i < 3; ++i) f.emit(3000, 1);  // passes 8192 at the third
  f.emit(500, 4, Format::kZipkin);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(f.transport->sent[0]->format, Format::kJaeger);
  EXPECT_EQ(f.transport->sent[0]->batches, 3u);
  f.advance(milliseconds(25));
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 2u);
  EXPECT_EQ(f.transport->sent[1]->format, Format::kZipkin);
  EXPECT_EQ(f.transport->sent[1]->items, 4u) << "a zipkin call lists spans, not batches";
}

TEST(ReporterCore, OneBatchPerCallWhenTheTransportSaysSo) {
  Fixture f;
  ReporterCore::Options o;
  o.maxBatchesPerCall = 1;
  f.reset(o);
  for (int i = 0; i < 5; ++i) f.emit(100 + i, 2);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 5u) << "calls waited for batch-max-delay although each is full";
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(f.transport->sent[i]->batches, 1u);
    EXPECT_EQ(f.transport->sent[i]->body.size(), 100 + i);
  }
}

// api_v2: batches whose trailing Batch.process record is byte-identical merge into one Batch
// (their span records, then the shared process once, where gogo writes it); other processes get
// their own call; a batch without a process goes alone; the oldest merge slot makes way.
TEST(ReporterCore, BatchesOfOneProcessMergeIntoOneMessage) {
  Fixture f;
  ReporterCore::Options o;
  o.maxBatchesPerCall = 1;
  o.mergeBySuffix = true;
  o.batchMaxDelay = milliseconds(20);
  f.reset(o);
  auto emit = [&f](std::string spansPart, std::string process, uint32_t spans) {
    const std::string all = spansPart + process;
    f.summary.spans = spans;
    f.emittedSpans += spans;
    f.core->emit(EncodedBatch{Format::kJaeger, std::span(reinterpret_cast<const uint8_t*>(all.data()), all.size()),
                              &f.summary, 6831, 0, static_cast<uint32_t>(process.size())});
  };
  auto body = [](const OutCall& c) { return std::string(c.body.begin(), c.body.end()); };
  emit("a1", "PA", 1);
  emit("b1", "PBB", 2);
  emit("a22", "PA", 3);
  emit("solo", "", 4);  // no process: one batch per call, at once
  emit("b2", "PBB", 5);
  // A trickle: merged calls start at their first batch's size and grow, so many client
  // processes do not fill the bound with empty reservations.
  EXPECT_LT(f.core->reservedBytes(), 1024u);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(body(*f.transport->sent[0]), "solo");
  f.advance(milliseconds(20));
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 3u);
  std::vector<std::string> bodies{body(*f.transport->sent[1]), body(*f.transport->sent[2])};
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies[0], "a1a22PA");
  EXPECT_EQ(bodies[1], "b1b2PBB");
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(f.transport->sent[i]->batches, 2u);
    EXPECT_EQ(f.transport->sent[i]->items, 1u) << "a merged call is one Batch";
  }
  EXPECT_EQ(f.transport->sent[1]->spans + f.transport->sent[2]->spans, 11u);

  // More client processes than merge slots: the oldest open call is closed, nothing is lost.
  for (int i = 0; i < 20; ++i) {
    f.advance(milliseconds(1));
    std::string process(3, 'P');
    process[1] = static_cast<char>('a' + i);  // 20 distinct processes
    emit("s", process, 1);
  }
  f.advance(milliseconds(20));
  f.core->step(f.now);
  EXPECT_EQ(f.transport->sent.size(), 3u + 20u);
  while (!f.transport->sent.empty()) f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  EXPECT_EQ(f.accounted(), f.emittedSpans);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_batches_submitted"), 25u);
  EXPECT_EQ(f.core->reservedBytes(), 0u);
}

// A stand-in for decode::inlineBatchProcess: the records, then '|' (for moving the suffix into
// each record); 0 (cannot rewrite) for a batch with no records, as the real one.
size_t fakeInline(std::span<const uint8_t> b, size_t suffix, std::vector<uint8_t>* out) {
  if (b.size() <= suffix) return 0;
  const size_t n = b.size() - suffix + 1;
  if (out) {
    out->insert(out->end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n - 1));
    out->push_back('|');
  }
  return n;
}

// Merging on, with fakeInline for processes beyond the merge slots.
ReporterCore::Options inliningOptions() {
  ReporterCore::Options o;
  o.mergeBySuffix = true;
  o.batchMaxDelay = milliseconds(20);
  o.inlineSuffix = fakeInline;
  return o;
}

// With an inlineSuffix hook, a process that finds every merge slot taken is rewritten into the
// shared call instead of closing a slot. Slots whose process sent two batches stay calls of
// their own: 8 processes twice, then 12 once, make 8 merged calls plus one shared call.
TEST(ReporterCore, ProcessesBeyondTheMergeSlotsShareOneCall) {
  Fixture f;
  f.reset(inliningOptions());
  auto emit = [&f](int i) {
    const char p = static_cast<char>('a' + i);
    f.emitMergeable(std::string("s") + p + "P" + p, 1);
  };
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 8; ++i) emit(i);
  for (int i = 8; i < 20; ++i) emit(i);
  f.advance(milliseconds(20));
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 9u) << "8 merge slots and one shared call";
  std::vector<std::string> bodies;
  for (auto& c : f.transport->sent) bodies.emplace_back(c->body.begin(), c->body.end());
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies[0], "sasaPa");  // a slot: both batches of process a, the suffix once
  EXPECT_EQ(bodies[8].size(), 12u * 3) << bodies[8];  // the other 12 processes, rewritten
  f.answerAllOkAndExpectAccounted();
}

// A slot whose process has sent one batch joins the shared call: when a new shared call opens,
// and when the slot is due (a new client process per datagram made each slot a call of its own:
// 780 gRPC calls/s instead of ~220). The shared call then leaves by the oldest batch's deadline.
TEST(ReporterCore, SlotsOfASingleBatchJoinTheSharedCall) {
  Fixture f;
  f.reset(inliningOptions());
  auto emit = [&f](char p) { f.emitMergeable(std::string("s") + p + "P" + p, 1); };
  for (char p = 'a'; p < 'i'; ++p) emit(p);  // 8 slots of one batch
  f.advance(milliseconds(5));
  emit('i');  // no slot: a new shared call, which takes the 8 slots' batches
  f.advance(milliseconds(14));
  f.core->step(f.now);
  EXPECT_TRUE(f.transport->sent.empty()) << "nothing is due yet";
  emit('j');  // a slot of one batch again
  f.advance(milliseconds(1));  // the shared call is due by its oldest batch (a, 20 ms)
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(std::string(f.transport->sent[0]->body.begin(), f.transport->sent[0]->body.end()),
            "si|sa|sb|sc|sd|se|sf|sg|sh|");
  f.advance(milliseconds(19));  // j's slot is due: no shared call is open, so it leaves alone
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 2u);
  EXPECT_EQ(std::string(f.transport->sent[1]->body.begin(), f.transport->sent[1]->body.end()), "sjPj");
  f.answerAllOkAndExpectAccounted();
}

// A batch of no spans is its process record alone. It must not go whole into the shared call:
// that call's spans carry their own process, and a second Batch.process there is merged field by
// field into the first by protobuf (found by interop_grpc_oracle_inlined). It takes a merge slot,
// and is not folded into the shared call with the slots of one batch (nothing to inline).
TEST(ReporterCore, ABatchWithoutSpansNeverJoinsTheSharedCall) {
  Fixture f;
  f.reset(inliningOptions());
  auto emit = [&f](const std::string& all, uint32_t suffix, uint32_t spans) { f.emitMergeable(all, spans, suffix); };
  emit("Py", 2, 0);  // a process with no spans takes a slot
  for (int i = 0; i < 8; ++i) {  // 7 slots left; the 8th process opens the shared call
    f.advance(milliseconds(1));
    emit(std::string("s") + static_cast<char>('a' + i) + "P" + static_cast<char>('a' + i), 2, 1);
  }
  emit("Pz", 2, 0);  // another process with no spans: a (freed) slot
  f.advance(milliseconds(20));
  f.core->step(f.now);
  std::vector<std::string> bodies;
  for (auto& c : f.transport->sent) bodies.emplace_back(c->body.begin(), c->body.end());
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(bodies, (std::vector<std::string>{"Py", "Pz", "sh|sa|sb|sc|sd|se|sf|sg|"}));
  f.answerAllOkAndExpectAccounted();
}

TEST(ReporterCore, TheBoundCountsReservedCapacityAndDropsAreCounted) {
  // No collector: calls pile up. The bound is on reserved bytes (each call reserves
  // batch-max-bytes plus headroom up front), so memory cannot pass it whatever the batch sizes.
  Fixture f(/*batchMax=*/64 * 1024, /*queueMax=*/1u << 20);
  f.transport->up = false;
  for (int i = 0; i < 400; ++i) {
    f.emit(10'000, 2);
    if (i % 10 == 0) {
      f.advance(milliseconds(25));
      f.core->step(f.now);
    }
    ASSERT_LE(f.core->reservedBytes(), 1u << 20);
  }
  EXPECT_GT(f.sum("jaeger_agent_reporter_spans_dropped", {{"reason", "queue_full"}}), 0u);
  EXPECT_EQ(static_cast<uint64_t>(f.reg.gauge("jaeger_agent_reporter_queue_bytes", "", {{"protocol", "test"}}).value()),
            f.core->reservedBytes());
  f.core->close(f.now);  // no thread: close() only marks; drive the drain by hand
  EXPECT_TRUE(f.core->step(f.now));
  f.core->finishShutdown(f.now);
  EXPECT_EQ(f.accounted(), f.emittedSpans);
  EXPECT_EQ(f.core->reservedBytes(), 0u);
}

TEST(ReporterCore, RetriesWhatWasNotProcessedAndNeverWhatMayHaveBeen) {
  Fixture f(64 * 1024, 4u << 20, /*maxAttempts=*/3);
  f.emit(1000, 5);
  f.advance(milliseconds(20));
  f.core->step(f.now);
  f.transport->answer(Outcome::kRetryable, FailReason::kErrorBusy, f.now);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(f.transport->sent[0]->attempts, 2);
  f.transport->answer(Outcome::kRetryable, FailReason::kErrorBusy, f.now);
  f.core->step(f.now);
  f.transport->answer(Outcome::kRetryable, FailReason::kErrorBusy, f.now);  // third attempt: out of attempts
  f.core->step(f.now);
  EXPECT_TRUE(f.transport->sent.empty());
  EXPECT_EQ(f.sum("jaeger_agent_reporter_retries"), 2u);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_failed", {{"reason", "error_busy"}}), 5u);

  f.emit(1000, 7);
  f.advance(milliseconds(20));
  f.core->step(f.now);
  f.transport->answer(Outcome::kUnknown, FailReason::kConnectionLostAfterSend, f.now);
  f.core->step(f.now);
  EXPECT_TRUE(f.transport->sent.empty()) << "an outcome-unknown call was sent again (possible duplicate)";
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_failed", {{"reason", "connection_lost_after_send"}}), 7u);
  EXPECT_EQ(f.accounted(), f.emittedSpans);
}

TEST(ReporterCore, NoRetryPastTheDeadline) {
  Fixture f;
  f.emit(1000, 2);
  f.advance(milliseconds(20));
  f.core->step(f.now);
  f.advance(milliseconds(1000));  // report-timeout spent
  f.transport->answer(Outcome::kRetryable, FailReason::kErrorDeclined, f.now);
  f.core->step(f.now);
  EXPECT_TRUE(f.transport->sent.empty());
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_failed", {{"reason", "error_declined"}}), 2u);
}

TEST(ReporterCore, ShutdownDrainsWhatItCanAndCountsTheRest) {
  Fixture f;
  f.emit(1000, 4);
  f.advance(milliseconds(20));
  f.core->step(f.now);              // one call in flight
  f.transport->up = false;          // collector gone
  f.emit(1000, 6);                  // queued behind it
  f.core->beginClose(f.now + milliseconds(500));
  EXPECT_FALSE(f.core->step(f.now));
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  EXPECT_FALSE(f.core->step(f.now)) << "idle while a call is still queued";
  f.emit(1000, 1);                  // after close: dropped as shutdown
  f.advance(milliseconds(500));
  EXPECT_TRUE(f.core->step(f.now));
  f.core->finishShutdown(f.now);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_submitted"), 4u);
  EXPECT_EQ(f.sum("jaeger_agent_reporter_spans_dropped", {{"reason", "shutdown"}}), 7u);
  EXPECT_EQ(f.accounted(), f.emittedSpans);
}

TEST(ReporterCore, GenericCallsGoFirstAndFailOnTheirDeadline) {
  Fixture f;
  f.emit(1000, 1);
  f.advance(milliseconds(20));
  f.transport->up = false;
  int calls = 0;
  RawResult got;
  f.core->call("SamplingManager::getSamplingStrategy", {1, 2, 3}, milliseconds(50), [&](RawResult r) {
    ++calls;
    got = std::move(r);
  });
  f.core->step(f.now);
  EXPECT_EQ(calls, 0);
  f.advance(milliseconds(50));
  f.core->step(f.now);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(got.ok);
  EXPECT_EQ(got.error, "no collector connection before the deadline");

  f.transport->up = true;
  f.core->call("SamplingManager::getSamplingStrategy", {4}, milliseconds(50), [&](RawResult r) {
    ++calls;
    got = std::move(r);
  });
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 2u);
  EXPECT_TRUE(f.transport->sent[0]->raw()) << "the generic call went behind queued batches";
  f.transport->sent[0]->response = {9, 9};
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(got.ok);
  EXPECT_EQ(got.arg3, (std::vector<uint8_t>{9, 9}));
}

TEST(ReporterCore, BodiesAreRecycledAndAnOutsizedOneIsGivenBack) {
  Fixture f(/*batchMax=*/64 * 1024);
  f.emit(70'000, 1);  // one batch past batch-max-bytes: goes at once
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  const uint8_t* first = f.transport->sent[0]->body.data();
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  f.emit(70'000, 1);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_EQ(f.transport->sent[0]->body.data(), first) << "the finished call's body was not reused";
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  // An outsized batch (1 MiB against 64 KiB calls) gets its own body, which is not kept.
  f.emit(1u << 20, 1);
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  const size_t big = f.transport->sent[0]->body.capacity();
  EXPECT_GE(big, 1u << 20);
  f.transport->answer(Outcome::kOk, FailReason::kNone, f.now);
  EXPECT_EQ(f.core->reservedBytes(), 0u);
  f.emit(1000, 1);
  f.advance(milliseconds(20));
  f.core->step(f.now);
  ASSERT_EQ(f.transport->sent.size(), 1u);
  EXPECT_LT(f.transport->sent[0]->body.capacity(), big);
}

TEST(ReporterCore, EverySpanIsAccountedForUnderRandomOutcomes) {
  // 2000 batches, a collector that comes and goes and answers at random, a shutdown in the
  // middle of it: submitted + failed + dropped == emitted, to the span.
  Fixture f(/*batchMax=*/16 * 1024, /*queueMax=*/2u << 20);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    f.emit(200 + rng() % 3000, 1 + rng() % 9, rng() % 4 == 0 ? Format::kZipkin : Format::kJaeger);
    if (rng() % 50 == 0) f.transport->up = !f.transport->up;
    f.advance(milliseconds(rng() % 5));
    f.core->step(f.now);
    while (!f.transport->sent.empty() && rng() % 3 != 0) {
      static const Outcome outcomes[] = {Outcome::kOk, Outcome::kOk, Outcome::kOk, Outcome::kRetryable,
                                         Outcome::kFailed, Outcome::kUnknown};
      const Outcome o = outcomes[rng() % 6];
      f.transport->answer(o, o == Outcome::kOk ? FailReason::kNone
                             : o == Outcome::kUnknown ? FailReason::kTimeoutAfterSend
                                                      : FailReason::kErrorBusy,
                          f.now);
    }
  }
  f.core->beginClose(f.now + milliseconds(10));
  f.advance(milliseconds(10));
  ASSERT_TRUE(f.core->step(f.now));
  f.core->finishShutdown(f.now);
  EXPECT_EQ(f.accounted(), f.emittedSpans);
  EXPECT_GT(f.sum("jaeger_agent_reporter_spans_submitted"), 0u);
  EXPECT_EQ(f.core->reservedBytes(), 0u);
}

}  // namespace
}  // namespace jagent::report
