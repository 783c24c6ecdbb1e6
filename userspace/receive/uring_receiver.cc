#include "receive/uring_receiver.h"

#include <linux/filter.h>
#include <linux/sockios.h>
#include <linux/sock_diag.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

namespace jagent::receive {
namespace {

constexpr uint16_t kBufferGroup = 0;
constexpr uint64_t kRecvTag = 1;
constexpr uint64_t kCancelTag = 2;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

UringReceiver::UringReceiver(const Options& opts, DatagramSink& sink, UdpCounters counters)
    : opts_(opts), sink_(sink), counters_(counters) {}

Result<std::unique_ptr<UringReceiver>> UringReceiver::create(const Options& opts, DatagramSink& sink,
                                                              UdpCounters counters) {
  if (opts.bufferCount == 0 || (opts.bufferCount & (opts.bufferCount - 1)) != 0)
    return makeError("buffer count must be a power of two");
  std::unique_ptr<UringReceiver> r(new UringReceiver(opts, sink, counters));
  if (auto ok = r->init(); !ok) return withContext(ok.error(), "UDP receiver {}", opts.name);
  return r;
}

Result<void> UringReceiver::init() {
  fd_.reset(::socket(opts_.bind.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd_) return errnoError("socket");
  if (opts_.socketBufferSize > 0) {
    // SO_RCVBUFFORCE ignores rmem_max (needs CAP_NET_ADMIN); fall back to the capped form.
    const int size = opts_.socketBufferSize;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
      return errnoError("setsockopt SO_RCVBUF");
  }
  if (opts_.reusePort) {
    const int one = 1;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      return errnoError("setsockopt SO_REUSEPORT");
  }
  if (::bind(fd_.get(), opts_.bind.get(), opts_.bind.len) != 0)
    return errnoError(fmt::format("bind {}", formatAddr(opts_.bind.get())));
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) return errnoError("getsockname");
  boundPort_ = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                                 : reinterpret_cast<sockaddr_in*>(&local)->sin_port);

  io_uring_params params{};
  // Not SINGLE_ISSUER: the ring is created here (main thread) but submitted to from the receiver
  // thread, which SINGLE_ISSUER refuses with EEXIST.
  params.flags = IORING_SETUP_COOP_TASKRUN;
  int rc = ::io_uring_queue_init_params(64, &ring_, &params);
  if (rc < 0) {
    params = {};  // kernels before 5.19: no COOP_TASKRUN
    rc = ::io_uring_queue_init_params(64, &ring_, &params);
  }
  if (rc < 0) return sysError(rc, "io_uring_queue_init");
  ringInit_ = true;

  // Buffer layout per slot: io_uring_recvmsg_out | peer address | payload (maxPacketSize).
  // MSG_TRUNC then means "longer than server-max-packet-size".
  bufSize_ = sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6) + static_cast<size_t>(opts_.maxPacketSize);
  bufSize_ = (bufSize_ + 63) & ~size_t{63};
  buffersBytes_ = bufSize_ * opts_.bufferCount;
  void* mem = ::mmap(nullptr, buffersBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return errnoError("mmap receive buffers");
  buffers_ = static_cast<uint8_t*>(mem);

  // liburing 2.3 has no io_uring_setup_buf_ring(): map and register the ring ourselves.
  bufRingBytes_ = sizeof(io_uring_buf) * opts_.bufferCount;
  mem = ::mmap(nullptr, bufRingBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return errnoError("mmap buffer ring");
  bufRing_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(bufRing_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(bufRing_);
  reg.ring_entries = opts_.bufferCount;
  reg.bgid = kBufferGroup;
  rc = ::io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return sysError(rc, "io_uring_register_buf_ring (needs Linux >= 5.19)");
  mask_ = io_uring_buf_ring_mask(opts_.bufferCount);
  for (unsigned i = 0; i < opts_.bufferCount; ++i)
    io_uring_buf_ring_add(bufRing_, buffers_ + size_t{i} * bufSize_, static_cast<unsigned>(bufSize_), static_cast<uint16_t>(i), mask_,
                          static_cast<int>(i));
  io_uring_buf_ring_advance(bufRing_, static_cast<int>(opts_.bufferCount));

  msg_.msg_namelen = sizeof(sockaddr_in6);
  msg_.msg_controllen = 0;
  returned_.reserve(opts_.bufferCount);
  scratch_.reserve(opts_.bufferCount);
  return {};
}

UringReceiver::~UringReceiver() {
  stop();
  if (ringInit_) ::io_uring_queue_exit(&ring_);
  if (bufRing_) ::munmap(bufRing_, bufRingBytes_);
  if (buffers_) ::munmap(buffers_, buffersBytes_);
}

Result<void> UringReceiver::spreadReusePortGroup(int fd, unsigned groupSize) {
  if (groupSize <= 1) return {};
  // A = random32; A %= groupSize; return A — the index of the socket in the group.
  sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)},
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, groupSize},
      {BPF_RET | BPF_A, 0, 0, 0},
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0)
    return errnoError("setsockopt SO_ATTACH_REUSEPORT_CBPF");
  return {};
}

void UringReceiver::start() {
  thread_ = std::thread([this] {
    ownThread_ = std::this_thread::get_id();
    const std::string tname = ("rx-" + opts_.name).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    run();
  });
}

void UringReceiver::requestStop() noexcept {
  stop_.store(true);
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void UringReceiver::stop() {
  requestStop();
  if (thread_.joinable()) thread_.join();
  pollKernelDrops();
}

void UringReceiver::release(uint32_t token) noexcept {
  if (std::this_thread::get_id() == ownThread_) {
    recycle(token);
    return;
  }
  std::lock_guard lock(mu_);
  returned_.push_back(token);
  if (waiting_) cv_.notify_one();
}

void UringReceiver::recycle(uint32_t bid) noexcept {
  io_uring_buf_ring_add(bufRing_, buffers_ + size_t{bid} * bufSize_, static_cast<unsigned>(bufSize_), static_cast<uint16_t>(bid), mask_, 0);
  io_uring_buf_ring_advance(bufRing_, 1);
  --lent_;
}

void UringReceiver::drainReturned() {
  {
    std::lock_guard lock(mu_);
    if (returned_.empty()) return;
    scratch_.swap(returned_);
  }
  int i = 0;
  for (uint32_t bid : scratch_)
    io_uring_buf_ring_add(bufRing_, buffers_ + size_t{bid} * bufSize_, static_cast<unsigned>(bufSize_), static_cast<uint16_t>(bid), mask_, i++);
  io_uring_buf_ring_advance(bufRing_, i);
  lent_ -= static_cast<unsigned>(i);
  scratch_.clear();
}

void UringReceiver::arm() {
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (!sqe) return;  // SQ full: retried on the next loop
  ::io_uring_prep_recvmsg_multishot(sqe, fd_.get(), &msg_, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  ::io_uring_sqe_set_data64(sqe, kRecvTag);
  armed_ = true;
}

void UringReceiver::pollKernelDrops() {
  // SO_MEMINFO's drop counter is cumulative for the socket; publish the delta.
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (!fd_ || ::getsockopt(fd_.get(), SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return;
  const uint32_t drops = mem[SK_MEMINFO_DROPS];
  if (drops > lastKernelDrops_) counters_.kernelDrops.inc(drops - lastKernelDrops_);
  lastKernelDrops_ = drops;
}

void UringReceiver::handle(const io_uring_cqe* cqe) {
  if (::io_uring_cqe_get_data64(cqe) != kRecvTag) return;
  if (!(cqe->flags & IORING_CQE_F_MORE)) armed_ = false;
  if (cqe->res < 0) {
    if (cqe->res != -ENOBUFS) counters_.readErrors.inc();  // ENOBUFS = all buffers lent: back-pressure
    return;
  }
  if (!(cqe->flags & IORING_CQE_F_BUFFER)) return;
  const uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  ++lent_;
  uint8_t* buf = buffers_ + size_t{bid} * bufSize_;
  io_uring_recvmsg_out* out = ::io_uring_recvmsg_validate(buf, cqe->res, &msg_);
  if (!out) {
    counters_.readErrors.inc();
    recycle(bid);
    return;
  }
  if (out->flags & MSG_TRUNC) {
    counters_.tooLarge.inc();
    recycle(bid);
    return;
  }
  read_.store(read_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
  const unsigned len = ::io_uring_recvmsg_payload_length(out, cqe->res, &msg_);
  Datagram d;
  d.bytes = {static_cast<const uint8_t*>(::io_uring_recvmsg_payload(out, &msg_)), len};
  const socklen_t nameLen = std::min<socklen_t>(out->namelen, sizeof d.peer);
  std::memcpy(&d.peer, ::io_uring_recvmsg_name(out), nameLen);
  d.owner = this;
  d.token = bid;
  counters_.packetSize.set(len);
  if (sink_.push(d)) {
    counters_.processed.inc();
  } else {
    counters_.dropped.inc();
    d.owner = nullptr;  // not taken: recycle here rather than through release()
    recycle(bid);
  }
}

void UringReceiver::run() {
  io_uring_cqe* cqes[64];
  while (!stop_.load(std::memory_order_relaxed)) {
    drainReturned();
    const bool accepting = sink_.accepting();
    if (!armed_ && lent_ < opts_.bufferCount && accepting) arm();
    if (!armed_ && !accepting) {
      // The sink is saturated: leave datagrams in the socket buffer, where the kernel drops
      // (and counts) what does not fit, and look again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      pollKernelDrops();
      continue;
    }
    if (!armed_) {
      // Every buffer is with a consumer: wait for one to come back (the socket buffer holds
      // the traffic meanwhile).
      std::unique_lock lock(mu_);
      waiting_ = true;
      cv_.wait_for(lock, std::chrono::milliseconds(100),
                   [&] { return !returned_.empty() || stop_.load(std::memory_order_relaxed); });
      waiting_ = false;
      continue;
    }
    __kernel_timespec ts{0, 100'000'000};
    io_uring_cqe* first = nullptr;
    const int rc = ::io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      counters_.readErrors.inc();
      uint64_t suppressed = 0;
      if (errorLog_.allow(&suppressed))
        spdlog::error("{}: io_uring wait failed: {} ({} similar suppressed)", opts_.name, std::strerror(-rc), suppressed);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const unsigned n = ::io_uring_peek_batch_cqe(&ring_, cqes, 64);
    for (unsigned i = 0; i < n; ++i) handle(cqes[i]);
    ::io_uring_cq_advance(&ring_, n);
    const int64_t now = nowNs();
    if (now >= nextDropPollNs_) {
      pollKernelDrops();
      nextDropPollNs_ = now + 100'000'000;
    }
  }
  cancelReceive();
  drainSocket();
}

void UringReceiver::drainSocket() {
  // What is still in the socket buffer at stop would vanish with the socket, uncounted: read it
  // and hand it to the sink like any other datagram (the reporters still run at this point).
  std::vector<uint8_t> buf(static_cast<size_t>(opts_.maxPacketSize) + 1);
  for (int i = 0; i < 100'000; ++i) {
    Datagram d;
    socklen_t peerLen = sizeof d.peer;
    const ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&d.peer), &peerLen);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: empty
    }
    read_.store(read_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (n > opts_.maxPacketSize) {
      counters_.tooLarge.inc();
      continue;
    }
    d.bytes = {buf.data(), static_cast<size_t>(n)};
    if (sink_.push(d)) counters_.processed.inc();
    else counters_.dropped.inc();
  }
}

void UringReceiver::cancelReceive() {
  // A multishot recvmsg left armed keeps a reference to the socket until io_uring tears the ring
  // down, which it does asynchronously after io_uring_queue_exit: a restarted agent would then
  // find the port still bound. Cancel it and reap its final completion (the one without F_MORE)
  // so the socket is really closed when the receiver is destroyed.
  if (!armed_) return;
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (!sqe) {
    ::io_uring_submit(&ring_);
    sqe = ::io_uring_get_sqe(&ring_);
  }
  if (!sqe) return;
  ::io_uring_prep_cancel64(sqe, kRecvTag, 0);
  ::io_uring_sqe_set_data64(sqe, kCancelTag);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (armed_ && std::chrono::steady_clock::now() < deadline) {
    __kernel_timespec ts{0, 50'000'000};
    io_uring_cqe* cqe = nullptr;
    ::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    io_uring_cqe* cqes[64];
    const unsigned n = ::io_uring_peek_batch_cqe(&ring_, cqes, 64);
    // A datagram that completes meanwhile is handled like any other (the decode workers are
    // still running at this point of the shutdown), so nothing read from the socket is lost.
    for (unsigned i = 0; i < n; ++i) handle(cqes[i]);
    ::io_uring_cq_advance(&ring_, n);
  }
}

}  // namespace jagent::receive
