#include "http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "common/unique_fd.h"
#include "http/http_wire.h"
#include "metrics/metrics.h"

namespace jagent::http {

// ---- the server ----------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

// Reasons a connection is closed by the server rather than by the client: the `reason` label of
// jaeger_agent_http_connections_rejected_total (docs/http.md, deploy/README.md).
enum class Reject : uint8_t {
  kEvicted,         // the table was full: the connection waiting longest for its head was closed
  kRefused,         // the table was full of connections in handlers or writing: the new one closed
  kHeaderTimeout,   // the request head did not arrive within readTimeout
  kHeaderTooLarge,  // the request head exceeded maxHeaderBytes (answered 431)
  kBadRequest,      // a malformed request line or header (answered 400)
  kBodyTooLarge,    // a declared body above maxRequestBytes or of unknown length (answered, never read)
  kQueueFull,       // every worker busy and the queue full (answered 503)
  kWriteTimeout,    // the client did not take the response within writeTimeout
  kCount
};
constexpr const char* kRejectNames[] = {"evicted",     "refused",        "header_timeout", "header_too_large",
                                        "bad_request", "body_too_large", "queue_full",     "write_timeout"};
static_assert(std::size(kRejectNames) == static_cast<size_t>(Reject::kCount));

constexpr size_t kReadChunk = 4096;
constexpr size_t kDrainMaxBytes = 256 * 1024;  // unread request bytes discarded before a close
constexpr auto kDrainTime = std::chrono::milliseconds(500);
constexpr auto kTick = std::chrono::milliseconds(20);

}  // namespace

struct HttpServer::Impl {
  enum class State : uint8_t { kHead, kIdle, kBusy, kWrite, kDrain };
  struct Conn {
    uint64_t id = 0;
    UniqueFd fd;
    State state = State::kHead;
    std::string in;  // bytes of the request head being read (at most maxHeaderBytes + kReadChunk)
    std::string out;
    size_t outOff = 0;
    bool closeAfterWrite = false;
    size_t served = 0;
    size_t drained = 0;
    Clock::time_point deadline;
    Clock::time_point waitingSince;  // for eviction: oldest waiting head goes first
  };
  struct Job {
    int fd;
    uint64_t id;
    size_t served;
    RequestHead req;
  };
  struct Done {
    int fd;
    uint64_t id;
    std::string bytes;
    bool keepAlive;
  };

  HttpServer& server;
  const Options& opts;
  UniqueFd listenFd, epollFd, wakeFd;
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  uint64_t nextId = 1;
  bool listenPaused = false;
  Clock::time_point resumeListenAt;
  std::array<metrics::Counter*, static_cast<size_t>(Reject::kCount)> rejects{};

  std::thread loopThread;
  std::atomic<bool> stopping{false};
  std::vector<std::thread> workers;
  std::mutex jobsMutex;
  std::condition_variable jobsCv;
  std::deque<Job> jobs;
  bool workersStop = false;
  std::mutex doneMutex;
  std::vector<Done> done;

  Impl(HttpServer& s, const Options& o) : server(s), opts(o) {
    if (opts.registry) {
      for (size_t i = 0; i < rejects.size(); ++i)
        rejects[i] = &opts.registry->counter("jaeger_agent_http_connections_rejected",
                                             "HTTP connections closed by the agent, by server and reason",
                                             {{"server", opts.name}, {"reason", kRejectNames[i]}});
    }
  }

  void count(Reject r) {
    if (auto* c = rejects[static_cast<size_t>(r)]) c->inc();
  }

  void watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    ::epoll_ctl(epollFd.get(), op, fd, &ev);
  }

  void close(Conn& c) {
    ::epoll_ctl(epollFd.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    conns.erase(c.fd.get());  // destroys c (UniqueFd closes)
  }

  // Answers without a worker (400/431/503) and closes after the write.
  void answerAndClose(Conn& c, int status, const RequestHead* req) {
    HttpResponse r;
    r.status = status;
    r.contentType.clear();
    startWrite(c, formatResponse(r, req, false, static_cast<int>(opts.keepAliveIdle.count()), opts.keepAliveMaxRequests),
               false);
  }

  void startWrite(Conn& c, std::string bytes, bool keepAlive) {
    c.out = std::move(bytes);
    c.outOff = 0;
    c.closeAfterWrite = !keepAlive;
    c.state = State::kWrite;
    c.deadline = Clock::now() + opts.writeTimeout;
    watch(c.fd.get(), EPOLLOUT, EPOLL_CTL_MOD);
    flush(c);
  }

  void flush(Conn& c) {
    while (c.outOff < c.out.size()) {
      const ssize_t n = ::send(c.fd.get(), c.out.data() + c.outOff, c.out.size() - c.outOff, MSG_NOSIGNAL);
      if (n > 0) {
        c.outOff += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT will call again
      if (opts.onWriteError) opts.onWriteError();
      close(c);
      return;
    }
    std::string().swap(c.out);
    if (c.closeAfterWrite) {
      // Half-close and discard what the client still sends (an unread body), so the kernel does
      // not answer it with a reset that could destroy the response before it is read.
      ::shutdown(c.fd.get(), SHUT_WR);
      c.state = State::kDrain;
      c.in.clear();
      c.deadline = Clock::now() + kDrainTime;
      watch(c.fd.get(), EPOLLIN, EPOLL_CTL_MOD);
      return;
    }
    ++c.served;
    c.state = State::kIdle;
    c.waitingSince = Clock::now();
    c.deadline = c.waitingSince + opts.keepAliveIdle;
    watch(c.fd.get(), EPOLLIN, EPOLL_CTL_MOD);
    if (!c.in.empty()) {  // a pipelined request already arrived
      c.state = State::kHead;
      c.deadline = Clock::now() + opts.readTimeout;
      parse(c);
    }
  }

  void onReadable(Conn& c) {
    char buf[kReadChunk];
    for (;;) {
      const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        if (c.state == State::kDrain) {
          c.drained += static_cast<size_t>(n);
          if (c.drained > kDrainMaxBytes) return close(c);
          continue;
        }
        if (c.state == State::kIdle) {
          c.state = State::kHead;
          c.deadline = Clock::now() + opts.readTimeout;
        }
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > opts.maxHeaderBytes + 4) break;  // parse() decides; read no more
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return close(c);  // EOF or error: the client is gone (or done, when draining)
    }
    if (c.state == State::kHead) parse(c);
  }

  void parse(Conn& c) {
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos || end > opts.maxHeaderBytes) {
      if (c.in.size() > opts.maxHeaderBytes) {
        count(Reject::kHeaderTooLarge);
        c.in.clear();
        answerAndClose(c, 431, nullptr);
      }
      return;
    }
    Job job{c.fd.get(), c.id, c.served, {}};
    if (parseRequestHead(std::string_view(c.in).substr(0, end), job.req) != HeadStatus::kOk) {
      count(Reject::kBadRequest);
      c.in.clear();
      return answerAndClose(c, 400, nullptr);
    }
    if (job.req.hasBody) {
      // Bodies are never read (no route takes one): the answer comes first, then the connection
      // closes, so what follows the head cannot be mistaken for the next request.
      if (!job.req.contentLength || *job.req.contentLength > opts.maxRequestBytes) count(Reject::kBodyTooLarge);
      c.in.clear();
    } else {
      c.in.erase(0, end + 4);
    }
    {
      std::lock_guard lock(jobsMutex);
      if (jobs.size() >= opts.maxQueuedRequests) {
        count(Reject::kQueueFull);
        c.in.clear();
        HttpResponse r = goHttpError(503, "server busy");
        startWrite(c,
                   formatResponse(r, &job.req, false, static_cast<int>(opts.keepAliveIdle.count()),
                                  opts.keepAliveMaxRequests),
                   false);
        return;
      }
      jobs.push_back(std::move(job));
    }
    jobsCv.notify_one();
    c.state = State::kBusy;
    watch(c.fd.get(), 0, EPOLL_CTL_MOD);
  }

  void acceptAll() {
    for (;;) {
      const int fd = ::accept4(listenFd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop accepting for a moment instead of spinning on the backlog.
          spdlog::warn("{} server: accept: {}; pausing accepts for 100 ms", opts.name, std::strerror(errno));
          ::epoll_ctl(epollFd.get(), EPOLL_CTL_DEL, listenFd.get(), nullptr);
          listenPaused = true;
          resumeListenAt = Clock::now() + std::chrono::milliseconds(100);
        }
        return;
      }
      if (conns.size() >= opts.maxConnections && !evictOne()) {
        count(Reject::kRefused);
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Conn>();
      c->id = nextId++;
      c->fd.reset(fd);
      c->waitingSince = Clock::now();
      c->deadline = c->waitingSince + opts.readTimeout;
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
      conns.emplace(fd, std::move(c));
    }
  }

  // Closes the connection that has waited longest for a request head (or idles longest between
  // requests). False when every connection is in a handler or writing.
  bool evictOne() {
    Conn* victim = nullptr;
    for (auto& [fd, c] : conns) {
      if (c->state != State::kHead && c->state != State::kIdle && c->state != State::kDrain) continue;
      if (!victim || c->waitingSince < victim->waitingSince) victim = c.get();
    }
    if (!victim) return false;
    if (victim->state != State::kDrain) count(Reject::kEvicted);
    close(*victim);
    return true;
  }

  void sweep() {
    const auto now = Clock::now();
    std::vector<int> expired;
    for (auto& [fd, c] : conns)
      if (c->state != State::kBusy && now >= c->deadline) expired.push_back(fd);
    for (int fd : expired) {
      Conn& c = *conns.at(fd);
      if (c.state == State::kHead) count(Reject::kHeaderTimeout);
      if (c.state == State::kWrite) {
        count(Reject::kWriteTimeout);
        if (opts.onWriteError) opts.onWriteError();
      }
      close(c);
    }
    if (listenPaused && now >= resumeListenAt) {
      listenPaused = false;
      watch(listenFd.get(), EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void takeDone() {
    uint64_t v;
    while (::read(wakeFd.get(), &v, sizeof v) > 0) {
    }
    std::vector<Done> batch;
    {
      std::lock_guard lock(doneMutex);
      batch.swap(done);
    }
    for (Done& d : batch) {
      auto it = conns.find(d.fd);
      if (it == conns.end() || it->second->id != d.id) continue;  // closed meanwhile
      startWrite(*it->second, std::move(d.bytes), d.keepAlive);
    }
  }

  void loop() {
    const std::string tname = fmt::format("http-{}", opts.name).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    std::array<epoll_event, 64> evs;
    auto nextSweep = Clock::now() + kTick;
    while (!stopping.load(std::memory_order_relaxed)) {
      const int n = ::epoll_wait(epollFd.get(), evs.data(), static_cast<int>(evs.size()),
                                 static_cast<int>(kTick.count()));
      for (int i = 0; i < n; ++i) {
        const int fd = evs[static_cast<size_t>(i)].data.fd;
        if (fd == listenFd.get()) {
          acceptAll();
          continue;
        }
        if (fd == wakeFd.get()) {
          takeDone();
          continue;
        }
        auto it = conns.find(fd);
        if (it == conns.end()) continue;
        Conn& c = *it->second;
        const uint32_t e = evs[static_cast<size_t>(i)].events;
        if (c.state == State::kWrite && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
          flush(c);
        } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          onReadable(c);
        }
      }
      if (Clock::now() >= nextSweep) {
        sweep();
        nextSweep = Clock::now() + kTick;
      }
    }
    conns.clear();
    listenFd.reset();
  }

  void work() {
    const std::string tname = fmt::format("http-{}-w", opts.name).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    for (;;) {
      Job job;
      {
        std::unique_lock lock(jobsMutex);
        jobsCv.wait(lock, [&] { return workersStop || !jobs.empty(); });
        if (jobs.empty()) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      const HttpResponse r = server.dispatch(job.req.method, job.req.path, job.req.rawQuery());
      const bool keepAlive = !job.req.connectionClose && !job.req.hasBody && job.served + 1 < opts.keepAliveMaxRequests;
      Done d{job.fd, job.id,
             formatResponse(r, &job.req, keepAlive, static_cast<int>(opts.keepAliveIdle.count()),
                            opts.keepAliveMaxRequests),
             keepAlive};
      {
        std::lock_guard lock(doneMutex);
        done.push_back(std::move(d));
      }
      const uint64_t one = 1;
      [[maybe_unused]] const ssize_t w = ::write(wakeFd.get(), &one, sizeof one);
    }
  }
};

HttpServer::HttpServer(Options opts, std::map<std::string, Handler> routes)
    : opts_(std::move(opts)), routes_(std::move(routes)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::create(Options opts, std::map<std::string, Handler> routes) {
  const std::string flagValue = opts.hostPort;
  auto hp = parseHostPort(flagValue);
  if (!hp) return withContext(hp.error(), "{} server", opts.name);
  // Same rules as the UDP ports: empty host = 0.0.0.0; what we log is what was bound.
  auto addr = resolve(*hp, SOCK_STREAM);
  if (!addr) return withContext(addr.error(), "{} server", opts.name);
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src = addr->family() == AF_INET6
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(addr->get())->sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(addr->get())->sin_addr);
  ::inet_ntop(addr->family(), src, buf, sizeof buf);

  std::unique_ptr<HttpServer> s(new HttpServer(std::move(opts), std::move(routes)));
  s->host_ = buf;
  s->impl_ = std::make_unique<Impl>(*s, s->opts_);
  Impl& im = *s->impl_;
  const std::string what = fmt::format("{} server: bind {}", s->opts_.name, flagValue);
  im.listenFd.reset(::socket(addr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!im.listenFd) return errnoError(what);
  // SO_REUSEADDR only (not SO_REUSEPORT, which would let a second process bind the same port and
  // silently take half of the requests): a restart can rebind over TIME_WAIT.
  int yes = 1;
  ::setsockopt(im.listenFd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(im.listenFd.get(), addr->get(), addr->len) != 0 || ::listen(im.listenFd.get(), 512) != 0)
    return errnoError(what);
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(im.listenFd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
  s->port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  im.epollFd.reset(::epoll_create1(EPOLL_CLOEXEC));
  im.wakeFd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!im.epollFd || !im.wakeFd) return errnoError(fmt::format("{} server: epoll", s->opts_.name));
  im.watch(im.listenFd.get(), EPOLLIN, EPOLL_CTL_ADD);
  im.watch(im.wakeFd.get(), EPOLLIN, EPOLL_CTL_ADD);
  return s;
}

HttpResponse HttpServer::dispatch(const std::string& method, const std::string& path, std::string_view rawQuery) const {
  auto route = routes_.find(path);
  HttpResponse out;
  if (route == routes_.end()) return goHttpError(404, "404 page not found");
  if (method != "GET") {
    out.status = 405;  // gorilla/mux answers a method mismatch with an empty 405
    out.contentType.clear();
    out.headers.emplace_back("Allow", "GET");
    return out;
  }
  HttpRequest hr;
  hr.path = path;
  if (!rawQuery.empty()) hr.query = parseGoQuery(rawQuery);
  try {
    return route->second(hr);
  } catch (const std::exception& e) {  // a handler bug must not take the server down
    spdlog::error("{} server: handler for {} threw: {}", opts_.name, path, e.what());
    return goHttpError(500, "internal error");
  }
}

void HttpServer::start() {
  if (!impl_ || started_.exchange(true)) return;
  Impl& im = *impl_;
  for (int i = 0; i < std::max(1, opts_.threads); ++i) im.workers.emplace_back([&im] { im.work(); });
  im.loopThread = std::thread([&im] { im.loop(); });
}

void HttpServer::stop() {
  if (!impl_) return;
  Impl& im = *impl_;
  if (im.loopThread.joinable()) {
    im.stopping.store(true);
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(im.wakeFd.get(), &one, sizeof one);
    im.loopThread.join();
  }
  {
    std::lock_guard lock(im.jobsMutex);
    im.workersStop = true;
    im.jobs.clear();
  }
  im.jobsCv.notify_all();
  for (auto& t : im.workers)
    if (t.joinable()) t.join();
  im.workers.clear();
  im.listenFd.reset();  // never started: release the port too
}

}  // namespace jagent::http
