// The report seam: decode workers hand each transcoded batch to a Reporter.
//
// emit() copies what it needs before returning (the bytes belong to the worker's transcoder),
// is called concurrently from every decode worker, and must never block on the network: a slow
// or absent collector shows up as counted drops, never as a stalled receiver.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include "decode/transcoder.h"

namespace jagent::report {

struct EncodedBatch {
  decode::Format format = decode::Format::kJaeger;
  std::span<const uint8_t> bytes;            // binary Batch struct, or N binary zipkin Span structs
  const decode::BatchSummary* summary = nullptr;
  uint16_t port = 0;                         // local UDP port it arrived on (for logs)
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void emit(const EncodedBatch& batch) noexcept = 0;
  // Stop accepting, deliver what is queued until `deadline`, count the rest as dropped.
  virtual void close(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace jagent::report
