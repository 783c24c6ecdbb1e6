// XdpDatapath: the XDP/AF_XDP receive path as one unit for the composition root.
//
// It owns the XDP program attached to the configured interfaces (XdpProgram), one XskReceiver
// per (steered interface, rx queue) feeding the Processor of the datagram's UDP port, a netlink
// watcher (NetlinkWatcher) and a stats thread that (a) snapshots the BPF counters for /metrics
// (XdpMetrics: per interface, top sources, global) and (b) mirrors the userspace drop counters
// into the pinned, mmapped user_stats map, so that `bpftool map dump pinned
// <pin-path>/user_stats` shows the drops along the whole path.
//
// Interfaces (--xdp.interfaces): `auto` (the default-route NIC) and plain names are steered
// (AF_XDP sockets on every rx queue); glob patterns (cali*, lxc*, veth*, eni*, cni0) are
// count-only: the program counts and passes there, no socket. The watcher attaches to every
// link whose name matches a pattern when it appears and releases it when it goes, without
// touching the others. It also keeps local_addrs current: the addresses of this namespace
// that a span socket's bind address covers (docs/xdp-datapath.md, design.md decision 6).
// The kernel socket path (UringReceiver) keeps running beside it and receives everything the
// program passes: fragments, oversized frames, queues without a socket, other interfaces.
//
// create() never fails the agent: when XDP cannot be used (no CAP_BPF/CAP_NET_ADMIN, no bpffs,
// no driver support, unknown interface) it logs one line naming the cause and the fallback and
// returns nullptr.
//
// Threading and order (control thread only): create after the processors exist; start() after
// they started; requestStop()/stop() together with the UDP receivers, before the processors
// stop; destroy after the processors stopped (lent frames point into the UMEM). Destruction
// detaches the program and removes the pins.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"
#include "receive/netlink_watcher.h"
#include "receive/source_drop_tally.h"
#include "receive/xdp_metrics.h"
#include "receive/xdp_program.h"
#include "receive/uring_receiver.h"
#include "receive/xsk_receiver.h"

namespace jagent::receive {

// What the XDP path is asked to do (the composition root fills it from --xdp.*).
// The agent's counters that the pinned user_stats map mirrors for bpftool, handed over typed by
// the composition root (nothing is looked up by name). Each entry is a sum of counters.
struct UserStatsSources {
  std::vector<const metrics::Counter*> reporterBatchesDropped;
  std::vector<const metrics::Counter*> reporterSpansDropped;
  std::vector<const metrics::Counter*> collectorBatchesFailed;
  std::vector<const metrics::Counter*> collectorSpansFailed;
};

struct XdpOptions {
  std::vector<std::string> interfaces;         // names ("auto" = the default-route interface): steered;
                                               // glob patterns (cali*): count-only, followed by netlink
  std::string mode = "auto";                   // auto | native | skb
  std::string pinPath = "/sys/fs/bpf/jaeger-agent";
  uint32_t frameSize = 4096;                   // UMEM frame size (a power of two, 2048 or 4096)
  uint32_t ringSize = 2048;                    // rx / fill ring entries per socket (power of two)
  uint32_t umemFrames = 4096;                  // UMEM frames per socket (power of two)
  UserStatsSources userStats;
};

// One UDP port as seen by the XDP path.
struct XdpPort {
  int socketFd = -1;             // its bound UDP socket (borrowed): port and address, by getsockname
  DatagramSink* sink = nullptr;  // the decode stage
  std::string model;             // its metric labels
  std::string protocol;
  const UdpCounters* socketCounters = nullptr;    // the socket path's counters of this port (shared)
  std::vector<const metrics::Counter*> rejects;   // decode rejects in RejectReason order (kOk excluded)
};

class XdpDatapath {
 public:
  [[nodiscard]] static std::unique_ptr<XdpDatapath> create(const XdpOptions& cfg,
                                                           const std::vector<XdpPort>& ports,
                                                           metrics::Registry& registry);
  // The same, failing with the cause instead of logging it (tests, benchmarks).
  [[nodiscard]] static Result<std::unique_ptr<XdpDatapath>> tryCreate(const XdpOptions& cfg,
                                                                      const std::vector<XdpPort>& ports,
                                                                      metrics::Registry& registry);
  ~XdpDatapath();
  XdpDatapath(const XdpDatapath&) = delete;
  XdpDatapath& operator=(const XdpDatapath&) = delete;

  void start();
  void requestStop() noexcept;  // XSK threads: stop, do not wait
  void stop();                  // XSK threads: stop and join (sockets leave the XSKMAP)

  // Reads the BPF counters into the registry and mirrors the userspace ones into user_stats
  // now (the stats thread does it every 100 ms).
  void syncStats();

  [[nodiscard]] const XdpProgram& program() const noexcept { return *program_; }
  // Names of the interfaces attached right now (the watcher changes them: takes the lock).
  [[nodiscard]] std::vector<std::string> attachedInterfaces() const;
  [[nodiscard]] const std::vector<std::unique_ptr<XskReceiver>>& receivers() const noexcept { return xsks_; }

 private:
  struct Slot {  // one span port
    uint16_t port;
    DatagramSink* sink;
    metrics::Labels labels;
    const UdpCounters* socketCounters;
    std::vector<const metrics::Counter*> rejects;
    metrics::Counter* viaXsk = nullptr;
    int family;                    // of its socket's bound address
    std::array<uint8_t, 16> addr;  // bound address, IPv4-mapped; all zero = wildcard
    bool v6only;                   // an AF_INET6 wildcard socket that does not take IPv4
  };

  explicit XdpDatapath(metrics::Registry& registry) : registry_(registry) {}
  void statsLoop();
  void pollBpf(bool withSources);
  void mirrorUserStats();

  // Netlink handlers (watcher thread, or create()): take ifMu_.
  void reconcile(const std::vector<NetLink>& links, const std::vector<NetAddress>& addrs);
  void linkAdded(const NetLink& link);
  void linkRemoved(uint32_t ifindex);
  void addressAdded(const NetAddress& a);
  void addressRemoved(const NetAddress& a);
  [[nodiscard]] bool matchesPattern(const std::string& name) const;
  [[nodiscard]] uint32_t portMask(const NetAddress& a) const;

  metrics::Registry& registry_;
  std::vector<Slot> slots_;
  UserStatsSources userStats_;
  std::vector<XskCounters> xskCounters_;  // every AF_XDP socket's, for the user_stats sums
  std::vector<std::string> patterns_;   // count-only interface globs
  std::vector<std::string> steered_;    // names with AF_XDP sockets (never detached by the watcher)
  std::unique_ptr<XdpProgram> program_;
  std::vector<std::unique_ptr<XskReceiver>> xsks_;
  std::unique_ptr<XdpMetrics> metrics_;
  SourceDropTally drops_;  // AF_XDP decode-queue drops by source, flushed into source_drops
  std::unique_ptr<NetlinkWatcher> watcher_;

  mutable std::mutex ifMu_;  // program_'s interfaces and addresses, addrRefs_, failed_
  std::map<std::array<uint8_t, 16>, std::set<uint32_t>> addrRefs_;  // local address → ifindexes
  std::set<uint32_t> failed_;  // ifindexes whose attach failed (warned once)

  std::mutex syncMu_;   // serialises syncStats() calls (stats thread and callers)
  std::mutex statsMu_;  // guards stopStats_
  std::condition_variable statsCv_;
  bool stopStats_ = false;
  std::thread statsThread_;
};

}  // namespace jagent::receive
