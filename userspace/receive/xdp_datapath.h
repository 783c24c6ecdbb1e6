// XdpDatapath: the XDP/AF_XDP receive path as one unit for the composition root.
//
// It owns the XDP program attached to the configured interfaces (XdpProgram), one XskReceiver
// per (interface, rx queue) feeding the Processor of the datagram's UDP port, and a stats thread
// that (a) adds the BPF per-CPU counters to the metrics registry (jaeger_agent_xdp_*) and (b)
// mirrors the userspace drop counters into the pinned, mmapped user_stats map, so that
// `bpftool map dump pinned <pin-path>/user_stats` shows the drops along the whole path.
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

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"
#include "receive/xdp_program.h"
#include "receive/xsk_receiver.h"

namespace jagent::receive {

// What the XDP path is asked to do (the composition root fills it from --xdp.*).
struct XdpOptions {
  std::vector<std::string> interfaces;         // names; "auto" = the default-route interface
  std::string mode = "auto";                   // auto | native | skb
  std::string pinPath = "/sys/fs/bpf/jaeger-agent";
  uint32_t frameSize = 4096;                   // UMEM frame size (a power of two, 2048 or 4096)
  uint32_t ringSize = 2048;                    // rx / fill ring entries per socket (power of two)
  uint32_t umemFrames = 4096;                  // UMEM frames per socket (power of two)
};

// One UDP port as seen by the XDP path.
struct XdpPort {
  int socketFd = -1;             // its bound UDP socket (borrowed): port and address, by getsockname
  DatagramSink* sink = nullptr;  // the processor
  std::string model;             // its metric labels
  std::string protocol;
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
  [[nodiscard]] const std::vector<std::unique_ptr<XskReceiver>>& receivers() const noexcept { return xsks_; }

 private:
  struct Slot {  // one span port
    uint16_t port;
    DatagramSink* sink;
    metrics::Labels labels;
  };
  struct BpfSeries {  // registry counters fed from one port_stats entry, with the last values
    size_t iface;
    size_t port;
    std::vector<metrics::Counter*> packets;  // by result, see kResults in the .cc
    std::vector<metrics::Counter*> bytes;
    agent_port_stats last{};
  };

  explicit XdpDatapath(metrics::Registry& registry) : registry_(registry) {}
  void statsLoop();
  void pollBpf();
  void mirrorUserStats();

  metrics::Registry& registry_;
  std::vector<Slot> slots_;
  std::unique_ptr<XdpProgram> program_;
  std::vector<std::unique_ptr<XskReceiver>> xsks_;
  std::vector<BpfSeries> bpfSeries_;
  std::vector<metrics::Counter*> globalSeries_;  // by global result
  agent_global_stats lastGlobal_{};

  std::mutex syncMu_;   // serialises syncStats() calls (stats thread and callers)
  std::mutex statsMu_;  // guards stopStats_
  std::condition_variable statsCv_;
  bool stopStats_ = false;
  std::thread statsThread_;
};

}  // namespace jagent::receive
