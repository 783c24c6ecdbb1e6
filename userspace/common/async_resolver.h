// AsyncResolver: host-name resolution off the caller's thread (issue #11).
//
// Why: getaddrinfo blocks for as long as the DNS server takes (glibc: `timeout` x `attempts`
// per server, 10 s and more by default, forever in effect for a resolver that never answers).
// The TChannel reporter's single I/O thread resolved collector names at every reconnect, so one
// slow name stalled every peer's sends, deadlines and keepalives. Here lookups run on a few
// resolver threads; the caller submits and later takes the results, never blocking.
//
// Semantics:
//   * submit() never blocks. Numeric hosts (IPv4/IPv6 literals) and the empty host are resolved
//     inline (no DNS involved), so they complete even while a name lookup hangs.
//   * Results are picked up with take(); eventFd() becomes readable when results are waiting,
//     so an epoll loop can wait on it (level-triggered until take() empties the queue).
//   * Bounded: at most maxPending lookups queued or running; beyond it submit() completes at once
//     with an error. At most `threads` lookups run at a time (one hung name blocks only its
//     thread). Results of the same rules as common/net.h resolve() (IPv4 preferred).
//   * cancel(id) forgets a lookup (its result is dropped when it comes).
//
// Ownership/RAII: owns its threads and the eventfd. The destructor stops the threads; a lookup
// still inside getaddrinfo cannot be interrupted, so its thread is detached and only touches
// state it shares (shared_ptr) with the resolver — the destructor never waits for DNS.
// Threading: submit/take/cancel from one owner thread (any thread, but not concurrently).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/net.h"
#include "common/result.h"

namespace jagent {

class AsyncResolver {
 public:
  struct Resolution {
    uint64_t id = 0;
    Result<SockAddr> addr;     // the first of `all`
    std::vector<SockAddr> all;  // every address, IPv4 first (common/net.h resolveAll)
  };

  explicit AsyncResolver(size_t threads = 2, size_t maxPending = 64);
  ~AsyncResolver();
  AsyncResolver(const AsyncResolver&) = delete;
  AsyncResolver& operator=(const AsyncResolver&) = delete;

  // Starts resolving `hp`; the id (never 0) names the result in take().
  uint64_t submit(const HostPort& hp, int socktype);
  void cancel(uint64_t id);
  // Completed lookups (not cancelled), oldest first. Never blocks.
  [[nodiscard]] std::vector<Resolution> take();
  // Readable while results are waiting; owned by the resolver.
  [[nodiscard]] int eventFd() const noexcept;
  // Lookups submitted and not yet taken or cancelled.
  [[nodiscard]] size_t pending() const noexcept;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace jagent
