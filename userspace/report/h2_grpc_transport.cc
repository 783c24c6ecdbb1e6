#include "report/h2_grpc_transport.h"

#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "report/protowire.h"

namespace jagent::report {
namespace {

constexpr const char* kPostSpans = "/jaeger.api_v2.CollectorService/PostSpans";                   // §1.1
constexpr const char* kOtlpExport = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";  // §4.1
constexpr auto kResolveTimeout = std::chrono::seconds(5);
constexpr auto kReresolveEvery = std::chrono::seconds(30);
constexpr auto kReresolveMin = std::chrono::seconds(1);   // GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// A connection whose socket is this far behind gets no new call (they wait in the core's bounded
// queue), as in the TChannel transport.
constexpr uint64_t kMaxUnsent = 2u << 20;
// Responses are small (PostSpansResponse is empty; OTLP's partial success; sampling strategies);
// beyond the receivers' own limit (§4.1) a response is not kept.
constexpr size_t kMaxResponse = 4u << 20;
// Our receive windows: responses are tiny, so the defaults would do; a larger connection window
// keeps a misbehaving server's DATA from stalling on our WINDOW_UPDATEs.
constexpr int32_t kLocalWindow = 1 << 20;

}  // namespace

// One configured host:port and what it resolved to.
struct H2GrpcTransport::Target {
  int index = 0;
  std::string spec;
  HostPort hp;
  std::string authority;  // :authority, as configured
  uint64_t resolveId = 0;  // in flight, 0 = none
  Clock::time_point resolveStarted{};
  Clock::time_point nextResolve{};
  Clock::time_point lastResolve{};
  std::chrono::milliseconds backoff{100};
};

struct H2GrpcTransport::Call {
  std::unique_ptr<OutCall> out;
  uint8_t prefix[16];     // gRPC message header (flag + length) and, for PostSpans, the Batch tag
  size_t prefixLen = 0;
  size_t total = 0;       // prefixLen + body
  size_t framed = 0;      // bytes handed to DATA frames so far
  uint64_t endPos = 0;    // SendQueue position after the last byte; 0 = not all queued yet
  int httpStatus = 0;
  int grpcStatus = -1;
  std::string grpcMessage;
  std::string details;
  std::string response;   // DATA received (gRPC message header included)
  bool responseTooBig = false;
  bool cancelled = false;  // we reset it (deadline): its close is ours to ignore
  [[nodiscard]] std::span<const uint8_t> piece(size_t at, size_t max) const {
    if (at < prefixLen) return {prefix + at, std::min(max, prefixLen - at)};
    const size_t b = at - prefixLen;
    return {out->body.data() + b, std::min(max, out->body.size() - b)};
  }
};

struct H2GrpcTransport::Conn {
  uint64_t id = 0;
  Target* target = nullptr;
  SockAddr addr;
  enum class State { kDown, kConnecting, kOpen, kReady } state = State::kDown;
  bool draining = false;  // GOAWAY received, or its address no longer resolves: no new calls
  bool counted = false;   // counted in ready_ (and the shared connection gauge)
  bool retired = false;   // remove once idle
  UniqueFd fd;
  nghttp2_session* session = nullptr;
  SendQueue out;
  bool wantWrite = false;
  Clock::time_point stateSince{};
  Clock::time_point nextAttempt{};
  std::chrono::milliseconds backoff{100};
  Clock::time_point lastFrame{};
  bool pingOut = false;
  Clock::time_point pingSent{};
  std::unordered_map<int32_t, std::unique_ptr<Call>> calls;
  std::vector<std::pair<int32_t, uint32_t>> closed;  // streams nghttp2 closed: id, error code
  H2GrpcTransport* self = nullptr;
};

namespace {

using Conn = H2GrpcTransport::Conn;
using Call = H2GrpcTransport::Call;

Call* callOf(Conn* c, int32_t stream) {
  auto it = c->calls.find(stream);
  return it == c->calls.end() || it->second->cancelled ? nullptr : it->second.get();
}

// Control frames (SETTINGS, WINDOW_UPDATE, HEADERS, PING, RST_STREAM, GOAWAY): small, copied.
ssize_t onSend(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
  static_cast<Conn*>(user)->out.copy({data, length});
  return static_cast<ssize_t>(length);
}

// DATA payload: nothing is copied here; onSendData queues the frame over the call's bytes.
ssize_t onReadData(nghttp2_session*, int32_t stream, uint8_t*, size_t length, uint32_t* flags,
                   nghttp2_data_source*, void* user) {
  Call* call = callOf(static_cast<Conn*>(user), stream);
  if (!call) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // reset by us meanwhile
  const size_t n = std::min(length, call->total - call->framed);
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (call->framed + n == call->total) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int onSendData(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length, nghttp2_data_source*,
               void* user) {
  auto* c = static_cast<Conn*>(user);
  const int32_t stream = frame->hd.stream_id;
  Call* call = callOf(c, stream);
  if (!call) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const auto owner = static_cast<uint64_t>(stream);
  c->out.copy({framehd, 9}, owner);
  for (size_t left = length; left > 0;) {
    const std::span<const uint8_t> p = call->piece(call->framed, left);
    if (p.size() < 64) c->out.copy(p, owner);  // the few prefix bytes
    else c->out.ref(p, owner);
    call->framed += p.size();
    left -= p.size();
  }
  if (call->framed == call->total) call->endPos = c->out.queued();
  return 0;
}

int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen, const uint8_t* value,
             size_t valuelen, uint8_t, void* user) {
  Call* call = callOf(static_cast<Conn*>(user), frame->hd.stream_id);
  if (!call) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    int s = 0;
    for (char ch : v) s = (ch >= '0' && ch <= '9') ? s * 10 + (ch - '0') : s;
    call->httpStatus = s;
  } else if (n == "grpc-status") {
    int s = 0;
    for (char ch : v) s = (ch >= '0' && ch <= '9' && s < 1000) ? s * 10 + (ch - '0') : s;
    call->grpcStatus = s;
  } else if (n == "grpc-message") {
    call->grpcMessage = H2GrpcTransport::percentDecode(v);
  } else if (n == "grpc-status-details-bin") {
    call->details = H2GrpcTransport::base64Decode(v);
  }
  return 0;
}

int onDataChunk(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len, void* user) {
  Call* call = callOf(static_cast<Conn*>(user), stream);
  if (!call) return 0;
  if (call->response.size() + len > kMaxResponse + 5) call->responseTooBig = true;
  else call->response.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Conn*>(user);
  c->lastFrame = Clock::now();
  switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
      if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && c->state == Conn::State::kOpen) c->state = Conn::State::kReady;
      break;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) c->pingOut = false;
      break;
    case NGHTTP2_GOAWAY:
      // Streams above last_stream_id are closed by nghttp2 as refused (never processed); the rest
      // finish. No new calls here: the connection is replaced once idle.
      c->draining = true;
      break;
    default: break;
  }
  return 0;
}

int onStreamClose(nghttp2_session*, int32_t stream, uint32_t error, void* user) {
  auto* c = static_cast<Conn*>(user);
  if (c->calls.count(stream)) c->closed.emplace_back(stream, error);
  return 0;
}

nghttp2_session_callbacks* callbacks() {
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* p = nullptr;
    nghttp2_session_callbacks_new(&p);
    nghttp2_session_callbacks_set_send_callback(p, onSend);
    nghttp2_session_callbacks_set_send_data_callback(p, onSendData);
    nghttp2_session_callbacks_set_on_header_callback(p, onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(p, onDataChunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(p, onFrameRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(p, onStreamClose);
    return p;
  }();
  return cbs;
}

nghttp2_nv header(std::string_view n, std::string_view v) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// ---- life --------------------------------------------------------------------------------------

H2GrpcTransport::H2GrpcTransport(const Options& opts, GrpcTransport::ConnMetrics metrics)
    : opts_(opts), conn_(std::move(metrics)) {
  const bool otlp = opts_.mode == GrpcTransport::Mode::kOtlpExport;
  label_ = !opts_.protocolLabel.empty() ? opts_.protocolLabel : otlp ? "otlp" : "grpc";
  method_ = !opts_.method.empty() ? opts_.method : otlp ? kOtlpExport : kPostSpans;
}

Result<std::unique_ptr<H2GrpcTransport>> H2GrpcTransport::create(const Options& opts,
                                                                  GrpcTransport::ConnMetrics metrics) {
  if (opts.hostPorts.empty()) return makeError("gRPC transport: no collector address");
  if (const std::string why = unsupported(opts); !why.empty())
    return makeError(fmt::format("the native gRPC client does not do {}", why));
  std::unique_ptr<H2GrpcTransport> t(new H2GrpcTransport(opts, std::move(metrics)));
  if (auto ok = t->init(); !ok) return Unexpected(ok.error());
  return t;
}

Result<void> H2GrpcTransport::init() {
  for (size_t i = 0; i < opts_.hostPorts.size(); ++i) {
    auto hp = parseHostPort(opts_.hostPorts[i]);
    if (!hp) return Unexpected(hp.error());
    if (hp->host.empty()) hp->host = "127.0.0.1";
    auto t = std::make_unique<Target>();
    t->index = static_cast<int>(i);
    t->spec = opts_.hostPorts[i];
    t->hp = *hp;
    t->authority = opts_.hostPorts[i];
    targets_.push_back(std::move(t));
  }
  if (auto ok = poller_.init(resolver_.eventFd()); !ok) return ok;
  const Clock::time_point now = Clock::now();
  for (auto& t : targets_) requestResolve(*t, now);
  return {};
}

H2GrpcTransport::~H2GrpcTransport() {
  for (auto& [id, c] : conns_) {
    setReady(*c, false);
    if (c->session) nghttp2_session_del(c->session);
    c->session = nullptr;
  }
}

void H2GrpcTransport::wake() noexcept { poller_.wake(); }


void H2GrpcTransport::setReady(Conn& c, bool ready) {
  if (c.counted == ready) return;
  c.counted = ready;
  const int now = ready_.fetch_add(ready ? 1 : -1, std::memory_order_relaxed) + (ready ? 1 : -1);
  if (ready && conn_.reconnects) conn_.reconnects->inc();  // §5.3: transitions to READY
  if (!conn_.readyShards) return;
  if (ready && now == 1) conn_.readyShards->fetch_add(1);
  if (!ready && now == 0) conn_.readyShards->fetch_sub(1);
}

// ---- names and connections ---------------------------------------------------------------------

void H2GrpcTransport::requestResolve(Target& t, Clock::time_point now) {
  if (t.resolveId != 0) return;
  if (now - t.lastResolve < kReresolveMin && t.lastResolve != Clock::time_point{}) {
    t.nextResolve = std::min(t.nextResolve, t.lastResolve + kReresolveMin);
    return;
  }
  t.resolveStarted = t.lastResolve = now;
  t.resolveId = resolver_.submit(t.hp, SOCK_STREAM);
}

void H2GrpcTransport::onResolved() {
  const Clock::time_point now = Clock::now();
  for (auto& r : resolver_.take()) {
    for (auto& t : targets_) {
      if (t->resolveId != r.id) continue;
      t->resolveId = 0;
      if (r.addr) {
        t->backoff = std::chrono::milliseconds(100);
        t->nextResolve = now + kReresolveEvery;
        reconcile(*t, r.all.empty() ? std::vector<SockAddr>{*r.addr} : r.all, now);
      } else {
        t->nextResolve = now + t->backoff;
        t->backoff = std::min<std::chrono::milliseconds>(t->backoff * 2, std::chrono::milliseconds(5000));
        uint64_t suppressed = 0;
        if (errorLog_.allow(&suppressed))
          spdlog::warn("{} collector {}: {} ({} similar suppressed)", label_, t->spec, r.addr.error().message(),
                       suppressed);
      }
      break;
    }
  }
}

// A connection per resolved address: new addresses get one, vanished ones are retired (closed
// once their calls finish).
void H2GrpcTransport::reconcile(Target& t, const std::vector<SockAddr>& addrs, Clock::time_point now) {
  auto same = [](const SockAddr& a, const SockAddr& b) {
    return a.len == b.len && std::memcmp(&a.storage, &b.storage, a.len) == 0;
  };
  for (const SockAddr& a : addrs) {
    bool have = false;
    for (auto& [id, c] : conns_) have = have || (c->target == &t && !c->retired && same(c->addr, a));
    if (have) continue;
    auto c = std::make_unique<Conn>();
    c->id = nextConnId_++;
    c->target = &t;
    c->addr = a;
    c->self = this;
    c->nextAttempt = now;
    conns_.emplace(c->id, std::move(c));
  }
  for (auto& [id, c] : conns_) {
    if (c->target != &t || c->retired) continue;
    if (std::none_of(addrs.begin(), addrs.end(), [&](const SockAddr& a) { return same(c->addr, a); })) {
      c->retired = c->draining = true;
      setReady(*c, false);
    }
  }
}

void H2GrpcTransport::startConnect(Conn& c, Clock::time_point now) {
  c.stateSince = now;
  c.fd.reset(::socket(c.addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd) {
    failConn(c, fmt::format("socket: {}", std::strerror(errno)));
    return;
  }
  const int one = 1;
  ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c.fd.get(), c.addr.get(), c.addr.len) != 0 && errno != EINPROGRESS) {
    failConn(c, fmt::format("connect {}: {}", formatAddr(c.addr.get()), std::strerror(errno)));
    return;
  }
  c.state = Conn::State::kConnecting;
  c.draining = false;
  c.out.clear();
  c.wantWrite = true;
  poller_.add(c.fd.get(), c.id, true);
}

void H2GrpcTransport::onConnected(Conn& c) {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    failConn(c, fmt::format("connect {}: {}", formatAddr(c.addr.get()), std::strerror(err)));
    return;
  }
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Until the server's SETTINGS arrive, assume it takes 100 streams (RFC 9113 recommends at
  // least that); no call is sent before them anyway.
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  const int rv = nghttp2_session_client_new2(&c.session, callbacks(), &c, opt);
  nghttp2_option_del(opt);
  if (rv != 0) {
    failConn(c, fmt::format("nghttp2: {}", nghttp2_strerror(rv)));
    return;
  }
  const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kLocalWindow)}};
  nghttp2_submit_settings(c.session, NGHTTP2_FLAG_NONE, iv, std::size(iv));
  nghttp2_session_set_local_window_size(c.session, NGHTTP2_FLAG_NONE, 0, kLocalWindow);
  c.state = Conn::State::kOpen;  // kReady once the server's SETTINGS arrive (onFrameRecv)
  c.stateSince = c.lastFrame = Clock::now();
  c.pingOut = false;
  pump(c);
}

void H2GrpcTransport::closeConn(Conn& c) {
  setReady(c, false);
  if (c.fd) poller_.remove(c.fd.get());
  c.fd.reset();
  if (c.session) nghttp2_session_del(c.session);
  c.session = nullptr;
  c.out.clear();
  c.closed.clear();
  c.state = Conn::State::kDown;
}

void H2GrpcTransport::failConn(Conn& c, const std::string& why) {
  const Clock::time_point now = Clock::now();
  // Calls on this connection: a request that never fully left is safe to send elsewhere; one that
  // did may have been processed, so its outcome is unknown and it is not retried (no duplicates).
  std::vector<std::pair<std::unique_ptr<Call>, bool>> lost;
  for (auto& [id, k] : c.calls) {
    const bool sent = k->endPos != 0 && c.out.written() >= k->endPos;
    lost.emplace_back(std::move(k), sent);
  }
  c.calls.clear();
  closeConn(c);
  static thread_local std::minstd_rand rng{std::random_device{}()};
  const auto jitter = std::chrono::milliseconds(rng() % (c.backoff.count() / 2 + 1));
  c.nextAttempt = now + c.backoff + jitter;
  c.backoff = std::min<std::chrono::milliseconds>(c.backoff * 2, std::chrono::milliseconds(5000));
  uint64_t suppressed = 0;
  if (errorLog_.allow(&suppressed))
    spdlog::warn("{} collector {} ({}): {} (reconnecting; {} similar suppressed)", label_, c.target->spec,
                 formatAddr(c.addr.get()), why, suppressed);
  requestResolve(*c.target, now);
  for (auto& [k, sent] : lost) {
    --inflight_;
    sink_->complete(std::move(k->out), sent ? Outcome::kUnknown : Outcome::kRetryable,
                    sent ? FailReason::kConnectionLostAfterSend : FailReason::kNoConnection, now);
  }
}

// ---- I/O ---------------------------------------------------------------------------------------

void H2GrpcTransport::poll(int timeoutMs) {
  poller_.wait(
      timeoutMs, [this] { onResolved(); },
      [this](uint64_t tag, uint32_t events) {
        auto it = conns_.find(tag);
        if (it == conns_.end() || !it->second->fd) return;
        Conn& c = *it->second;
        if (c.state == Conn::State::kConnecting) {
          if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) onConnected(c);
          return;
        }
        if (events & EPOLLOUT) pump(c);
        if (c.fd && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) onReadable(c);
      });
}

void H2GrpcTransport::onReadable(Conn& c) {
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n == 0) {
      failConn(c, "connection closed by collector");
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      failConn(c, fmt::format("recv: {}", std::strerror(errno)));
      return;
    }
    const ssize_t rv = nghttp2_session_mem_recv(c.session, buf, static_cast<size_t>(n));
    if (rv < 0) {
      failConn(c, fmt::format("HTTP/2: {}", nghttp2_strerror(static_cast<int>(rv))));
      return;
    }
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  if (c.state == Conn::State::kReady && !c.counted && !c.draining) {
    c.backoff = std::chrono::milliseconds(100);
    setReady(c, true);
  }
  if (c.draining) setReady(c, false);
  finishClosed(c);
  if (c.fd) pump(c);
}

void H2GrpcTransport::pump(Conn& c) {
  if (!c.fd) return;
  if (c.session) {
    if (const int rv = nghttp2_session_send(c.session); rv != 0) {
      failConn(c, fmt::format("HTTP/2: {}", nghttp2_strerror(rv)));
      return;
    }
  }
  if (c.out.flush(c.fd.get()) == SendQueue::Flush::kError) {
    failConn(c, fmt::format("send: {}", std::strerror(errno)));
    return;
  }
  const bool want = !c.out.empty();
  if (want != c.wantWrite) {
    c.wantWrite = want;
    poller_.modify(c.fd.get(), c.id, want);
  }
  if (!c.closed.empty()) finishClosed(c);
  if (c.session && !nghttp2_session_want_read(c.session) && !nghttp2_session_want_write(c.session) && c.out.empty())
    failConn(c, "HTTP/2 session ended");  // after GOAWAY with nothing left in flight
}

void H2GrpcTransport::finishClosed(Conn& c) {
  while (!c.closed.empty()) {
    auto list = std::move(c.closed);
    c.closed.clear();
    for (auto [stream, error] : list) settle(c, stream, error);
  }
}

// ---- calls -------------------------------------------------------------------------------------

void H2GrpcTransport::completeCall(Conn& c, int32_t stream, Outcome o, FailReason r, uint32_t rejected) {
  auto it = c.calls.find(stream);
  if (it == c.calls.end()) return;
  std::unique_ptr<Call> k = std::move(it->second);
  c.calls.erase(it);
  if (k->endPos == 0 || c.out.written() < k->endPos) c.out.detach(static_cast<uint64_t>(stream));
  --inflight_;
  sink_->complete(std::move(k->out), o, r, Clock::now(), rejected);
}

void H2GrpcTransport::settle(Conn& c, int32_t stream, uint32_t h2Error) {
  auto it = c.calls.find(stream);
  if (it == c.calls.end()) return;
  Call& k = *it->second;
  OutCall& out = *k.out;
  const bool sent = k.endPos != 0 && c.out.written() >= k.endPos;
  GrpcVerdict v;
  std::string msg = k.grpcMessage;
  if (k.grpcStatus >= 0) {
    v = GrpcTransport::classify(opts_.mode, k.grpcStatus, k.grpcMessage, k.details, false);
  } else if (h2Error == NGHTTP2_REFUSED_STREAM) {
    v = {Outcome::kRetryable, FailReason::kNoConnection, {}};  // never processed (RFC 9113 §8.7)
    msg = "stream refused";
  } else if (k.httpStatus != 0 && k.httpStatus != 200) {
    msg = fmt::format("HTTP status {} without grpc-status", k.httpStatus);
    v = GrpcTransport::classify(opts_.mode, statusOfHttp(k.httpStatus), msg, {}, false);
  } else if (h2Error != NGHTTP2_NO_ERROR) {
    msg = fmt::format("stream reset: {}", nghttp2_http2_strerror(h2Error));
    v = sent ? GrpcVerdict{Outcome::kUnknown, FailReason::kConnectionLostAfterSend, {}}
             : GrpcVerdict{Outcome::kRetryable, FailReason::kNoConnection, {}};
  } else {
    msg = "response without grpc-status";
    v = GrpcTransport::classify(opts_.mode, 2, msg, {}, false);  // UNKNOWN
  }
  uint32_t rejected = 0;
  if (v.outcome == Outcome::kOk) {
    pause_.onOk();
    // Length-prefixed message (flag, 4-byte length); we never asked for a compressed response.
    const std::string& r = k.response;
    const bool framed = r.size() >= 5 && r[0] == 0;
    const size_t len = framed ? (size_t{static_cast<uint8_t>(r[1])} << 24 | size_t{static_cast<uint8_t>(r[2])} << 16 |
                                 size_t{static_cast<uint8_t>(r[3])} << 8 | static_cast<uint8_t>(r[4]))
                              : 0;
    if (k.responseTooBig || (!r.empty() && (!framed || len > r.size() - 5))) {
      if (out.raw()) {
        out.errorDetail = "unreadable gRPC response";
        completeCall(c, stream, Outcome::kFailed, FailReason::kBadResponse);
        return;
      }
    } else if (framed) {
      out.response.assign(r.begin() + 5, r.begin() + 5 + static_cast<std::ptrdiff_t>(len));
    } else {
      out.response.clear();
    }
    if (!out.raw() && opts_.mode == GrpcTransport::Mode::kOtlpExport) {
      std::string message;
      rejected = protowire::otlpPartialSuccess(out.response, &message);
      uint64_t suppressed = 0;
      if ((rejected > 0 || !message.empty()) && errorLog_.allow(&suppressed))
        spdlog::warn("otlp: partial success: {} spans rejected: {} ({} similar suppressed)", rejected, message,
                     suppressed);
    }
  } else {
    const int code = k.grpcStatus >= 0 ? k.grpcStatus : -1;
    if (out.raw()) out.errorDetail = fmt::format("grpc status {}: {}", code, msg);
    if (v.outcome == Outcome::kRetryable && v.reason != FailReason::kNoConnection) pause_.onRetryable(v.retryDelay, Clock::now());
    uint64_t suppressed = 0;
    if (v.outcome != Outcome::kRetryable && !out.raw() && errorLog_.allow(&suppressed))
      spdlog::warn("{}: call failed: status {} '{}' ({} similar suppressed)", label_, code, msg, suppressed);
  }
  completeCall(c, stream, v.outcome, v.reason, rejected);
}

H2GrpcTransport::Conn* H2GrpcTransport::pick(int avoid) {
  Conn* eligible[64];
  size_t n = 0;
  for (auto& [id, c] : conns_) {
    if (!c->counted || c->draining || !c->session || c->out.unsent() > kMaxUnsent) continue;
    const uint32_t maxStreams =
        nghttp2_session_get_remote_settings(c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (c->calls.size() >= maxStreams) continue;
    if (n < std::size(eligible)) eligible[n++] = c.get();
  }
  if (n == 0) return nullptr;
  std::sort(eligible, eligible + n, [](const Conn* a, const Conn* b) { return a->id < b->id; });
  // Round robin; a retry avoids the connection the call just failed on when there is another.
  for (size_t k = 0; k < n; ++k) {
    Conn* c = eligible[(rotate_ + k) % n];
    if (n > 1 && static_cast<int>(c->id) == avoid) continue;
    rotate_ += k + 1;
    return c;
  }
  return eligible[rotate_++ % n];
}

bool H2GrpcTransport::send(std::unique_ptr<OutCall>& call, Clock::time_point now) {
  if (now < pause_.until() || inflight_ >= opts_.maxInflight) return false;
  Conn* c = pick(call->lastPeer);
  if (!c) return false;
  if (call->body.size() + 16 > static_cast<size_t>(opts_.maxMessageBytes)) {
    // Over the receivers' limit (§4.4): it would be refused; count it as an encoding failure.
    sink_->complete(std::move(call), Outcome::kFailed, FailReason::kEncode, now);
    return true;
  }
  auto k = std::make_unique<Call>();
  OutCall& out = *call;
  // gRPC message header (uncompressed flag, 4-byte length) and, for PostSpans, the request's
  // only field: PostSpansRequest{batch = 1} = tag 0x0A + varint length (§1.2). The body follows
  // by reference.
  uint8_t api[8];
  size_t apiLen = 0;
  if (!out.raw() && opts_.mode == GrpcTransport::Mode::kJaegerPostSpans) {
    api[0] = 0x0A;
    apiLen = 1 + protowire::putVarint(api + 1, out.body.size());
  }
  const size_t msgLen = apiLen + out.body.size();
  k->prefix[0] = 0;
  for (int i = 0; i < 4; ++i) k->prefix[1 + i] = static_cast<uint8_t>(msgLen >> (24 - 8 * i));
  std::memcpy(k->prefix + 5, api, apiLen);
  k->prefixLen = 5 + apiLen;
  k->total = k->prefixLen + out.body.size();

  const std::string path = out.raw() ? (out.method.starts_with('/') ? out.method : "/" + out.method) : method_;
  // grpc-timeout: at most 8 digits (gRPC's PROTOCOL-HTTP2.md).
  const int64_t ms = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(out.deadline - now).count());
  const std::string timeout = ms <= 99'999'999 ? fmt::format("{}m", ms) : fmt::format("{}S", std::min<int64_t>(ms / 1000, 99'999'999));
  const std::string retry = out.attempts >= 1 ? std::to_string(out.attempts) : std::string();
  std::vector<nghttp2_nv> nv = {header(":method", "POST"),
                                header(":scheme", "http"),
                                header(":path", path),
                                header(":authority", c->target->authority),
                                header("te", "trailers"),
                                header("content-type", "application/grpc"),
                                header("user-agent", "jaeger-xdp-agent/" JAGENT_VERSION " nghttp2"),
                                header("grpc-timeout", timeout)};
  for (const auto& [key, value] : opts_.metadata) nv.push_back(header(key, value));
  if (!retry.empty()) nv.push_back(header("x-retry-attempt", retry));  // §5.2
  nghttp2_data_provider prd{};
  prd.read_callback = onReadData;
  const int32_t stream = nghttp2_submit_request(c->session, nullptr, nv.data(), nv.size(), &prd, nullptr);
  if (stream < 0) {  // stream ids exhausted or the session is going away: replace the connection
    c->draining = true;
    setReady(*c, false);
    return false;
  }
  ++out.attempts;
  out.lastPeer = static_cast<int>(c->id);
  k->out = std::move(call);
  c->calls.emplace(stream, std::move(k));
  ++inflight_;
  pump(*c);
  return true;
}

void H2GrpcTransport::maintain(Clock::time_point now) {
  for (auto& t : targets_) {
    if (t->resolveId != 0 && now - t->resolveStarted > kResolveTimeout) {
      resolver_.cancel(t->resolveId);
      t->resolveId = 0;
      t->nextResolve = now + t->backoff;
      uint64_t suppressed = 0;
      if (errorLog_.allow(&suppressed))
        spdlog::warn("{} collector {}: resolve '{}': no answer within {} s ({} similar suppressed)", label_, t->spec,
                     t->hp.host, kResolveTimeout.count(), suppressed);
    }
    if (t->resolveId == 0 && now >= t->nextResolve) requestResolve(*t, now);
  }
  std::vector<uint64_t> gone;
  for (auto& [id, cp] : conns_) {
    Conn& c = *cp;
    if (c.retired && c.calls.empty()) {
      closeConn(c);
      gone.push_back(id);
      continue;
    }
    if (c.state == Conn::State::kDown) {
      if (!c.retired && now >= c.nextAttempt) startConnect(c, now);
      continue;
    }
    if ((c.state == Conn::State::kConnecting || c.state == Conn::State::kOpen) && now - c.stateSince > kConnectTimeout) {
      failConn(c, c.state == Conn::State::kConnecting ? "connect timed out" : "no HTTP/2 SETTINGS from the server");
      continue;
    }
    if (c.draining && !c.retired && c.calls.empty()) {  // GOAWAY: a fresh connection now
      closeConn(c);
      c.nextAttempt = now;
      requestResolve(*c.target, now);
      continue;
    }
    std::vector<int32_t> overdue;
    for (auto& [stream, k] : c.calls)
      if (now >= k->out->deadline) overdue.push_back(stream);
    for (int32_t stream : overdue) {
      auto it = c.calls.find(stream);
      if (it == c.calls.end()) continue;
      // All written and unanswered: the collector may have processed it (its answer is just late).
      const bool sent = it->second->endPos != 0 && c.out.written() >= it->second->endPos;
      if (c.session) nghttp2_submit_rst_stream(c.session, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
      completeCall(c, stream, sent ? Outcome::kUnknown : Outcome::kFailed,
                   sent ? FailReason::kTimeoutAfterSend : FailReason::kTimeout);
    }
    if (c.state == Conn::State::kReady && !c.calls.empty()) {
      if (c.pingOut && now - c.pingSent > opts_.keepaliveTimeout) {
        failConn(c, "keepalive ping unanswered");
        continue;
      }
      if (!c.pingOut && now - c.lastFrame > opts_.keepaliveTime && c.session) {
        nghttp2_submit_ping(c.session, NGHTTP2_FLAG_NONE, nullptr);
        c.pingOut = true;
        c.pingSent = now;
      }
    }
    if (!overdue.empty() || c.pingSent == now) pump(c);
  }
  for (uint64_t id : gone) conns_.erase(id);
}

Clock::time_point H2GrpcTransport::nextTimer(Clock::time_point now) const {
  Clock::time_point next = now + std::chrono::milliseconds(100);
  if (pause_.until() > now) next = std::min(next, pause_.until());
  for (const auto& [id, c] : conns_) {
    if (c->state == Conn::State::kDown && !c->retired) next = std::min(next, c->nextAttempt);
    for (const auto& [stream, k] : c->calls) next = std::min(next, k->out->deadline);
  }
  return next;
}

void H2GrpcTransport::abortAll(Clock::time_point now) {
  for (auto& [id, cp] : conns_) {
    Conn& c = *cp;
    std::vector<std::pair<std::unique_ptr<Call>, bool>> left;
    for (auto& [stream, k] : c.calls) {
      const bool sent = k->endPos != 0 && c.out.written() >= k->endPos;
      left.emplace_back(std::move(k), sent);
    }
    c.calls.clear();
    closeConn(c);
    c.retired = true;
    for (auto& [k, sent] : left) {
      // Fully written but unanswered: the collector may still process it, so it is not a plain drop.
      --inflight_;
      sink_->complete(std::move(k->out), Outcome::kFailed,
                      sent ? FailReason::kConnectionLostAfterSend : FailReason::kShutdown, now);
    }
  }
}

}  // namespace jagent::report
