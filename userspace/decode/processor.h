// Processor: one UDP port's decode stage (jaeger's "processor.<model>-<protocol>").
// A bounded queue of borrowed datagrams feeds `workers` threads; each worker owns a Transcoder,
// turns the datagram into binary batch bytes, releases the datagram's buffer, and hands the
// bytes to the Reporter. A full queue drops the newest datagram and counts it (as jaeger-agent
// does); a rejected datagram is counted by reason and logged at most once per second.
//
// Threading: push() from receiver threads; start()/stop() from the composition root.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/rate_limited_log.h"
#include "decode/encoding.h"
#include "decode/transcoder.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"
#include "report/reporter.h"

namespace jagent::metrics {
class ClientStatsTracker;
}

namespace jagent::decode {

class Processor final : public receive::DatagramSink {
 public:
  struct Options {
    std::string name;          // "jaeger-compact"
    std::string model;         // "jaeger" | "zipkin"  (metric label)
    std::string protocolName;  // "compact" | "binary" (metric label)
    Protocol protocol = Protocol::kCompact;
    int queueSize = 1000;
    int workers = 10;
    std::vector<AgentTag> agentTags;
    // What the workers emit (encoding.h); the reporter's transport decides. TBinary for TChannel.
    Encoding encoding = Encoding::kThriftBinary;
    metrics::ClientStatsTracker* clientStats = nullptr;  // optional, not owned: sees every decoded batch
  };

  Processor(Options opts, report::Reporter& reporter, metrics::Registry& registry);
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  void setPort(uint16_t port) noexcept { port_ = port; }
  bool push(receive::Datagram d) noexcept override;
  void start();
  // Finishes every queued datagram, then joins the workers.
  void stop();

 private:
  void workerLoop();
  void process(BatchEncoder& t, receive::Datagram& d) noexcept;

  Options opts_;
  report::Reporter& reporter_;
  uint16_t port_ = 0;

  metrics::Counter& batchesReceived_;
  metrics::Counter& spansReceived_;
  metrics::Counter& handlerErrors_;
  std::vector<metrics::Counter*> rejects_;  // by RejectReason
  RateLimiter rejectLog_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<receive::Datagram> queue_;  // ring buffer of capacity queueSize
  size_t head_ = 0;
  size_t count_ = 0;
  bool closing_ = false;
  int idle_ = 0;  // workers waiting on cv_
  std::vector<std::thread> workers_;
};

}  // namespace jagent::decode
