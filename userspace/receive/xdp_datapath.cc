#include "receive/xdp_datapath.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>


namespace jagent::receive {
namespace {

using PortField = agent_counter agent_port_stats::*;
struct PortResult {
  const char* name;  // the BTF field name, used as the metric's `result` label
  PortField field;
};
constexpr PortResult kPortResults[] = {
    {"seen", &agent_port_stats::seen},
    {"redirected", &agent_port_stats::redirected},
    {"pass_fragment", &agent_port_stats::pass_fragment},
    {"pass_too_big", &agent_port_stats::pass_too_big},
    {"pass_no_socket", &agent_port_stats::pass_no_socket},
    {"parse_error", &agent_port_stats::parse_error},
};

using GlobalField = agent_counter agent_global_stats::*;
struct GlobalResult {
  const char* name;
  GlobalField field;
};
constexpr GlobalResult kGlobalResults[] = {
    {"seen", &agent_global_stats::seen},
    {"parse_error", &agent_global_stats::parse_error},
    {"later_fragment", &agent_global_stats::later_fragment},
    {"other", &agent_global_stats::other},
};

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
constexpr int kBpfPollEvery = 5;  // BPF maps into the registry every 5th tick (500 ms)

struct Bound {
  uint16_t port = 0;
  bool loopback = false;
};

Result<Bound> boundAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errnoError("getsockname");
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    return Bound{ntohs(sin->sin_port), (ntohl(sin->sin_addr.s_addr) >> 24) == 127};
  }
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  return Bound{ntohs(sin6->sin6_port), static_cast<bool>(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))};
}

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
    std::string resolved = name;
    if (name == "auto") {
      auto r = defaultRouteInterface();
      if (!r) return Unexpected(r.error());
      resolved = *r;
    }
    if (std::find(po.interfaces.begin(), po.interfaces.end(), resolved) == po.interfaces.end())
      po.interfaces.push_back(resolved);
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
    dp->slots_.push_back(Slot{bound->port, p.sink, {{"model", p.model}, {"protocol", p.protocol}}});
  }
  if (po.spanPorts.empty()) return makeError("no processor listens on a non-loopback address");

  auto prog = XdpProgram::attach(po);
  if (!prog) return Unexpected(prog.error());
  dp->program_ = std::move(*prog);
  const XdpProgram& xp = *dp->program_;

  std::vector<XskPort> xskPorts;
  for (const Slot& s : dp->slots_) {
    XskPort xport;
    xport.port = s.port;
    xport.sink = s.sink;
    xport.processed = &registry.counter("jaeger_agent_thrift_udp_server_packets_processed",
                                        "Datagrams read and queued for decoding", s.labels);
    xport.dropped = &registry.counter("jaeger_agent_thrift_udp_server_packets_dropped",
                                      "Datagrams dropped because the decode queue was full", s.labels);
    xport.viaXsk = &registry.counter("jaeger_agent_xsk_packets_processed",
                                     "Datagrams read from AF_XDP sockets and queued for decoding", s.labels);
    xskPorts.push_back(xport);
  }

  std::string summary;
  Error firstError;
  for (size_t i = 0; i < xp.interfaces().size(); ++i) {
    const XdpProgram::Interface& iface = xp.interfaces()[i];
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
      XskReceiver::Options xo;
      xo.ifname = iface.name;
      xo.queue = q;
      xo.frameSize = cfg.frameSize;
      xo.ringSize = cfg.ringSize;
      xo.umemFrames = cfg.umemFrames;
      xo.forceCopy = iface.mode == XdpMode::kSkb;
      xo.xsksMapFd = xp.xsksMapFd();
      xo.xsksMapKey = XdpProgram::xskKey(i, q);
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
  if (dp->xsks_.empty()) return Unexpected(firstError);
  for (const XdpProgram::Interface& iface : xp.interfaces())
    if (!iface.dispatcher)
      spdlog::info("XDP on {}: attached as the only XDP program, without libxdp's multi-program dispatcher (this "
                   "kernel refused the dispatcher's freplace programs, or libxdp found no bpffs at $LIBXDP_BPFFS or "
                   "/sys/fs/bpf); other XDP programs cannot share {} meanwhile",
                   iface.name, iface.name);

  // Registry series for the BPF counters (filled by pollBpf from the per-CPU maps).
  for (size_t i = 0; i < xp.interfaces().size(); ++i) {
    for (size_t j = 0; j < dp->slots_.size(); ++j) {
      BpfSeries s{i, j, {}, {}, {}};
      for (const PortResult& r : kPortResults) {
        const metrics::Labels l{{"interface", xp.interfaces()[i].name},
                                {"port", std::to_string(dp->slots_[j].port)},
                                {"result", r.name}};
        s.packets.push_back(&registry.counter(
            "jaeger_agent_xdp_packets", "Span-port UDP frames seen by the XDP program, by outcome", l));
        s.bytes.push_back(&registry.counter(
            "jaeger_agent_xdp_bytes", "Bytes of span-port UDP frames seen by the XDP program, by outcome", l));
      }
      dp->bpfSeries_.push_back(std::move(s));
    }
  }
  for (const GlobalResult& r : kGlobalResults)
    dp->globalSeries_.push_back(&registry.counter(
        "jaeger_agent_xdp_frames", "Frames seen by the XDP program, not attributed to a span port, by outcome",
        {{"result", r.name}}));

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
  xsks_.clear();     // sockets and UMEMs, before the program whose XSKMAP they sit in
  program_.reset();  // detach, unpin
}

void XdpDatapath::start() {
  for (auto& x : xsks_) x->start();
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
      if (++tick % kBpfPollEvery == 0) pollBpf();
      mirrorUserStats();
    }
    lock.lock();
  }
  lock.unlock();
  syncStats();  // final values
}

void XdpDatapath::syncStats() {
  std::lock_guard sync(syncMu_);
  pollBpf();
  mirrorUserStats();
}

void XdpDatapath::pollBpf() {
  // Counters only grow; add the increase since the last poll.
  auto addDelta = [](metrics::Counter* c, uint64_t now, uint64_t before) {
    if (now > before) c->inc(now - before);
  };
  for (BpfSeries& s : bpfSeries_) {
    auto st = program_->portStats(s.iface, s.port);
    if (!st) continue;
    for (size_t r = 0; r < std::size(kPortResults); ++r) {
      const agent_counter& now = (*st).*kPortResults[r].field;
      const agent_counter& before = s.last.*kPortResults[r].field;
      addDelta(s.packets[r], now.packets, before.packets);
      addDelta(s.bytes[r], now.bytes, before.bytes);
    }
    s.last = *st;
  }
  if (auto g = program_->globalStats()) {
    for (size_t r = 0; r < std::size(kGlobalResults); ++r)
      addDelta(globalSeries_[r], ((*g).*kGlobalResults[r].field).packets,
               (lastGlobal_.*kGlobalResults[r].field).packets);
    lastGlobal_ = *g;
  }
}

void XdpDatapath::mirrorUserStats() {
  agent_user_stats* u = program_->userStats();
  if (!u) return;
  const metrics::Registry& reg = registry_;
  for (size_t j = 0; j < slots_.size(); ++j) {
    const metrics::Labels& l = slots_[j].labels;
    agent_user_port_stats& p = u->ports[j];
    store(p.received, reg.counterSum("jaeger_agent_thrift_udp_server_packets_processed", l));
    store(p.received_xsk, reg.counterSum("jaeger_agent_xsk_packets_processed", l));
    store(p.queue_full, reg.counterSum("jaeger_agent_thrift_udp_server_packets_dropped", l));
    store(p.too_large, reg.counterSum("jaeger_agent_thrift_udp_server_packets_too_large", l));
    store(p.socket_kernel_drops, reg.counterSum("jaeger_agent_thrift_udp_server_kernel_drops", l));
    store(p.read_errors, reg.counterSum("jaeger_agent_thrift_udp_server_read_errors", l));
    for (size_t r = 0; r < std::size(kRejectFields); ++r) {
      metrics::Labels rl = l;
      rl.emplace_back("reason", reasonName(static_cast<RejectReason>(r + 1)));
      store(p.decode_rejected.*kRejectFields[r], reg.counterSum("jaeger_agent_decode_rejected", rl));
    }
  }
  store(u->xsk_rx_dropped, reg.counterSum("jaeger_agent_xsk_kernel_drops", {{"reason", "rx_dropped"}}));
  store(u->xsk_rx_ring_full, reg.counterSum("jaeger_agent_xsk_kernel_drops", {{"reason", "rx_ring_full"}}));
  store(u->xsk_fill_ring_empty, reg.counterSum("jaeger_agent_xsk_kernel_drops", {{"reason", "fill_ring_empty"}}));
  store(u->xsk_invalid_frames, reg.counterSum("jaeger_agent_xsk_invalid_frames"));
  store(u->reporter_batches_dropped, reg.counterSum("jaeger_agent_reporter_batches_dropped"));
  store(u->reporter_spans_dropped, reg.counterSum("jaeger_agent_reporter_spans_dropped"));
  store(u->collector_batches_failed, reg.counterSum("jaeger_agent_reporter_batches_failures"));
  store(u->collector_spans_failed, reg.counterSum("jaeger_agent_reporter_spans_failures"));
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  store(u->update_ns, static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec));
}

}  // namespace jagent::receive
