// XdpProgram: owns the agent's XDP program (bpf/agent.bpf.c, embedded in the binary as a
// bpftool skeleton), its attachments to interfaces and its pinned maps.
//
// Two ways to get one:
//   attach(): loads through libxdp and attaches to every interface in the options (through
//             libxdp's multi-program dispatcher when bpffs is there, so other XDP programs keep
//             working), replacing a stale copy left by a crashed agent, and pins the maps under
//             pinPath. The destructor detaches and unpins. This is the agent's path.
//   load():   loads as a plain XDP program attached nowhere (BPF_PROG_TEST_RUN in tests, the
//             parser in benchmarks). Pins too when pinPath is set.
//
// Interfaces come and go after that: addInterface() attaches to one more (a pod interface that
// appeared) in a free slot, removeInterface() releases it; the others are not disturbed (the
// program reads its interfaces from the `ifaces` map, not from load-time constants).
// The addresses our sockets receive on (local_addrs) are set by the caller (XdpDatapath, from
// netlink address events); until one is set, every span datagram is `not_ours` and passed.
//
// Ownership: map and program fds belong to the skeleton; accessors hand them out as plain ints
// that callers must not close or keep past the XdpProgram's lifetime.
// Threading: create and destroy on the control thread. addInterface/removeInterface/interfaces()
// and the address setters must be serialised by the caller (XdpDatapath holds a mutex); the map
// readers are thread-safe (one syscall per map read). userStats() is an mmap of the user_stats
// map: write it from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent_abi.h"
#include "common/result.h"

struct agent_bpf;     // bpftool skeleton of bpf/agent.bpf.c (agent_bpf.skel.h)
struct xdp_program;   // libxdp

namespace jagent::receive {

// A movable owner of a bpftool C++ skeleton (bpftool >= 7.0 emits T::open/load/destroy).
template <typename T>
class Skeleton {
 public:
  Skeleton() = default;
  explicit Skeleton(T* skel) noexcept : skel_(skel) {}
  [[nodiscard]] T* get() const noexcept { return skel_.get(); }
  T* operator->() const noexcept { return skel_.get(); }
  explicit operator bool() const noexcept { return skel_ != nullptr; }

 private:
  struct Destroy {
    void operator()(T* s) const noexcept { T::destroy(s); }
  };
  std::unique_ptr<T, Destroy> skel_;
};

enum class XdpMode : uint8_t { kAuto, kNative, kSkb };

[[nodiscard]] Result<XdpMode> parseXdpMode(std::string_view s);  // auto | native | skb
[[nodiscard]] const char* xdpModeName(XdpMode m) noexcept;

struct XdpProgramOptions {
  std::vector<std::string> interfaces;  // steered (AF_XDP) interfaces, names in this network namespace
  std::vector<std::string> countOnly;   // count-and-pass interfaces present at start (pod interfaces)
  uint32_t maxInterfaces = 0;           // interface slots; 0 = as many as listed (no later additions)
  XdpMode mode = XdpMode::kAuto;        // auto: native (driver) where it works, else skb (generic)
  XdpMode countOnlyMode = XdpMode::kSkb;  // for count-only interfaces (see docs/xdp-datapath.md)
  std::string pinPath;                  // bpffs directory for the maps; empty = do not pin
  uint32_t frameSize = 4096;            // UMEM frame size; frames that do not fit are passed
  std::vector<uint16_t> spanPorts;      // host byte order; slot i = processor i
};

class XdpProgram {
 public:
  struct Interface {
    std::string name;
    uint32_t ifindex = 0;
    XdpMode mode = XdpMode::kAuto;  // as attached: kNative or kSkb; kAuto = not attached (load())
    bool dispatcher = false;        // through libxdp's dispatcher (false: legacy single program)
    bool steer = true;              // AF_XDP steering (false: count and pass)
    size_t slot = 0;                // port_stats / xsks_map slot
  };
  // One source_stats entry (address IPv4-mapped for IPv4).
  struct Source {
    agent_source_key key{};
    agent_source_stats stats{};
  };

  [[nodiscard]] static Result<std::unique_ptr<XdpProgram>> attach(const XdpProgramOptions& opts);
  [[nodiscard]] static Result<std::unique_ptr<XdpProgram>> load(const XdpProgramOptions& opts);
  ~XdpProgram();
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;

  // Attached interfaces, in attach order (a removed one leaves the list, its slot is reused).
  [[nodiscard]] const std::vector<Interface>& interfaces() const noexcept { return ifaces_; }
  [[nodiscard]] uint32_t maxInterfaces() const noexcept { return maxIfaces_; }
  // Attaches to one more interface in a free slot (count-only ones in countOnlyMode).
  [[nodiscard]] Result<Interface> addInterface(const std::string& name, uint32_t ifindex, bool steer);
  // Stops counting on it and detaches (unless the link is gone: the kernel dropped the program).
  void removeInterface(uint32_t ifindex, bool linkGone) noexcept;

  // local_addrs: the destination addresses (16 bytes, IPv4-mapped) our span ports receive on.
  [[nodiscard]] Result<void> setLocalAddress(const agent_addr& addr, uint32_t portMask, uint32_t ifindex);
  void removeLocalAddress(const agent_addr& addr) noexcept;
  [[nodiscard]] Result<std::vector<std::pair<agent_addr, agent_local_addr>>> localAddresses() const;

  // source_stats: every entry (at most AGENT_MAX_SOURCES).
  [[nodiscard]] Result<std::vector<Source>> sources() const;
  // source_drops: add to one entry (one writer: the stats thread), and read them all.
  void addSourceDrops(const agent_source_key& key, uint64_t n) noexcept;
  [[nodiscard]] Result<std::vector<std::pair<agent_source_key, agent_source_drops>>> sourceDrops() const;
  [[nodiscard]] const std::vector<uint16_t>& spanPorts() const noexcept { return ports_; }
  [[nodiscard]] const std::string& pinPath() const noexcept { return pinPath_; }
  [[nodiscard]] uint32_t maxFrameLen() const noexcept { return maxFrameLen_; }

  [[nodiscard]] int progFd() const noexcept;
  [[nodiscard]] int xsksMapFd() const noexcept;
  [[nodiscard]] static uint32_t xskKey(size_t ifaceSlot, uint32_t queue) noexcept {
    return static_cast<uint32_t>(ifaceSlot) * AGENT_MAX_RX_QUEUES + queue;
  }

  // Counters summed over all possible CPUs (ifindex/port fields as written at load).
  [[nodiscard]] Result<agent_port_stats> portStats(size_t ifaceSlot, size_t portSlot) const;
  [[nodiscard]] Result<agent_global_stats> globalStats() const;
  // The user_stats map, mmapped (BPF_F_MMAPABLE): updates cost no syscall.
  [[nodiscard]] agent_user_stats* userStats() const noexcept { return userStats_; }

 private:
  struct Attachment;  // one interface; detaches in its destructor
  struct XdpProgramClose {
    void operator()(xdp_program* p) const noexcept;
  };

  XdpProgram();
  [[nodiscard]] static Result<std::unique_ptr<XdpProgram>> open(const XdpProgramOptions& opts);
  [[nodiscard]] Result<void> attachTo(Interface& iface, XdpMode mode);
  [[nodiscard]] Result<void> registerInterface(const Interface& iface);
  [[nodiscard]] Result<void> ensureLoaded();
  [[nodiscard]] Result<void> afterLoad();
  [[nodiscard]] Result<void> pinMaps();
  void unpinMaps() noexcept;

  Skeleton<agent_bpf> skel_;
  std::unique_ptr<xdp_program, XdpProgramClose> xdpProg_;
  std::vector<std::unique_ptr<Attachment>> attachments_;
  std::vector<Interface> ifaces_;
  std::vector<bool> slotUsed_;
  uint32_t maxIfaces_ = 0;
  XdpMode mode_ = XdpMode::kAuto;
  XdpMode countOnlyMode_ = XdpMode::kSkb;
  std::vector<uint16_t> ports_;
  std::string pinPath_;
  std::vector<std::string> pinned_;
  bool createdPinDir_ = false;
  uint32_t maxFrameLen_ = 0;
  agent_user_stats* userStats_ = nullptr;
  size_t userStatsLen_ = 0;
};

// The interface of the default route (IPv4, else IPv6), for --xdp.interfaces=auto.
[[nodiscard]] Result<std::string> defaultRouteInterface();

// Number of rx queues of an interface (ETHTOOL_GCHANNELS, else /sys/class/net/<if>/queues).
[[nodiscard]] Result<uint32_t> rxQueueCount(const std::string& ifname);

}  // namespace jagent::receive
