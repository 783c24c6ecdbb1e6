#include "pipeline/decode_stage.h"

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "metrics/client_stats.h"

namespace jagent::pipeline {

using decode::RejectReason;

PortMetrics::PortMetrics(metrics::Registry& registry, const std::string& model, const std::string& protocol)
    : batchesReceived(registry.counter("jaeger_agent_received_batches", "Batches decoded successfully from UDP datagrams",
                                       {{"model", model}, {"protocol", protocol}})),
      spansReceived(registry.counter("jaeger_agent_received_spans", "Spans in batches decoded successfully",
                                     {{"model", model}, {"protocol", protocol}})),
      handlerErrors(registry.counter("jaeger_agent_thrift_udp_t_processor_handler_errors",
                                     "Datagrams the processor could not decode (any reason)",
                                     {{"model", model}, {"protocol", protocol}})),
      spansNotEncodable(registry.counter("jaeger_agent_decode_spans_dropped",
                                         "Spans of accepted batches the output encoding cannot carry, by reason",
                                         {{"model", model}, {"protocol", protocol}, {"reason", "not_encodable"}})),
      spansUnknownService(registry.counter("jaeger_agent_decode_spans_unknown_service",
                                           "Zipkin spans without a service name, forwarded as unknown-service-name",
                                           {{"model", model}, {"protocol", protocol}})) {
  for (int r = 1; r < static_cast<int>(RejectReason::kCount); ++r)
    rejects.push_back(&registry.counter(
        "jaeger_agent_decode_rejected", "Datagrams rejected by the decoder, by reason",
        {{"model", model}, {"protocol", protocol}, {"reason", decode::reasonName(static_cast<RejectReason>(r))}}));
}

DecodeStage::DecodeStage(Options opts, PortMetrics& metrics, report::Reporter& reporter)
    : opts_(std::move(opts)),
      metrics_(metrics),
      reporter_(reporter),
      encoder_(decode::makeBatchEncoder(opts_.encoding, opts_.agentTags)) {}

bool DecodeStage::push(Datagram& d) noexcept {
  if (reporter_.saturated()) return false;
  if (opts_.concurrent) {
    std::lock_guard lock(mu_);
    process(d);
  } else {
    process(d);
  }
  return true;
}

void DecodeStage::process(Datagram& d) noexcept {
  const RejectReason r = encoder_->transcode(opts_.protocol, d.bytes);
  if (r != RejectReason::kOk) {
    metrics_.handlerErrors.inc();
    metrics_.rejects[static_cast<size_t>(r) - 1]->inc();
    uint64_t suppressed = 0;
    if (rejectLog_.allow(&suppressed))
      spdlog::warn("{}: rejected a {}-byte datagram from {}: {} ({} similar lines suppressed)", opts_.name,
                   d.bytes.size(), formatAddr(reinterpret_cast<const sockaddr*>(&d.peer)), decode::reasonName(r),
                   suppressed);
    d.release();
    return;
  }
  // The transcoder's output is independent of the datagram: give the buffer back first.
  d.release();
  const BatchSummary& s = encoder_->summary();
  metrics_.batchesReceived.inc();
  metrics_.spansReceived.inc(s.spans);
  if (opts_.clientStats) opts_.clientStats->observe(s);
  const uint32_t dropped = encoder_->spansDropped();
  if (dropped > 0) metrics_.spansNotEncodable.inc(dropped);
  if (const uint32_t unknown = encoder_->spansUnknownService(); unknown > 0) metrics_.spansUnknownService.inc(unknown);
  reporter_.emit(EncodedBatch{s.format, encoder_->wireRecord(), &s, port_, dropped, encoder_->mergeSuffix()});
}

}  // namespace jagent::pipeline
