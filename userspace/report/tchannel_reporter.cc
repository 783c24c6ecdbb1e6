#include "report/tchannel_reporter.h"

#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "report/tchannel_reporter_internal.h"

namespace jagent::report {

using namespace detail;

TChannelReporter::TChannelReporter(const config::ReporterConfig& cfg, metrics::Registry& registry)
    : cfg_(cfg),
      registry_(registry),
      retries_(registry.counter("jaeger_agent_reporter_retries", "Collector calls retried (busy, declined, "
                                "timeout, or connection lost before the request was sent)",
                                {{"protocol", "tchannel"}})),
      queueBytesGauge_(registry.gauge("jaeger_agent_reporter_queue_bytes",
                                      "Batch bytes waiting for or in flight to collectors", {{"protocol", "tchannel"}})) {
  for (decode::Format f : {decode::Format::kJaeger, decode::Format::kZipkin}) {
    const metrics::Labels l{{"format", formatName(f)}, {"protocol", "tchannel"}};
    auto with = [&](const char* k, const char* v) {
      metrics::Labels x = l;
      x.emplace_back(k, v);
      return x;
    };
    formatMetrics_.push_back(std::unique_ptr<FormatMetrics>(new FormatMetrics{
        registry.counter("jaeger_agent_reporter_batches_submitted", "Batches successfully submitted to a collector", l),
        registry.counter("jaeger_agent_reporter_batches_failures", "Batches that failed to be submitted to a collector", l),
        registry.counter("jaeger_agent_reporter_spans_submitted", "Spans successfully submitted to a collector", l),
        registry.counter("jaeger_agent_reporter_spans_failures", "Spans that failed to be submitted to a collector", l),
        registry.gauge("jaeger_agent_reporter_batch_size", "Spans in the last successfully submitted call", l),
        registry.counter("jaeger_agent_reporter_batches_dropped", "Batches dropped before reaching a collector, by reason",
                         with("reason", "queue_full")),
        registry.counter("jaeger_agent_reporter_spans_dropped", "Spans dropped before reaching a collector, by reason",
                         with("reason", "queue_full")),
        registry.counter("jaeger_agent_reporter_batches_dropped", "Batches dropped before reaching a collector, by reason",
                         with("reason", "shutdown")),
        registry.counter("jaeger_agent_reporter_spans_dropped", "Spans dropped before reaching a collector, by reason",
                         with("reason", "shutdown")),
        registry.counter("jaeger_agent_reporter_calls", "Collector calls completed successfully", l),
        registry.counter("jaeger_agent_reporter_batches_not_ok",
                         "Batches the collector answered with ok=false (accepted the call, rejected spans)", l),
    }));
  }
}

TChannelReporter::FormatMetrics& TChannelReporter::fm(decode::Format f) {
  return *formatMetrics_[f == decode::Format::kJaeger ? 0 : 1];
}

Result<std::unique_ptr<TChannelReporter>> TChannelReporter::create(const config::ReporterConfig& cfg,
                                                                   metrics::Registry& registry) {
  std::unique_ptr<TChannelReporter> r(new TChannelReporter(cfg, registry));
  if (auto ok = r->init(); !ok) return withContext(ok.error(), "TChannel reporter");
  r->thread_ = std::thread([p = r.get()] {
    ::pthread_setname_np(::pthread_self(), "tchannel-io");
    p->run();
  });
  return r;
}

Result<void> TChannelReporter::init() {
  if (cfg_.hostPorts.empty()) return makeError("no collector host:port configured");
  int i = 0;
  for (const std::string& spec : cfg_.hostPorts) {
    auto hp = parseHostPort(spec);
    if (!hp) return withContext(hp.error(), "--reporter.tchannel.host-port");
    if (hp->host.empty()) hp->host = "127.0.0.1";
    auto p = std::make_unique<Peer>();
    p->index = i++;
    p->spec = spec;
    p->hp = *hp;
    p->connectedGauge = &registry_.gauge("jaeger_agent_collector_connected",
                                         "1 when the TChannel connection to this collector is up", {{"peer", spec}});
    peers_.push_back(std::move(p));
  }
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return errnoError("epoll_create1");
  wakeFd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeFd_) return errnoError("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeFd_.get(), &ev) != 0) return errnoError("epoll_ctl eventfd");
  ev.data.u64 = kResolverTag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, resolver_.eventFd(), &ev) != 0) return errnoError("epoll_ctl resolver");
  return {};
}

TChannelReporter::~TChannelReporter() {
  if (thread_.joinable()) close(Clock::now());
}

void TChannelReporter::wake() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_.get(), &one, sizeof one);
}

void TChannelReporter::emit(const EncodedBatch& batch) noexcept {
  FormatMetrics& m = fm(batch.format);
  const size_t size = batch.bytes.size();
  const uint32_t spans = batch.summary ? batch.summary->spans : 0;
  const uint32_t items = batch.format == decode::Format::kJaeger ? 1 : spans;
  bool doWake = false;
  {
    std::lock_guard lock(mu_);
    if (closing_ || queuedBytes_.load(std::memory_order_relaxed) + size > cfg_.queueMaxBytes) {
      (closing_ ? m.batchesDroppedShutdown : m.batchesDroppedQueueFull).inc();
      (closing_ ? m.spansDroppedShutdown : m.spansDroppedQueueFull).inc(spans);
      uint64_t suppressed = 0;
      if (dropLog_.allow(&suppressed))
        spdlog::warn("reporter: dropped a batch of {} spans: {} ({} similar suppressed)", spans,
                     closing_ ? "shutting down" : "send queue full (collectors too slow or down)", suppressed);
      return;
    }
    std::unique_ptr<Call>& open = open_[batch.format == decode::Format::kJaeger ? 0 : 1];
    if (!open) {
      open = std::make_unique<Call>();
      open->format = batch.format;
      open->created = Clock::now();
      // Reserve the whole call once (growing by doubling copied each 1 MiB body ~1.9 times:
      // 20 % of the agent's time at 64 KB datagrams), and reuse bodies of finished calls so
      // steady state allocates nothing.
      if (!freeBodies_.empty()) {
        open->body = std::move(freeBodies_.back());
        freeBodies_.pop_back();
      } else {
        open->body.reserve(cfg_.batchMaxBytes + 2 * std::max<size_t>(size, 64 * 1024));
      }
      doWake = true;  // the I/O thread sends at once if idle, else arms the delay timer
    }
    open->body.insert(open->body.end(), batch.bytes.begin(), batch.bytes.end());
    open->items += items;
    open->batches += 1;
    open->spans += spans;
    queuedBytes_.fetch_add(size, std::memory_order_relaxed);
    if (open->body.size() >= cfg_.batchMaxBytes) {
      ready_.push_back(std::move(open));
      doWake = true;
    }
  }
  queueBytesGauge_.set(static_cast<int64_t>(queuedBytes_.load(std::memory_order_relaxed)));
  if (doWake) wake();
}

void TChannelReporter::call(std::string_view method, std::vector<uint8_t> arg3, std::chrono::milliseconds timeout,
                            RawCallback callback) {
  auto c = std::make_unique<Call>();
  c->method = std::string(method);
  c->body = std::move(arg3);
  c->callback = std::move(callback);
  c->created = Clock::now();
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
  wake();
}

void TChannelReporter::close(Clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    closing_ = true;
    closeDeadline_ = deadline;
    for (auto& open : open_)
      if (open) ready_.push_back(std::move(open));
  }
  wake();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void TChannelReporter::finish(std::unique_ptr<Call> call, const char* outcome) {
  if (call->raw()) {
    RawResult r;
    r.ok = std::string_view(outcome) == "ok";
    r.applicationError = call->applicationError;
    r.arg3 = std::move(call->response);
    if (!r.ok) r.error = outcome;
    if (call->callback) call->callback(std::move(r));
    return;
  }
  FormatMetrics& m = fm(call->format);
  const std::string_view o(outcome);
  if (o == "ok") {
    m.batchesSubmitted.inc(call->batches);
    m.spansSubmitted.inc(call->spans);
    m.batchSize.set(call->spans);
    m.calls.inc();
  } else if (o == "shutdown") {
    m.batchesDroppedShutdown.inc(call->batches);
    m.spansDroppedShutdown.inc(call->spans);
  } else {
    m.batchesFailures.inc(call->batches);
    m.spansFailures.inc(call->spans);
    const metrics::Labels l{{"format", formatName(call->format)}, {"protocol", "tchannel"}, {"reason", failureReason(o)}};
    registry_.counter("jaeger_agent_reporter_batches_failed", "Batches that failed to be submitted, by reason", l)
        .inc(call->batches);
    registry_.counter("jaeger_agent_reporter_spans_failed",
                      "Spans that failed to be submitted, by reason (connection_lost_after_send and "
                      "timeout_after_send: the request reached the collector's socket, which may have processed it)", l)
        .inc(call->spans);
    uint64_t suppressed = 0;
    if (errorLog_.allow(&suppressed))
      spdlog::warn("reporter: failed to submit {} {} batches ({} spans): {} ({} similar suppressed)", call->batches,
                   formatName(call->format), call->spans, outcome, suppressed);
  }
  queuedBytes_.fetch_sub(call->body.size(), std::memory_order_relaxed);
  queueBytesGauge_.set(static_cast<int64_t>(queuedBytes_.load(std::memory_order_relaxed)));
  if (call->body.capacity() >= cfg_.batchMaxBytes) {
    call->body.clear();
    std::lock_guard lock(mu_);
    if (freeBodies_.size() < kFreeBodies) freeBodies_.push_back(std::move(call->body));
  }
}

void TChannelReporter::completeCall(Peer& p, uint32_t id, bool ok, const char* reason, bool retryable) {
  auto it = p.inflight.find(id);
  if (it == p.inflight.end()) return;
  std::unique_ptr<Call> call = std::move(it->second.call);
  p.inflight.erase(it);
  --inflight_;
  if (ok) {
    finish(std::move(call), "ok");
  } else if (retryable && call->attempts < kMaxAttempts && Clock::now() < call->deadline) {
    retries_.inc();
    std::lock_guard lock(mu_);
    ready_.push_front(std::move(call));
  } else {
    finish(std::move(call), reason);
  }
}

void TChannelReporter::sendCall(Peer& p, std::unique_ptr<Call> call, Clock::time_point now) {
  if (call->attempts == 0 && call->deadline == Clock::time_point{}) call->deadline = now + cfg_.reportTimeout;
  ++call->attempts;
  call->lastPeer = p.index;
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(call->deadline - now).count();
  uint8_t head[8] = {0x0F, 0x00, 0x01, 0x0C};  // args struct field 1: list<struct>
  putBe32(head + 4, call->items);
  static constexpr uint8_t kStop[1] = {0x00};
  const std::span<const uint8_t> batchPieces[] = {head, call->body, kStop};
  const std::span<const uint8_t> rawPieces[] = {call->body};
  const std::span<const std::span<const uint8_t>> pieces =
      call->raw() ? std::span<const std::span<const uint8_t>>(rawPieces) : std::span<const std::span<const uint8_t>>(batchPieces);
  const tchannel::Header headers[] = {{"as", "thrift"}, {"cn", "jaeger-agent"}};
  const std::string_view method = call->raw() ? std::string_view(call->method)
                                  : call->format == decode::Format::kJaeger ? kSubmitBatches
                                                                            : kSubmitZipkin;
  tchannel::CallReq req;
  req.id = p.nextId++;
  req.ttlMs = static_cast<uint32_t>(std::max<int64_t>(1, remaining));  // never 0: fatal for tchannel-node
  req.service = kCollectorService;
  req.headers = headers;
  req.checksum = ChecksumType::kCrc32c;
  req.arg1 = {reinterpret_cast<const uint8_t*>(method.data()), method.size()};
  req.arg2 = tchannel::kEmptyThriftHeaders;
  req.arg3 = pieces;
  const size_t before = p.out.size();
  if (!tchannel::appendCallReq(p.out, req)) {  // only if arg sizes were unrepresentable: never for ours
    finish(std::move(call), "request could not be encoded");
    return;
  }
  p.queued += p.out.size() - before;
  Peer::InFlight f;
  f.endPos = p.queued;
  f.deadline = call->deadline;
  f.call = std::move(call);
  p.inflight.emplace(req.id, std::move(f));
  ++inflight_;
  flushWrites(p);
}

void TChannelReporter::dispatch(Clock::time_point now) {
  for (;;) {
    std::unique_ptr<Call> call;
    Peer* best = nullptr;
    {
      std::lock_guard lock(mu_);
      // Due by age, or shutting down: close the open calls so they go now. (Sending at once when
      // idle was tried: on a fast collector it made one call per datagram.)
      for (auto& open : open_)
        if (open && (closing_ || now - open->created >= cfg_.batchMaxDelay))
          ready_.push_back(std::move(open));
      if (ready_.empty()) return;
      // The ready peer with the fewest calls in flight, preferring one that did not just fail
      // this call (a retry should go elsewhere).
      const int avoid = ready_.front()->lastPeer;
      // Ties on in-flight count rotate (start the scan after the last peer used), so a lightly
      // loaded agent still spreads calls over every collector.
      const size_t n = peers_.size();
      for (size_t k = 0; k < n; ++k) {
        auto& p = peers_[(static_cast<size_t>(lastDispatched_) + 1 + k) % n];
        if (p->state != Peer::State::kReady || p->out.size() - p->outOff > kMaxUnsentPerPeer) continue;
        if (!best) {
          best = p.get();
          continue;
        }
        const bool bestAvoided = best->index == avoid;
        const bool pAvoided = p->index == avoid;
        if (bestAvoided != pAvoided) {
          if (bestAvoided) best = p.get();
          continue;
        }
        if (p->inflight.size() < best->inflight.size()) best = p.get();
      }
      if (!best) return;
      lastDispatched_ = best->index;
      call = std::move(ready_.front());
      ready_.pop_front();
    }
    // Outside the lock: emit() must never wait on socket writes.
    if (call->attempts > 0 && now >= call->deadline) finish(std::move(call), "deadline exceeded before retry");
    else sendCall(*best, std::move(call), now);
  }
}

void TChannelReporter::expire(Clock::time_point now) {
  // Generic calls have a deadline from the moment they are made, even while no peer is up.
  std::vector<std::unique_ptr<Call>> late;
  {
    std::lock_guard lock(mu_);
    for (auto it = ready_.begin(); it != ready_.end();) {
      if ((*it)->raw() && now >= (*it)->deadline) {
        late.push_back(std::move(*it));
        it = ready_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : late) finish(std::move(c), "no collector connection before the deadline");
  for (auto& p : peers_) {
    if (p->state == Peer::State::kResolving && now - p->stateSince > kResolveTimeout) {
      resolver_.cancel(p->resolveId);
      failPeer(*p, fmt::format("resolve '{}': no answer within {} s", p->hp.host, kResolveTimeout.count()));
      continue;
    }
    if ((p->state == Peer::State::kConnecting || p->state == Peer::State::kHandshake) &&
        now - p->stateSince > std::max<std::chrono::milliseconds>(cfg_.connCheckTimeout, std::chrono::milliseconds(1))) {
      failPeer(*p, p->state == Peer::State::kConnecting ? "connect timed out" : "handshake timed out");
      continue;
    }
    std::vector<uint32_t> overdue;
    for (auto& [id, f] : p->inflight)
      if (now >= f.deadline) overdue.push_back(id);
    for (uint32_t id : overdue) {
      p->partial.erase(id);
      // Fully written and unanswered: the collector may have processed it (its answer is just
      // late), so this is an outcome-unknown failure, not a definite one.
      const bool sent = p->written >= p->inflight[id].endPos;
      completeCall(*p, id, false,
                   sent ? "timed out after the request was sent" : "timed out before the request was sent", false);
    }
  }
}

int TChannelReporter::pollTimeoutMs(Clock::time_point now) const {
  auto next = now + std::chrono::milliseconds(100);
  for (const auto& p : peers_) {
    if (p->state == Peer::State::kDown) next = std::min(next, p->nextAttempt);
    for (const auto& [id, f] : p->inflight) next = std::min(next, f.deadline);
  }
  if (open_[0] || open_[1]) next = std::min(next, now + cfg_.batchMaxDelay);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 100));
}

void TChannelReporter::run() {
  epoll_event events[16];
  for (;;) {
    auto now = Clock::now();
    maintainConnections(now);
    expire(now);
    dispatch(now);
    bool closing;
    Clock::time_point deadline;
    bool idle;
    {
      std::lock_guard lock(mu_);
      closing = closing_;
      deadline = closeDeadline_;
      idle = ready_.empty() && !open_[0] && !open_[1] && inflight_ == 0;
    }
    if (closing && (idle || now >= deadline)) break;
    int timeout;
    {
      std::lock_guard lock(mu_);
      timeout = pollTimeoutMs(now);
    }
    if (closing) timeout = std::min<int>(timeout, static_cast<int>(std::max<int64_t>(
                                                      0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count())));
    const int n = ::epoll_wait(epoll_.get(), events, 16, timeout);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wakeFd_.get(), &v, sizeof v);
        continue;
      }
      if (events[i].data.u64 == kResolverTag) {
        onResolved();
        continue;
      }
      Peer& p = *peers_[events[i].data.u64];
      if (!p.fd) continue;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        if (p.state == Peer::State::kConnecting) {
          onWritable(p);  // reads SO_ERROR and fails with the real reason
          continue;
        }
      }
      if (events[i].events & EPOLLOUT) onWritable(p);
      if (p.fd && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) onReadable(p);
    }
  }
  // Whatever is left at the deadline is dropped, and counted.
  std::vector<std::unique_ptr<Call>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& c : ready_) left.push_back(std::move(c));
    ready_.clear();
    for (auto& open : open_)
      if (open) left.push_back(std::move(open));
  }
  for (auto& p : peers_) {
    for (auto& [id, f] : p->inflight) {
      // Fully written but unanswered: the collector may still process it, so it is not a plain drop.
      if (p->written >= f.endPos) finish(std::move(f.call), "connection lost after the request was sent (shutdown deadline)");
      else left.push_back(std::move(f.call));
    }
    p->inflight.clear();
    if (p->fd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p->fd.get(), nullptr);
    p->fd.reset();
  }
  uint64_t spans = 0;
  for (auto& c : left) {
    spans += c->spans;
    finish(std::move(c), "shutdown");
  }
  if (spans > 0) spdlog::warn("reporter: {} spans could not be delivered before the shutdown deadline", spans);
}

}  // namespace jagent::report
