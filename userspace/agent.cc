#include "agent.h"

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "report/stdout_reporter.h"
#include "report/tchannel_reporter.h"

namespace jagent {

Result<std::unique_ptr<Agent>> Agent::create(const config::AgentConfig& cfg) {
  std::unique_ptr<Agent> a(new Agent(cfg));
  metrics::Registry& reg = a->registry_;

  if (cfg.reporter.hostPorts.empty()) {
    spdlog::info("no collector configured (--reporter.tchannel.host-port): printing received batches to stdout");
    a->reporter_ = std::make_unique<report::StdoutReporter>();
  } else {
    auto r = report::TChannelReporter::create(cfg.reporter, reg);
    if (!r) return Unexpected(r.error());
    a->reporter_ = std::move(*r);
  }

  for (const config::ProcessorConfig& pc : cfg.processors) {
    decode::Processor::Options po;
    po.name = pc.name;
    po.model = pc.model;
    po.protocolName = pc.protocolName;
    po.protocol = pc.protocol;
    po.queueSize = pc.queueSize;
    po.workers = pc.workers;
    po.agentTags = cfg.agentTags;
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
  return a;
}

Agent::~Agent() { stop(); }

uint16_t Agent::udpPort(size_t i) const noexcept { return i < receivers_.size() ? receivers_[i]->boundPort() : 0; }

Result<void> Agent::start() {
  for (auto& p : processors_) p->start();
  for (auto& r : receivers_) r->start();
  started_ = true;
  return {};
}

void Agent::stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + cfg_.shutdownTimeout;
  for (auto& r : receivers_) r->requestStop();  // all at once: each may sit in a 100 ms wait
  for (auto& r : receivers_) r->stop();
  for (auto& p : processors_) p->stop();
  reporter_->close(deadline);
}

}  // namespace jagent
