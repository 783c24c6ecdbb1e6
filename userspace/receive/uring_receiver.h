// UringReceiver: one UDP socket read with io_uring multishot recvmsg into a provided-buffer ring.
//
// Buffers are lent, not copied: each received datagram is handed to the DatagramSink with a
// token (the buffer id), and the buffer goes back into the ring when the consumer calls
// release(). If every buffer is lent out the multishot request ends with ENOBUFS; datagrams then
// wait in the kernel socket buffer (counted by the kernel if it overflows, see kernel drops) and
// the receiver re-arms as soon as a buffer comes back. So a slow decoder applies back-pressure to
// the socket instead of growing memory.
//
// Threading: start() runs the ring on its own thread (the ring is single-issuer). release() may be
// called from any thread. stop() joins the thread; after it, no datagram is produced, but lent
// buffers stay valid until the receiver is destroyed.
#pragma once

#include <liburing.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/net.h"
#include "common/rate_limited_log.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"

namespace jagent::receive {

struct UdpCounters {
  metrics::Counter& processed;    // datagrams handed to the decode queue
  metrics::Counter& dropped;      // decode queue full: datagram dropped
  metrics::Counter& readErrors;   // recvmsg completions with an error
  metrics::Counter& tooLarge;     // datagram longer than server-max-packet-size (truncated by the kernel)
  metrics::Counter& kernelDrops;  // dropped by the kernel before we saw them (socket buffer full)
  metrics::Gauge& packetSize;     // size of the last datagram
};

class UringReceiver final : public BufferOwner {
 public:
  struct Options {
    std::string name;            // for logs and the thread name, e.g. "jaeger-compact"
    SockAddr bind;
    int maxPacketSize = 65000;
    int socketBufferSize = 0;    // 0 = OS default
    unsigned bufferCount = 64;   // power of two; memory = bufferCount * (maxPacketSize + headroom)
    bool reusePort = false;      // SO_REUSEPORT: one socket per shard on the same port
  };

  [[nodiscard]] static Result<std::unique_ptr<UringReceiver>> create(const Options& opts, DatagramSink& sink,
                                                                      UdpCounters counters);
  ~UringReceiver();
  UringReceiver(const UringReceiver&) = delete;
  UringReceiver& operator=(const UringReceiver&) = delete;

  void start();
  void requestStop() noexcept;  // asks the thread to stop, does not wait
  void stop();                  // requestStop() + join
  [[nodiscard]] uint16_t boundPort() const noexcept { return boundPort_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  // From any thread; from the receiver's own thread (the inline decode stage) the buffer goes
  // straight back into the ring, without the lock.
  void release(uint32_t token) noexcept override;
  // Datagrams read and not yet released (the user-space part of the receive queue).
  [[nodiscard]] unsigned buffered() const noexcept { return lent_.load(std::memory_order_relaxed); }
  // Datagrams this receiver (shard) read, whatever became of them.
  [[nodiscard]] uint64_t datagramsRead() const noexcept { return read_.load(std::memory_order_relaxed); }

  // Makes the kernel spread datagrams over the SO_REUSEPORT group of `fd` at random instead of by
  // 4-tuple hash, so one busy client socket still reaches every shard (a classic BPF program,
  // SO_ATTACH_REUSEPORT_CBPF; `groupSize` = sockets in the group).
  [[nodiscard]] static Result<void> spreadReusePortGroup(int fd, unsigned groupSize);

 private:
  UringReceiver(const Options& opts, DatagramSink& sink, UdpCounters counters);
  Result<void> init();
  void run();
  void arm();
  void recycle(uint32_t bid) noexcept;   // receiver thread only
  void drainReturned();
  void handle(const io_uring_cqe* cqe);
  void pollKernelDrops();
  void cancelReceive();
  void drainSocket();

  Options opts_;
  DatagramSink& sink_;
  UdpCounters counters_;
  UniqueFd fd_;
  uint16_t boundPort_ = 0;

  io_uring ring_{};
  bool ringInit_ = false;
  io_uring_buf_ring* bufRing_ = nullptr;
  size_t bufRingBytes_ = 0;
  uint8_t* buffers_ = nullptr;
  size_t buffersBytes_ = 0;
  size_t bufSize_ = 0;
  unsigned mask_ = 0;
  msghdr msg_{};
  bool armed_ = false;
  std::atomic<unsigned> lent_{0};  // buffers out of the ring (in a CQE or with a consumer); written by the receiver thread only
  std::thread::id ownThread_{};
  std::atomic<uint64_t> read_{0};
  uint32_t lastKernelDrops_ = 0;
  int64_t nextDropPollNs_ = 0;
  RateLimiter errorLog_;

  std::mutex mu_;              // guards returned_ and waiting_
  std::condition_variable cv_;
  std::vector<uint32_t> returned_;
  std::vector<uint32_t> scratch_;
  bool waiting_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jagent::receive
