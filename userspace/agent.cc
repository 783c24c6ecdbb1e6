#include "agent.h"

#include <sched.h>

#include <optional>

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "common/rate_limited_log.h"
#include "decode/to_api_v2.h"
#include "http/sampling_upstream.h"
#include "report/grpc_transport.h"
#include "report/h2_grpc_transport.h"
#include "report/otlp_transport.h"
#include "report/stdout_reporter.h"
#include "report/tchannel_transport.h"

namespace jagent {
namespace {

size_t usableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<size_t>(CPU_COUNT(&set));
  return 1;
}

// Receive buffers per (port, shard): server-queue-size rounded down to a power of two, 4..32.
// Decoding is inline, so buffers come back at once; more would only add resident memory
// (each holds a max-size packet) without absorbing more than the socket buffer already does.
unsigned bufferCount(int queueSize) {
  unsigned n = 4;
  while (n * 2 <= static_cast<unsigned>(queueSize) && n < 32) n *= 2;
  return n;
}

}  // namespace

Result<std::unique_ptr<Agent>> Agent::create(const config::AgentConfig& cfg) {
  std::unique_ptr<Agent> a(new Agent(cfg));
  a->shards_ = cfg.shards > 0 ? static_cast<size_t>(cfg.shards) : usableCpus();
  a->clientStats_ = std::make_unique<metrics::ClientStatsTracker>(a->registry_);
  if (auto ok = a->createReporters(); !ok) return Unexpected(ok.error());
  if (auto ok = a->createPorts(); !ok) return Unexpected(ok.error());
  if (auto ok = a->createHttp(); !ok) return Unexpected(ok.error());
  return a;
}

Result<void> Agent::createReporters() {
  const config::ReporterConfig& rc = cfg_.reporter;
  if (rc.type == config::ReporterType::kStdout) {
    spdlog::info("no collector configured (--reporter.tchannel.host-port, --reporter.grpc.host-port or "
                 "--reporter.otlp.endpoint): printing received batches to stdout");
    reporters_.push_back(std::make_unique<report::StdoutReporter>());
    return {};
  }
  const char* protocol = rc.type == config::ReporterType::kTChannel ? "tchannel"
                         : rc.type == config::ReporterType::kGrpc   ? "grpc"
                                                                    : "otlp";
  reporterMetrics_ = std::make_unique<report::ReporterMetrics>(registry_, protocol);
  auto coreOptions = [&](size_t s) {
    report::ReporterCore::Options co;
    co.batchMaxBytes = rc.batchMaxBytes;
    co.batchMaxDelay = rc.batchMaxDelay;
    // The queue bound is the agent's: each shard gets its share.
    co.queueMaxBytes = std::max<size_t>(rc.queueMaxBytes / shards_, 2 * rc.batchMaxBytes);
    co.reportTimeout = rc.reportTimeout;
    co.threadName = fmt::format("report-{}", s);
    return co;
  };
  auto tlsOf = [](const config::TlsConfig& t) {
    report::TlsOptions o;
    o.enabled = t.enabled;
    o.ca = t.ca;
    o.cert = t.cert;
    o.key = t.key;
    o.serverName = t.serverName;
    o.skipHostVerify = t.skipHostVerify;
    return o;
  };
  auto engineOf = [](config::ReporterClient c) {
    using E = report::GrpcTransport::Options::Engine;
    return c == config::ReporterClient::kNative    ? E::kNative
           : c == config::ReporterClient::kLibrary ? E::kLibrary
                                                   : E::kAuto;
  };
  std::optional<report::TChannelTransport::PeerGauges> gauges;
  report::GrpcTransport::ConnMetrics conn;
  if (rc.type == config::ReporterType::kTChannel) {
    report::TChannelTransport::Options to;
    to.hostPorts = rc.hostPorts;
    to.minPeers = rc.minPeers;
    to.connCheckTimeout = rc.connCheckTimeout;
    gauges = report::TChannelTransport::registerGauges(to, registry_, shards_);
  } else if (rc.type == config::ReporterType::kGrpc || !rc.otlp.http) {
    conn = report::GrpcTransport::registerMetrics(registry_, protocol);  // §5.3 (gRPC channels only)
  }
  for (size_t s = 0; s < shards_; ++s) {
    report::ReporterCore::Options co = coreOptions(s);
    std::unique_ptr<report::Transport> transport;
    if (rc.type == config::ReporterType::kTChannel) {
      report::TChannelTransport::Options to;
      to.hostPorts = rc.hostPorts;
      to.minPeers = rc.minPeers;
      to.connCheckTimeout = rc.connCheckTimeout;
      auto t = report::TChannelTransport::create(to, *gauges);
      if (!t) return Unexpected(t.error());
      transport = std::move(*t);
    } else if (rc.type == config::ReporterType::kGrpc) {
      // api_v2 PostSpans carries one Batch per request (§1.2); retry.max = attempts in total (§5.2).
      report::GrpcTransport::Options go;
      go.mode = report::GrpcTransport::Mode::kJaegerPostSpans;
      go.hostPorts = rc.grpc.hostPorts;
      go.tls = tlsOf(rc.grpc.tls);
      go.engine = engineOf(rc.client);
      auto t = report::createGrpcClient(go, conn);
      if (!t) return withContext(t.error(), "--reporter.grpc.host-port");
      transport = std::move(*t);
      // Fewer, larger PostSpans (each gRPC call costs ~100 µs of agent CPU, docs/benchmarks.md):
      // batches of one client process share a Batch; the rest carry their process in each span
      // and share one more (Span.process, §1.2); zipkin batches (a process on every span) and
      // batches without one concatenate as they are.
      co.maxBatchesPerCall = 0;
      co.mergeBySuffix = true;
      co.inlineSuffix = [](std::span<const uint8_t> b, size_t suffix, std::vector<uint8_t>* out) {
        return decode::inlineBatchProcess(b, suffix, out);
      };
      co.maxAttempts = rc.grpc.retryMax;
    } else {
      report::OtlpOptions oo;
      oo.protocol = rc.otlp.http ? report::OtlpOptions::Protocol::kHttpProtobuf : report::OtlpOptions::Protocol::kGrpc;
      oo.endpoint = rc.otlp.endpoint;
      oo.headers = rc.otlp.headers;
      oo.gzip = rc.otlp.gzip;
      oo.timeout = rc.otlp.timeout;
      oo.tls = tlsOf(rc.otlp.tls);
      oo.engine = engineOf(rc.client);
      auto t = report::createOtlpTransport(oo, conn);
      if (!t) return withContext(t.error(), "--reporter.otlp.endpoint");
      transport = std::move(*t);
      co.maxBatchesPerCall = 0;  // ResourceSpans records concatenate into one request (§3.10)
      co.reportTimeout = rc.otlp.timeout;
    }
    auto core = std::make_unique<report::ReporterCore>(co, std::move(transport), *reporterMetrics_);
    cores_.push_back(core.get());
    reporters_.push_back(std::move(core));
  }
  // What the decode stages emit for this transport.
  encoding_ = rc.type == config::ReporterType::kGrpc   ? decode::Encoding::kApiV2
              : rc.type == config::ReporterType::kOtlp ? decode::Encoding::kOtlp
                                                       : decode::Encoding::kThriftBinary;
  return {};
}

pipeline::DecodeStage::Options Agent::stageOptions(const config::ProcessorConfig& pc, bool concurrent) const {
  pipeline::DecodeStage::Options so;
  so.name = pc.name;
  so.protocol = pc.protocol;
  so.agentTags = cfg_.agentTags;
  so.clientStats = clientStats_.get();
  so.concurrent = concurrent;
  so.encoding = encoding_;
  return so;
}

Result<void> Agent::createPorts() {
  const size_t nPorts = cfg_.processors.size();
  socketOf_.assign(shards_, std::vector<int>(nPorts, -1));
  std::vector<size_t> served(nPorts);  // shards serving each port
  std::vector<SockAddr> binds(nPorts);
  for (size_t i = 0; i < nPorts; ++i) {
    const config::ProcessorConfig& pc = cfg_.processors[i];
    portMetrics_.push_back(std::make_unique<pipeline::PortMetrics>(registry_, pc.model, pc.protocolName));
    auto hp = parseHostPort(pc.hostPort);
    if (!hp) return withContext(hp.error(), "--processor.{}.server-host-port", pc.name);
    auto addr = resolve(*hp, SOCK_DGRAM);
    if (!addr) return withContext(addr.error(), "--processor.{}.server-host-port", pc.name);
    binds[i] = *addr;
    served[i] = std::min(shards_, static_cast<size_t>(std::max(1, pc.workers)));
    const metrics::Labels l{{"model", pc.model}, {"protocol", pc.protocolName}};
    portCounters_.push_back(std::unique_ptr<receive::UdpCounters>(new receive::UdpCounters{
        registry_.counter("jaeger_agent_thrift_udp_server_packets_processed", "Datagrams read and handed to the decoder", l),
        registry_.counter("jaeger_agent_thrift_udp_server_packets_dropped",
                          "Datagrams dropped before decoding because the reporter queue was full", l),
        registry_.counter("jaeger_agent_thrift_udp_server_read_errors", "Errors reading from the UDP socket", l),
        registry_.counter("jaeger_agent_thrift_udp_server_packets_too_large",
                          "Datagrams longer than server-max-packet-size, dropped", l),
        registry_.counter("jaeger_agent_thrift_udp_server_kernel_drops",
                          "Datagrams the kernel dropped before the agent read them (socket buffer full)", l),
        registry_.gauge("jaeger_agent_thrift_udp_server_packet_size", "Size of the last datagram read", l),
    }));
  }
  for (size_t s = 0; s < shards_; ++s) {
    std::vector<receive::UringReceiver::Socket> socks;
    std::vector<pipeline::DecodeStage*> shardStages;  // by socket index
    for (size_t i = 0; i < nPorts; ++i) {
      if (s >= served[i]) continue;
      const config::ProcessorConfig& pc = cfg_.processors[i];
      auto stage = std::make_unique<pipeline::DecodeStage>(stageOptions(pc, false), *portMetrics_[i], stageReporter(s));
      receive::UringReceiver::Options ro;
      ro.name = pc.name;
      ro.bind = binds[i];
      // Port 0 (tests): every shard binds the port the first one got.
      if (s > 0) ro.bind.setPort(receivers_[0]->boundPort(static_cast<size_t>(socketOf_[0][i])));
      ro.maxPacketSize = pc.maxPacketSize;
      ro.socketBufferSize = pc.socketBufferSize;
      ro.bufferCount = bufferCount(pc.queueSize);
      ro.reusePort = served[i] > 1;
      socketOf_[s][i] = static_cast<int>(socks.size());
      socks.push_back(receive::UringReceiver::Socket{ro, stage.get(), portCounters_[i].get()});
      shardStages.push_back(stage.get());
      stages_.push_back(std::move(stage));
    }
    receive::UringReceiver::LoopOptions lo;
    lo.threadName = fmt::format("shard-{}", s);
    report::ReporterCore* core = s < cores_.size() ? cores_[s] : nullptr;
    if (core && core->pollFd() >= 0) {
      // The shard's thread drives its reporter: collector sockets and timers in the same loop.
      lo.externalFd = core->pollFd();
      lo.onExternal = [core] { core->onPollable(); };
      lo.onTick = [core](report::Clock::time_point now) { return core->tick(now); };
    } else if (core) {
      ownThreadCores_.push_back(core);
    }
    auto rx = receive::UringReceiver::create(std::move(lo), std::move(socks));
    if (!rx) return Unexpected(rx.error());
    for (size_t k = 0; k < shardStages.size(); ++k) shardStages[k]->setPort((*rx)->boundPort(k));
    receivers_.push_back(std::move(*rx));
  }
  for (size_t i = 0; i < nPorts; ++i) {
    if (served[i] > 1) {
      const int fd = receivers_[0]->fd(static_cast<size_t>(socketOf_[0][i]));
      if (auto ok = receive::UringReceiver::spreadReusePortGroup(fd, static_cast<unsigned>(served[i])); !ok)
        spdlog::warn("{}: datagrams are spread over shards by flow only: {}", cfg_.processors[i].name,
                     ok.error().message());
    }
    const metrics::Labels l{{"model", cfg_.processors[i].model}, {"protocol", cfg_.processors[i].protocolName}};
    registry_.callbackGauge("jaeger_agent_thrift_udp_server_queue_size",
                            "Datagrams read from the socket and not yet decoded", l, [this, i] {
                              double v = 0;
                              for (size_t s = 0; s < receivers_.size(); ++s)
                                if (socketOf_[s][i] >= 0) v += receivers_[s]->buffered(static_cast<size_t>(socketOf_[s][i]));
                              return v;
                            });
  }
  if (!cfg_.xdp.interfaces.empty()) {
    std::vector<receive::XdpPort> ports;
    for (size_t i = 0; i < cfg_.processors.size(); ++i) {
      const config::ProcessorConfig& pc = cfg_.processors[i];
      // One AF_XDP thread per rx queue may push into the port's stage: concurrent.
      auto stage = std::make_unique<pipeline::DecodeStage>(stageOptions(pc, true), *portMetrics_[i], stageReporter(i));
      const auto sock = static_cast<size_t>(socketOf_[0][i]);
      stage->setPort(receivers_[0]->boundPort(sock));
      receive::XdpPort xp{receivers_[0]->fd(sock), stage.get(), pc.model, pc.protocolName, portCounters_[i].get(), {}};
      for (metrics::Counter* c : portMetrics_[i]->rejects) xp.rejects.push_back(c);
      ports.push_back(std::move(xp));
      stages_.push_back(std::move(stage));
    }
    receive::XdpOptions xo;
    xo.interfaces = cfg_.xdp.interfaces;
    xo.mode = cfg_.xdp.mode;
    xo.pinPath = cfg_.xdp.pinPath;
    xo.frameSize = cfg_.xdp.frameSize;
    xo.ringSize = cfg_.xdp.ringSize;
    xo.umemFrames = cfg_.xdp.umemFrames;
    if (reporterMetrics_) {
      for (Format f : {Format::kJaeger, Format::kZipkin}) {
        const report::ReporterMetrics::PerFormat& m = reporterMetrics_->of(f);
        xo.userStats.reporterBatchesDropped.insert(xo.userStats.reporterBatchesDropped.end(),
                                                   {m.batchesDroppedQueueFull, m.batchesDroppedShutdown});
        xo.userStats.reporterSpansDropped.insert(xo.userStats.reporterSpansDropped.end(),
                                                 {m.spansDroppedQueueFull, m.spansDroppedShutdown});
        xo.userStats.collectorBatchesFailed.push_back(m.batchesFailures);
        xo.userStats.collectorSpansFailed.push_back(m.spansFailures);
      }
    }
    xdp_ = receive::XdpDatapath::create(xo, ports, registry_);  // null: XDP off, the cause is logged
  }
  return {};
}

Result<void> Agent::createHttp() {
  if (!cores_.empty() && cfg_.reporter.type == config::ReporterType::kGrpc) {
    // §5.4: GetSamplingStrategy on the same gRPC channels (jaeger-agent: same ClientConn).
    report::ReporterCore* core = cores_.front();
    configManager_ = std::make_unique<http::GrpcConfigManager>(
        [core](std::string_view method, std::vector<uint8_t> req, std::chrono::milliseconds timeout,
               report::RawCallback cb) { core->call(method, std::move(req), timeout, std::move(cb)); },
        std::chrono::seconds(1));
  } else if (!cores_.empty() && cfg_.reporter.type == config::ReporterType::kTChannel) {
    // jaeger-agent v1.17 gave each sampling/baggage RPC a fixed 1 s (configmanager/tchannel).
    report::ReporterCore* core = cores_.front();
    configManager_ = std::make_unique<http::TChannelConfigManager>(
        [core](std::string_view method, std::vector<uint8_t> arg3, std::chrono::milliseconds timeout,
               report::RawCallback cb) { core->call(method, std::move(arg3), timeout, std::move(cb)); },
        std::chrono::seconds(1));
  } else {
    // stdout, and otlp (an OTLP receiver serves no sampling, §5.5): only --sampling.upstream.
    configManager_ = std::make_unique<http::NoCollectorConfigManager>();
  }
  http::ConfigManager* manager = configManager_.get();
  if (const config::SamplingUpstream& su = cfg_.samplingUpstream; su.kind != config::SamplingUpstream::Kind::kDefault) {
    // Sampling from the upstream, baggage restrictions still from the reporter's collectors.
    // 1 s per call, as the reporter's sampling calls.
    if (su.kind == config::SamplingUpstream::Kind::kGrpc) {
      const bool v6 = su.host.find(':') != std::string::npos;
      auto g = http::GrpcChannelConfigManager::create(fmt::format("{}{}{}:{}", v6 ? "[" : "", su.host, v6 ? "]" : "", su.port),
                                                      std::chrono::seconds(1), registry_);
      if (!g) return withContext(g.error(), "--sampling.upstream");
      samplingUpstream_ = std::move(*g);
    } else {
      http::HttpConfigManager::Options ho;
      ho.host = su.host;
      ho.port = su.port;
      ho.path = su.path;
      ho.timeout = std::chrono::seconds(1);
      samplingUpstream_ = std::make_unique<http::HttpConfigManager>(std::move(ho), registry_);
    }
    splitManager_ = std::make_unique<http::SplitConfigManager>(*samplingUpstream_, *configManager_);
    manager = splitManager_.get();
    spdlog::info("sampling strategies from {}", su.url);
  }
  http::SamplingProxy::Options spo;
  // How each endpoint's upstream is reached, for the collector_proxy_total label (§5.3).
  spo.baggageProtocol = cfg_.reporter.type == config::ReporterType::kGrpc ? "grpc" : "tchannel";
  spo.samplingProtocol = cfg_.samplingUpstream.kind == config::SamplingUpstream::Kind::kGrpc   ? "grpc"
                         : cfg_.samplingUpstream.kind == config::SamplingUpstream::Kind::kHttp ? "http"
                                                                                               : spo.baggageProtocol;
  spo.ttl = cfg_.http.samplingCacheTtl;
  spo.maxEntries = cfg_.http.samplingCacheSize;
  samplingProxy_ = std::make_unique<http::SamplingProxy>(*manager, spo, registry_);

  http::SamplingServer::Options so;
  so.hostPort = cfg_.httpHostPort;
  so.readTimeout = cfg_.http.readTimeout;
  so.maxRequestBytes = cfg_.http.maxRequestBytes;
  auto sampling = http::SamplingServer::create(so, *samplingProxy_, registry_);
  if (!sampling) return withContext(sampling.error(), "--http-server.host-port");
  samplingServer_ = std::move(*sampling);

  http::AdminServer::Options ao;
  ao.hostPort = cfg_.adminHostPort;
  ao.readTimeout = cfg_.http.readTimeout;
  ao.maxRequestBytes = cfg_.http.maxRequestBytes;
  const int configured = cfg_.reporter.type == config::ReporterType::kGrpc   ? static_cast<int>(cfg_.reporter.grpc.hostPorts.size())
                         : cfg_.reporter.type == config::ReporterType::kOtlp ? 1
                                                                              : static_cast<int>(cfg_.reporter.hostPorts.size());
  // Readiness: collectors that every shard can reach (the least connected shard's count).
  ao.collectors = [cores = cores_, configured] {
    int connected = cores.empty() ? 0 : configured;
    for (const report::ReporterCore* c : cores) connected = std::min(connected, c->connectedPeers());
    return http::AdminServer::Collectors{configured, connected};
  };
  auto admin = http::AdminServer::create(std::move(ao), registry_);
  if (!admin) return withContext(admin.error(), "--admin.http.host-port");
  adminServer_ = std::move(*admin);
  return {};
}

Agent::~Agent() { stop(); }

uint16_t Agent::udpPort(size_t i) const noexcept {
  if (receivers_.empty() || i >= socketOf_[0].size() || socketOf_[0][i] < 0) return 0;
  return receivers_[0]->boundPort(static_cast<size_t>(socketOf_[0][i]));
}

Result<void> Agent::start() {
  adminServer_->start();  // health answers 503 until setReady() below
  for (report::ReporterCore* c : ownThreadCores_) c->start();
  for (auto& r : receivers_) r->start();
  if (xdp_) xdp_->start();
  samplingServer_->start();
  started_ = true;
  adminServer_->setReady();
  return {};
}

void Agent::stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  adminServer_->setUnavailable();  // first, so load balancers and probes see the shutdown at once
  const auto deadline = std::chrono::steady_clock::now() + cfg_.shutdownTimeout;
  // All at once: each may sit in a 100 ms wait.
  for (auto& r : receivers_) r->requestStop();
  if (xdp_) xdp_->requestStop();
  for (auto& r : receivers_) r->stop();
  if (xdp_) xdp_->stop();
  // Decoding is inline: once the receivers stopped, every datagram read is in a reporter. Cores
  // that their shard loop drove drain on threads of their own now, all at once.
  for (report::ReporterCore* c : cores_) c->beginClose(deadline);
  for (auto& r : reporters_) r->close(deadline);
  samplingServer_->stop();  // after the drain: until then it answers from its cache
  adminServer_->stop();     // last: /metrics shows the drain to the end
  xdp_.reset();             // detach the XDP program, remove its pins
}

}  // namespace jagent
