#include "report/otlp_http_native.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <random>

#include <spdlog/spdlog.h>

#include "report/http1_response.h"
#include "report/protowire.h"
#include "report/send_queue.h"

namespace jagent::report {
namespace {
constexpr auto kResolveTimeout = std::chrono::seconds(5);
constexpr auto kConnectTimeout = std::chrono::seconds(5);
}  // namespace

struct OtlpHttpNativeTransport::Conn {
  size_t index = 0;
  enum class State { kDown, kResolving, kConnecting, kIdle, kBusy } state = State::kDown;
  UniqueFd fd;
  uint64_t resolveId = 0;
  Clock::time_point stateSince{};
  Clock::time_point nextAttempt{};
  std::chrono::milliseconds backoff{100};
  bool counted = false;  // in connected_
  bool used = false;     // a response came on this connection
  SendQueue out;
  bool wantWrite = false;
  std::string head;      // the request head being sent
  std::vector<uint8_t> gz;
  std::unique_ptr<OutCall> call;
  uint64_t endPos = 0;   // SendQueue position after the request's last byte
  Http1Response resp;
};

std::string OtlpHttpNativeTransport::unsupported(const OtlpOptions& opts) {
  if (!opts.endpoint.starts_with("http://")) return "an endpoint other than http:// (TLS)";
  return {};
}

OtlpHttpNativeTransport::OtlpHttpNativeTransport(const OtlpOptions& opts) : opts_(opts) {}

Result<std::unique_ptr<OtlpHttpNativeTransport>> OtlpHttpNativeTransport::create(const OtlpOptions& opts) {
  if (const std::string why = unsupported(opts); !why.empty())
    return makeError(fmt::format("the native OTLP/HTTP client does not do {}", why));
  std::unique_ptr<OtlpHttpNativeTransport> t(new OtlpHttpNativeTransport(opts));
  if (auto ok = t->init(); !ok) return Unexpected(ok.error());
  return t;
}

Result<void> OtlpHttpNativeTransport::init() {
  const std::string_view rest = std::string_view(opts_.endpoint).substr(7);
  const size_t slash = rest.find('/');
  hostHeader_ = std::string(rest.substr(0, slash));
  path_ = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string hostPort = hostHeader_;
  if (hostPort.find(':') == std::string::npos || (hostPort.front() == '[' && hostPort.back() == ']'))
    hostPort += ":80";
  auto hp = parseHostPort(hostPort);
  if (!hp) return makeError(fmt::format("OTLP/HTTP endpoint '{}': {}", opts_.endpoint, hp.error().message()));
  hp_ = *hp;
  fixedHead_ = fmt::format("Host: {}\r\nUser-Agent: jaeger-xdp-agent/{}\r\nContent-Type: application/x-protobuf\r\n",
                           hostHeader_, JAGENT_VERSION);
  if (opts_.gzip) fixedHead_ += "Content-Encoding: gzip\r\n";
  for (const auto& [k, v] : opts_.headers) {
    // A CR or LF would let a header value write its own headers (or a second request).
    if (k.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos)
      return makeError(fmt::format("OTLP header '{}': CR, LF (or ':' in a name) not allowed", k));
    fixedHead_ += fmt::format("{}: {}\r\n", k, v);
  }
  if (auto ok = poller_.init(resolver_.eventFd()); !ok) return ok;
  const size_t n = std::max<size_t>(1, opts_.httpConnections);
  for (size_t i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>();
    c->index = i;
    conns_.push_back(std::move(c));
  }
  return {};
}

OtlpHttpNativeTransport::~OtlpHttpNativeTransport() {
  for (auto& c : conns_) setConnected(*c, false);
}

void OtlpHttpNativeTransport::wake() noexcept { poller_.wake(); }

void OtlpHttpNativeTransport::setConnected(Conn& c, bool up) {
  if (c.counted == up) return;
  c.counted = up;
  connected_.fetch_add(up ? 1 : -1, std::memory_order_relaxed);
}

// ---- connections -------------------------------------------------------------------------------

void OtlpHttpNativeTransport::onResolved() {
  for (auto& r : resolver_.take()) {
    for (auto& c : conns_) {
      if (c->state != Conn::State::kResolving || c->resolveId != r.id) continue;
      if (!r.addr) {
        closeConn(*c, true, r.addr.error().message());
      } else {
        // Connections spread over the addresses the name has (a headless service's pods).
        const std::vector<SockAddr> all = r.all.empty() ? std::vector<SockAddr>{*r.addr} : r.all;
        connectTo(*c, all[c->index % all.size()]);
      }
      break;
    }
  }
}

void OtlpHttpNativeTransport::connectTo(Conn& c, const SockAddr& addr) {
  c.stateSince = Clock::now();
  c.fd.reset(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd) {
    closeConn(c, true, fmt::format("socket: {}", std::strerror(errno)));
    return;
  }
  const int one = 1;
  ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd.get(), addr.get(), addr.len) != 0 && errno != EINPROGRESS) {
    closeConn(c, true, fmt::format("connect {}: {}", formatAddr(addr.get()), std::strerror(errno)));
    return;
  }
  c.state = Conn::State::kConnecting;
  c.out.clear();
  c.used = false;
  c.wantWrite = true;
  poller_.add(c.fd.get(), c.index, true);
}

// Closes the connection; a request on it ends as what it is known to be. `failed`: a connection
// problem (log it and back off) rather than the server's normal keep-alive close.
void OtlpHttpNativeTransport::closeConn(Conn& c, bool failed, const std::string& why) {
  const Clock::time_point now = Clock::now();
  if (c.call) {
    // Not all written: the collector cannot have processed a partial body. All written and no
    // answer: it may have been processed, never retried.
    const bool sent = c.out.written() >= c.endPos;
    if (c.call->raw()) c.call->errorDetail = fmt::format("http: {}", why);
    finish(c, sent ? Outcome::kUnknown : Outcome::kRetryable,
           sent ? FailReason::kConnectionLostAfterSend : FailReason::kErrorNetwork, 0, std::chrono::milliseconds(0));
  }
  if (c.fd) poller_.remove(c.fd.get());
  c.fd.reset();
  c.out.clear();
  setConnected(c, false);
  c.state = Conn::State::kDown;
  if (!failed) {
    c.nextAttempt = now;  // reconnect at once: the server ended an idle keep-alive connection
    return;
  }
  static thread_local std::minstd_rand rng{std::random_device{}()};
  c.nextAttempt = now + c.backoff + std::chrono::milliseconds(rng() % (c.backoff.count() / 2 + 1));
  c.backoff = std::min<std::chrono::milliseconds>(c.backoff * 2, std::chrono::milliseconds(5000));
  uint64_t suppressed = 0;
  if (errorLog_.allow(&suppressed))
    spdlog::warn("otlp collector {}: {} (reconnecting; {} similar suppressed)", hostHeader_, why, suppressed);
}

// ---- requests ----------------------------------------------------------------------------------

bool OtlpHttpNativeTransport::send(std::unique_ptr<OutCall>& call, Clock::time_point now) {
  if (now < pause_.until()) return false;
  Conn* pick = nullptr;
  for (size_t k = 0; k < conns_.size() && !pick; ++k) {
    Conn& c = *conns_[(next_ + k) % conns_.size()];
    if (c.state == Conn::State::kIdle) pick = &c;
  }
  if (!pick) return false;
  Conn& c = *pick;
  next_ = c.index + 1;
  const std::vector<uint8_t>* body = &call->body;
  if (opts_.gzip) {
    if (!gzipInto(call->body, c.gz)) {
      sink_->complete(std::move(call), Outcome::kFailed, FailReason::kEncode, now);
      return true;
    }
    body = &c.gz;
  }
  const std::string& path = call->raw() ? call->method : path_;
  c.head.clear();
  fmt::format_to(std::back_inserter(c.head), "POST {} HTTP/1.1\r\n{}Content-Length: {}\r\n\r\n", path, fixedHead_,
                 body->size());
  c.out.copy({reinterpret_cast<const uint8_t*>(c.head.data()), c.head.size()});
  c.out.ref(*body, 1);  // the call (or its gzip copy) stays with the connection until answered
  c.endPos = c.out.queued();
  ++call->attempts;
  call->lastPeer = static_cast<int>(c.index);
  c.call = std::move(call);
  c.resp.reset();
  c.state = Conn::State::kBusy;
  ++inflight_;
  flush(c);
  return true;
}

void OtlpHttpNativeTransport::flush(Conn& c) {
  if (!c.fd) return;
  if (c.out.flush(c.fd.get()) == SendQueue::Flush::kError) {
    closeConn(c, true, fmt::format("send: {}", std::strerror(errno)));
    return;
  }
  const bool want = !c.out.empty();
  if (want == c.wantWrite) return;
  c.wantWrite = want;
  poller_.modify(c.fd.get(), c.index, want);
}

void OtlpHttpNativeTransport::finish(Conn& c, Outcome o, FailReason r, uint32_t rejected,
                                     std::chrono::milliseconds retryAfter) {
  const Clock::time_point now = Clock::now();
  if (o == Outcome::kRetryable) pause_.onRetryable(retryAfter, now);
  else pause_.onOk();
  --inflight_;
  std::unique_ptr<OutCall> call = std::move(c.call);
  sink_->complete(std::move(call), o, r, now, rejected);
}

void OtlpHttpNativeTransport::onResponse(Conn& c) {
  const int status = c.resp.status;
  const OtlpHttpVerdict v = classifyOtlpHttp(status, c.resp.retryAfter);
  uint32_t rejected = 0;
  OutCall& call = *c.call;
  if (v.outcome == Outcome::kOk) {
    if (call.raw()) {
      call.response.assign(c.resp.body.begin(), c.resp.body.end());
    } else {
      std::string message;
      rejected = protowire::otlpPartialSuccess(c.resp.body, &message);
      uint64_t suppressed = 0;
      if ((rejected > 0 || !message.empty()) && errorLog_.allow(&suppressed))
        spdlog::warn("otlp: partial success: {} spans rejected: {} ({} similar suppressed)", rejected, message,
                     suppressed);
    }
  } else {
    if (call.raw()) call.errorDetail = fmt::format("http status {}", status);
    uint64_t suppressed = 0;
    if (v.outcome == Outcome::kFailed && errorLog_.allow(&suppressed))
      spdlog::warn("otlp: HTTP {} from {}{} ({} similar suppressed)", status, hostHeader_, path_, suppressed);
  }
  c.used = true;
  c.backoff = std::chrono::milliseconds(100);
  finish(c, v.outcome, v.reason, rejected, v.retryAfter);
}

void OtlpHttpNativeTransport::onReadable(Conn& c) {
  uint8_t buf[16384];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n == 0) {
      if (c.state == Conn::State::kBusy && c.resp.eof() == Http1Response::State::kDone) {
        onResponse(c);
        closeConn(c, false, {});
      } else {
        // Idle: the server's keep-alive close (log only if it never answered anything).
        closeConn(c, c.state == Conn::State::kBusy || !c.used, "connection closed by collector");
      }
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      closeConn(c, true, fmt::format("recv: {}", std::strerror(errno)));
      return;
    }
    if (c.state != Conn::State::kBusy) {
      closeConn(c, true, "bytes from the collector with no request open");
      return;
    }
    size_t consumed = 0;
    const Http1Response::State st = c.resp.feed({buf, static_cast<size_t>(n)}, consumed);
    if (st == Http1Response::State::kError) {
      if (c.call->raw()) c.call->errorDetail = fmt::format("http: {}", c.resp.error);
      finish(c, Outcome::kFailed, FailReason::kBadResponse, 0, std::chrono::milliseconds(0));
      closeConn(c, true, fmt::format("malformed response: {}", c.resp.error));
      return;
    }
    if (st == Http1Response::State::kDone) {
      onResponse(c);
      if (consumed != static_cast<size_t>(n) || !c.resp.keepAlive) {
        closeConn(c, consumed != static_cast<size_t>(n), "bytes after the response");
        return;
      }
      c.state = Conn::State::kIdle;
      return;
    }
  }
}

void OtlpHttpNativeTransport::poll(int timeoutMs) {
  poller_.wait(
      timeoutMs, [this] { onResolved(); },
      [this](uint64_t tag, uint32_t events) {
        if (tag >= conns_.size() || !conns_[tag]->fd) return;
        Conn& c = *conns_[tag];
        if (c.state == Conn::State::kConnecting) {
          if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) onConnected(c);
          return;
        }
        if (events & EPOLLOUT) flush(c);
        if (c.fd && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) onReadable(c);
      });
}

void OtlpHttpNativeTransport::onConnected(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    closeConn(c, true, fmt::format("connect: {}", std::strerror(err)));
    return;
  }
  c.state = Conn::State::kIdle;
  setConnected(c, true);
  flush(c);  // nothing queued: turns EPOLLOUT off
}

void OtlpHttpNativeTransport::maintain(Clock::time_point now) {
  for (auto& cp : conns_) {
    Conn& c = *cp;
    switch (c.state) {
      case Conn::State::kDown:
        if (now >= c.nextAttempt) {
          c.state = Conn::State::kResolving;
          c.stateSince = now;
          c.resolveId = resolver_.submit(hp_, SOCK_STREAM);
        }
        break;
      case Conn::State::kResolving:
        if (now - c.stateSince > kResolveTimeout) {
          resolver_.cancel(c.resolveId);
          closeConn(c, true, fmt::format("resolve '{}': no answer within {} s", hp_.host, kResolveTimeout.count()));
        }
        break;
      case Conn::State::kConnecting:
        if (now - c.stateSince > kConnectTimeout) closeConn(c, true, "connect timed out");
        break;
      case Conn::State::kBusy:
        if (now >= c.call->deadline) {
          // No way to cancel one HTTP/1.1 request but closing its connection. All written: the
          // collector may have processed it (unknown); not: a plain timeout.
          const bool sent = c.out.written() >= c.endPos;
          if (c.call->raw()) c.call->errorDetail = "http: timeout";
          finish(c, sent ? Outcome::kUnknown : Outcome::kFailed,
                 sent ? FailReason::kTimeoutAfterSend : FailReason::kTimeout, 0, std::chrono::milliseconds(0));
          closeConn(c, false, {});
        }
        break;
      case Conn::State::kIdle: break;
    }
  }
}

Clock::time_point OtlpHttpNativeTransport::nextTimer(Clock::time_point now) const {
  Clock::time_point next = now + std::chrono::milliseconds(100);
  if (pause_.until() > now) next = std::min(next, pause_.until());
  for (const auto& c : conns_) {
    if (c->state == Conn::State::kDown) next = std::min(next, c->nextAttempt);
    if (c->state == Conn::State::kBusy) next = std::min(next, c->call->deadline);
  }
  return next;
}

void OtlpHttpNativeTransport::abortAll(Clock::time_point now) {
  for (auto& cp : conns_) {
    Conn& c = *cp;
    if (c.call) {
      // Fully written but unanswered: the collector may still process it, so not a plain drop.
      const bool sent = c.out.written() >= c.endPos;
      --inflight_;
      sink_->complete(std::move(c.call), Outcome::kFailed,
                      sent ? FailReason::kConnectionLostAfterSend : FailReason::kShutdown, now);
    }
    closeConn(c, false, {});
    c.nextAttempt = Clock::time_point::max();
  }
}

}  // namespace jagent::report
