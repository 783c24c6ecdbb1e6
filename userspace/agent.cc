#include "agent.h"

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "report/stdout_reporter.h"
#include "report/tchannel_reporter.h"

namespace jagent {

Result<std::unique_ptr<Agent>> Agent::create(const config::AgentConfig& cfg) {
  std::unique_ptr<Agent> a(new Agent(cfg));
  metrics::Registry& reg = a->registry_;
  report::TChannelReporter* tchannel = nullptr;  // for the sampling proxy and readiness

  if (cfg.reporter.hostPorts.empty()) {
    spdlog::info("no collector configured (--reporter.tchannel.host-port): printing received batches to stdout");
    a->reporter_ = std::make_unique<report::StdoutReporter>();
  } else {
    auto r = report::TChannelReporter::create(cfg.reporter, reg);
    if (!r) return Unexpected(r.error());
    tchannel = r->get();
    a->reporter_ = std::move(*r);
  }
  a->clientStats_ = std::make_unique<metrics::ClientStatsTracker>(reg);

  for (const config::ProcessorConfig& pc : cfg.processors) {
    decode::Processor::Options po;
    po.name = pc.name;
    po.model = pc.model;
    po.protocolName = pc.protocolName;
    po.protocol = pc.protocol;
    po.queueSize = pc.queueSize;
    po.workers = pc.workers;
    po.agentTags = cfg.agentTags;
    po.clientStats = a->clientStats_.get();
    auto proc = std::make_unique<decode::Processor>(std::move(po), *a->reporter_, reg);

    auto hp = parseHostPort(pc.hostPort);
    if (!hp) return withContext(hp.error(), "--processor.{}.server-host-port", pc.name);
    auto addr = resolve(*hp, SOCK_DGRAM);
    if (!addr) return withContext(addr.error(), "--processor.{}.server-host-port", pc.name);
    const metrics::Labels l{{"model", pc.model}, {"protocol", pc.protocolName}};
    receive::UdpCounters counters{
        reg.counter("jaeger_agent_thrift_udp_server_packets_processed", "Datagrams read and queued for decoding", l),
        reg.counter("jaeger_agent_thrift_udp_server_packets_dropped", "Datagrams dropped because the decode queue was full", l),
        reg.counter("jaeger_agent_thrift_udp_server_read_errors", "Errors reading from the UDP socket", l),
        reg.counter("jaeger_agent_thrift_udp_server_packets_too_large",
                    "Datagrams longer than server-max-packet-size, dropped", l),
        reg.counter("jaeger_agent_thrift_udp_server_kernel_drops",
                    "Datagrams the kernel dropped before the agent read them (socket buffer full)", l),
        reg.gauge("jaeger_agent_thrift_udp_server_packet_size", "Size of the last datagram read", l),
    };
    receive::UringReceiver::Options ro;
    ro.name = pc.name;
    ro.bind = *addr;
    ro.maxPacketSize = pc.maxPacketSize;
    ro.socketBufferSize = pc.socketBufferSize;
    auto rx = receive::UringReceiver::create(ro, *proc, counters);
    if (!rx) return Unexpected(rx.error());
    proc->setPort((*rx)->boundPort());
    a->processors_.push_back(std::move(proc));
    a->receivers_.push_back(std::move(*rx));
  }
  if (!cfg.xdp.interfaces.empty()) {
    std::vector<receive::XdpPort> ports;
    for (size_t i = 0; i < a->processors_.size(); ++i)
      ports.push_back(receive::XdpPort{a->receivers_[i]->fd(), a->processors_[i].get(), cfg.processors[i].model,
                                       cfg.processors[i].protocolName});
    a->xdp_ = receive::XdpDatapath::create(cfg.xdp, ports, reg);  // null: XDP off, the cause is logged
  }
  if (auto ok = a->createHttp(tchannel); !ok) return Unexpected(ok.error());
  return a;
}

Result<void> Agent::createHttp(report::TChannelReporter* tchannel) {
  if (tchannel) {
    // jaeger-agent v1.17 gave each sampling/baggage RPC a fixed 1 s (configmanager/tchannel).
    configManager_ = std::make_unique<http::TChannelConfigManager>(
        [tchannel](std::string_view method, std::vector<uint8_t> arg3, std::chrono::milliseconds timeout,
                   report::RawCallback cb) { tchannel->call(method, std::move(arg3), timeout, std::move(cb)); },
        std::chrono::seconds(1));
  } else {
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
  const int configured = static_cast<int>(cfg_.reporter.hostPorts.size());
  ao.collectors = [tchannel, configured] {
    return http::AdminServer::Collectors{configured, tchannel ? tchannel->connectedPeers() : 0};
  };
  auto admin = http::AdminServer::create(std::move(ao), registry_);
  if (!admin) return withContext(admin.error(), "--admin.http.host-port");
  adminServer_ = std::move(*admin);
  return {};
}

Agent::~Agent() { stop(); }

uint16_t Agent::udpPort(size_t i) const noexcept { return i < receivers_.size() ? receivers_[i]->boundPort() : 0; }

Result<void> Agent::start() {
  adminServer_->start();  // health answers 503 until setReady() below
  for (auto& p : processors_) p->start();
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
  for (auto& r : receivers_) r->requestStop();  // all at once: each may sit in a 100 ms wait
  if (xdp_) xdp_->requestStop();
  for (auto& r : receivers_) r->stop();
  if (xdp_) xdp_->stop();
  for (auto& p : processors_) p->stop();
  reporter_->close(deadline);
  samplingServer_->stop();  // after the drain: until then it answers from its cache
  adminServer_->stop();     // last: /metrics shows the drain to the end
  xdp_.reset();             // detach the XDP program, remove its pins
}

}  // namespace jagent
