#include "receive/xsk_receiver.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>

#include <spdlog/spdlog.h>

#include "parse.h"

namespace jagent::receive {
namespace {

constexpr uint32_t kRxBatch = 64;          // descriptors taken from the rx ring per peek
constexpr uint32_t kCompletionRing = 64;   // we never transmit; the UMEM still needs the ring
constexpr int kPollTimeoutMs = 100;        // bound on how late a stop request is noticed
constexpr int64_t kStatsIntervalNs = 100'000'000;
constexpr int kBusyRetries = 40;           // × 50 ms: how long a queue may stay busy after a close
constexpr auto kBusyRetryDelay = std::chrono::milliseconds(50);

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

UmemArea::~UmemArea() {
  if (p_) ::munmap(p_, len_);
}

XskReceiver::XskReceiver(const Options& opts, std::vector<XskPort> ports, XskCounters counters)
    : opts_(opts), ports_(std::move(ports)), counters_(counters) {}

Result<std::unique_ptr<XskReceiver>> XskReceiver::create(const Options& opts, std::vector<XskPort> ports,
                                                          XskCounters counters) {
  if (!pow2(opts.ringSize) || !pow2(opts.umemFrames) || (opts.frameSize != 2048 && opts.frameSize != 4096))
    return makeError("AF_XDP: ring size and UMEM frames must be powers of two, frame size 2048 or 4096");
  std::unique_ptr<XskReceiver> r(new XskReceiver(opts, std::move(ports), counters));
  if (auto ok = r->init(); !ok) return withContext(ok.error(), "AF_XDP socket on {} queue {}", opts.ifname, opts.queue);
  return r;
}

Result<void> XskReceiver::init() {
  frameShift_ = static_cast<uint32_t>(std::countr_zero(opts_.frameSize));
  const size_t bytes = size_t{opts_.umemFrames} * opts_.frameSize;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return errnoError(fmt::format("mmap UMEM ({} MiB)", bytes >> 20));
  umemArea_ = UmemArea(static_cast<uint8_t*>(mem), bytes);

  xsk_umem_config ucfg{};
  ucfg.fill_size = opts_.ringSize;
  ucfg.comp_size = kCompletionRing;
  ucfg.frame_size = opts_.frameSize;
  ucfg.frame_headroom = 0;
  ucfg.flags = 0;
  xsk_umem* umem = nullptr;
  int rc = ::xsk_umem__create(&umem, umemArea_.get(), bytes, &fill_, &comp_, &ucfg);
  if (rc < 0)
    return sysError(rc, fmt::format("xsk_umem__create ({} MiB; registering it needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)",
                                    bytes >> 20));
  umem_.reset(umem);

  xsk_socket_config scfg{};
  scfg.rx_size = opts_.ringSize;
  scfg.tx_size = 0;
  scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // our program steers, not libxdp's
  scfg.xdp_flags = 0;
  // Without XDP_COPY/XDP_ZEROCOPY the kernel tries zero-copy and falls back to copy mode.
  scfg.bind_flags = static_cast<__u16>(XDP_USE_NEED_WAKEUP | (opts_.forceCopy ? XDP_COPY : 0));
  xsk_socket* xsk = nullptr;
  // EBUSY: the queue still has a socket bound. The kernel releases a closed socket's queue
  // asynchronously, so right after the previous agent exited (or crashed) it can take a moment.
  for (int attempt = 0;; ++attempt) {
    rc = ::xsk_socket__create(&xsk, opts_.ifname.c_str(), opts_.queue, umem_.get(), &rx_, nullptr, &scfg);
    if (rc != -EBUSY || attempt == kBusyRetries) break;
    std::this_thread::sleep_for(kBusyRetryDelay);
  }
  if (rc == -EBUSY) return sysError(rc, "xsk_socket__create (another AF_XDP socket is bound to this queue)");
  if (rc == -EPERM || rc == -EACCES) return sysError(rc, "xsk_socket__create (AF_XDP sockets need CAP_NET_RAW)");
  if (rc < 0) return sysError(rc, "xsk_socket__create");
  xsk_.reset(xsk);
  fd_ = ::xsk_socket__fd(xsk_.get());

  xdp_options xo{};
  socklen_t len = sizeof xo;
  if (::getsockopt(fd_, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0) zeroCopy_ = (xo.flags & XDP_OPTIONS_ZEROCOPY) != 0;

  if (::bpf_map_update_elem(opts_.xsksMapFd, &opts_.xsksMapKey, &fd_, BPF_ANY) != 0)
    return errnoError("insert the socket into xsks_map");
  inMap_ = true;

  wakeFd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeFd_) return errnoError("eventfd");

  free_.reserve(opts_.umemFrames);
  for (uint32_t i = opts_.umemFrames; i-- > 0;) free_.push_back(uint64_t{i} << frameShift_);
  returned_.reserve(opts_.umemFrames);
  scratch_.reserve(opts_.umemFrames);
  refill();  // the kernel can deliver as soon as the socket is in the map
  return {};
}

XskReceiver::~XskReceiver() { stop(); }

void XskReceiver::start() {
  thread_ = std::thread([this] {
    const std::string tname = fmt::format("xsk-{}-{}", opts_.ifname, opts_.queue).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    run();
  });
}

void XskReceiver::wake() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wakeFd_.get(), &one, sizeof one);
}

void XskReceiver::requestStop() noexcept {
  stop_.store(true);
  if (wakeFd_) wake();
}

void XskReceiver::stop() {
  requestStop();
  if (thread_.joinable()) thread_.join();
  // Out of the XSKMAP: from now on the program passes this queue's datagrams to the socket path
  // (counted as pass_no_socket) instead of filling a ring nobody reads.
  if (inMap_) ::bpf_map_delete_elem(opts_.xsksMapFd, &opts_.xsksMapKey);
  inMap_ = false;
}

void XskReceiver::release(uint32_t token) noexcept {
  std::lock_guard lock(mu_);
  returned_.push_back(token);
  if (waiting_) wake();
}

void XskReceiver::drainReturned() {
  {
    std::lock_guard lock(mu_);
    if (returned_.empty()) return;
    scratch_.swap(returned_);
  }
  for (uint32_t token : scratch_) free_.push_back(uint64_t{token} << frameShift_);
  scratch_.clear();
}

void XskReceiver::refill() {
  if (free_.empty()) return;
  const uint32_t room = ::xsk_prod_nb_free(&fill_, static_cast<uint32_t>(free_.size()));
  const uint32_t n = std::min(room, static_cast<uint32_t>(free_.size()));
  if (n == 0) return;
  uint32_t idx = 0;
  if (::xsk_ring_prod__reserve(&fill_, n, &idx) != n) return;
  for (uint32_t i = 0; i < n; ++i) {
    *::xsk_ring_prod__fill_addr(&fill_, idx + i) = free_.back();
    free_.pop_back();
  }
  ::xsk_ring_prod__submit(&fill_, n);
  // need_wakeup: a zero-copy driver asks for a syscall when it stopped polling the fill ring.
  // In copy mode the kernel fills from the stack's own context and the kick would be a no-op.
  if (zeroCopy_ && ::xsk_ring_prod__needs_wakeup(&fill_)) ::recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
}

void XskReceiver::handle(uint64_t addr, uint32_t len) {
  counters_.frames.inc();
  const uint64_t frame = addr & ~(uint64_t{opts_.frameSize} - 1);
  const XskPort* port = nullptr;
  agent_pkt pkt{};
  if (addr + len <= umemArea_.size() && addr - frame + len <= opts_.frameSize) {
    const uint8_t* data = umemArea_.get() + addr;
    if (agent_parse_frame(data, data + len, &pkt) == AGENT_PARSE_UDP && !pkt.fragment && !pkt.bad_len) {
      const uint16_t dport = ntohs(pkt.dport);
      for (const XskPort& p : ports_)
        if (p.port == dport) {
          port = &p;
          break;
        }
    }
  }
  if (!port) {
    // The XDP program only redirects span-port datagrams it parsed; this is a mismatch between
    // the two (or a kernel surprise). Count it, give the frame back.
    counters_.invalid.inc();
    uint64_t suppressed = 0;
    if (errorLog_.allow(&suppressed))
      spdlog::warn("AF_XDP {} queue {}: a {}-byte frame is not a span-port UDP datagram ({} similar suppressed)",
                   opts_.ifname, opts_.queue, len, suppressed);
    recycle(frame);
    return;
  }

  Datagram d;
  d.bytes = {pkt.l4 + sizeof(agent_udp_hdr), pkt.payload_len};
  if (pkt.ip_version == 4) {
    const auto* ip = reinterpret_cast<const agent_ip4_hdr*>(pkt.l3);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = pkt.sport;
    std::memcpy(&sin.sin_addr, &ip->saddr, sizeof sin.sin_addr);
    std::memcpy(&d.peer, &sin, sizeof sin);
  } else {
    const auto* ip6 = reinterpret_cast<const agent_ip6_hdr*>(pkt.l3);
    d.peer.sin6_family = AF_INET6;
    d.peer.sin6_port = pkt.sport;
    std::memcpy(&d.peer.sin6_addr, ip6->saddr, sizeof d.peer.sin6_addr);
  }
  d.owner = this;
  d.token = static_cast<uint32_t>(frame >> frameShift_);
  if (port->sink->push(d)) {
    port->processed->inc();
    port->viaXsk->inc();
  } else {
    port->dropped->inc();
    d.owner = nullptr;  // not taken: recycle here rather than through release()
    if (port->sourceDrops) {
      agent_source_key key{};
      std::memcpy(key.addr, pkt.saddr, sizeof key.addr);
      key.port = port->port;
      port->sourceDrops->add(key);
    }
    recycle(frame);
  }
}

void XskReceiver::pollKernelStats() noexcept {
  // XDP_STATISTICS counters are cumulative per socket: publish the deltas.
  xdp_statistics st{};
  socklen_t len = sizeof st;
  if (fd_ < 0 || ::getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return;
  if (st.rx_dropped > lastStats_.rx_dropped) counters_.rxDropped.inc(st.rx_dropped - lastStats_.rx_dropped);
  if (st.rx_ring_full > lastStats_.rx_ring_full) counters_.rxRingFull.inc(st.rx_ring_full - lastStats_.rx_ring_full);
  if (st.rx_fill_ring_empty_descs > lastStats_.rx_fill_ring_empty_descs)
    counters_.fillRingEmpty.inc(st.rx_fill_ring_empty_descs - lastStats_.rx_fill_ring_empty_descs);
  lastStats_ = st;
}

void XskReceiver::run() {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_.get(), POLLIN, 0}};
  while (!stop_.load(std::memory_order_relaxed)) {
    drainReturned();
    refill();
    uint32_t idx = 0;
    const uint32_t n = ::xsk_ring_cons__peek(&rx_, kRxBatch, &idx);
    if (n > 0) {
      for (uint32_t i = 0; i < n; ++i) {
        const xdp_desc* desc = ::xsk_ring_cons__rx_desc(&rx_, idx + i);
        handle(desc->addr, desc->len);
      }
      ::xsk_ring_cons__release(&rx_, n);
    } else {
      bool wait = false;
      {
        std::lock_guard lock(mu_);
        waiting_ = wait = returned_.empty();
      }
      // poll() also kicks the driver when need_wakeup is set on the fill ring.
      if (wait && ::poll(fds, 2, kPollTimeoutMs) > 0 && (fds[1].revents & POLLIN)) {
        uint64_t v = 0;
        [[maybe_unused]] const ssize_t r = ::read(wakeFd_.get(), &v, sizeof v);
      }
      std::lock_guard lock(mu_);
      waiting_ = false;
    }
    const int64_t now = nowNs();
    if (now >= nextStatsNs_) {
      pollKernelStats();
      nextStatsNs_ = now + kStatsIntervalNs;
    }
  }
  pollKernelStats();
}

}  // namespace jagent::receive
