// SocketPoller: the epoll instance a socket transport (TChannel, native gRPC, native OTLP/HTTP)
// offers as its pollFd(), so that a shard's io_uring can wait on every connection at once. It
// owns the epoll fd and a wake-up eventfd, and registers an AsyncResolver's eventfd; sockets are
// registered under a transport-chosen 64-bit tag (a peer or connection index).
//
// Ownership/RAII: owns the epoll fd and the eventfd; the sockets stay their owners'.
// Threading: wake() from any thread; everything else on the transport's I/O thread.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "common/result.h"
#include "common/unique_fd.h"

namespace jagent::report {

class SocketPoller {
 public:
  // Creates the epoll instance and the eventfd, and registers `resolverFd` (-1: none).
  [[nodiscard]] Result<void> init(int resolverFd);
  [[nodiscard]] int fd() const noexcept { return epoll_.get(); }
  // Any thread: makes a wait() in progress (or the next one) return.
  void wake() noexcept;

  // Level-triggered interest in `sock`: readable always, writable when asked.
  void add(int sock, uint64_t tag, bool writable);
  void modify(int sock, uint64_t tag, bool writable);
  void remove(int sock);

  // Waits up to `timeoutMs` (0: just look). Consumes wake-ups itself; calls onResolver() when the
  // resolver has results, and onSocket(tag, epoll events) for each socket that is ready.
  template <class OnResolver, class OnSocket>
  void wait(int timeoutMs, OnResolver&& onResolver, OnSocket&& onSocket) {
    epoll_event events[16];
    const int n = ::epoll_wait(epoll_.get(), events, 16, timeoutMs);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) drainWake();
      else if (tag == kResolverTag) onResolver();
      else onSocket(tag, events[i].events);
    }
  }

 private:
  static constexpr uint64_t kWakeTag = ~uint64_t{0};
  static constexpr uint64_t kResolverTag = ~uint64_t{0} - 1;
  void drainWake() noexcept;
  UniqueFd epoll_;
  UniqueFd wakeFd_;
};

}  // namespace jagent::report
