// UringReceiver: one thread and one io_uring reading UDP sockets with multishot recvmsg into
// provided-buffer rings (one buffer group per socket) — a shard's receive loop.
//
// Buffers are lent, not copied: each received datagram is handed to its socket's DatagramSink
// with a token (socket index and buffer id), and the buffer goes back into the ring when the
// consumer releases it (at once, from this thread, for the inline decode stage). If every buffer
// of a socket is lent out its multishot request ends with ENOBUFS; datagrams then wait in the
// kernel socket buffer (counted by the kernel if it overflows, see kernel drops) and the
// receiver re-arms as soon as a buffer comes back. While a sink is not accepting (its reporter is
// saturated) its socket is not re-armed either. So back-pressure goes to the socket, never to
// memory.
//
// The loop can also drive other work on the same thread (a shard's reporter): `externalFd` is
// watched with IORING_OP_POLL_ADD and `onExternal` runs when it is readable; `onTick` runs after
// every wake-up and says when it next needs to run.
//
// Threading: start() runs the loop on its own thread (the ring is single-issuer). release() may
// be called from any thread. stop() joins the thread; after it, no datagram is produced (what was
// left in the socket buffers has been read and handed to the sinks), but lent buffers stay valid
// until the receiver is destroyed.
#pragma once

#include <liburing.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
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
  metrics::Counter& processed;    // datagrams handed to the decoder
  metrics::Counter& dropped;      // the decoder could not take it (reporter saturated): dropped before decoding
  metrics::Counter& readErrors;   // recvmsg completions with an error
  metrics::Counter& tooLarge;     // datagram longer than server-max-packet-size (truncated by the kernel)
  metrics::Counter& kernelDrops;  // dropped by the kernel before we saw them (socket buffer full)
  metrics::Gauge& packetSize;     // size of the last datagram
};

class UringReceiver final : public BufferOwner {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {                // one socket
    std::string name;            // for logs and the thread name, e.g. "jaeger-compact"
    SockAddr bind;
    int maxPacketSize = 65000;
    int socketBufferSize = 0;    // 0 = OS default
    unsigned bufferCount = 64;   // power of two; memory = bufferCount * (maxPacketSize + headroom)
    bool reusePort = false;      // SO_REUSEPORT: one socket per shard on the same port
  };
  struct Socket {
    Options opts;
    DatagramSink* sink = nullptr;  // not owned
    UdpCounters* counters = nullptr;  // not owned; outlives the receiver
  };
  struct LoopOptions {
    std::string threadName = "rx";
    int externalFd = -1;                                  // watched for POLLIN; -1 = none
    std::function<void()> onExternal;                     // runs on the loop thread
    std::function<Clock::time_point(Clock::time_point)> onTick;  // returns when to run again
  };

  // One socket, its own thread (tests, tools).
  [[nodiscard]] static Result<std::unique_ptr<UringReceiver>> create(const Options& opts, DatagramSink& sink,
                                                                      UdpCounters counters);
  // Several sockets on one thread, plus the loop hooks (a shard).
  [[nodiscard]] static Result<std::unique_ptr<UringReceiver>> create(LoopOptions loop, std::vector<Socket> sockets);
  ~UringReceiver();
  UringReceiver(const UringReceiver&) = delete;
  UringReceiver& operator=(const UringReceiver&) = delete;

  void start();
  void requestStop() noexcept;  // asks the thread to stop, does not wait
  void stop();                  // requestStop() + join

  [[nodiscard]] size_t sockets() const noexcept { return socks_.size(); }
  [[nodiscard]] uint16_t boundPort(size_t i = 0) const noexcept { return socks_[i]->boundPort; }
  [[nodiscard]] int fd(size_t i = 0) const noexcept { return socks_[i]->fd.get(); }
  // Datagrams read and not yet released (the user-space part of the receive queue).
  [[nodiscard]] unsigned buffered(size_t i = 0) const noexcept { return socks_[i]->lent.load(std::memory_order_relaxed); }
  // Datagrams this socket read, whatever became of them.
  [[nodiscard]] uint64_t datagramsRead(size_t i = 0) const noexcept {
    return socks_[i]->read.load(std::memory_order_relaxed);
  }

  // From any thread; from the receiver's own thread (the inline decode stage) the buffer goes
  // straight back into the ring, without the lock.
  void release(uint32_t token) noexcept override;

  // Makes the kernel spread datagrams over the SO_REUSEPORT group of `fd` at random instead of by
  // 4-tuple hash, so one busy client socket still reaches every shard (a classic BPF program,
  // SO_ATTACH_REUSEPORT_CBPF; `groupSize` = sockets in the group).
  [[nodiscard]] static Result<void> spreadReusePortGroup(int fd, unsigned groupSize);

 private:
  struct Sock {
    Options opts;
    DatagramSink* sink = nullptr;
    UdpCounters* counters = nullptr;
    std::unique_ptr<UdpCounters> ownedCounters;  // single-socket create()
    UniqueFd fd;
    uint16_t boundPort = 0;
    io_uring_buf_ring* bufRing = nullptr;
    size_t bufRingBytes = 0;
    uint8_t* buffers = nullptr;
    size_t buffersBytes = 0;
    size_t bufSize = 0;
    unsigned mask = 0;
    msghdr msg{};
    bool armed = false;
    bool disarming = false;  // a cancel of the armed multishot is on its way (the sink is saturated)
    bool paused = false;                     // sink not accepting: not re-armed
    std::atomic<unsigned> lent{0};           // written by the loop thread only
    std::atomic<uint64_t> read{0};           // written by the loop thread only
    uint32_t lastKernelDrops = 0;
  };

  explicit UringReceiver(LoopOptions loop) : loop_(std::move(loop)) {}
  Result<void> initRing();
  Result<void> addSocket(Socket s, size_t index);
  void run();
  void arm(size_t i);
  void disarm(size_t i);
  void armExternal();
  void recycle(size_t i, uint32_t bid) noexcept;   // receiver thread only
  void drainReturned();
  void handle(const io_uring_cqe* cqe);
  void pollKernelDrops(Sock& s);
  void cancelAll();
  void drainSocket(size_t i);

  LoopOptions loop_;
  std::vector<std::unique_ptr<Sock>> socks_;
  io_uring ring_{};
  bool ringInit_ = false;
  bool externalArmed_ = false;
  int64_t nextDropPollNs_ = 0;
  RateLimiter errorLog_;
  std::thread::id ownThread_{};

  std::mutex mu_;              // guards returned_
  std::vector<uint32_t> returned_;
  std::vector<uint32_t> scratch_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jagent::receive
