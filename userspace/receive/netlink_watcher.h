// NetlinkWatcher: the links and addresses of this network namespace, as they change.
//
// Why: the XDP program must know which destination addresses are ours (local_addrs) and must
// follow pod interfaces that appear and disappear (veth host ends created by the CNI). Both
// come from rtnetlink: RTM_NEWLINK/RTM_DELLINK and RTM_NEWADDR/RTM_DELADDR, IPv4 and IPv6.
//
// Protocol: create() subscribes first and then dumps links and addresses on a second socket, so
// that no change between the two is lost (a change seen twice is harmless: handlers are
// idempotent). The dump goes to Handlers::snapshot, which the caller reconciles against what it
// has. When the kernel overruns our socket buffer (ENOBUFS: events were lost), the watcher dumps
// again and calls snapshot again, so deletions missed in the overrun are still noticed.
//
// Ownership: owns both netlink sockets and an eventfd (RAII). Threading: create() calls
// snapshot on the calling thread; after start(), every handler runs on the watcher's own thread
// (one at a time). stop() joins it; the destructor stops.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace jagent::receive {

struct NetLink {
  uint32_t ifindex = 0;
  std::string name;
};

struct NetAddress {
  uint32_t ifindex = 0;
  int family = 0;                  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d)
  bool operator==(const NetAddress&) const = default;
};

class NetlinkWatcher {
 public:
  struct Handlers {
    std::function<void(const std::vector<NetLink>&, const std::vector<NetAddress>&)> snapshot;
    std::function<void(const NetLink&)> linkAdded;    // new, or changed (renamed): check the name
    std::function<void(uint32_t ifindex)> linkRemoved;
    std::function<void(const NetAddress&)> addressAdded;
    std::function<void(const NetAddress&)> addressRemoved;
  };

  [[nodiscard]] static Result<std::unique_ptr<NetlinkWatcher>> create(Handlers handlers);
  ~NetlinkWatcher();
  NetlinkWatcher(const NetlinkWatcher&) = delete;
  NetlinkWatcher& operator=(const NetlinkWatcher&) = delete;

  void start();
  void stop();

  // One dump of links and addresses (also used by create()).
  [[nodiscard]] static Result<std::pair<std::vector<NetLink>, std::vector<NetAddress>>> dump();

 private:
  explicit NetlinkWatcher(Handlers h) : handlers_(std::move(h)) {}
  void run();
  void handleBuffer(const uint8_t* buf, size_t len);

  Handlers handlers_;
  UniqueFd events_;  // NETLINK_ROUTE, subscribed to link and address groups
  UniqueFd wake_;    // eventfd: stop
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jagent::receive
