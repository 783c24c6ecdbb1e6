#include "receive/xdp_datapath.h"

#include <fnmatch.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>


namespace jagent::receive {
namespace {

// user_stats.decode_rejected fields in RejectReason order (kOk excluded).
constexpr __u64 agent_decode_rejects::*kRejectFields[] = {
    &agent_decode_rejects::truncated,        &agent_decode_rejects::wrong_protocol,
    &agent_decode_rejects::bad_envelope,     &agent_decode_rejects::bad_message_type,
    &agent_decode_rejects::unknown_method,   &agent_decode_rejects::length_too_large,
    &agent_decode_rejects::negative_length,  &agent_decode_rejects::depth_exceeded,
    &agent_decode_rejects::bad_varint,       &agent_decode_rejects::bad_type,
    &agent_decode_rejects::wrong_field_type, &agent_decode_rejects::missing_field,
    &agent_decode_rejects::trailing_bytes,
};
static_assert(std::size(kRejectFields) == static_cast<size_t>(RejectReason::kCount) - 1,
              "agent_abi.h agent_decode_rejects must list every RejectReason");
static_assert(std::size(kRejectFields) == AGENT_DECODE_REJECT_REASONS, "ABI: reject reasons");

constexpr auto kStatsInterval = std::chrono::milliseconds(100);
constexpr int kBpfPollEvery = 5;       // BPF maps into the metrics every 5th tick (500 ms)
constexpr int kSourcePollEvery = 20;   // source_stats (up to 4096 entries) every 2 s
// Interface slots when patterns are configured: kubelet's default --max-pods is 110, so 128
// covers a node's pod interfaces plus its NICs. A pod interface beyond that is not counted
// (logged once) and works as before. Kernel memory: docs/xdp-datapath.md.
constexpr uint32_t kPatternSlots = 128;

struct Bound {
  uint16_t port = 0;
  bool loopback = false;
  int family = AF_INET;
  std::array<uint8_t, 16> addr{};  // IPv4-mapped; zero = wildcard
  bool v6only = false;
};

Result<Bound> boundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errnoError("getsockname");
  Bound b;
  b.family = ss.ss_family;
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    b.port = ntohs(sin->sin_port);
    b.loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    if (sin->sin_addr.s_addr != INADDR_ANY) {
      b.addr[10] = b.addr[11] = 0xff;
      std::memcpy(&b.addr[12], &sin->sin_addr, 4);
    }
    return b;
  }
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  b.port = ntohs(sin6->sin6_port);
  b.loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) || (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127);
  std::memcpy(b.addr.data(), &sin6->sin6_addr, 16);
  int v6only = 0;
  socklen_t olen = sizeof v6only;
  if (::getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen) == 0) b.v6only = v6only != 0;
  return b;
}

bool isPattern(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

void store(__u64& field, uint64_t v) { std::atomic_ref<__u64>(field).store(v, std::memory_order_relaxed); }

}  // namespace

std::unique_ptr<XdpDatapath> XdpDatapath::create(const XdpOptions& cfg, const std::vector<XdpPort>& ports,
                                                 metrics::Registry& registry) {
  auto dp = tryCreate(cfg, ports, registry);
  if (!dp) {
    spdlog::warn("XDP/AF_XDP datapath off: {}; receiving spans through the kernel UDP sockets (io_uring) only",
                 dp.error().message());
    return nullptr;
  }
  return std::move(*dp);
}

Result<std::unique_ptr<XdpDatapath>> XdpDatapath::tryCreate(const XdpOptions& cfg,
                                                            const std::vector<XdpPort>& ports,
                                                            metrics::Registry& registry) {
  auto mode = parseXdpMode(cfg.mode);
  if (!mode) return Unexpected(mode.error());
  std::unique_ptr<XdpDatapath> dp(new XdpDatapath(registry));

  XdpProgramOptions po;
  po.mode = *mode;
  po.pinPath = cfg.pinPath;
  po.frameSize = cfg.frameSize;
  for (const std::string& name : cfg.interfaces) {
    if (isPattern(name)) {
      dp->patterns_.push_back(name);
      continue;
    }
    std::string resolved = name;
    if (name == "auto") {
      auto r = defaultRouteInterface();
      if (!r) return Unexpected(r.error());
      resolved = *r;
    }
    if (std::find(po.interfaces.begin(), po.interfaces.end(), resolved) == po.interfaces.end())
      po.interfaces.push_back(resolved);
  }
  dp->steered_ = po.interfaces;
  if (!dp->patterns_.empty()) {
    // The pattern-matching links present now are attached with the program; later ones by the
    // watcher. (The watcher's own dump reconciles whatever changes in between.)
    auto state = NetlinkWatcher::dump();
    if (!state) return withContext(state.error(), "list interfaces");
    for (const NetLink& l : state->first)
      if (dp->matchesPattern(l.name) && std::find(po.interfaces.begin(), po.interfaces.end(), l.name) == po.interfaces.end() &&
          po.countOnly.size() + po.interfaces.size() < kPatternSlots)
        po.countOnly.push_back(l.name);
    po.maxInterfaces = std::max<uint32_t>(kPatternSlots, static_cast<uint32_t>(po.interfaces.size() + 1));
  }
  for (const XdpPort& p : ports) {
    auto bound = boundAddress(p.socketFd);
    if (!bound) return Unexpected(bound.error());
    if (bound->loopback) {
      // Steering would accept from the network what the socket only takes from this host.
      spdlog::info("XDP: not steering UDP port {} ({}-{}): its socket is bound to loopback only", bound->port,
                   p.model, p.protocol);
      continue;
    }
    if (std::find(po.spanPorts.begin(), po.spanPorts.end(), bound->port) != po.spanPorts.end())
      return makeError(fmt::format("UDP port {} is used by two processors", bound->port));
    po.spanPorts.push_back(bound->port);
    dp->slots_.push_back(Slot{bound->port, p.sink, {{"model", p.model}, {"protocol", p.protocol}}, p.socketCounters,
                              p.rejects, nullptr, bound->family, bound->addr, bound->v6only});
  }
  if (po.spanPorts.empty()) return makeError("no processor listens on a non-loopback address");

  auto prog = XdpProgram::attach(po);
  if (!prog) return Unexpected(prog.error());
  dp->program_ = std::move(*prog);
  const XdpProgram& xp = *dp->program_;

  std::vector<XskPort> xskPorts;
  dp->userStats_ = cfg.userStats;
  for (Slot& s : dp->slots_) {
    XskPort xport;
    xport.port = s.port;
    xport.sink = s.sink;
    // The socket path's counters of the port, shared (jaeger's names count both paths).
    xport.processed = s.socketCounters ? &s.socketCounters->processed
                                       : &registry.counter("jaeger_agent_thrift_udp_server_packets_processed",
                                                           "Datagrams read and handed to the decoder", s.labels);
    xport.dropped = s.socketCounters ? &s.socketCounters->dropped
                                     : &registry.counter("jaeger_agent_thrift_udp_server_packets_dropped",
                                                         "Datagrams dropped before decoding", s.labels);
    xport.viaXsk = &registry.counter("jaeger_agent_xsk_packets_processed",
                                     "Datagrams read from AF_XDP sockets and handed to the decoder", s.labels);
    s.viaXsk = xport.viaXsk;
    xport.sourceDrops = &dp->drops_;
    xskPorts.push_back(xport);
  }

  std::string summary;
  Error firstError;
  size_t countOnly = 0;
  for (size_t i = 0; i < xp.interfaces().size(); ++i) {
    const XdpProgram::Interface& iface = xp.interfaces()[i];
    if (!iface.steer) {
      ++countOnly;
      continue;
    }
    auto queues = rxQueueCount(iface.name);
    if (!queues) return withContext(queues.error(), "rx queues of {}", iface.name);
    uint32_t n = *queues;
    if (n > AGENT_MAX_RX_QUEUES) {
      spdlog::warn("XDP on {}: {} rx queues, AF_XDP sockets on the first {} (the rest use the socket path)",
                   iface.name, n, AGENT_MAX_RX_QUEUES);
      n = AGENT_MAX_RX_QUEUES;
    }
    uint32_t bound = 0, zeroCopy = 0;
    for (uint32_t q = 0; q < n; ++q) {
      const metrics::Labels l{{"interface", iface.name}, {"queue", std::to_string(q)}};
      auto labelled = [&](const char* reason) {
        metrics::Labels r = l;
        r.emplace_back("reason", reason);
        return r;
      };
      const char* dropHelp = "Frames the kernel dropped on their way into an AF_XDP socket, by reason";
      XskCounters counters{
          registry.counter("jaeger_agent_xsk_frames", "Frames read from AF_XDP rx rings", l),
          registry.counter("jaeger_agent_xsk_invalid_frames",
                           "AF_XDP frames that were not a span-port UDP datagram (recycled)", l),
          registry.counter("jaeger_agent_xsk_kernel_drops", dropHelp, labelled("rx_dropped")),
          registry.counter("jaeger_agent_xsk_kernel_drops", dropHelp, labelled("rx_ring_full")),
          registry.counter("jaeger_agent_xsk_kernel_drops", dropHelp, labelled("fill_ring_empty")),
      };
      dp->xskCounters_.push_back(counters);
      XskReceiver::Options xo;
      xo.ifname = iface.name;
      xo.queue = q;
      xo.frameSize = cfg.frameSize;
      xo.ringSize = cfg.ringSize;
      xo.umemFrames = cfg.umemFrames;
      xo.forceCopy = iface.mode == XdpMode::kSkb;
      xo.xsksMapFd = xp.xsksMapFd();
      xo.xsksMapKey = XdpProgram::xskKey(iface.slot, q);
      auto rx = XskReceiver::create(xo, xskPorts, counters);
      if (!rx) {
        // This queue's span datagrams are passed (pass_no_socket) and reach the socket path.
        spdlog::warn("XDP on {}: no AF_XDP socket on queue {}: {}", iface.name, q, rx.error().message());
        if (firstError.context.empty()) firstError = rx.error();
        continue;
      }
      ++bound;
      if ((*rx)->zeroCopy()) ++zeroCopy;
      dp->xsks_.push_back(std::move(*rx));
    }
    summary += fmt::format("{}{} ({} mode{}, AF_XDP on {}/{} rx queues, {})", summary.empty() ? "" : ", ", iface.name,
                           xdpModeName(iface.mode), iface.dispatcher ? " via libxdp dispatcher" : ", no dispatcher",
                           bound, n, zeroCopy == bound && bound > 0 ? "zero-copy" : zeroCopy ? "partly zero-copy" : "copy mode");
  }
  if (dp->xsks_.empty() && !xp.interfaces().empty() && countOnly < xp.interfaces().size()) return Unexpected(firstError);
  if (!dp->patterns_.empty()) {
    std::string list;
    for (const std::string& p : dp->patterns_) list += (list.empty() ? "" : ",") + p;
    summary += fmt::format("{}count-only on {} ({} now, {} mode; followed as they come and go)",
                           summary.empty() ? "" : "; ", list, countOnly, xdpModeName(po.countOnlyMode));
  }
  for (const XdpProgram::Interface& iface : xp.interfaces())
    if (!iface.dispatcher && iface.steer)
      spdlog::info("XDP on {}: attached as the only XDP program, without libxdp's multi-program dispatcher (this "
                   "kernel refused the dispatcher's freplace programs, or libxdp found no bpffs at $LIBXDP_BPFFS or "
                   "/sys/fs/bpf); other XDP programs cannot share {} meanwhile",
                   iface.name, iface.name);

  dp->metrics_ = std::make_unique<XdpMetrics>(registry);

  // Addresses (always) and links (with patterns) from netlink, from now on.
  NetlinkWatcher::Handlers h;
  XdpDatapath* self = dp.get();
  h.snapshot = [self](const std::vector<NetLink>& links, const std::vector<NetAddress>& addrs) { self->reconcile(links, addrs); };
  h.linkAdded = [self](const NetLink& l) { self->linkAdded(l); };
  h.linkRemoved = [self](uint32_t ifindex) { self->linkRemoved(ifindex); };
  h.addressAdded = [self](const NetAddress& a) { self->addressAdded(a); };
  h.addressRemoved = [self](const NetAddress& a) { self->addressRemoved(a); };
  auto watcher = NetlinkWatcher::create(std::move(h));
  if (!watcher) return withContext(watcher.error(), "watch interface addresses");
  dp->watcher_ = std::move(*watcher);

  std::string portList;
  for (uint16_t p : xp.spanPorts()) portList += (portList.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("XDP/AF_XDP datapath on: {}; span ports {}; counters pinned in {}", summary, portList,
               xp.pinPath().empty() ? "(not pinned)" : xp.pinPath());
  return dp;
}

XdpDatapath::~XdpDatapath() {
  {
    std::lock_guard lock(statsMu_);
    stopStats_ = true;
  }
  statsCv_.notify_all();
  if (statsThread_.joinable()) statsThread_.join();
  stop();
  watcher_.reset();  // no more attach/detach from its thread
  xsks_.clear();     // sockets and UMEMs, before the program whose XSKMAP they sit in
  program_.reset();  // detach, unpin
}

void XdpDatapath::start() {
  for (auto& x : xsks_) x->start();
  if (watcher_) watcher_->start();
  statsThread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "xdp-stats");
    statsLoop();
  });
}

void XdpDatapath::requestStop() noexcept {
  for (auto& x : xsks_) x->requestStop();
}

void XdpDatapath::stop() {
  requestStop();
  for (auto& x : xsks_) x->stop();
}

void XdpDatapath::statsLoop() {
  int tick = 0;
  std::unique_lock lock(statsMu_);
  while (!stopStats_) {
    statsCv_.wait_for(lock, kStatsInterval, [&] { return stopStats_; });
    lock.unlock();
    {
      std::lock_guard sync(syncMu_);
      ++tick;
      if (tick % kBpfPollEvery == 0) pollBpf(tick % kSourcePollEvery == 0);
      mirrorUserStats();
    }
    lock.lock();
  }
  lock.unlock();
  syncStats();  // final values
}

void XdpDatapath::syncStats() {
  std::lock_guard sync(syncMu_);
  pollBpf(true);
  mirrorUserStats();
}

void XdpDatapath::pollBpf(bool withSources) {
  std::vector<XdpMetrics::InterfaceRow> rows;
  {
    std::lock_guard lock(ifMu_);
    for (const XdpProgram::Interface& iface : program_->interfaces())
      for (size_t j = 0; j < slots_.size(); ++j)
        if (auto st = program_->portStats(iface.slot, j)) rows.push_back({iface.name, slots_[j].port, *st});
  }
  metrics_->updateInterfaces(std::move(rows));
  if (auto g = program_->globalStats()) metrics_->updateGlobal(*g);
  for (const auto& [key, n] : drops_.take()) program_->addSourceDrops(key, n);
  if (withSources)
    if (auto src = program_->sources()) {
      auto drops = program_->sourceDrops();
      metrics_->updateSources(*src, drops ? *drops : decltype(drops)::value_type{});
    }
}

std::vector<std::string> XdpDatapath::attachedInterfaces() const {
  std::lock_guard lock(ifMu_);
  std::vector<std::string> out;
  for (const XdpProgram::Interface& i : program_->interfaces()) out.push_back(i.name);
  return out;
}

bool XdpDatapath::matchesPattern(const std::string& name) const {
  for (const std::string& p : patterns_)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

// Which span ports' sockets receive on this address: a wildcard socket of the same family takes
// every address of it (an AF_INET6 one also IPv4 unless IPV6_V6ONLY), a bound one only its own.
uint32_t XdpDatapath::portMask(const NetAddress& a) const {
  static const std::array<uint8_t, 16> kAny{};
  uint32_t mask = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    bool takes;
    if (s.addr == kAny) takes = s.family == a.family || (s.family == AF_INET6 && a.family == AF_INET && !s.v6only);
    else takes = s.addr == a.addr;
    if (takes) mask |= 1u << i;
  }
  return mask;
}

void XdpDatapath::addressAdded(const NetAddress& a) {
  const uint32_t mask = portMask(a);
  if (mask == 0) return;
  std::lock_guard lock(ifMu_);
  addrRefs_[a.addr].insert(a.ifindex);
  agent_addr key{};
  std::memcpy(key.addr, a.addr.data(), 16);
  if (auto ok = program_->setLocalAddress(key, mask, a.ifindex); !ok)
    spdlog::warn("XDP: cannot add local address {}: {}", XdpMetrics::sourceLabel(key.addr), ok.error().message());
}

void XdpDatapath::addressRemoved(const NetAddress& a) {
  std::lock_guard lock(ifMu_);
  auto it = addrRefs_.find(a.addr);
  if (it == addrRefs_.end()) return;
  it->second.erase(a.ifindex);
  if (!it->second.empty()) return;  // still on another interface
  addrRefs_.erase(it);
  agent_addr key{};
  std::memcpy(key.addr, a.addr.data(), 16);
  program_->removeLocalAddress(key);
}

void XdpDatapath::linkAdded(const NetLink& link) {
  if (patterns_.empty()) return;
  std::unique_lock lock(ifMu_);
  for (const XdpProgram::Interface& i : program_->interfaces()) {
    if (i.ifindex != link.ifindex) continue;
    if (i.steer || i.name == link.name || matchesPattern(link.name)) return;  // already ours
    lock.unlock();  // renamed away from the patterns: release it
    linkRemoved(link.ifindex);
    return;
  }
  if (!matchesPattern(link.name) || std::find(steered_.begin(), steered_.end(), link.name) != steered_.end()) return;
  if (failed_.count(link.ifindex)) return;  // warned once; RTM_NEWLINK repeats on every flag change
  auto r = program_->addInterface(link.name, link.ifindex, false);
  if (!r) {
    failed_.insert(link.ifindex);
    spdlog::warn("XDP on {}: not counting this interface: {}", link.name, r.error().message());
    return;
  }
  spdlog::info("XDP on {}: attached (count-only, {} mode)", link.name, xdpModeName(r->mode));
}

void XdpDatapath::linkRemoved(uint32_t ifindex) {
  std::lock_guard lock(ifMu_);
  failed_.erase(ifindex);
  for (auto it = addrRefs_.begin(); it != addrRefs_.end();) {  // its addresses went with it
    it->second.erase(ifindex);
    if (it->second.empty()) {
      agent_addr key{};
      std::memcpy(key.addr, it->first.data(), 16);
      program_->removeLocalAddress(key);
      it = addrRefs_.erase(it);
    } else {
      ++it;
    }
  }
  for (const XdpProgram::Interface& i : program_->interfaces()) {
    if (i.ifindex != ifindex) continue;
    if (i.steer) {
      spdlog::warn("XDP on {}: the interface went away; its AF_XDP sockets are gone with it", i.name);
      return;
    }
    const std::string name = i.name;
    const bool gone = ::if_nametoindex(name.c_str()) != ifindex;
    program_->removeInterface(ifindex, gone);
    spdlog::info("XDP on {}: released ({})", name, gone ? "interface deleted" : "renamed");
    return;
  }
}

void XdpDatapath::reconcile(const std::vector<NetLink>& links, const std::vector<NetAddress>& addrs) {
  // Addresses: drop what is no longer there, add what is.
  {
    std::set<std::pair<std::array<uint8_t, 16>, uint32_t>> now;
    for (const NetAddress& a : addrs) now.insert({a.addr, a.ifindex});
    std::vector<NetAddress> gone;
    {
      std::lock_guard lock(ifMu_);
      for (const auto& [addr, ifs] : addrRefs_)
        for (uint32_t ifindex : ifs)
          if (!now.count({addr, ifindex})) gone.push_back(NetAddress{ifindex, 0, addr});
    }
    for (const NetAddress& a : gone) addressRemoved(a);
    for (const NetAddress& a : addrs) addressAdded(a);
  }
  // Links: release count-only interfaces that are gone, attach the matching ones.
  std::vector<uint32_t> gone;
  {
    std::lock_guard lock(ifMu_);
    for (const XdpProgram::Interface& i : program_->interfaces()) {
      if (i.steer) continue;
      const bool present = std::any_of(links.begin(), links.end(), [&](const NetLink& l) { return l.ifindex == i.ifindex; });
      if (!present) gone.push_back(i.ifindex);
    }
  }
  for (uint32_t ifindex : gone) linkRemoved(ifindex);
  for (const NetLink& l : links) linkAdded(l);
}

void XdpDatapath::mirrorUserStats() {
  agent_user_stats* u = program_->userStats();
  if (!u) return;
  auto sum = [](const std::vector<const metrics::Counter*>& cs) {
    uint64_t v = 0;
    for (const metrics::Counter* c : cs) v += c->value();
    return v;
  };
  for (size_t j = 0; j < slots_.size(); ++j) {
    const Slot& sl = slots_[j];
    agent_user_port_stats& p = u->ports[j];
    if (sl.socketCounters) {
      store(p.received, sl.socketCounters->processed.value());
      store(p.queue_full, sl.socketCounters->dropped.value());
      store(p.too_large, sl.socketCounters->tooLarge.value());
      store(p.socket_kernel_drops, sl.socketCounters->kernelDrops.value());
      store(p.read_errors, sl.socketCounters->readErrors.value());
    }
    if (sl.viaXsk) store(p.received_xsk, sl.viaXsk->value());
    for (size_t r = 0; r < std::size(kRejectFields) && r < sl.rejects.size(); ++r)
      store(p.decode_rejected.*kRejectFields[r], sl.rejects[r]->value());
  }
  uint64_t rxDropped = 0, rxRingFull = 0, fillRingEmpty = 0, invalid = 0;
  for (const XskCounters& x : xskCounters_) {
    rxDropped += x.rxDropped.value();
    rxRingFull += x.rxRingFull.value();
    fillRingEmpty += x.fillRingEmpty.value();
    invalid += x.invalid.value();
  }
  store(u->xsk_rx_dropped, rxDropped);
  store(u->xsk_rx_ring_full, rxRingFull);
  store(u->xsk_fill_ring_empty, fillRingEmpty);
  store(u->xsk_invalid_frames, invalid);
  store(u->reporter_batches_dropped, sum(userStats_.reporterBatchesDropped));
  store(u->reporter_spans_dropped, sum(userStats_.reporterSpansDropped));
  store(u->collector_batches_failed, sum(userStats_.collectorBatchesFailed));
  store(u->collector_spans_failed, sum(userStats_.collectorSpansFailed));
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  store(u->update_ns, static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec));
}

}  // namespace jagent::receive
