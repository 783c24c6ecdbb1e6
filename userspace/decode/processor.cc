#include "decode/processor.h"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "metrics/client_stats.h"

namespace jagent::decode {

Processor::Processor(Options opts, report::Reporter& reporter, metrics::Registry& registry)
    : opts_(std::move(opts)),
      reporter_(reporter),
      batchesReceived_(registry.counter("jaeger_agent_received_batches",
                                        "Batches decoded successfully from UDP datagrams",
                                        {{"model", opts_.model}, {"protocol", opts_.protocolName}})),
      spansReceived_(registry.counter("jaeger_agent_received_spans", "Spans in batches decoded successfully",
                                      {{"model", opts_.model}, {"protocol", opts_.protocolName}})),
      handlerErrors_(registry.counter("jaeger_agent_thrift_udp_t_processor_handler_errors",
                                      "Datagrams the processor could not decode (any reason)",
                                      {{"model", opts_.model}, {"protocol", opts_.protocolName}})) {
  for (int r = 1; r < static_cast<int>(RejectReason::kCount); ++r)
    rejects_.push_back(&registry.counter(
        "jaeger_agent_decode_rejected", "Datagrams rejected by the decoder, by reason",
        {{"model", opts_.model}, {"protocol", opts_.protocolName}, {"reason", reasonName(static_cast<RejectReason>(r))}}));
  registry.callbackGauge("jaeger_agent_thrift_udp_server_queue_size", "Datagrams waiting for a decode worker",
                         {{"model", opts_.model}, {"protocol", opts_.protocolName}}, [this] {
                           std::lock_guard lock(mu_);
                           return static_cast<double>(count_);
                         });
  queue_.resize(static_cast<size_t>(opts_.queueSize));
}

Processor::~Processor() { stop(); }

bool Processor::push(receive::Datagram d) noexcept {
  std::unique_lock lock(mu_);
  if (closing_ || count_ == queue_.size()) return false;
  queue_[(head_ + count_) % queue_.size()] = d;
  ++count_;
  // Wake a sleeping worker only when one is needed: for the first datagram of a burst, then
  // every 32 (workers that are awake drain the queue before sleeping again, and every decision
  // is made under mu_, so no wake-up is lost). Waking on every datagram cost ~1 context switch
  // per datagram at 1 KB (perf: 58 % of samples), see docs/benchmarks-analysis.md.
  const bool wake = idle_ > 0 && (count_ == 1 || count_ % 32 == 0);
  lock.unlock();
  if (wake) cv_.notify_one();
  return true;
}

void Processor::start() {
  for (int i = 0; i < opts_.workers; ++i)
    workers_.emplace_back([this, i] {
      const std::string tname = fmt::format("dec-{}-{}", opts_.name.substr(0, 8), i).substr(0, 15);
      ::pthread_setname_np(::pthread_self(), tname.c_str());
      workerLoop();
    });
}

void Processor::stop() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void Processor::workerLoop() {
  const std::unique_ptr<BatchEncoder> transcoder = makeBatchEncoder(opts_.encoding, opts_.agentTags);
  for (;;) {
    receive::Datagram d;
    {
      std::unique_lock lock(mu_);
      if (count_ == 0 && !closing_) {
        ++idle_;
        cv_.wait(lock, [&] { return count_ > 0 || closing_; });
        --idle_;
      }
      if (count_ == 0) return;  // closing and drained
      d = queue_[head_];
      head_ = (head_ + 1) % queue_.size();
      --count_;
    }
    process(*transcoder, d);
  }
}

void Processor::process(BatchEncoder& t, receive::Datagram& d) noexcept {
  const RejectReason r = t.transcode(opts_.protocol, d.bytes);
  if (r != RejectReason::kOk) {
    handlerErrors_.inc();
    rejects_[static_cast<size_t>(r) - 1]->inc();
    uint64_t suppressed = 0;
    if (rejectLog_.allow(&suppressed))
      spdlog::warn("{}: rejected a {}-byte datagram from {}: {} ({} similar lines suppressed)", opts_.name,
                   d.bytes.size(), formatAddr(reinterpret_cast<const sockaddr*>(&d.peer)), reasonName(r), suppressed);
    d.release();
    return;
  }
  // The transcoder's output is independent of the datagram: give the buffer back first.
  d.release();
  const BatchSummary& s = t.summary();
  batchesReceived_.inc();
  spansReceived_.inc(s.spans);
  if (opts_.clientStats) opts_.clientStats->observe(s);
  reporter_.emit(report::EncodedBatch{s.format, t.output(), &s, port_});
}

}  // namespace jagent::decode
