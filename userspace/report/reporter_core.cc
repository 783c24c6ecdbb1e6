#include "report/reporter_core.h"

#include <pthread.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jagent::report {

const char* failReasonName(FailReason r) noexcept {
  switch (r) {
    case FailReason::kNone: return "none";
    case FailReason::kConnectionLostAfterSend: return "connection_lost_after_send";
    case FailReason::kTimeoutAfterSend: return "timeout_after_send";
    case FailReason::kTimeout: return "timeout";
    case FailReason::kNoConnection: return "no_connection";
    case FailReason::kBadResponse: return "bad_response";
    case FailReason::kApplicationError: return "application_error";
    case FailReason::kEncode: return "encode";
    case FailReason::kErrorTimeout: return "error_timeout";
    case FailReason::kErrorCancelled: return "error_cancelled";
    case FailReason::kErrorBusy: return "error_busy";
    case FailReason::kErrorDeclined: return "error_declined";
    case FailReason::kErrorUnexpected: return "error_unexpected";
    case FailReason::kErrorBadRequest: return "error_bad_request";
    case FailReason::kErrorNetwork: return "error_network";
    case FailReason::kErrorUnhealthy: return "error_unhealthy";
    case FailReason::kErrorFatal: return "error_fatal";
    case FailReason::kErrorOther: return "error_other";
    case FailReason::kShutdown: return "shutdown";
    case FailReason::kCount: break;
  }
  return "other";
}

ReporterMetrics::ReporterMetrics(metrics::Registry& registry, const char* protocol)
    : retries(registry.counter("jaeger_agent_reporter_retries",
                               "Collector calls retried (busy, declined, timeout, or connection lost before the "
                               "request was sent)",
                               {{"protocol", protocol}})),
      queueBytes(registry.gauge("jaeger_agent_reporter_queue_bytes",
                                "Bytes reserved by calls waiting for or in flight to collectors",
                                {{"protocol", protocol}})),
      callSeconds(registry.histogram("jaeger_agent_reporter_call_duration_seconds",
                                     "Time from sending a call to the collector's successful answer",
                                     {{"protocol", protocol}},
                                     {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})) {
  for (Format f : {Format::kJaeger, Format::kZipkin}) {
    const metrics::Labels l{{"format", formatName(f)}, {"protocol", protocol}};
    auto with = [&](const char* k, const char* v) {
      metrics::Labels x = l;
      x.emplace_back(k, v);
      return x;
    };
    PerFormat& m = of(f);
    m.batchesSubmitted = &registry.counter("jaeger_agent_reporter_batches_submitted",
                                           "Batches successfully submitted to a collector", l);
    m.batchesFailures = &registry.counter("jaeger_agent_reporter_batches_failures",
                                          "Batches that failed to be submitted to a collector", l);
    m.spansSubmitted = &registry.counter("jaeger_agent_reporter_spans_submitted",
                                         "Spans successfully submitted to a collector", l);
    m.spansFailures = &registry.counter("jaeger_agent_reporter_spans_failures",
                                        "Spans that failed to be submitted to a collector", l);
    m.batchSize = &registry.gauge("jaeger_agent_reporter_batch_size", "Spans in the last successfully submitted call", l);
    m.batchesDroppedQueueFull = &registry.counter("jaeger_agent_reporter_batches_dropped",
                                                  "Batches dropped before reaching a collector, by reason",
                                                  with("reason", "queue_full"));
    m.spansDroppedQueueFull = &registry.counter("jaeger_agent_reporter_spans_dropped",
                                                "Spans dropped before reaching a collector, by reason",
                                                with("reason", "queue_full"));
    m.batchesDroppedShutdown = &registry.counter("jaeger_agent_reporter_batches_dropped",
                                                 "Batches dropped before reaching a collector, by reason",
                                                 with("reason", "shutdown"));
    m.spansDroppedShutdown = &registry.counter("jaeger_agent_reporter_spans_dropped",
                                               "Spans dropped before reaching a collector, by reason",
                                               with("reason", "shutdown"));
    m.calls = &registry.counter("jaeger_agent_reporter_calls", "Collector calls completed successfully", l);
    m.spansRejected = &registry.counter("jaeger_agent_reporter_spans_rejected",
                                        "Spans the collector accepted the call for and then declared rejected "
                                        "(OTLP partial_success.rejected_spans)",
                                        l);
    m.batchesNotOk = &registry.counter("jaeger_agent_reporter_batches_not_ok",
                                        "Batches the collector answered with ok=false (accepted the call, "
                                        "rejected spans)",
                                        l);
    // Failure series exist from the start (a dashboard sees 0, not "no data"), one per reason.
    for (size_t r = 0; r < static_cast<size_t>(FailReason::kCount); ++r) {
      const auto reason = static_cast<FailReason>(r);
      if (reason == FailReason::kNone || reason == FailReason::kShutdown) {
        m.batchesFailed[r] = m.spansFailed[r] = nullptr;
        continue;
      }
      m.batchesFailed[r] = &registry.counter("jaeger_agent_reporter_batches_failed",
                                             "Batches that failed to be submitted, by reason",
                                             with("reason", failReasonName(reason)));
      m.spansFailed[r] = &registry.counter(
          "jaeger_agent_reporter_spans_failed",
          "Spans that failed to be submitted, by reason (connection_lost_after_send and timeout_after_send: the "
          "request reached the collector's socket, which may have processed it)",
          with("reason", failReasonName(reason)));
    }
  }
}

namespace {
constexpr size_t kFreeBodies = 4;
// A call body is reserved once and never regrows (a regrowth copies the whole body: 20 % of the
// agent's time at 64 KB datagrams, docs/benchmarks-analysis.md); a batch that does not fit
// closes the call instead. Headroom beyond the expected size lets the last batch fit.
constexpr size_t kMinHeadroom = 64 * 1024;
// The smallest reservation. Reservations adapt to the traffic: a call closed by
// batch-max-delay makes the next one reserve twice what it held, a call closed full makes the
// next one reserve batch-max-bytes. So a trickle reserves 64 KiB per call and the bound
// (queue-max-bytes counts reserved bytes) is not used up by empty capacity, while under load
// calls reach batch-max-bytes within a few calls.
constexpr size_t kMinReserve = 64 * 1024;
}  // namespace

ReporterCore::ReporterCore(Options opts, std::unique_ptr<Transport> transport, ReporterMetrics& metrics)
    : opts_(std::move(opts)), transport_(std::move(transport)), metrics_(metrics) {
  transport_->bind(*this);
}

ReporterCore::~ReporterCore() {
  if (thread_.joinable()) close(now());
  // Whatever is still reserved (a core closed without its thread) leaves the shared gauge.
  unreserve(reserved_.load());
}

void ReporterCore::start() {
  thread_ = std::thread([this] {
    const std::string name = opts_.threadName.substr(0, 15);
    ::pthread_setname_np(::pthread_self(), name.c_str());
    run();
  });
}

void ReporterCore::unreserve(size_t bytes) noexcept {
  if (bytes == 0) return;
  reserved_.fetch_sub(bytes, std::memory_order_seq_cst);
  metrics_.queueBytes.add(-static_cast<int64_t>(bytes));
  if (saturated_.load(std::memory_order_seq_cst)) saturated_.store(false, std::memory_order_relaxed);
}

std::unique_ptr<OutCall>* ReporterCore::mergeSlot(const EncodedBatch& batch, bool mayInline, bool& doWake) {
  const auto suffix = batch.bytes.last(batch.mergeSuffix);
  std::unique_ptr<OutCall>* free = nullptr;
  std::unique_ptr<OutCall>* oldest = nullptr;
  for (size_t i = 2; i < std::size(open_); ++i) {
    std::unique_ptr<OutCall>& o = open_[i];
    if (!o) {
      if (!free) free = &o;
      continue;
    }
    if (o->mergeSuffix == suffix.size() &&
        std::memcmp(o->body.data() + o->body.size() - suffix.size(), suffix.data(), suffix.size()) == 0)
      return &o;
    if (!oldest || o->created < (*oldest)->created) oldest = &o;
  }
  if (free) return free;
  if (mayInline) return nullptr;
  ready_.push_back(std::move(*oldest));
  doWake = true;
  return oldest;
}

bool ReporterCore::foldIntoShared(std::unique_ptr<OutCall>& slot) noexcept {
  // With more client processes than merge slots, most slots end up holding one batch that
  // nothing merges with, and each left as a call of its own beside the shared one (gRPC, a new
  // process per 64 KB datagram: 780 calls/s instead of ~220, the collector's CPU per span +25 %,
  // the agent's +10 %). The shared call takes such a batch with its process inlined, as emit()
  // does for the batches that found no slot; a slot that merged two or more batches is worth its
  // own call (one process record for all of them). Called when a new shared call opens, and when
  // a slot is due: then the shared call takes the slot's age if older, so that the batch still
  // leaves within batch-max-delay (dispatch() visits the slots first and closes the shared call
  // in the same pass).
  std::unique_ptr<OutCall>& shared = open_[0];
  if (slot->batches != 1 || !opts_.inlineSuffix || !shared || slot->mergeSuffix == 0) return false;
  const size_t add = opts_.inlineSuffix(slot->body, slot->mergeSuffix, nullptr);
  if (add == 0 || shared->body.size() + add > shared->body.capacity()) return false;
  const size_t at = shared->body.size();
  if (opts_.inlineSuffix(slot->body, slot->mergeSuffix, &shared->body) != add) {
    shared->body.resize(at);
    return false;
  }
  shared->items = 1;
  shared->batches += slot->batches;
  shared->spans += slot->spans;
  shared->created = std::min(shared->created, slot->created);
  const size_t reserved = slot->body.capacity();
  slot->body.clear();
  if (freeBodies_.size() < kFreeBodies && reserved >= kMinReserve) freeBodies_.push_back(std::move(slot->body));
  slot.reset();
  unreserve(reserved);
  return true;
}

void ReporterCore::emit(const EncodedBatch& batch) noexcept {
  ReporterMetrics::PerFormat& m = metrics_.of(batch.format);
  const size_t size = batch.bytes.size();
  const uint32_t spans = batch.spans();
  const uint32_t items = batch.format == Format::kJaeger ? 1 : spans;
  // A batch of no spans (only its process record) merges too: appended whole to the shared call
  // it added a second Batch.process, which protobuf merges field by field into the first
  // (interop_grpc_oracle_inlined found one request that python3-protobuf re-encoded shorter).
  bool merge = opts_.mergeBySuffix && batch.format == Format::kJaeger && batch.mergeSuffix > 0 &&
               batch.mergeSuffix <= size;
  bool doWake = false;
  {
    std::lock_guard lock(mu_);
    std::unique_ptr<OutCall>* slot = merge ? mergeSlot(batch, opts_.inlineSuffix != nullptr, doWake) : nullptr;
    // No slot for this process: its batch goes into the shared call with the suffix inlined (or,
    // if it cannot be rewritten, takes the oldest slot after all).
    size_t inlined = 0;
    if (merge && slot == nullptr) {
      inlined = opts_.inlineSuffix(batch.bytes, batch.mergeSuffix, nullptr);
      if (inlined > 0) merge = false;
      else slot = mergeSlot(batch, false, doWake);
    }
    std::unique_ptr<OutCall>& open = merge ? *slot : open_[batch.format == Format::kJaeger ? 0 : 1];
    // A batch merged into an open call adds all but the shared suffix; an inlined one its rewrite.
    const size_t add = merge && open ? size - batch.mergeSuffix : inlined > 0 ? inlined : size;
    // A merged call starts at the size of its first batch (many client processes each holding a
    // reservation of 128 KiB would fill the bound with empty capacity) and grows by doubling while
    // its process keeps sending, within batch-max-bytes and the bound: at most one copy of what it
    // holds per doubling, and only until traffic is heavy enough that calls start big (below).
    if (merge && open && open->body.size() + add > open->body.capacity() &&
        open->body.size() + add <= opts_.batchMaxBytes) {
      const size_t cap = open->body.capacity();
      const size_t grown = std::min(std::max(2 * cap, open->body.size() + add), opts_.batchMaxBytes + kMinHeadroom);
      if (reserved_.load(std::memory_order_seq_cst) + (grown - cap) <= opts_.queueMaxBytes) {
        open->body.reserve(grown);
        reserved_.fetch_add(open->body.capacity() - cap, std::memory_order_seq_cst);
        metrics_.queueBytes.add(static_cast<int64_t>(open->body.capacity() - cap));
      }
    }
    // Merge slots and the shared calls learn their sizes apart: a slot's call of one or two
    // batches says nothing of how big the next shared call will get. (Not measured apart: the
    // call rate with many client processes came down with foldIntoShared.)
    size_t& nextReserve = merge ? nextReserve_ : sharedReserve_;
    // A batch that does not fit the open call's reserved body closes it (no regrowth).
    if (open && open->body.size() + add > open->body.capacity()) {
      nextReserve = std::min(opts_.batchMaxBytes, 2 * open->body.capacity());
      ready_.push_back(std::move(open));
      doWake = true;
    }
    // One batch per call (api_v2 without a process to merge on): reserve exactly what it holds.
    size_t need = open                                                               ? 0
                  : (opts_.maxBatchesPerCall == 1 && !merge) || (merge && nextReserve <= kMinReserve) ? add
                  : std::max(nextReserve, add) + std::max(kMinHeadroom, add);
    const size_t reservedNow = reserved_.load(std::memory_order_seq_cst);
    // Never refuse a batch that fits for want of headroom: a bound below the nominal reservation
    // (kMinReserve + kMinHeadroom = 128 KiB, e.g. --reporter.queue-max-bytes=64KiB) refused every
    // batch, for good (tests/interop/modern_faults.py small_queue). Such a call takes at most half
    // of what is left (at least its batch), so that the next one finds room while it is in flight.
    if (need > add && reservedNow + need > opts_.queueMaxBytes && reservedNow + add <= opts_.queueMaxBytes)
      need = std::max(add, (opts_.queueMaxBytes - reservedNow) / 2);
    if (closing_ || reservedNow + need > opts_.queueMaxBytes) {
      if (!closing_) {
        // Cleared by the next call to finish (unreserve). With nothing reserved there is none,
        // and the receivers would stay paused for good: then do not set it. Sequentially
        // consistent with unreserve()'s fetch_sub and load, so one of the two sees the other.
        saturated_.store(true, std::memory_order_seq_cst);
        if (reserved_.load(std::memory_order_seq_cst) == 0) saturated_.store(false, std::memory_order_relaxed);
      }
      (closing_ ? m.batchesDroppedShutdown : m.batchesDroppedQueueFull)->inc();
      (closing_ ? m.spansDroppedShutdown : m.spansDroppedQueueFull)->inc(spans);
      uint64_t suppressed = 0;
      if (dropLog_.allow(&suppressed))
        spdlog::warn("reporter: dropped a batch of {} spans: {} ({} similar suppressed)", spans,
                     closing_ ? "shutting down" : "send queue full (collectors too slow or down)", suppressed);
      if (doWake) transport_->wake();
      return;
    }
    const bool fresh = !open;
    if (!open) {
      open = std::make_unique<OutCall>();
      open->format = batch.format;
      open->created = now();
      open->mergeSuffix = merge ? batch.mergeSuffix : 0;
      // Reuse a finished call's body if it is big enough: steady state allocates nothing.
      while (!freeBodies_.empty() && !open->body.capacity()) {
        std::vector<uint8_t> b = std::move(freeBodies_.back());
        freeBodies_.pop_back();
        if (b.capacity() >= need && reservedNow + b.capacity() <= opts_.queueMaxBytes) open->body = std::move(b);
      }
      if (open->body.capacity() < need) open->body.reserve(need);
      const size_t reserved = open->body.capacity();
      reserved_.fetch_add(reserved, std::memory_order_relaxed);
      metrics_.queueBytes.add(static_cast<int64_t>(reserved));
      // The I/O thread must arm the batch-max-delay timer, unless another call is open: it
      // already sleeps no later than that one's deadline (older, so earlier) and computes the
      // next from all open calls when it wakes (nextWake). A wake per new call was ~1 of the 3
      // wake-ups per gRPC call with 8 client processes merging (strace of report-0).
      bool otherOpen = false;
      for (const auto& o : open_) otherOpen |= o != nullptr && o.get() != open.get();
      doWake |= !otherOpen;
    }
    if (merge && open->batches > 0) {
      // Insert this batch's own records before the shared suffix (it stays last, where gogo
      // writes Batch.process): a move of a few hundred bytes, within the reserved capacity.
      // insert(), not resize() + memcpy: resize zero-filled every merged byte first (3 % of the
      // agent's CPU in grpc mode, perf).
      const auto at = static_cast<std::ptrdiff_t>(open->body.size() - open->mergeSuffix);
      open->body.insert(open->body.begin() + at, batch.bytes.begin(),
                        batch.bytes.begin() + static_cast<std::ptrdiff_t>(add));
    } else if (inlined > 0) {
      const size_t at = open->body.size();  // appended within the reservation (checked above)
      if (opts_.inlineSuffix(batch.bytes, batch.mergeSuffix, &open->body) != inlined) open->body.resize(at);
      open->items = 1;
    } else {
      open->body.insert(open->body.end(), batch.bytes.begin(), batch.bytes.end());
      open->items += items;
    }
    open->batches += 1;
    open->spans += spans;
    // A new shared call for inlined batches (more client processes than merge slots): the slots
    // whose process has sent a single batch so far join it now, rather than each leaving later as
    // a call of its own (foldIntoShared).
    if (fresh && inlined > 0)
      for (size_t i = 2; i < std::size(open_); ++i)
        if (open_[i] && open_[i]->batches == 1) foldIntoShared(open_[i]);
    if (opts_.maxBatchesPerCall != 0 && open->mergeSuffix == 0 && open->batches >= opts_.maxBatchesPerCall) {
      ready_.push_back(std::move(open));  // a full call by count: no change to the reservation
      doWake = true;
    } else if (open->body.size() >= opts_.batchMaxBytes) {
      nextReserve = opts_.batchMaxBytes;
      ready_.push_back(std::move(open));
      doWake = true;
    }
  }
  if (doWake) transport_->wake();
}

void ReporterCore::call(std::string_view method, std::vector<uint8_t> request, std::chrono::milliseconds timeout,
                        RawCallback callback) {
  auto c = std::make_unique<OutCall>();
  c->method = std::string(method);
  c->body = std::move(request);
  c->callback = std::move(callback);
  c->created = now();
  c->deadline = c->created + timeout;
  bool closing;
  {
    std::lock_guard lock(mu_);
    closing = closing_;
    if (!closing) ready_.push_front(std::move(c));  // interactive: ahead of queued batches
  }
  if (closing) {
    RawResult r;
    r.error = "shutting down";
    c->callback(std::move(r));
    return;
  }
  transport_->wake();
}

void ReporterCore::beginClose(Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (stopped_ || closing_) return;
    closing_ = true;
    closeDeadline_ = deadline;
    for (auto& open : open_)
      if (open) ready_.push_back(std::move(open));
  }
  transport_->wake();
}

void ReporterCore::close(Clock::time_point deadline) {
  beginClose(deadline);
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
  }
  // Driven by a shard loop until now (which has stopped): drain on a thread of our own. Tests
  // that drive step() by hand have no clock-less way to wait, so only when the real clock is used.
  if (!thread_.joinable() && !opts_.clock) start();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void ReporterCore::finish(std::unique_ptr<OutCall> call, Outcome outcome, FailReason reason, uint32_t rejectedSpans) {
  if (call->raw()) {
    RawResult r;
    r.ok = outcome == Outcome::kOk;
    r.applicationError = call->applicationError;
    r.arg3 = std::move(call->response);
    if (!r.ok) {
      r.error = !call->errorDetail.empty()               ? std::move(call->errorDetail)
                : reason == FailReason::kNoConnection ? "no collector connection before the deadline"
                                                      : failReasonName(reason);
    }
    if (call->callback) call->callback(std::move(r));
    return;
  }
  ReporterMetrics::PerFormat& m = metrics_.of(call->format);
  if (outcome == Outcome::kOk) {
    m.batchesSubmitted->inc(call->batches);
    m.spansSubmitted->inc(call->spans);
    m.batchSize->set(call->spans);
    m.calls->inc();
    if (rejectedSpans > 0) (transport_->rejectsSpans() ? m.spansRejected : m.batchesNotOk)->inc(rejectedSpans);
  } else if (reason == FailReason::kShutdown) {
    m.batchesDroppedShutdown->inc(call->batches);
    m.spansDroppedShutdown->inc(call->spans);
  } else {
    const auto r = static_cast<size_t>(reason == FailReason::kNone ? FailReason::kErrorOther : reason);
    m.batchesFailures->inc(call->batches);
    m.spansFailures->inc(call->spans);
    m.batchesFailed[r]->inc(call->batches);
    m.spansFailed[r]->inc(call->spans);
    uint64_t suppressed = 0;
    if (errorLog_.allow(&suppressed))
      spdlog::warn("reporter ({}): failed to submit {} {} batches ({} spans): {} ({} similar suppressed)",
                   transport_->protocolName(), call->batches, formatName(call->format), call->spans,
                   failReasonName(reason), suppressed);
  }
  const size_t reserved = call->body.capacity();
  // Recycle bodies of the usual size; give an outsized one back to the allocator.
  if (reserved >= kMinReserve && reserved <= 2 * opts_.batchMaxBytes + 2 * kMinHeadroom) {
    call->body.clear();
    std::lock_guard lock(mu_);
    if (freeBodies_.size() < kFreeBodies) freeBodies_.push_back(std::move(call->body));
  }
  call.reset();
  unreserve(reserved);
}

void ReporterCore::complete(std::unique_ptr<OutCall> call, Outcome outcome, FailReason reason, Clock::time_point now,
                            uint32_t rejectedSpans) {
  if (outcome == Outcome::kOk && !call->raw() && call->sentAt != Clock::time_point{})
    metrics_.callSeconds.observe(std::chrono::duration<double>(now - call->sentAt).count());
  if (outcome == Outcome::kRetryable && call->attempts < opts_.maxAttempts && now < call->deadline) {
    metrics_.retries.inc();
    std::lock_guard lock(mu_);
    ready_.push_front(std::move(call));
    return;
  }
  finish(std::move(call), outcome, reason, rejectedSpans);
}

void ReporterCore::expireQueued(Clock::time_point now) {
  // Queued calls whose deadline passed (generic calls have one from the start; batches once
  // they were dispatched and came back for a retry) fail here, even while no collector is up.
  std::vector<std::unique_ptr<OutCall>> late;
  {
    std::lock_guard lock(mu_);
    for (auto it = ready_.begin(); it != ready_.end();) {
      if ((*it)->deadline != Clock::time_point{} && now >= (*it)->deadline) {
        late.push_back(std::move(*it));
        it = ready_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : late) finish(std::move(c), Outcome::kFailed, c->raw() ? FailReason::kNoConnection : FailReason::kTimeout, 0);
}

void ReporterCore::dispatch(Clock::time_point now) {
  for (;;) {
    std::unique_ptr<OutCall> call;
    {
      std::lock_guard lock(mu_);
      // Due by age, or shutting down: close the open calls so they go now. (Sending at once when
      // idle was tried: on a fast collector it made one call per datagram.)
      // Merge slots first: one that is due still holding a single batch (its process sent no
      // other) goes into the shared call, inlined, rather than as a call of its own.
      for (size_t i = std::size(open_); i-- > 0;) {
        std::unique_ptr<OutCall>& open = open_[i];
        if (!open || !(closing_ || now - open->created >= opts_.batchMaxDelay)) continue;
        if (i >= 2 && !closing_ && foldIntoShared(open)) continue;
        (i >= 2 ? nextReserve_ : sharedReserve_) =
            std::clamp(2 * open->body.size(), kMinReserve, std::max(kMinReserve, opts_.batchMaxBytes));
        ready_.push_back(std::move(open));
      }
      if (ready_.empty()) return;
      call = std::move(ready_.front());
      ready_.pop_front();
    }
    // The deadline runs from the first dispatch (report-timeout is a per-call budget, not a bound
    // on queueing: that one is queue-max-bytes).
    const bool first = call->deadline == Clock::time_point{};
    if (first) call->deadline = now + opts_.reportTimeout;
    call->sentAt = now;
    if (transport_->send(call, now)) continue;
    // No connection can take it: back to the head of the queue until one can.
    if (first) call->deadline = {};
    std::lock_guard lock(mu_);
    ready_.push_front(std::move(call));
    return;
  }
}

bool ReporterCore::step(Clock::time_point now) {
  transport_->maintain(now);
  expireQueued(now);
  dispatch(now);
  std::lock_guard lock(mu_);
  if (!closing_) return false;
  const bool idle = ready_.empty() && std::none_of(std::begin(open_), std::end(open_), [](const auto& o) { return o != nullptr; }) &&
                    transport_->inflight() == 0;
  return idle || now >= closeDeadline_;
}

Clock::time_point ReporterCore::nextWake(Clock::time_point now) {
  Clock::time_point next = std::min(now + std::chrono::milliseconds(100), transport_->nextTimer(now));
  std::lock_guard lock(mu_);
  for (auto& open : open_)
    if (open) next = std::min(next, open->created + opts_.batchMaxDelay);
  if (closing_) next = std::min(next, closeDeadline_);
  return next;
}

void ReporterCore::finishShutdown(Clock::time_point now) {
  transport_->abortAll(now);  // in-flight calls come back through complete()
  std::vector<std::unique_ptr<OutCall>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& c : ready_) left.push_back(std::move(c));
    ready_.clear();
    for (auto& open : open_)
      if (open) left.push_back(std::move(open));
  }
  uint64_t spans = 0;
  for (auto& c : left) {
    spans += c->spans;
    finish(std::move(c), Outcome::kFailed, FailReason::kShutdown, 0);
  }
  if (spans > 0) spdlog::warn("reporter: {} spans could not be delivered before the shutdown deadline", spans);
}

void ReporterCore::run() {
  for (;;) {
    const Clock::time_point t = now();
    if (step(t)) break;
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(nextWake(t) - t).count();
    transport_->poll(static_cast<int>(std::clamp<int64_t>(wait, 0, 100)));
  }
  finishShutdown(now());
}

}  // namespace jagent::report
