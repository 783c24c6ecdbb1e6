// TChannelTransport: connections (non-blocking connect, init handshake, keepalive, backoff),
// calls (frames out, frames in, outcomes to the core). Runs on the core's I/O thread.
#include "report/tchannel_transport.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

namespace jagent::report {
namespace {

using tchannel::ChecksumType;
using tchannel::ErrorCode;
using tchannel::FrameType;

constexpr std::string_view kCollectorService = "jaeger-collector";
constexpr std::string_view kSubmitBatches = "Collector::submitBatches";
constexpr std::string_view kSubmitZipkin = "ZipkinCollector::submitZipkinBatch";
// How long a collector name may take to resolve before the attempt counts as failed.
constexpr auto kResolveTimeout = std::chrono::seconds(5);
// Keepalive: an idle connection is pinged this often; no ping res within the timeout = dead
// (a collector host that vanished without a FIN would otherwise hold calls until their ttl).
constexpr auto kPingInterval = std::chrono::seconds(10);
constexpr auto kPingTimeout = std::chrono::seconds(5);
// A peer whose socket is this far behind gets no new calls: they wait in the core's (bounded)
// queue instead of piling up a second copy of their bytes in the peer's send buffer.
constexpr size_t kMaxUnsentPerPeer = 2u << 20;

void putBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Counts `ok == false` entries in a `{0: list<struct{1: bool ok}>}` result struct. Returns -1 if
// the bytes are not of that shape (the call still succeeded at the transport level).
int countNotOk(std::span<const uint8_t> r) {
  if (r.size() < 8 || r[0] != 0x0F || r[1] != 0 || r[2] != 0 || r[3] != 0x0C) return -1;
  const uint32_t n = (uint32_t{r[4]} << 24) | (uint32_t{r[5]} << 16) | (uint32_t{r[6]} << 8) | r[7];
  size_t pos = 8;
  int notOk = 0;
  for (uint32_t i = 0; i < n; ++i) {
    // Expect exactly: 02 00 01 <b> 00
    if (pos + 5 > r.size() || r[pos] != 0x02 || r[pos + 1] != 0 || r[pos + 2] != 1 || r[pos + 4] != 0) return -1;
    if (r[pos + 3] == 0) ++notOk;
    pos += 5;
  }
  return notOk;
}

FailReason errorReason(ErrorCode code) {
  switch (code) {
    case ErrorCode::kTimeout: return FailReason::kErrorTimeout;
    case ErrorCode::kCancelled: return FailReason::kErrorCancelled;
    case ErrorCode::kBusy: return FailReason::kErrorBusy;
    case ErrorCode::kDeclined: return FailReason::kErrorDeclined;
    case ErrorCode::kUnexpected: return FailReason::kErrorUnexpected;
    case ErrorCode::kBadRequest: return FailReason::kErrorBadRequest;
    case ErrorCode::kNetwork: return FailReason::kErrorNetwork;
    case ErrorCode::kUnhealthy: return FailReason::kErrorUnhealthy;
    case ErrorCode::kFatal: return FailReason::kErrorFatal;
    default: return FailReason::kErrorOther;
  }
}

}  // namespace

struct TChannelTransport::Peer {
  int index = 0;
  std::string spec;                 // as configured, e.g. "collector:14267"
  HostPort hp;
  enum class State { kDown, kResolving, kConnecting, kHandshake, kReady } state = State::kDown;
  uint64_t resolveId = 0;           // AsyncResolver lookup while kResolving
  UniqueFd fd;
  Clock::time_point stateSince{};
  Clock::time_point nextAttempt{};
  std::chrono::milliseconds backoff{100};
  uint32_t nextId = 1;
  // What is waiting to be written, in order. A call's frames refer to its body (no copy): the
  // call stays in `inflight` at least until its bytes are written, and if it completes earlier
  // (an early error frame, a deadline) its remaining bytes are copied first (SendQueue::detach).
  SendQueue out;
  std::vector<uint8_t> in;
  bool wantWrite = false;
  struct InFlight {
    std::unique_ptr<OutCall> call;
    uint64_t endPos = 0;            // out.queued() after the last byte of the request
  };
  std::unordered_map<uint32_t, InFlight> inflight;
  std::unordered_map<uint32_t, tchannel::CallAssembler> partial;
  std::atomic<int>* connectedCount = nullptr;  // shared with the other shards' transports
  Clock::time_point lastActivity{};  // last frame received
  uint32_t pingId = 0;               // outstanding ping req, 0 = none
  Clock::time_point pingSent{};
};

namespace {

// Queues connection frames (init, ping) built by `build`; false if nothing was built.
template <typename Build>
bool queueControl(SendQueue& q, Build&& build) {
  std::vector<uint8_t> meta;
  build(meta);
  q.copy(meta);
  return !meta.empty();
}

}  // namespace

TChannelTransport::PeerGauges TChannelTransport::registerGauges(const Options& opts, metrics::Registry& registry,
                                                                size_t shards) {
  PeerGauges g;
  const double n = static_cast<double>(std::max<size_t>(shards, 1));
  for (const std::string& spec : opts.hostPorts) {
    auto count = std::make_shared<std::atomic<int>>(0);
    g.connected.push_back(count);
    registry.callbackGauge("jaeger_agent_collector_connected",
                           "1 when every shard's TChannel connection to this collector is up (the fraction of shards "
                           "connected)",
                           {{"peer", spec}}, [count, n] { return static_cast<double>(count->load()) / n; });
  }
  return g;
}

TChannelTransport::TChannelTransport(const Options& opts, PeerGauges gauges) : opts_(opts), gauges_(std::move(gauges)) {}

Result<std::unique_ptr<TChannelTransport>> TChannelTransport::create(const Options& opts, PeerGauges gauges) {
  std::unique_ptr<TChannelTransport> t(new TChannelTransport(opts, std::move(gauges)));
  if (auto ok = t->init(); !ok) return withContext(ok.error(), "TChannel transport");
  return t;
}

Result<void> TChannelTransport::init() {
  if (opts_.hostPorts.empty()) return makeError("no collector host:port configured");
  int i = 0;
  for (const std::string& spec : opts_.hostPorts) {
    auto hp = parseHostPort(spec);
    if (!hp) return withContext(hp.error(), "--reporter.tchannel.host-port");
    if (hp->host.empty()) hp->host = "127.0.0.1";
    auto p = std::make_unique<Peer>();
    p->index = i;
    p->spec = spec;
    p->hp = *hp;
    p->connectedCount =
        static_cast<size_t>(i) < gauges_.connected.size() ? gauges_.connected[static_cast<size_t>(i)].get() : nullptr;
    peers_.push_back(std::move(p));
    ++i;
  }
  if (auto ok = poller_.init(resolver_.eventFd()); !ok) return ok;
  return {};
}

TChannelTransport::~TChannelTransport() {
  for (auto& p : peers_)
    if (p->state == Peer::State::kReady && p->connectedCount) p->connectedCount->fetch_sub(1);
}

void TChannelTransport::wake() noexcept { poller_.wake(); }

// ---- calls -----------------------------------------------------------------------------------

TChannelTransport::Peer* TChannelTransport::pickPeer(int avoid) {
  // The ready peer with the fewest calls in flight, preferring one that did not just fail this
  // call (a retry should go elsewhere). Ties rotate (the scan starts after the last peer used),
  // so a lightly loaded agent still spreads calls over every collector.
  Peer* best = nullptr;
  const size_t n = peers_.size();
  for (size_t k = 0; k < n; ++k) {
    auto& p = peers_[(static_cast<size_t>(lastDispatched_ + 1) + k) % n];
    if (p->state != Peer::State::kReady || p->out.unsent() > kMaxUnsentPerPeer) continue;
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
  return best;
}

bool TChannelTransport::send(std::unique_ptr<OutCall>& call, Clock::time_point now) {
  Peer* pp = pickPeer(call->lastPeer);
  if (!pp) return false;
  Peer& p = *pp;
  lastDispatched_ = p.index;
  ++call->attempts;
  call->lastPeer = p.index;
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(call->deadline - now).count();
  uint8_t head[8] = {0x0F, 0x00, 0x01, 0x0C};  // args struct field 1: list<struct>
  putBe32(head + 4, call->items);
  static constexpr uint8_t kStop[1] = {0x00};
  const std::span<const uint8_t> batchPieces[] = {head, call->body, kStop};
  const std::span<const uint8_t> rawPieces[] = {call->body};
  const std::span<const std::span<const uint8_t>> pieces =
      call->raw() ? std::span<const std::span<const uint8_t>>(rawPieces)
                  : std::span<const std::span<const uint8_t>>(batchPieces);
  const tchannel::Header headers[] = {{"as", "thrift"}, {"cn", "jaeger-agent"}};
  const std::string_view method = call->raw()                     ? std::string_view(call->method)
                                  : call->format == Format::kJaeger ? kSubmitBatches
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
  // Frames as iovecs over the call's body: the body is not copied again (one copy from the
  // decoder's output into the call, then the kernel's).
  std::vector<uint8_t> meta;
  std::vector<tchannel::Segment> segs;
  if (!tchannel::appendCallReqGather(meta, segs, req)) {  // only if arg sizes were unrepresentable: never for ours
    sink_->complete(std::move(call), Outcome::kFailed, FailReason::kEncode, now);
    return true;
  }
  for (const tchannel::Segment& g : segs) {
    if (g.external) p.out.ref({g.external, g.size}, req.id);
    else p.out.copy({meta.data() + g.offset, g.size}, req.id);
  }
  Peer::InFlight f;
  f.endPos = p.out.queued();
  f.call = std::move(call);
  p.inflight.emplace(req.id, std::move(f));
  ++inflight_;
  flushWrites(p);
  return true;
}

void TChannelTransport::completeCall(Peer& p, uint32_t id, Outcome outcome, FailReason reason, uint32_t notOk) {
  auto it = p.inflight.find(id);
  if (it == p.inflight.end()) return;
  if (p.out.written() < it->second.endPos) p.out.detach(id);  // still being written: keep its bytes
  std::unique_ptr<OutCall> call = std::move(it->second.call);
  p.inflight.erase(it);
  p.partial.erase(id);
  --inflight_;
  sink_->complete(std::move(call), outcome, reason, Clock::now(), notOk);
}

void TChannelTransport::abortAll(Clock::time_point now) {
  for (auto& p : peers_) {
    const uint64_t written = p->out.written();
    p->out.clear();  // the connection closes below: nothing more is written
    for (auto& [id, f] : p->inflight) {
      // Fully written but unanswered: the collector may still process it, so it is not a plain
      // drop. Not fully written: dropped at shutdown.
      const bool sent = written >= f.endPos;
      --inflight_;
      sink_->complete(std::move(f.call), Outcome::kFailed,
                      sent ? FailReason::kConnectionLostAfterSend : FailReason::kShutdown, now);
    }
    p->inflight.clear();
    p->partial.clear();
    if (p->fd) poller_.remove(p->fd.get());
    if (p->state == Peer::State::kReady) {
      connected_.fetch_sub(1, std::memory_order_relaxed);
      if (p->connectedCount) p->connectedCount->fetch_sub(1);
    }
    p->state = Peer::State::kDown;
    p->fd.reset();
  }
}

Clock::time_point TChannelTransport::nextTimer(Clock::time_point now) const {
  Clock::time_point next = now + std::chrono::milliseconds(100);
  for (const auto& p : peers_) {
    if (p->state == Peer::State::kDown) next = std::min(next, p->nextAttempt);
    for (const auto& [id, f] : p->inflight) next = std::min(next, f.call->deadline);
  }
  return next;
}

void TChannelTransport::poll(int timeoutMs) {
  poller_.wait(
      timeoutMs, [this] { onResolved(); },
      [this](uint64_t tag, uint32_t events) {
        Peer& p = *peers_[tag];
        if (!p.fd) return;
        if ((events & (EPOLLERR | EPOLLHUP)) && p.state == Peer::State::kConnecting) {
          onWritable(p);  // reads SO_ERROR and fails with the real reason
          return;
        }
        if (events & EPOLLOUT) onWritable(p);
        if (p.fd && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) onReadable(p);
      });
}

// ---- connections -----------------------------------------------------------------------------

// Re-resolved on every attempt, off this thread (issue #11): the result arrives through the
// resolver's eventfd (onResolved), and a name that takes longer than kResolveTimeout fails the
// attempt like a connect timeout.
void TChannelTransport::startConnect(Peer& p, Clock::time_point now) {
  p.stateSince = now;
  p.state = Peer::State::kResolving;
  p.resolveId = resolver_.submit(p.hp, SOCK_STREAM);
}

void TChannelTransport::onResolved() {
  for (auto& r : resolver_.take()) {
    for (auto& p : peers_) {
      if (p->state != Peer::State::kResolving || p->resolveId != r.id) continue;
      if (r.addr) connectResolved(*p, *r.addr);
      else failPeer(*p, r.addr.error().message());
      break;
    }
  }
}

void TChannelTransport::connectResolved(Peer& p, const SockAddr& resolved) {
  const SockAddr* addr = &resolved;
  p.stateSince = Clock::now();  // the connect timeout starts now, not when resolving began
  p.fd.reset(::socket(addr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!p.fd) {
    failPeer(p, fmt::format("socket: {}", std::strerror(errno)));
    return;
  }
  const int one = 1;
  ::setsockopt(p.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(p.fd.get(), addr->get(), addr->len) != 0 && errno != EINPROGRESS) {
    failPeer(p, fmt::format("connect {}: {}", formatAddr(addr->get()), std::strerror(errno)));
    return;
  }
  p.state = Peer::State::kConnecting;
  p.out.clear();
  p.in.clear();
  p.nextId = 1;
  p.partial.clear();
  // Handshake: init req must be the only thing sent until init res (wire-protocols.md §1.3).
  // host_port "0.0.0.0:0" = not listening; tchannel-node insists on an IPv4 literal here.
  const std::string processName = fmt::format("jaeger-xdp-agent[{}]", ::getpid());
  const tchannel::Header headers[] = {{"host_port", "0.0.0.0:0"},
                                      {"process_name", processName},
                                      {"tchannel_language", "cpp"},
                                      {"tchannel_language_version", "c++20"},
                                      {"tchannel_version", JAGENT_VERSION}};
  bool encoded = true;
  queueControl(p.out, [&](std::vector<uint8_t>& m) {
    encoded = tchannel::appendInitReq(m, p.nextId++, headers);
  });
  if (!encoded) {
    failPeer(p, "init request could not be encoded");
    return;
  }
  p.wantWrite = true;
  poller_.add(p.fd.get(), static_cast<uint64_t>(p.index), true);
}

void TChannelTransport::failPeer(Peer& p, const std::string& why) {
  const bool wasReady = p.state == Peer::State::kReady;
  if (p.fd) poller_.remove(p.fd.get());
  p.fd.reset();
  if (wasReady) {
    connected_.fetch_sub(1, std::memory_order_relaxed);
    if (p.connectedCount) p.connectedCount->fetch_sub(1);
  }
  p.state = Peer::State::kDown;
  // Exponential backoff with jitter, 100 ms .. 5 s.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto jitter = std::chrono::milliseconds(rng() % (p.backoff.count() / 2 + 1));
  const Clock::time_point now = Clock::now();
  p.nextAttempt = now + p.backoff + jitter;
  p.backoff = std::min<std::chrono::milliseconds>(p.backoff * 2, std::chrono::milliseconds(5000));
  uint64_t suppressed = 0;
  if (errorLog_.allow(&suppressed))
    spdlog::warn("collector {}: {} (reconnecting; {} similar suppressed)", p.spec, why, suppressed);
  // Calls on this connection: a request that never fully left is safe to send elsewhere; one that
  // did may have been processed, so its outcome is unknown and it is not retried (no duplicates).
  const uint64_t written = p.out.written();
  p.out.clear();  // the connection is gone: nothing more is written (before the bodies go back)
  auto inflight = std::move(p.inflight);
  p.inflight.clear();
  p.partial.clear();
  for (auto& [id, f] : inflight) {
    --inflight_;
    const bool sent = written >= f.endPos;
    sink_->complete(std::move(f.call), sent ? Outcome::kUnknown : Outcome::kRetryable,
                    sent ? FailReason::kConnectionLostAfterSend : FailReason::kNoConnection, now);
  }
}

void TChannelTransport::flushWrites(Peer& p) {
  // sendmsg over the queued pieces, straight from the call bodies.
  if (p.out.flush(p.fd.get()) == SendQueue::Flush::kError) {
    failPeer(p, fmt::format("send: {}", std::strerror(errno)));
    return;
  }
  const bool want = !p.out.empty();
  if (want != p.wantWrite) {
    p.wantWrite = want;
    poller_.modify(p.fd.get(), static_cast<uint64_t>(p.index), want);
  }
}

void TChannelTransport::onWritable(Peer& p) {
  if (p.state == Peer::State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(p.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      failPeer(p, fmt::format("connect: {}", std::strerror(err)));
      return;
    }
    p.state = Peer::State::kHandshake;
  }
  flushWrites(p);
}

void TChannelTransport::onReadable(Peer& p) {
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::recv(p.fd.get(), buf, sizeof buf, 0);
    if (n == 0) {
      failPeer(p, "connection closed by collector");
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      failPeer(p, fmt::format("recv: {}", std::strerror(errno)));
      return;
    }
    p.in.insert(p.in.end(), buf, buf + n);
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  size_t off = 0;
  while (p.fd) {
    tchannel::FrameView f;
    size_t consumed = 0;
    const auto st = tchannel::parseFrame(std::span<const uint8_t>(p.in).subspan(off), f, consumed);
    if (st == tchannel::ParseStatus::kNeedMore) break;
    if (st == tchannel::ParseStatus::kMalformed) {
      failPeer(p, "malformed frame from collector");
      return;
    }
    handleFrame(p, f);
    off += consumed;
  }
  if (p.fd) p.in.erase(p.in.begin(), p.in.begin() + static_cast<std::ptrdiff_t>(off));
}

void TChannelTransport::handleFrame(Peer& p, const tchannel::FrameView& f) {
  p.lastActivity = Clock::now();
  switch (static_cast<FrameType>(f.type)) {
    case FrameType::kInitRes: {
      tchannel::InitView init;
      if (p.state != Peer::State::kHandshake && p.state != Peer::State::kConnecting) return;
      if (!tchannel::parseInit(f.payload, init) || init.version != 2) {
        failPeer(p, "bad init res");
        return;
      }
      p.state = Peer::State::kReady;
      p.pingId = 0;
      p.backoff = std::chrono::milliseconds(100);
      connected_.fetch_add(1, std::memory_order_relaxed);
      if (p.connectedCount) p.connectedCount->fetch_add(1);
      spdlog::info("collector {}: connected", p.spec);
      return;
    }
    case FrameType::kCallRes:
    case FrameType::kCallResContinue: {
      if (!p.inflight.count(f.id)) return;  // late answer to a call that already timed out
      tchannel::CallAssembler& a = p.partial[f.id];
      const auto st = a.feed(f);
      if (st == tchannel::CallAssembler::Status::kIncomplete) return;
      if (st != tchannel::CallAssembler::Status::kComplete) {
        // The collector answered, so it saw the request; what it did with it is unknown.
        completeCall(p, f.id, Outcome::kFailed, FailReason::kBadResponse);
        return;
      }
      const bool ok = a.code() == 0;
      OutCall& c = *p.inflight[f.id].call;
      if (c.raw()) {
        c.response = a.arg3();
        c.applicationError = !ok;
        completeCall(p, f.id, Outcome::kOk, FailReason::kNone);  // the transport worked; the caller reads the result
        return;
      }
      if (!ok) {
        completeCall(p, f.id, Outcome::kFailed, FailReason::kApplicationError);
        return;
      }
      const int notOk = countNotOk(a.arg3());
      completeCall(p, f.id, Outcome::kOk, FailReason::kNone, notOk > 0 ? static_cast<uint32_t>(notOk) : 0);
      return;
    }
    case FrameType::kError: {
      tchannel::ErrorView e;
      if (!tchannel::parseError(f.payload, e)) return;
      if (f.id == tchannel::kNullFrameId || !p.inflight.count(f.id)) {
        failPeer(p, fmt::format("protocol error from collector: {} {}", tchannel::errorCodeName(e.code), e.message));
        return;
      }
      // Busy, declined and timeout: the collector says it did not process the call.
      if (OutCall& c = *p.inflight[f.id].call; c.raw())
        c.errorDetail = fmt::format("{}: {}", tchannel::errorCodeName(e.code), e.message);
      const bool retryable =
          e.code == ErrorCode::kBusy || e.code == ErrorCode::kDeclined || e.code == ErrorCode::kTimeout;
      completeCall(p, f.id, retryable ? Outcome::kRetryable : Outcome::kFailed, errorReason(e.code));
      if (e.code == ErrorCode::kFatal) failPeer(p, "fatal protocol error");
      return;
    }
    case FrameType::kPingReq: {
      queueControl(p.out, [&](std::vector<uint8_t>& m) { tchannel::appendPingRes(m, f.id); });
      flushWrites(p);
      return;
    }
    case FrameType::kPingRes:
      if (f.id == p.pingId) p.pingId = 0;
      return;
    default:
      return;  // claim, cancel, stray frames: nothing to do
  }
}

void TChannelTransport::maintain(Clock::time_point now) {
  // Connect and handshake budgets, and calls past their deadline.
  for (auto& p : peers_) {
    if (p->state == Peer::State::kResolving && now - p->stateSince > kResolveTimeout) {
      resolver_.cancel(p->resolveId);
      failPeer(*p, fmt::format("resolve '{}': no answer within {} s", p->hp.host, kResolveTimeout.count()));
      continue;
    }
    if ((p->state == Peer::State::kConnecting || p->state == Peer::State::kHandshake) &&
        now - p->stateSince > std::max<std::chrono::milliseconds>(opts_.connCheckTimeout, std::chrono::milliseconds(1))) {
      failPeer(*p, p->state == Peer::State::kConnecting ? "connect timed out" : "handshake timed out");
      continue;
    }
    std::vector<uint32_t> overdue;
    for (auto& [id, f] : p->inflight)
      if (now >= f.call->deadline) overdue.push_back(id);
    for (uint32_t id : overdue) {
      // Fully written and unanswered: the collector may have processed it (its answer is just
      // late), so this is an outcome-unknown failure, not a definite one.
      const bool sent = p->out.written() >= p->inflight[id].endPos;
      completeCall(*p, id, sent ? Outcome::kUnknown : Outcome::kFailed,
                   sent ? FailReason::kTimeoutAfterSend : FailReason::kTimeout);
    }
  }
  // Keep at least min-peers connections (all peers if min-peers <= 0 or there are fewer), the
  // way jaeger-agent's peer list manager did; a failed peer is replaced by another down peer
  // whose backoff has expired, taken in rotating order so load and retries spread.
  const int n = static_cast<int>(peers_.size());
  const int desired = opts_.minPeers > 0 ? std::min(opts_.minPeers, n) : n;
  int up = 0;
  for (auto& p : peers_)
    if (p->state != Peer::State::kDown) ++up;
  for (int i = 0; i < n && up < desired; ++i) {
    Peer& p = *peers_[static_cast<size_t>((nextPeer_ + i) % n)];
    if (p.state == Peer::State::kDown && now >= p.nextAttempt) {
      startConnect(p, now);
      ++up;
      nextPeer_ = (nextPeer_ + i + 1) % n;
    }
  }
  for (auto& p : peers_) {
    if (p->state != Peer::State::kReady) continue;
    if (p->pingId != 0 && now - p->pingSent > kPingTimeout) {
      failPeer(*p, "keepalive ping unanswered");
      continue;
    }
    if (p->pingId == 0 && p->inflight.empty() && now - p->lastActivity > kPingInterval) {
      p->pingId = p->nextId++;
      p->pingSent = now;
      queueControl(p->out, [&](std::vector<uint8_t>& m) { tchannel::appendPingReq(m, p->pingId); });
      flushWrites(*p);
    }
  }
}

}  // namespace jagent::report
