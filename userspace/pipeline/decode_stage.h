// DecodeStage: one shard's decode of one UDP port (jaeger's "processor.<model>-<protocol>"),
// run to completion on the thread that received the datagram: transcode, give the receive
// buffer back, hand the encoded batch to the shard's reporter. No queue and no thread hop
// (docs/benchmarks-analysis.md: a mutex-guarded queue in front of ten workers per port cost about
// one context switch per datagram at 1 KB).
//
// Metrics are the port's (PortMetrics, registered once and shared by every shard's stage).
// A rejected datagram is counted by reason and logged at most once per second.
//
// Threading: push() from one receiving thread at a time, unless `Options::concurrent` is set
// (AF_XDP queues of one port share a stage: then a mutex serialises the transcoder).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/pipeline.h"
#include "common/rate_limited_log.h"
#include "decode/encoding.h"
#include "decode/transcoder.h"
#include "metrics/metrics.h"
#include "report/reporter.h"

namespace jagent::metrics {
class ClientStatsTracker;
}

namespace jagent::pipeline {

// One UDP port's decode metrics (reference-agent.md §1.3 names), shared by all its shards.
struct PortMetrics {
  PortMetrics(metrics::Registry& registry, const std::string& model, const std::string& protocol);
  metrics::Counter& batchesReceived;
  metrics::Counter& spansReceived;
  metrics::Counter& handlerErrors;
  std::vector<metrics::Counter*> rejects;  // by RejectReason - 1
  // Spans of accepted batches that the encoding cannot carry (api_v2: times gogo cannot marshal;
  // OTLP: blank spans the Collector would skip), so received = forwarded + dropped still holds.
  metrics::Counter& spansNotEncodable;
  // Zipkin spans with no service name anywhere, forwarded as `unknown-service-name` (what the
  // Jaeger collector stores them as) where the Go agent drops the whole batch
  // (modern-collectors.md §2.4a). Not a loss: counted so an operator can find the client.
  metrics::Counter& spansUnknownService;
};

class DecodeStage final : public DatagramSink {
 public:
  struct Options {
    std::string name;          // "jaeger-compact" (logs)
    Protocol protocol = Protocol::kCompact;
    std::vector<AgentTag> agentTags;
    bool concurrent = false;   // push() may be called from several threads at once
    // What the stage emits (decode/encoding.h); the reporter's transport decides: TBinary for
    // TChannel, api_v2 for gRPC, OTLP for OTLP.
    decode::Encoding encoding = decode::Encoding::kThriftBinary;
    metrics::ClientStatsTracker* clientStats = nullptr;  // optional, not owned: sees every decoded batch
  };

  DecodeStage(Options opts, PortMetrics& metrics, report::Reporter& reporter);
  DecodeStage(const DecodeStage&) = delete;
  DecodeStage& operator=(const DecodeStage&) = delete;

  void setPort(uint16_t port) noexcept { port_ = port; }
  // Consumes the datagram (decoded and forwarded, or rejected and counted), unless the shard's
  // reporter is saturated: then it returns false at once, before any decoding, and the receiver
  // counts the drop (jaeger_agent_thrift_udp_server_packets_dropped, jaeger's "queue full").
  bool push(Datagram& d) noexcept override;
  [[nodiscard]] bool accepting() const noexcept override { return !reporter_.saturated(); }

 private:
  void process(Datagram& d) noexcept;

  Options opts_;
  PortMetrics& metrics_;
  report::Reporter& reporter_;
  std::unique_ptr<decode::BatchEncoder> encoder_;
  uint16_t port_ = 0;
  RateLimiter rejectLog_;
  std::mutex mu_;  // only with opts_.concurrent
};

}  // namespace jagent::pipeline
