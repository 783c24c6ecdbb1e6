#include "receive/netlink_watcher.h"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jagent::receive {
namespace {

constexpr size_t kBufferSize = 64 * 1024;  // netlink messages are at most a page; many per read
constexpr int kPollTimeoutMs = 200;        // bound on how late a stop request is noticed

Result<UniqueFd> openRoute(uint32_t groups) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return errnoError("socket(AF_NETLINK, NETLINK_ROUTE)");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return errnoError("bind the rtnetlink socket");
  if (groups) {
    // A burst of pod churn must not overrun us; if it does anyway we re-dump (ENOBUFS).
    const int size = 1 << 20;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return fd;
}

bool parseLink(const nlmsghdr* h, NetLink& out) {
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  out.ifindex = static_cast<uint32_t>(ifi->ifi_index);
  out.name.clear();
  int len = static_cast<int>(IFLA_PAYLOAD(h));
  for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
    if (a->rta_type == IFLA_IFNAME)
      out.name.assign(static_cast<const char*>(RTA_DATA(a)), ::strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
  return out.ifindex != 0;
}

bool parseAddress(const nlmsghdr* h, NetAddress& out) {
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return false;
  out = NetAddress{};
  out.ifindex = ifa->ifa_index;
  out.family = ifa->ifa_family;
  const void* local = nullptr;
  const void* address = nullptr;
  int len = static_cast<int>(IFA_PAYLOAD(h));
  for (const rtattr* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFA_LOCAL) local = RTA_DATA(a);
    else if (a->rta_type == IFA_ADDRESS) address = RTA_DATA(a);
  }
  // IFA_LOCAL, where present, is the interface's own address (IFA_ADDRESS is then the peer of a
  // point-to-point link); otherwise IFA_ADDRESS is ours.
  const void* own = local ? local : address;
  if (!own) return false;
  if (ifa->ifa_family == AF_INET) {
    out.addr[10] = out.addr[11] = 0xff;
    std::memcpy(&out.addr[12], own, 4);
  } else {
    std::memcpy(out.addr.data(), own, 16);
  }
  return true;
}

// Sends one dump request and collects the replies until NLMSG_DONE.
Result<void> dumpOne(int fd, uint16_t type, uint32_t seq, const std::function<void(const nlmsghdr*)>& each) {
  struct {
    nlmsghdr h;
    rtgenmsg g;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = seq;
  req.g.rtgen_family = AF_UNSPEC;
  if (::send(fd, &req, sizeof req, 0) < 0) return errnoError("rtnetlink dump request");
  std::vector<uint8_t> buf(kBufferSize);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoError("rtnetlink dump");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) return {};
        return sysError(-e->error, "rtnetlink dump");
      }
      each(h);
    }
  }
}

}  // namespace

Result<std::pair<std::vector<NetLink>, std::vector<NetAddress>>> NetlinkWatcher::dump() {
  auto fd = openRoute(0);
  if (!fd) return Unexpected(fd.error());
  std::vector<NetLink> links;
  std::vector<NetAddress> addrs;
  auto ok = dumpOne(fd->get(), RTM_GETLINK, 1, [&](const nlmsghdr* h) {
    NetLink l;
    if (h->nlmsg_type == RTM_NEWLINK && parseLink(h, l)) links.push_back(std::move(l));
  });
  if (!ok) return Unexpected(ok.error());
  ok = dumpOne(fd->get(), RTM_GETADDR, 2, [&](const nlmsghdr* h) {
    NetAddress a;
    if (h->nlmsg_type == RTM_NEWADDR && parseAddress(h, a)) addrs.push_back(a);
  });
  if (!ok) return Unexpected(ok.error());
  return std::make_pair(std::move(links), std::move(addrs));
}

Result<std::unique_ptr<NetlinkWatcher>> NetlinkWatcher::create(Handlers handlers) {
  std::unique_ptr<NetlinkWatcher> w(new NetlinkWatcher(std::move(handlers)));
  auto events = openRoute(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
  if (!events) return Unexpected(events.error());
  w->events_ = std::move(*events);
  w->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!w->wake_) return errnoError("eventfd");
  auto state = dump();  // after subscribing: nothing in between is lost
  if (!state) return Unexpected(state.error());
  w->handlers_.snapshot(state->first, state->second);
  return w;
}

NetlinkWatcher::~NetlinkWatcher() { stop(); }

void NetlinkWatcher::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "xdp-netlink");
    run();
  });
}

void NetlinkWatcher::stop() {
  stop_.store(true);
  if (wake_) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

void NetlinkWatcher::run() {
  std::vector<uint8_t> buf(kBufferSize);
  while (!stop_.load()) {
    pollfd fds[2] = {{events_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, kPollTimeoutMs) <= 0) continue;
    if (fds[1].revents) break;
    for (;;) {
      const ssize_t n = ::recv(events_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n > 0) {
        handleBuffer(buf.data(), static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == ENOBUFS) {
        // The kernel dropped events for us: take the whole state again.
        spdlog::warn("XDP: netlink events lost (socket buffer overrun); re-reading links and addresses");
        if (auto state = dump()) handlers_.snapshot(state->first, state->second);
        continue;
      }
      break;  // EAGAIN (drained), or an error we retry on the next poll
    }
  }
}

void NetlinkWatcher::handleBuffer(const uint8_t* buf, size_t len) {
  int left = static_cast<int>(len);
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    switch (h->nlmsg_type) {
      case RTM_NEWLINK: {
        NetLink l;
        if (parseLink(h, l) && handlers_.linkAdded) handlers_.linkAdded(l);
        break;
      }
      case RTM_DELLINK: {
        NetLink l;
        if (parseLink(h, l) && handlers_.linkRemoved) handlers_.linkRemoved(l.ifindex);
        break;
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        NetAddress a;
        if (!parseAddress(h, a)) break;
        if (h->nlmsg_type == RTM_NEWADDR && handlers_.addressAdded) handlers_.addressAdded(a);
        if (h->nlmsg_type == RTM_DELADDR && handlers_.addressRemoved) handlers_.addressRemoved(a);
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace jagent::receive
