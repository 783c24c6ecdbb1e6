#include "agent.h"

#include <sched.h>

#include <optional>

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "common/rate_limited_log.h"
#include "report/grpc_transport.h"
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

// The decode stages produce Thrift-encoded batches; the api_v2 / OTLP transcoders are not merged
// yet, so in grpc / otlp mode batches stop here, counted and logged (never sent as wrong bytes).
class UnwiredReporter final : public report::Reporter {
 public:
  UnwiredReporter(metrics::Registry& registry, const char* protocol)
      : protocol_(protocol),
        batches_(registry.counter("jaeger_agent_reporter_batches_dropped", "Batches dropped before reaching a collector, by reason",
                                  {{"protocol", protocol}, {"reason", "encoding_not_wired"}})),
        spans_(registry.counter("jaeger_agent_reporter_spans_dropped", "Spans dropped before reaching a collector, by reason",
                                {{"protocol", protocol}, {"reason", "encoding_not_wired"}})) {}
  void emit(const EncodedBatch& batch) noexcept override {
    batches_.inc();
    spans_.inc(batch.summary ? batch.summary->spans : 0);
    uint64_t suppressed = 0;
    if (log_.allow(&suppressed))
      spdlog::warn("reporter ({}): the Thrift -> {} encoding is not wired yet: batch dropped ({} similar suppressed)",
                   protocol_, protocol_, suppressed);
  }
  void close(std::chrono::steady_clock::time_point) override {}

 private:
  const char* protocol_;
  metrics::Counter& batches_;
  metrics::Counter& spans_;
  RateLimiter log_{std::chrono::seconds(10)};
};

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
      auto t = report::GrpcTransport::create(go, conn);
      if (!t) return withContext(t.error(), "--reporter.grpc.host-port");
      transport = std::move(*t);
      co.maxBatchesPerCall = 1;
      co.maxAttempts = rc.grpc.retryMax;
    } else {
      report::OtlpOptions oo;
      oo.protocol = rc.otlp.http ? report::OtlpOptions::Protocol::kHttpProtobuf : report::OtlpOptions::Protocol::kGrpc;
      oo.endpoint = rc.otlp.endpoint;
      oo.headers = rc.otlp.headers;
      oo.gzip = rc.otlp.gzip;
      oo.timeout = rc.otlp.timeout;
      oo.tls = tlsOf(rc.otlp.tls);
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
  if (rc.type == config::ReporterType::kGrpc || rc.type == config::ReporterType::kOtlp) {
    spdlog::warn("reporter: --reporter.type={}: the transport is up, but the Thrift -> {} encoding is not wired yet; "
                 "received batches are dropped and counted (jaeger_agent_reporter_batches_dropped{{reason="
                 "\"encoding_not_wired\"}})",
                 protocol, rc.type == config::ReporterType::kGrpc ? "api_v2" : "OTLP");
    unwired_ = std::make_unique<UnwiredReporter>(registry_, protocol);
  }
  return {};
}

Result<void> Agent::createPorts() {
  receivers_.resize(cfg_.processors.size());
  for (size_t i = 0; i < cfg_.processors.size(); ++i) {
    const config::ProcessorConfig& pc = cfg_.processors[i];
    portMetrics_.push_back(std::make_unique<pipeline::PortMetrics>(registry_, pc.model, pc.protocolName));
    auto hp = parseHostPort(pc.hostPort);
    if (!hp) return withContext(hp.error(), "--processor.{}.server-host-port", pc.name);
    auto addr = resolve(*hp, SOCK_DGRAM);
    if (!addr) return withContext(addr.error(), "--processor.{}.server-host-port", pc.name);
    const metrics::Labels l{{"model", pc.model}, {"protocol", pc.protocolName}};
    receive::UdpCounters counters{
        registry_.counter("jaeger_agent_thrift_udp_server_packets_processed", "Datagrams read and handed to the decoder", l),
        registry_.counter("jaeger_agent_thrift_udp_server_packets_dropped",
                          "Datagrams dropped because the decoder could not take them", l),
        registry_.counter("jaeger_agent_thrift_udp_server_read_errors", "Errors reading from the UDP socket", l),
        registry_.counter("jaeger_agent_thrift_udp_server_packets_too_large",
                          "Datagrams longer than server-max-packet-size, dropped", l),
        registry_.counter("jaeger_agent_thrift_udp_server_kernel_drops",
                          "Datagrams the kernel dropped before the agent read them (socket buffer full)", l),
        registry_.gauge("jaeger_agent_thrift_udp_server_packet_size", "Size of the last datagram read", l),
    };
    const size_t n = std::min(shards_, static_cast<size_t>(std::max(1, pc.workers)));
    for (size_t s = 0; s < n; ++s) {
      pipeline::DecodeStage::Options so;
      so.name = pc.name;
      so.protocol = pc.protocol;
      so.agentTags = cfg_.agentTags;
      so.clientStats = clientStats_.get();
      auto stage = std::make_unique<pipeline::DecodeStage>(std::move(so), *portMetrics_[i],
                                                           stageReporter(s));
      receive::UringReceiver::Options ro;
      ro.name = n > 1 ? fmt::format("{}-{}", pc.name.substr(0, 9), s) : pc.name;
      ro.bind = *addr;
      // Port 0 (tests): every shard binds the port the first one got.
      if (s > 0) ro.bind.setPort(receivers_[i][0]->boundPort());
      ro.maxPacketSize = pc.maxPacketSize;
      ro.socketBufferSize = pc.socketBufferSize;
      ro.bufferCount = bufferCount(pc.queueSize);
      ro.reusePort = n > 1;
      auto rx = receive::UringReceiver::create(ro, *stage, counters);
      if (!rx) return Unexpected(rx.error());
      stage->setPort((*rx)->boundPort());
      stages_.push_back(std::move(stage));
      receivers_[i].push_back(std::move(*rx));
    }
    if (n > 1) {
      if (auto ok = receive::UringReceiver::spreadReusePortGroup(receivers_[i][0]->fd(), static_cast<unsigned>(n)); !ok)
        spdlog::warn("{}: datagrams are spread over shards by flow only: {}", pc.name, ok.error().message());
    }
    auto* rxs = &receivers_[i];
    registry_.callbackGauge("jaeger_agent_thrift_udp_server_queue_size",
                            "Datagrams read from the socket and not yet decoded", l, [rxs] {
                              double v = 0;
                              for (auto& r : *rxs) v += r->buffered();
                              return v;
                            });
  }
  if (!cfg_.xdp.interfaces.empty()) {
    std::vector<receive::XdpPort> ports;
    for (size_t i = 0; i < cfg_.processors.size(); ++i) {
      const config::ProcessorConfig& pc = cfg_.processors[i];
      pipeline::DecodeStage::Options so;
      so.name = pc.name;
      so.protocol = pc.protocol;
      so.agentTags = cfg_.agentTags;
      so.clientStats = clientStats_.get();
      so.concurrent = true;  // one AF_XDP thread per rx queue
      auto stage = std::make_unique<pipeline::DecodeStage>(std::move(so), *portMetrics_[i],
                                                           stageReporter(i));
      stage->setPort(receivers_[i][0]->boundPort());
      ports.push_back(receive::XdpPort{receivers_[i][0]->fd(), stage.get(), pc.model, pc.protocolName});
      stages_.push_back(std::move(stage));
    }
    receive::XdpOptions xo;
    xo.interfaces = cfg_.xdp.interfaces;
    xo.mode = cfg_.xdp.mode;
    xo.pinPath = cfg_.xdp.pinPath;
    xo.frameSize = cfg_.xdp.frameSize;
    xo.ringSize = cfg_.xdp.ringSize;
    xo.umemFrames = cfg_.xdp.umemFrames;
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
    // stdout, and otlp (an OTLP receiver serves no sampling; --sampling.upstream is not here yet, §5.5).
    configManager_ = std::make_unique<http::NoCollectorConfigManager>();
  }
  http::SamplingProxy::Options spo;
  spo.ttl = cfg_.http.samplingCacheTtl;
  spo.maxEntries = cfg_.http.samplingCacheSize;
  samplingProxy_ = std::make_unique<http::SamplingProxy>(*configManager_, spo, registry_);

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
  return i < receivers_.size() && !receivers_[i].empty() ? receivers_[i][0]->boundPort() : 0;
}

Result<void> Agent::start() {
  adminServer_->start();  // health answers 503 until setReady() below
  for (report::ReporterCore* c : cores_) c->start();
  for (auto& port : receivers_)
    for (auto& r : port) r->start();
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
  for (auto& port : receivers_)
    for (auto& r : port) r->requestStop();
  if (xdp_) xdp_->requestStop();
  for (auto& port : receivers_)
    for (auto& r : port) r->stop();
  if (xdp_) xdp_->stop();
  // Decoding is inline: once the receivers stopped, every datagram read is in a reporter.
  for (report::ReporterCore* c : cores_) c->beginClose(deadline);  // drain every shard at once
  for (auto& r : reporters_) r->close(deadline);
  samplingServer_->stop();  // after the drain: until then it answers from its cache
  adminServer_->stop();     // last: /metrics shows the drain to the end
  xdp_.reset();             // detach the XDP program, remove its pins
}

}  // namespace jagent
