// XskReceiver: one AF_XDP socket on one (interface, rx queue), with its own UMEM, fill ring and
// rx ring (no TX), read by its own thread.
//
// Frames are lent, not copied: the Datagram handed to the Processor points into the UMEM frame
// (past the Ethernet/VLAN/IP/UDP headers, parsed again here with bpf/parse.h, the parser the
// XDP program used), and the frame goes back to the fill ring after the consumer calls
// release(). Decode workers call release(), so returned frames go through a return queue that
// the socket's thread drains, as in UringReceiver. If every frame is lent out, the kernel finds
// the fill ring empty and drops at the queue (counted: fill_ring_empty / rx_dropped): a slow
// decoder costs packets, never memory.
//
// The socket is created with XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD (our own XDP program does the
// steering) and inserted into that program's XSKMAP at the key the caller gives. Zero-copy when
// the driver supports it, copy mode otherwise; need_wakeup always.
//
// Threading: start() runs the socket on its own thread (the rings are single-producer /
// single-consumer). release() may be called from any thread. stop() joins the thread; lent
// frames stay valid until the receiver is destroyed.
#pragma once

#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"

namespace jagent::receive {

// Where the datagrams of one UDP port go, and what they count.
struct XskPort {
  uint16_t port = 0;                       // host byte order
  DatagramSink* sink = nullptr;            // the Processor of this port
  metrics::Counter* processed = nullptr;   // queued for decoding (shared with the socket path)
  metrics::Counter* dropped = nullptr;     // decode queue full (shared with the socket path)
  metrics::Counter* viaXsk = nullptr;      // queued for decoding, arrived through AF_XDP
};

struct XskCounters {
  metrics::Counter& frames;         // frames read from the rx ring
  metrics::Counter& invalid;        // frames that are not a span-port datagram we can parse
  metrics::Counter& rxDropped;      // kernel (XDP_STATISTICS): dropped, e.g. frame too big
  metrics::Counter& rxRingFull;     // kernel: dropped, the rx ring was full
  metrics::Counter& fillRingEmpty;  // kernel: no free frame in the fill ring
};

class XskReceiver final : public BufferOwner {
 public:
  struct Options {
    std::string ifname;
    uint32_t queue = 0;
    uint32_t frameSize = 4096;     // 2048 or 4096
    uint32_t ringSize = 2048;      // rx and fill ring entries (power of two)
    uint32_t umemFrames = 4096;    // frames in the UMEM (power of two), memory = frames * frameSize
    bool forceCopy = false;        // XDP attached in skb mode: zero-copy is impossible
    int xsksMapFd = -1;            // XSKMAP of our XDP program (borrowed)
    uint32_t xsksMapKey = 0;
  };

  [[nodiscard]] static Result<std::unique_ptr<XskReceiver>> create(const Options& opts, std::vector<XskPort> ports,
                                                                    XskCounters counters);
  ~XskReceiver();
  XskReceiver(const XskReceiver&) = delete;
  XskReceiver& operator=(const XskReceiver&) = delete;

  void start();
  void requestStop() noexcept;  // asks the thread to stop, does not wait
  void stop();                  // requestStop() + join

  [[nodiscard]] bool zeroCopy() const noexcept { return zeroCopy_; }
  [[nodiscard]] const Options& options() const noexcept { return opts_; }

  void release(uint32_t token) noexcept override;

 private:
  XskReceiver(const Options& opts, std::vector<XskPort> ports, XskCounters counters);
  Result<void> init();
  void run();
  void drainReturned();
  void refill();
  void handle(uint64_t addr, uint32_t len);
  void recycle(uint64_t frameAddr) noexcept { free_.push_back(frameAddr); }  // socket thread only
  void pollKernelStats() noexcept;
  void wake() noexcept;

  Options opts_;
  std::vector<XskPort> ports_;
  XskCounters counters_;
  uint32_t frameShift_ = 12;

  uint8_t* umemArea_ = nullptr;
  size_t umemBytes_ = 0;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
  xsk_ring_cons rx_{};
  int fd_ = -1;                 // owned by xsk_
  bool inMap_ = false;
  bool zeroCopy_ = false;
  UniqueFd wakeFd_;             // eventfd: stop, or frames returned while the thread waits

  std::vector<uint64_t> free_;  // frame addresses owned by the socket thread, not in any ring
  xdp_statistics lastStats_{};
  int64_t nextStatsNs_ = 0;
  RateLimiter errorLog_;

  std::mutex mu_;               // guards returned_ and waiting_
  std::vector<uint32_t> returned_;
  std::vector<uint32_t> scratch_;
  bool waiting_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jagent::receive
