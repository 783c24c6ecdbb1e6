#include "common/async_resolver.h"

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "common/unique_fd.h"

namespace jagent {

struct AsyncResolver::Shared {
  struct Request {
    uint64_t id;
    HostPort hp;
    int socktype;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Request> queue;
  std::deque<Resolution> done;
  std::unordered_set<uint64_t> live;  // submitted, not taken or cancelled
  bool stop = false;
  UniqueFd event;
  uint64_t nextId = 1;
  size_t maxPending = 0;

  void complete(uint64_t id, Result<std::vector<SockAddr>> r) {
    {
      std::lock_guard lock(mu);
      if (!live.count(id)) return;  // cancelled
      Resolution res;
      res.id = id;
      if (r) {
        res.addr = r->front();
        res.all = std::move(*r);
      } else {
        res.addr = Unexpected(r.error());
      }
      done.push_back(std::move(res));
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(event.get(), &one, sizeof one);
  }

  static void work(const std::shared_ptr<Shared>& self) {
    for (;;) {
      Request req;
      {
        std::unique_lock lock(self->mu);
        self->cv.wait(lock, [&] { return self->stop || !self->queue.empty(); });
        if (self->stop) return;
        req = std::move(self->queue.front());
        self->queue.pop_front();
      }
      self->complete(req.id, resolveAll(req.hp, req.socktype));  // may block for as long as DNS takes
    }
  }
};

namespace {

// IPv4/IPv6 literals and the empty host: no DNS, so resolved inline.
bool resolvesWithoutDns(const HostPort& hp) {
  if (hp.host.empty()) return true;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), nullptr, &hints, &res);
  if (res) ::freeaddrinfo(res);
  return rc == 0;
}

}  // namespace

AsyncResolver::AsyncResolver(size_t threads, size_t maxPending) : shared_(std::make_shared<Shared>()) {
  shared_->event.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  shared_->maxPending = maxPending;
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) {
    // Detached: each thread holds the shared state; see the destructor.
    std::thread([s = shared_] {
      ::pthread_setname_np(::pthread_self(), "resolver");
      Shared::work(s);
    }).detach();
  }
}

AsyncResolver::~AsyncResolver() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stop = true;
    shared_->queue.clear();
    shared_->live.clear();
  }
  shared_->cv.notify_all();
  // Idle threads exit at once; one inside getaddrinfo exits when it returns, touching only the
  // shared state it co-owns (its result is dropped: nothing is live).
}

uint64_t AsyncResolver::submit(const HostPort& hp, int socktype) {
  Shared& s = *shared_;
  uint64_t id;
  bool full;
  {
    std::lock_guard lock(s.mu);
    id = s.nextId++;
    full = s.live.size() >= s.maxPending;
    s.live.insert(id);
    if (!full && !resolvesWithoutDns(hp)) {
      s.queue.push_back({id, hp, socktype});
      s.cv.notify_one();
      return id;
    }
  }
  if (full) {
    s.complete(id, Unexpected(Error{std::make_error_code(std::errc::resource_unavailable_try_again),
                                    fmt::format("resolve '{}': too many lookups pending", hp.host)}));
  } else {
    s.complete(id, resolveAll(hp, socktype));  // numeric: getaddrinfo answers without the network
  }
  return id;
}

void AsyncResolver::cancel(uint64_t id) {
  std::lock_guard lock(shared_->mu);
  shared_->live.erase(id);
  for (auto it = shared_->queue.begin(); it != shared_->queue.end(); ++it)
    if (it->id == id) {
      shared_->queue.erase(it);
      break;
    }
  for (auto it = shared_->done.begin(); it != shared_->done.end(); ++it)
    if (it->id == id) {
      shared_->done.erase(it);
      break;
    }
}

std::vector<AsyncResolver::Resolution> AsyncResolver::take() {
  uint64_t v;
  while (::read(shared_->event.get(), &v, sizeof v) > 0) {
  }
  std::vector<Resolution> out;
  std::lock_guard lock(shared_->mu);
  for (auto& r : shared_->done) {
    shared_->live.erase(r.id);
    out.push_back(std::move(r));
  }
  shared_->done.clear();
  return out;
}

int AsyncResolver::eventFd() const noexcept { return shared_->event.get(); }

size_t AsyncResolver::pending() const noexcept {
  std::lock_guard lock(shared_->mu);
  return shared_->live.size();
}

}  // namespace jagent
