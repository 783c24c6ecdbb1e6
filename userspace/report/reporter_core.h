// ReporterCore: everything about forwarding batches that does not depend on the wire protocol,
// written once for every transport (report/transport.h):
//   - coalescing: encoded UDP batches are appended to one open call per format; the call closes
//     at batch-max-bytes or when its oldest batch is batch-max-delay old;
//   - memory: the bytes *reserved* by queued and in-flight calls are bounded by queue-max-bytes
//     (capacity, not size: a reserved-but-empty 1 MiB body counts as 1 MiB), beyond which emit()
//     drops and counts; call bodies are recycled, and an outsized one is given back;
//   - deadlines (report-timeout per call, from its first dispatch), retries of what the transport
//     says was not processed (at most max-attempts, within the deadline, never a call whose
//     outcome is unknown: no duplicate spans);
//   - the shutdown drain (close(deadline)) and the accounting: every batch ends submitted,
//     failed (by reason) or dropped (by reason), in ReporterMetrics.
//
// Threading: emit() and call() from any thread (one mutex, a memcpy into the open call, rarely
// a wake-up). Everything else runs on the core's I/O thread — its own (start()), or the shard
// loop that drives it (tick(), onPollable()) — which also drives the transport. Tests drive
// step() directly with their own clock instead of starting the thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/rate_limited_log.h"
#include "metrics/metrics.h"
#include "report/reporter.h"
#include "report/transport.h"

namespace jagent::report {

// The reporter's metrics, registered once per protocol and shared by every core (shard) of that
// protocol. Names: reference-agent.md §1.3 (jaeger_agent_reporter_*), plus ours for drops and
// failure reasons.
class ReporterMetrics {
 public:
  ReporterMetrics(metrics::Registry& registry, const char* protocol);

  struct PerFormat {
    metrics::Counter* batchesSubmitted;
    metrics::Counter* batchesFailures;
    metrics::Counter* spansSubmitted;
    metrics::Counter* spansFailures;
    metrics::Gauge* batchSize;
    metrics::Counter* batchesDroppedQueueFull;
    metrics::Counter* spansDroppedQueueFull;
    metrics::Counter* batchesDroppedShutdown;
    metrics::Counter* spansDroppedShutdown;
    metrics::Counter* calls;
    metrics::Counter* batchesNotOk;   // accepted call, batches the collector answered ok=false (TChannel)
    metrics::Counter* spansRejected;  // accepted call, spans the collector said it did not store (OTLP)
    metrics::Counter* batchesFailed[static_cast<size_t>(FailReason::kCount)];
    metrics::Counter* spansFailed[static_cast<size_t>(FailReason::kCount)];
  };
  PerFormat& of(Format f) noexcept { return perFormat_[f == Format::kJaeger ? 0 : 1]; }

  metrics::Counter& retries;
  metrics::Gauge& queueBytes;  // reserved bytes of queued + in-flight calls, all cores together
  // From sending a call (this attempt) to the collector's answer, for calls that succeeded.
  metrics::Histogram& callSeconds;

 private:
  PerFormat perFormat_[2];
};

class ReporterCore final : public Reporter, public CompletionSink {
 public:
  struct Options {
    size_t batchMaxBytes = 1u << 20;               // --reporter.*.batch-max-bytes
    std::chrono::milliseconds batchMaxDelay{20};   // --reporter.*.batch-max-delay
    size_t queueMaxBytes = 32u << 20;              // this core's share of --reporter.queue-max-bytes
    std::chrono::milliseconds reportTimeout{1000}; // deadline of each call from its first dispatch
    int maxAttempts = 5;                           // tchannel-go's RunWithRetry default
    // At most this many UDP batches per call; 0 = no limit (TChannel's list<Batch>, OTLP's repeated
    // ResourceSpans concatenate). 1 for api_v2 PostSpans, whose request holds a single Batch.
    uint32_t maxBatchesPerCall = 0;
    // With maxBatchesPerCall == 1: batches whose EncodedBatch::mergeSuffix bytes are identical
    // (api_v2: the same Batch.process) are merged into one message all the same, up to
    // batch-max-bytes / batch-max-delay; a few such calls stay open at once, one per process.
    bool mergeBySuffix = false;
    // With mergeBySuffix: when every merge slot holds another process, the batch is rewritten by
    // this function into records that carry their suffix themselves (api_v2: the process moved
    // into each span, decode::inlineBatchProcess) and appended to the shared call, instead of
    // closing a slot — so many client processes still make few calls. Signature: (batch, suffix
    // length, out or nullptr to measure) → bytes; 0 = cannot. Unset: the oldest slot is closed.
    std::function<size_t(std::span<const uint8_t>, size_t, std::vector<uint8_t>*)> inlineSuffix;
    std::string threadName = "report-io";
    std::function<Clock::time_point()> clock;      // injectable; default steady_clock::now
  };

  ReporterCore(Options opts, std::unique_ptr<Transport> transport, ReporterMetrics& metrics);
  ~ReporterCore() override;
  ReporterCore(const ReporterCore&) = delete;
  ReporterCore& operator=(const ReporterCore&) = delete;

  // Starts the I/O thread (not for tests that drive step(), nor when a shard loop drives it).
  void start();
  // Driven by a shard loop instead of a thread of its own (when pollFd() >= 0): the loop waits on
  // pollFd() with its own I/O, calls onPollable() when it is readable and tick() after every
  // wake-up, at the latest at the time tick() returned. close() then runs the drain on a thread
  // of its own.
  [[nodiscard]] int pollFd() const noexcept { return transport_->pollFd(); }
  void onPollable() { transport_->poll(0); }
  Clock::time_point tick(Clock::time_point now) {
    step(now);
    return nextWake(now);
  }
  void emit(const EncodedBatch& batch) noexcept override;
  // Set when emit() dropped for queue space, cleared when a call finishes and frees some.
  [[nodiscard]] bool saturated() const noexcept override { return saturated_.load(std::memory_order_relaxed); }
  void close(Clock::time_point deadline) override;
  // The first half of close(): stop accepting and start draining, without waiting (so that
  // several shards drain at once).
  void beginClose(Clock::time_point deadline);

  // A generic request/response call (sampling, baggage). Goes ahead of queued batches;
  // `callback` runs exactly once, on the I/O thread (keep it short).
  void call(std::string_view method, std::vector<uint8_t> request, std::chrono::milliseconds timeout,
            RawCallback callback);

  [[nodiscard]] int connectedPeers() const noexcept { return transport_->connectedPeers(); }
  [[nodiscard]] Transport& transport() noexcept { return *transport_; }
  [[nodiscard]] size_t reservedBytes() const noexcept { return reserved_.load(std::memory_order_relaxed); }

  // One turn of the I/O loop without waiting: connections, deadlines, closing due calls,
  // dispatch. Returns true when closing and nothing is left (or the close deadline passed).
  bool step(Clock::time_point now);
  // After step() returned true: counts what is left as dropped at shutdown.
  void finishShutdown(Clock::time_point now);
  // The time the loop should wake up by (next batch-max-delay expiry, transport timer).
  [[nodiscard]] Clock::time_point nextWake(Clock::time_point now);

  void complete(std::unique_ptr<OutCall> call, Outcome outcome, FailReason reason, Clock::time_point now,
                uint32_t rejectedSpans = 0) override;

 private:
  void run();
  void dispatch(Clock::time_point now);
  void expireQueued(Clock::time_point now);
  void finish(std::unique_ptr<OutCall> call, Outcome outcome, FailReason reason, uint32_t rejectedSpans);
  void unreserve(size_t bytes) noexcept;
  // Under mu_: the slot for a mergeable batch (the open call with the same suffix, else a free
  // slot, else — without inlineSuffix — the oldest one, closed; with it, nullptr). Sets doWake
  // when it closes a call.
  std::unique_ptr<OutCall>* mergeSlot(const EncodedBatch& batch, bool mayInline, bool& doWake);
  // A merge slot holding a single batch: appended, process inlined, to the shared call (if there
  // is one with room). True if it was (the slot is then empty). mu_ held.
  bool foldIntoShared(std::unique_ptr<OutCall>& slot) noexcept;
  Clock::time_point now() const { return opts_.clock ? opts_.clock() : Clock::now(); }

  Options opts_;
  std::unique_ptr<Transport> transport_;
  ReporterMetrics& metrics_;
  RateLimiter dropLog_;
  RateLimiter errorLog_;
  std::thread thread_;

  // Shared with emit()/call(): guarded by mu_.
  std::mutex mu_;
  // The calls being filled: [0] jaeger, [1] zipkin, then (mergeBySuffix) one per client process
  // whose batches are being merged. A busy node has many client processes sending to each shard
  // in turn, so one merge slot would close on almost every batch.
  static constexpr size_t kMergeSlots = 8;
  std::unique_ptr<OutCall> open_[2 + kMergeSlots];
  std::deque<std::unique_ptr<OutCall>> ready_;   // closed calls waiting for a connection
  std::vector<std::vector<uint8_t>> freeBodies_; // reserved bodies of finished calls, for reuse
  size_t nextReserve_ = 64 * 1024;               // body size the next merge-slot call reserves (adapts, see .cc)
  size_t sharedReserve_ = 64 * 1024;             // the same for the shared calls (open_[0], open_[1])
  bool closing_ = false;
  Clock::time_point closeDeadline_{};
  bool stopped_ = false;
  std::atomic<size_t> reserved_{0};              // capacity of bodies queued, open or in flight
  std::atomic<bool> saturated_{false};
};

}  // namespace jagent::report
