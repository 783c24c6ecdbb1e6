// TChannelReporter, the connection half: one TCP connection per collector — non-blocking
// connect, init handshake, writing frames, reading and dispatching frames, failure and
// backoff, keepalive, and keeping min-peers connected. Runs on the reporter's I/O thread.
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "report/tchannel_reporter_internal.h"

namespace jagent::report {

using namespace detail;
using tchannel::ErrorCode;
using tchannel::FrameType;

// Re-resolved on every attempt, off this thread (issue #11): the result arrives through the
// resolver's eventfd (onResolved), and a name that takes longer than kResolveTimeout fails the
// attempt like a connect timeout.
void TChannelReporter::startConnect(Peer& p, Clock::time_point now) {
  p.stateSince = now;
  p.state = Peer::State::kResolving;
  p.resolveId = resolver_.submit(p.hp, SOCK_STREAM);
}

void TChannelReporter::onResolved() {
  for (auto& r : resolver_.take()) {
    for (auto& p : peers_) {
      if (p->state != Peer::State::kResolving || p->resolveId != r.id) continue;
      if (r.addr)
        connectResolved(*p, *r.addr);
      else
        failPeer(*p, r.addr.error().message());
      break;
    }
  }
}

void TChannelReporter::connectResolved(Peer& p, const SockAddr& resolved) {
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
  p.outOff = 0;
  p.in.clear();
  p.written = p.queued = 0;
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
  if (!tchannel::appendInitReq(p.out, p.nextId++, headers)) {
    failPeer(p, "init request could not be encoded");
    return;
  }
  p.queued = p.out.size();
  p.wantWrite = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = static_cast<uint64_t>(p.index);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, p.fd.get(), &ev);
}

void TChannelReporter::failPeer(Peer& p, const std::string& why) {
  const bool wasReady = p.state == Peer::State::kReady;
  if (p.fd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
  p.fd.reset();
  if (wasReady) {
    connected_.fetch_sub(1, std::memory_order_relaxed);
    p.connectedGauge->set(0);
  }
  p.state = Peer::State::kDown;
  // Exponential backoff with jitter, 100 ms .. 5 s.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto jitter = std::chrono::milliseconds(rng() % (p.backoff.count() / 2 + 1));
  p.nextAttempt = Clock::now() + p.backoff + jitter;
  p.backoff = std::min<std::chrono::milliseconds>(p.backoff * 2, std::chrono::milliseconds(5000));
  uint64_t suppressed = 0;
  if (errorLog_.allow(&suppressed))
    spdlog::warn("collector {}: {} (reconnecting; {} similar suppressed)", p.spec, why, suppressed);
  // Calls on this connection: a request that never fully left is safe to send elsewhere; one that
  // did may have been processed, so it is counted as failed rather than risk duplicate spans.
  std::vector<std::unique_ptr<Call>> retry;
  for (auto& [id, f] : p.inflight) {
    --inflight_;
    if (p.written < f.endPos && f.call->attempts < kMaxAttempts && Clock::now() < f.call->deadline) {
      retries_.inc();
      retry.push_back(std::move(f.call));
    } else {
      finish(std::move(f.call), "connection lost after the request was sent");
    }
  }
  p.inflight.clear();
  p.partial.clear();
  if (!retry.empty()) {
    std::lock_guard lock(mu_);
    for (auto& c : retry) ready_.push_front(std::move(c));
  }
}

void TChannelReporter::updateEpoll(Peer& p) {
  epoll_event ev{};
  ev.events = EPOLLIN | (p.wantWrite ? EPOLLOUT : 0u);
  ev.data.u64 = static_cast<uint64_t>(p.index);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, p.fd.get(), &ev);
}

void TChannelReporter::flushWrites(Peer& p) {
  while (p.outOff < p.out.size()) {
    const ssize_t n = ::send(p.fd.get(), p.out.data() + p.outOff, p.out.size() - p.outOff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      failPeer(p, fmt::format("send: {}", std::strerror(errno)));
      return;
    }
    p.outOff += static_cast<size_t>(n);
    p.written += static_cast<uint64_t>(n);
  }
  if (p.outOff == p.out.size()) {
    p.out.clear();
    p.outOff = 0;
  } else if (p.outOff > kMaxUnsentPerPeer) {
    p.out.erase(p.out.begin(), p.out.begin() + static_cast<std::ptrdiff_t>(p.outOff));  // keep the buffer bounded
    p.outOff = 0;
  }
  const bool want = p.outOff < p.out.size() || p.out.size() > 0;
  if (want != p.wantWrite) {
    p.wantWrite = want;
    updateEpoll(p);
  }
}

void TChannelReporter::onWritable(Peer& p) {
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

void TChannelReporter::onReadable(Peer& p) {
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

void TChannelReporter::handleFrame(Peer& p, const tchannel::FrameView& f) {
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
      p.lastActivity = Clock::now();
      p.pingId = 0;
      p.backoff = std::chrono::milliseconds(100);
      connected_.fetch_add(1, std::memory_order_relaxed);
      p.connectedGauge->set(1);
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
        p.partial.erase(f.id);
        completeCall(p, f.id, false, "malformed or bad-checksum response", false);
        return;
      }
      const bool ok = a.code() == 0;
      Call& c = *p.inflight[f.id].call;
      if (c.raw()) {
        c.response = a.arg3();
        c.applicationError = !ok;
        p.partial.erase(f.id);
        completeCall(p, f.id, true, "ok", false);  // the transport worked; the caller reads the result
        return;
      }
      if (ok) {
        const int notOk = countNotOk(a.arg3());
        if (notOk > 0) fm(c.format).notOk.inc(static_cast<uint64_t>(notOk));
      }
      p.partial.erase(f.id);
      completeCall(p, f.id, ok, "application error response", false);
      return;
    }
    case FrameType::kError: {
      tchannel::ErrorView e;
      if (!tchannel::parseError(f.payload, e)) return;
      if (f.id == 0xFFFFFFFFu || !p.inflight.count(f.id)) {
        failPeer(p, fmt::format("protocol error from collector: {} {}", tchannel::errorCodeName(e.code), e.message));
        return;
      }
      const bool retryable =
          e.code == ErrorCode::kBusy || e.code == ErrorCode::kDeclined || e.code == ErrorCode::kTimeout;
      p.partial.erase(f.id);
      const std::string why = fmt::format("{}: {}", tchannel::errorCodeName(e.code), e.message);
      completeCall(p, f.id, false, why.c_str(), retryable);
      if (e.code == ErrorCode::kFatal) failPeer(p, "fatal protocol error");
      return;
    }
    case FrameType::kPingReq: {
      const size_t before = p.out.size();
      tchannel::appendPingRes(p.out, f.id);
      p.queued += p.out.size() - before;
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

void TChannelReporter::maintainConnections(Clock::time_point now) {
  // Keep at least min-peers connections (all peers if min-peers <= 0 or there are fewer), the
  // way jaeger-agent's peer list manager did; a failed peer is replaced by another down peer
  // whose backoff has expired, taken in rotating order so load and retries spread.
  const int n = static_cast<int>(peers_.size());
  const int desired = cfg_.minPeers > 0 ? std::min(cfg_.minPeers, n) : n;
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
      const size_t before = p->out.size();
      tchannel::appendPingReq(p->out, p->pingId);
      p->queued += p->out.size() - before;
      flushWrites(*p);
    }
  }
}


}  // namespace jagent::report
