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
#include <utility>
#include <vector>

#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"
#include "receive/source_drop_tally.h"

namespace jagent::receive {

// Owners of libxdp's AF_XDP objects, named after the C types. A socket must go before its UMEM.
struct XskSocketDelete {
  void operator()(xsk_socket* s) const noexcept { ::xsk_socket__delete(s); }
};
struct XskUmemDelete {
  void operator()(xsk_umem* u) const noexcept { ::xsk_umem__delete(u); }
};
using XskSocket = std::unique_ptr<xsk_socket, XskSocketDelete>;
using XskUmem = std::unique_ptr<xsk_umem, XskUmemDelete>;

// The UMEM's memory: an anonymous mapping.
class UmemArea {
 public:
  UmemArea() = default;
  UmemArea(uint8_t* p, size_t len) noexcept : p_(p), len_(len) {}
  UmemArea(UmemArea&& o) noexcept : p_(std::exchange(o.p_, nullptr)), len_(o.len_) {}
  UmemArea& operator=(UmemArea&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(len_, o.len_);
    return *this;
  }
  ~UmemArea();
  [[nodiscard]] uint8_t* get() const noexcept { return p_; }
  [[nodiscard]] size_t size() const noexcept { return len_; }

 private:
  uint8_t* p_ = nullptr;
  size_t len_ = 0;
};

// Where the datagrams of one UDP port go, and what they count.
struct XskPort {
  uint16_t port = 0;                       // host byte order
  DatagramSink* sink = nullptr;            // the Processor of this port
  metrics::Counter* processed = nullptr;   // queued for decoding (shared with the socket path)
  metrics::Counter* dropped = nullptr;     // decode queue full (shared with the socket path)
  metrics::Counter* viaXsk = nullptr;      // queued for decoding, arrived through AF_XDP
  SourceDropTally* sourceDrops = nullptr;  // optional: drops by source (source_drops map)
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

  // Declared in teardown order reversed: the socket goes first, then the UMEM, then its memory.
  UmemArea umemArea_;
  XskUmem umem_;
  XskSocket xsk_;
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
  xsk_ring_cons rx_{};
  int fd_ = -1;                 // owned by xsk_ (xsk_socket__fd)
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
