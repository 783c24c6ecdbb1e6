#include "report/socket_poller.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace jagent::report {

Result<void> SocketPoller::init(int resolverFd) {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return errnoError("epoll_create1");
  wakeFd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeFd_) return errnoError("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeFd_.get(), &ev) != 0) return errnoError("epoll_ctl eventfd");
  if (resolverFd >= 0) {
    ev.data.u64 = kResolverTag;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, resolverFd, &ev) != 0) return errnoError("epoll_ctl resolver");
  }
  return {};
}

void SocketPoller::wake() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_.get(), &one, sizeof one);
}

void SocketPoller::drainWake() noexcept {
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(wakeFd_.get(), &v, sizeof v);
}

void SocketPoller::add(int sock, uint64_t tag, bool writable) {
  epoll_event ev{};
  ev.events = EPOLLIN | (writable ? EPOLLOUT : 0u);
  ev.data.u64 = tag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, sock, &ev);
}

void SocketPoller::modify(int sock, uint64_t tag, bool writable) {
  epoll_event ev{};
  ev.events = EPOLLIN | (writable ? EPOLLOUT : 0u);
  ev.data.u64 = tag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, sock, &ev);
}

void SocketPoller::remove(int sock) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, sock, nullptr); }

}  // namespace jagent::report
