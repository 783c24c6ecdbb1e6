// Shared by the BPF test files: the span ports, the verdict/counter table machinery around
// BPF_PROG_TEST_RUN, and an AF_XDP receiver on lo. Test-only; everything inline.
#pragma once

#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "agent_abi.h"
#include "metrics/metrics.h"
#include "packet_builder.h"
#include "receive/source_drop_tally.h"
#include "receive/xdp_program.h"
#include "receive/xsk_receiver.h"

namespace jagent::testing {

using jagent::receive::XdpProgram;
using jagent::receive::XdpProgramOptions;
using jagent::testing::PacketBuilder;

constexpr uint16_t kZipkin = 5775, kCompact = 6831, kBinary = 6832;
inline const std::vector<uint16_t> kPorts = {kZipkin, kCompact, kBinary};
constexpr uint32_t kFrameSize = 2048;  // max_frame_len = 2048 - XDP_PACKET_HEADROOM = 1792
constexpr uint32_t kMaxFrame = kFrameSize - XDP_PACKET_HEADROOM;
constexpr size_t kUdp4Overhead = 14 + 20 + 8;  // Ethernet + IPv4 + UDP headers

enum class Want {
  kRedirected,      // port: redirected (XDP_REDIRECT)
  kPassNoSocket,    // port: pass_no_socket
  kPassFragment,    // port: pass_fragment
  kPassTooBig,      // port: pass_too_big
  kPortParseError,  // port: parse_error
  kNotOurs,         // port: not_ours (destination is not one of our addresses)
  kPassUnsteered,   // port: pass_unsteered (count-only interface)
  kParseError,      // global: parse_error
  kLaterFragment,   // global: later_fragment
  kOther,           // global: other
};

struct Case {
  std::string name;
  std::vector<uint8_t> frame;
  Want want;
  uint16_t port = 0;  // for the per-port outcomes
};

inline size_t slotOf(uint16_t port) {
  for (size_t i = 0; i < kPorts.size(); ++i)
    if (kPorts[i] == port) return i;
  return kPorts.size();
}

inline std::vector<uint8_t> truncated(std::vector<uint8_t> f, size_t len) {
  f.resize(len);
  return f;
}

inline std::vector<uint8_t> padded(std::vector<uint8_t> f, size_t len) {
  f.resize(len, 0);
  return f;
}


struct Snapshot {
  std::vector<agent_port_stats> ports;
  agent_global_stats global{};
};

inline Snapshot snapshot(const XdpProgram& prog) {
  Snapshot s;
  for (size_t i = 0; i < kPorts.size(); ++i) {
    auto st = prog.portStats(0, i);
    EXPECT_TRUE(st) << st.error().message();
    s.ports.push_back(st ? *st : agent_port_stats{});
  }
  auto g = prog.globalStats();
  EXPECT_TRUE(g) << g.error().message();
  if (g) s.global = *g;
  return s;
}

inline void bump(agent_counter& c, size_t bytes) {
  c.packets += 1;
  c.bytes += bytes;
}

inline Snapshot expected(Snapshot s, const Case& c) {
  const size_t n = c.frame.size();
  bump(s.global.seen, n);
  if (c.want == Want::kParseError) bump(s.global.parse_error, n);
  else if (c.want == Want::kLaterFragment) bump(s.global.later_fragment, n);
  else if (c.want == Want::kOther) bump(s.global.other, n);
  else {
    agent_port_stats& p = s.ports[slotOf(c.port)];
    bump(p.seen, n);
    switch (c.want) {
      case Want::kRedirected: bump(p.redirected, n); break;
      case Want::kPassNoSocket: bump(p.pass_no_socket, n); break;
      case Want::kPassFragment: bump(p.pass_fragment, n); break;
      case Want::kPassTooBig: bump(p.pass_too_big, n); break;
      case Want::kPortParseError: bump(p.parse_error, n); break;
      case Want::kNotOurs: bump(p.not_ours, n); break;
      case Want::kPassUnsteered: bump(p.pass_unsteered, n); break;
      default: break;
    }
  }
  return s;
}

inline std::string str(const agent_counter& c) { return std::to_string(c.packets) + "/" + std::to_string(c.bytes) + "B"; }

inline void expectEqual(const Snapshot& got, const Snapshot& want, const std::string& name) {
  for (size_t i = 0; i < kPorts.size(); ++i) {
    const agent_port_stats &g = got.ports[i], &w = want.ports[i];
#define JXA_CMP(f) EXPECT_EQ(str(g.f), str(w.f)) << name << ": port " << kPorts[i] << " " #f
    JXA_CMP(seen);
    JXA_CMP(redirected);
    JXA_CMP(pass_fragment);
    JXA_CMP(pass_too_big);
    JXA_CMP(pass_no_socket);
    JXA_CMP(parse_error);
    JXA_CMP(not_ours);
    JXA_CMP(pass_unsteered);
#undef JXA_CMP
  }
#define JXA_CMP(f) EXPECT_EQ(str(got.global.f), str(want.global.f)) << name << ": global " #f
  JXA_CMP(seen);
  JXA_CMP(parse_error);
  JXA_CMP(later_fragment);
  JXA_CMP(other);
#undef JXA_CMP
}

struct RunResult {
  int err = 0;
  uint32_t action = 0;
  std::vector<uint8_t> out;
};

inline RunResult testRun(const XdpProgram& prog, const std::vector<uint8_t>& frame, bool live = false) {
  RunResult r;
  r.out.resize(frame.size() + 512);
  xdp_md ctx{};
  ctx.data_end = static_cast<__u32>(frame.size());
  ctx.ingress_ifindex = 1;  // lo, the interface the program is configured for
  ctx.rx_queue_index = 0;
  bpf_test_run_opts o{};
  o.sz = sizeof o;
  o.data_in = frame.data();
  o.data_size_in = static_cast<__u32>(frame.size());
  if (!live) {
    o.data_out = r.out.data();
    o.data_size_out = static_cast<__u32>(r.out.size());
  }
  o.ctx_in = &ctx;
  o.ctx_size_in = sizeof ctx;
  o.repeat = 1;
  if (live) o.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  r.err = bpf_prog_test_run_opts(prog.progFd(), &o) == 0 ? 0 : errno;
  r.action = o.retval;
  r.out.resize(live ? 0 : o.data_size_out);
  return r;
}

inline const char* actionName(uint32_t a) {
  static const char* const names[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};
  return a < 5 ? names[a] : "?";
}

inline XdpProgramOptions options(std::string pinPath = {}) {
  XdpProgramOptions o;
  o.interfaces = {"lo"};
  o.spanPorts = kPorts;
  o.frameSize = kFrameSize;
  o.pinPath = std::move(pinPath);
  return o;
}

inline std::string missingPrivilege() {
  if (::geteuid() != 0) return "not root: BPF_PROG_TEST_RUN needs CAP_BPF and CAP_NET_ADMIN";
  return {};
}

inline agent_addr v4(uint32_t hostOrder) {
  agent_addr a{};
  a.addr[10] = a.addr[11] = 0xff;
  for (int i = 0; i < 4; ++i) a.addr[12 + i] = static_cast<uint8_t>(hostOrder >> (24 - 8 * i));
  return a;
}
inline agent_addr v6(uint8_t last) {  // fd00::<last>
  agent_addr a{};
  a.addr[0] = 0xfd;
  a.addr[15] = last;
  return a;
}
inline constexpr uint32_t kAllPorts = (1u << 3) - 1;

// The packet builder sends 10.0.0.2 → 10.0.0.1 and fd00::2 → fd00::1: make the destinations
// ours, for every span port, as the agent's address watcher would for sockets bound to 0.0.0.0/::.
inline void makeOurs(XdpProgram& prog) {
  ASSERT_TRUE(prog.setLocalAddress(v4(0x0a000001), kAllPorts, 1));
  ASSERT_TRUE(prog.setLocalAddress(v6(1), kAllPorts, 1));
}

// Loads the program, or skips the test with the reason when the capability is missing.
#define LOAD_OR_SKIP(var, opts)                                                                    \
  if (const std::string why = missingPrivilege(); !why.empty()) GTEST_SKIP() << why;               \
  auto var##Result = XdpProgram::load(opts);                                                       \
  if (!var##Result && var##Result.error().code == std::errc::operation_not_permitted)              \
    GTEST_SKIP() << "BPF load not permitted here: " << var##Result.error().message();              \
  ASSERT_TRUE(var##Result) << var##Result.error().message();                                       \
  XdpProgram& var = **var##Result;                                                                 \
  makeOurs(var)

inline void runTable(const XdpProgram& prog, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const Snapshot before = snapshot(prog);
    const RunResult r = testRun(prog, c.frame);
    ASSERT_EQ(r.err, 0) << c.name << ": bpf_prog_test_run: " << std::strerror(r.err);
    const uint32_t want = c.want == Want::kRedirected ? XDP_REDIRECT : XDP_PASS;
    EXPECT_STREQ(actionName(r.action), actionName(want)) << c.name;
    if (r.action == XDP_PASS) {
      EXPECT_EQ(r.out, c.frame) << c.name << ": a passed frame must not be altered";
    }
    expectEqual(snapshot(prog), expected(before, c), c.name);
  }
}

// A datagram sink that keeps what it gets (thread-safe: XskReceiver pushes from its thread).
class CollectingSink final : public jagent::receive::DatagramSink {
 public:
  bool push(jagent::receive::Datagram& d) noexcept override {
    std::lock_guard lock(mu_);
    got_.push_back(std::move(d));
    return true;
  }
  std::vector<jagent::receive::Datagram> take() {
    std::lock_guard lock(mu_);
    return std::exchange(got_, {});
  }

 private:
  std::mutex mu_;
  std::vector<jagent::receive::Datagram> got_;
};

// The AF_XDP tests bind lo's queue 0, which one socket at a time may hold: they run in a network
// namespace of the test process's own, so that concurrent runs (ctest -j, another build tree)
// cannot collide. Threads created afterwards (the XskReceiver's) inherit it.
inline std::string enterPrivateNetns() {
  static std::string error = [] {
    if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    bool up = fd >= 0 && ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    if (up) {
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      up = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (fd >= 0) ::close(fd);
    return up ? std::string() : std::string("bring lo up: ") + std::strerror(errno);
  }();
  return error;
}

#define PRIVATE_NETNS_OR_SKIP()                                                                    \
  if (const std::string why = missingPrivilege(); !why.empty()) GTEST_SKIP() << why;               \
  if (const std::string why = enterPrivateNetns(); !why.empty()) GTEST_SKIP() << why

// A decode queue that is always full.
class FullSink final : public jagent::receive::DatagramSink {
 public:
  bool push(jagent::receive::Datagram&) noexcept override { return false; }
};

struct XskOnLo {
  jagent::metrics::Registry registry;
  CollectingSink sink;
  FullSink full;
  jagent::receive::SourceDropTally drops;
  std::unique_ptr<jagent::receive::XskReceiver> rx;
  std::string error;

  explicit XskOnLo(const XdpProgram& prog, bool queueFull = false) {
    using jagent::receive::XskCounters;
    using jagent::receive::XskPort;
    std::vector<XskPort> ports;
    for (uint16_t p : kPorts)
      ports.push_back(XskPort{p, queueFull ? static_cast<jagent::receive::DatagramSink*>(&full) : &sink,
                              &registry.counter("processed", "", {{"port", std::to_string(p)}}),
                              &registry.counter("dropped", "", {{"port", std::to_string(p)}}),
                              &registry.counter("via_xsk", "", {{"port", std::to_string(p)}}), &drops});
    XskCounters counters{registry.counter("frames", ""), registry.counter("invalid", ""),
                         registry.counter("rx_dropped", ""), registry.counter("rx_ring_full", ""),
                         registry.counter("fill_ring_empty", "")};
    jagent::receive::XskReceiver::Options o;
    o.ifname = "lo";
    o.queue = 0;
    o.frameSize = kFrameSize;
    o.ringSize = 64;
    o.umemFrames = 128;
    o.forceCopy = true;  // lo has no native XDP: copy mode
    o.xsksMapFd = prog.xsksMapFd();
    o.xsksMapKey = XdpProgram::xskKey(0, 0);
    auto r = jagent::receive::XskReceiver::create(o, ports, counters);
    if (r) rx = std::move(*r);
    else error = r.error().message();
  }
};

}  // namespace jagent::testing
