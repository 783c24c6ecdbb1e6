// The report seam: the decode stage hands each transcoded batch (common/pipeline.h
// EncodedBatch) to a Reporter.
//
// emit() copies what it needs before returning (the bytes belong to the decoder), may be called
// from several threads, and never blocks on the network: a slow or absent collector shows up as
// counted drops, never as a stalled receiver.
#pragma once

#include <chrono>

#include "common/pipeline.h"

namespace jagent::report {

using jagent::EncodedBatch;

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void emit(const EncodedBatch& batch) noexcept = 0;
  // True while emit() would drop for lack of queue space (a hint: one relaxed load).
  [[nodiscard]] virtual bool saturated() const noexcept { return false; }
  // Stop accepting, deliver what is queued until `deadline`, count the rest as dropped.
  virtual void close(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace jagent::report
