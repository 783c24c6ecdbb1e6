#include "receive/uring_receiver.h"

#include <linux/filter.h>
#include <linux/sockios.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cstring>

#include <spdlog/spdlog.h>

namespace jagent::receive {
namespace {

// CQE user_data: kind in the high half, socket index in the low half.
constexpr uint64_t kRecv = 1;
constexpr uint64_t kCancel = 2;
constexpr uint64_t kExternal = 3;
constexpr uint64_t tag(uint64_t kind, size_t index) { return (kind << 32) | index; }
constexpr unsigned kRingEntries = 128;
// Token = socket index << 16 | buffer id (bufferCount ≤ 32768).
constexpr uint32_t token(size_t index, uint32_t bid) { return static_cast<uint32_t>(index << 16) | bid; }

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::unique_ptr<UringReceiver>> UringReceiver::create(const Options& opts, DatagramSink& sink,
                                                              UdpCounters counters) {
  LoopOptions loop;
  loop.threadName = "rx-" + opts.name;
  auto owned = std::make_unique<UdpCounters>(counters);
  std::vector<Socket> socks{Socket{opts, &sink, owned.get()}};
  auto r = create(std::move(loop), std::move(socks));
  if (r) (*r)->socks_[0]->ownedCounters = std::move(owned);
  return r;
}

Result<std::unique_ptr<UringReceiver>> UringReceiver::create(LoopOptions loop, std::vector<Socket> sockets) {
  if (sockets.empty() || sockets.size() > 0xFFFF) return makeError("a receiver needs 1..65535 sockets");
  std::unique_ptr<UringReceiver> r(new UringReceiver(std::move(loop)));
  if (auto ok = r->initRing(); !ok) return withContext(ok.error(), "UDP receiver {}", r->loop_.threadName);
  for (size_t i = 0; i < sockets.size(); ++i) {
    const std::string name = sockets[i].opts.name;
    if (auto ok = r->addSocket(std::move(sockets[i]), i); !ok) return withContext(ok.error(), "UDP receiver {}", name);
  }
  return r;
}

Result<void> UringReceiver::initRing() {
  io_uring_params params{};
  // Not SINGLE_ISSUER: the ring is created here (main thread) but submitted to from the receiver
  // thread, which SINGLE_ISSUER refuses with EEXIST.
  params.flags = IORING_SETUP_COOP_TASKRUN;
  int rc = ::io_uring_queue_init_params(kRingEntries, &ring_, &params);
  if (rc < 0) {
    params = {};  // kernels before 5.19: no COOP_TASKRUN
    rc = ::io_uring_queue_init_params(kRingEntries, &ring_, &params);
  }
  if (rc < 0) return sysError(rc, "io_uring_queue_init");
  ringInit_ = true;
  return {};
}

Result<void> UringReceiver::addSocket(Socket in, size_t index) {
  const Options& o = in.opts;
  if (o.bufferCount == 0 || o.bufferCount > 32768 || (o.bufferCount & (o.bufferCount - 1)) != 0)
    return makeError("buffer count must be a power of two up to 32768");
  auto sp = std::make_unique<Sock>();
  Sock& s = *sp;
  s.opts = o;
  s.sink = in.sink;
  s.counters = in.counters;
  s.fd.reset(::socket(o.bind.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.fd) return errnoError("socket");
  if (o.socketBufferSize > 0) {
    // SO_RCVBUFFORCE ignores rmem_max (needs CAP_NET_ADMIN); fall back to the capped form.
    const int size = o.socketBufferSize;
    if (::setsockopt(s.fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
        ::setsockopt(s.fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
      return errnoError("setsockopt SO_RCVBUF");
  }
  if (o.reusePort) {
    const int one = 1;
    if (::setsockopt(s.fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      return errnoError("setsockopt SO_REUSEPORT");
  }
  if (::bind(s.fd.get(), o.bind.get(), o.bind.len) != 0) return errnoError(fmt::format("bind {}", formatAddr(o.bind.get())));
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(s.fd.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) return errnoError("getsockname");
  s.boundPort = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&local)->sin_port);

  // Buffer layout per slot: io_uring_recvmsg_out | peer address | payload (maxPacketSize).
  // MSG_TRUNC then means "longer than server-max-packet-size".
  s.bufSize = sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6) + static_cast<size_t>(o.maxPacketSize);
  s.bufSize = (s.bufSize + 63) & ~size_t{63};
  s.buffersBytes = s.bufSize * o.bufferCount;
  void* mem = ::mmap(nullptr, s.buffersBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return errnoError("mmap receive buffers");
  s.buffers = static_cast<uint8_t*>(mem);

  // liburing 2.3 has no io_uring_setup_buf_ring(): map and register the ring ourselves.
  s.bufRingBytes = sizeof(io_uring_buf) * o.bufferCount;
  mem = ::mmap(nullptr, s.bufRingBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return errnoError("mmap buffer ring");
  s.bufRing = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(s.bufRing);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(s.bufRing);
  reg.ring_entries = o.bufferCount;
  reg.bgid = static_cast<uint16_t>(index);
  // Registered before the socket joins socks_, so a failure below still unmaps (destructor).
  socks_.push_back(std::move(sp));
  const int rc = ::io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) return sysError(rc, "io_uring_register_buf_ring (needs Linux >= 5.19)");
  s.mask = io_uring_buf_ring_mask(o.bufferCount);
  for (unsigned i = 0; i < o.bufferCount; ++i)
    io_uring_buf_ring_add(s.bufRing, s.buffers + size_t{i} * s.bufSize, static_cast<unsigned>(s.bufSize),
                          static_cast<uint16_t>(i), s.mask, static_cast<int>(i));
  io_uring_buf_ring_advance(s.bufRing, static_cast<int>(o.bufferCount));
  s.msg.msg_namelen = sizeof(sockaddr_in6);
  s.msg.msg_controllen = 0;
  returned_.reserve(returned_.size() + o.bufferCount);
  scratch_.reserve(scratch_.size() + o.bufferCount);
  return {};
}

UringReceiver::~UringReceiver() {
  stop();
  if (ringInit_) ::io_uring_queue_exit(&ring_);
  for (auto& s : socks_) {
    if (s->bufRing) ::munmap(s->bufRing, s->bufRingBytes);
    if (s->buffers) ::munmap(s->buffers, s->buffersBytes);
  }
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
    const std::string tname = loop_.threadName.substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    run();
  });
}

void UringReceiver::requestStop() noexcept { stop_.store(true); }

void UringReceiver::stop() {
  requestStop();
  if (thread_.joinable()) thread_.join();
  for (auto& s : socks_) pollKernelDrops(*s);
}

void UringReceiver::release(uint32_t tok) noexcept {
  if (std::this_thread::get_id() == ownThread_) {
    recycle(tok >> 16, tok & 0xFFFF);
    return;
  }
  std::lock_guard lock(mu_);
  returned_.push_back(tok);
}

void UringReceiver::recycle(size_t i, uint32_t bid) noexcept {
  Sock& s = *socks_[i];
  io_uring_buf_ring_add(s.bufRing, s.buffers + size_t{bid} * s.bufSize, static_cast<unsigned>(s.bufSize),
                        static_cast<uint16_t>(bid), s.mask, 0);
  io_uring_buf_ring_advance(s.bufRing, 1);
  s.lent.fetch_sub(1, std::memory_order_relaxed);
}

void UringReceiver::drainReturned() {
  {
    std::lock_guard lock(mu_);
    if (returned_.empty()) return;
    scratch_.swap(returned_);
  }
  for (uint32_t tok : scratch_) recycle(tok >> 16, tok & 0xFFFF);
  scratch_.clear();
}

void UringReceiver::arm(size_t i) {
  Sock& s = *socks_[i];
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (!sqe) return;  // SQ full: retried on the next loop
  ::io_uring_prep_recvmsg_multishot(sqe, s.fd.get(), &s.msg, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = static_cast<uint16_t>(i);
  ::io_uring_sqe_set_data64(sqe, tag(kRecv, i));
  s.armed = true;
}

void UringReceiver::disarm(size_t i) {
  // An armed multishot keeps reading while buffers come back, and a saturated sink hands them
  // back at once: everything would be read only to be dropped (counted per datagram, not per
  // span). Cancel it, so datagrams stay in the socket buffer and the kernel drops and counts
  // what does not fit; run() re-arms once the sink accepts again.
  Sock& s = *socks_[i];
  if (!s.armed || s.disarming) return;
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (!sqe) return;  // SQ full: retried on the next loop
  ::io_uring_prep_cancel64(sqe, tag(kRecv, i), 0);
  ::io_uring_sqe_set_data64(sqe, tag(kCancel, i));
  s.disarming = true;
}

void UringReceiver::armExternal() {
  io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
  if (!sqe) return;
  ::io_uring_prep_poll_add(sqe, loop_.externalFd, POLLIN);
  ::io_uring_sqe_set_data64(sqe, tag(kExternal, 0));
  externalArmed_ = true;
}

void UringReceiver::pollKernelDrops(Sock& s) {
  // SO_MEMINFO's drop counter is cumulative for the socket; publish the delta.
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (!s.fd || ::getsockopt(s.fd.get(), SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return;
  const uint32_t drops = mem[SK_MEMINFO_DROPS];
  if (drops > s.lastKernelDrops) s.counters->kernelDrops.inc(drops - s.lastKernelDrops);
  s.lastKernelDrops = drops;
}

void UringReceiver::handle(const io_uring_cqe* cqe) {
  const uint64_t data = ::io_uring_cqe_get_data64(cqe);
  const uint64_t kind = data >> 32;
  const size_t i = data & 0xFFFFFFFFu;
  if (kind == kExternal) {
    externalArmed_ = false;
    if (loop_.onExternal) loop_.onExternal();
    return;
  }
  if (kind != kRecv || i >= socks_.size()) return;
  Sock& s = *socks_[i];
  if (!(cqe->flags & IORING_CQE_F_MORE)) s.armed = s.disarming = false;
  if (cqe->res < 0) {
    if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED) s.counters->readErrors.inc();  // ENOBUFS: all buffers lent
    return;
  }
  if (!(cqe->flags & IORING_CQE_F_BUFFER)) return;
  const uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  s.lent.fetch_add(1, std::memory_order_relaxed);
  uint8_t* buf = s.buffers + size_t{bid} * s.bufSize;
  io_uring_recvmsg_out* out = ::io_uring_recvmsg_validate(buf, cqe->res, &s.msg);
  if (!out) {
    s.counters->readErrors.inc();
    recycle(i, bid);
    return;
  }
  if (out->flags & MSG_TRUNC) {
    s.counters->tooLarge.inc();
    recycle(i, bid);
    return;
  }
  s.read.store(s.read.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
  const unsigned len = ::io_uring_recvmsg_payload_length(out, cqe->res, &s.msg);
  Datagram d;
  d.bytes = {static_cast<const uint8_t*>(::io_uring_recvmsg_payload(out, &s.msg)), len};
  const socklen_t nameLen = std::min<socklen_t>(out->namelen, sizeof d.peer);
  std::memcpy(&d.peer, ::io_uring_recvmsg_name(out), nameLen);
  d.owner = this;
  d.token = token(i, bid);
  s.counters->packetSize.set(len);
  if (s.sink->push(d)) {
    s.counters->processed.inc();
  } else {
    s.counters->dropped.inc();
    d.owner = nullptr;  // not taken: recycle here rather than through release()
    recycle(i, bid);
    disarm(i);
  }
}

void UringReceiver::run() {
  io_uring_cqe* cqes[64];
  Clock::time_point nextTick = Clock::now();
  while (!stop_.load(std::memory_order_relaxed)) {
    drainReturned();
    bool paused = false, starved = false;
    for (size_t i = 0; i < socks_.size(); ++i) {
      Sock& s = *socks_[i];
      // A saturated sink: leave datagrams in the socket buffer, where the kernel drops (and
      // counts) what does not fit, and look again shortly.
      if (!s.sink->accepting()) {
        disarm(i);
        paused = true;
        continue;
      }
      if (s.armed) continue;
      if (s.lent.load(std::memory_order_relaxed) < s.opts.bufferCount) arm(i);
      else starved = true;  // every buffer is with a consumer on another thread
    }
    if (loop_.externalFd >= 0 && !externalArmed_) armExternal();
    const Clock::time_point now = Clock::now();
    Clock::time_point until = now + std::chrono::milliseconds(100);
    if (loop_.onTick) until = std::min(until, nextTick);
    if (paused) until = std::min(until, now + std::chrono::milliseconds(1));
    if (starved) until = std::min(until, now + std::chrono::milliseconds(2));
    const auto waitNs = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(until - now).count());
    __kernel_timespec ts{waitNs / 1'000'000'000, waitNs % 1'000'000'000};
    io_uring_cqe* first = nullptr;
    const int rc = ::io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      for (auto& s : socks_) s->counters->readErrors.inc();
      uint64_t suppressed = 0;
      if (errorLog_.allow(&suppressed))
        spdlog::error("{}: io_uring wait failed: {} ({} similar suppressed)", loop_.threadName, std::strerror(-rc),
                      suppressed);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (;;) {
      const unsigned n = ::io_uring_peek_batch_cqe(&ring_, cqes, 64);
      if (n == 0) break;
      for (unsigned k = 0; k < n; ++k) handle(cqes[k]);
      ::io_uring_cq_advance(&ring_, n);
      if (n < 64) break;
    }
    if (loop_.onTick) nextTick = loop_.onTick(Clock::now());
    const int64_t ns = nowNs();
    if (ns >= nextDropPollNs_) {
      for (auto& s : socks_) pollKernelDrops(*s);
      nextDropPollNs_ = ns + 100'000'000;
    }
  }
  cancelAll();
  for (size_t i = 0; i < socks_.size(); ++i) drainSocket(i);
  if (loop_.onTick) loop_.onTick(Clock::now());
}

void UringReceiver::cancelAll() {
  // A multishot recvmsg left armed keeps a reference to the socket until io_uring tears the ring
  // down, which it does asynchronously after io_uring_queue_exit: a restarted agent would then
  // find the port still bound. Cancel them and reap their final completions (the ones without
  // F_MORE) so the sockets are really closed when the receiver is destroyed.
  auto anyArmed = [&] {
    for (auto& s : socks_)
      if (s->armed) return true;
    return externalArmed_;
  };
  for (size_t i = 0; i < socks_.size() + 1; ++i) {
    const bool external = i == socks_.size();
    if (external ? !externalArmed_ : !socks_[i]->armed) continue;
    io_uring_sqe* sqe = ::io_uring_get_sqe(&ring_);
    if (!sqe) {
      ::io_uring_submit(&ring_);
      sqe = ::io_uring_get_sqe(&ring_);
    }
    if (!sqe) return;
    ::io_uring_prep_cancel64(sqe, external ? tag(kExternal, 0) : tag(kRecv, i), 0);
    ::io_uring_sqe_set_data64(sqe, tag(kCancel, i));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (anyArmed() && std::chrono::steady_clock::now() < deadline) {
    __kernel_timespec ts{0, 50'000'000};
    io_uring_cqe* cqe = nullptr;
    ::io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    io_uring_cqe* cqes[64];
    const unsigned n = ::io_uring_peek_batch_cqe(&ring_, cqes, 64);
    // A datagram that completes meanwhile is handled like any other, so nothing read from a
    // socket is lost; an external poll that fires now is cancelled either way.
    for (unsigned k = 0; k < n; ++k) {
      if ((::io_uring_cqe_get_data64(cqes[k]) >> 32) == kExternal) externalArmed_ = false;
      else handle(cqes[k]);
    }
    ::io_uring_cq_advance(&ring_, n);
  }
}

void UringReceiver::drainSocket(size_t i) {
  // What is still in the socket buffer at stop would vanish with the socket, uncounted: read it
  // and hand it to the sink like any other datagram (the reporters still run at this point).
  Sock& s = *socks_[i];
  std::vector<uint8_t> buf(static_cast<size_t>(s.opts.maxPacketSize) + 1);
  for (int k = 0; k < 100'000; ++k) {
    Datagram d;
    socklen_t peerLen = sizeof d.peer;
    const ssize_t n = ::recvfrom(s.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&d.peer), &peerLen);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: empty
    }
    s.read.store(s.read.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (n > s.opts.maxPacketSize) {
      s.counters->tooLarge.inc();
      continue;
    }
    d.bytes = {buf.data(), static_cast<size_t>(n)};
    if (s.sink->push(d)) s.counters->processed.inc();
    else s.counters->dropped.inc();
  }
}

}  // namespace jagent::receive
