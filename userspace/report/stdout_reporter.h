// StdoutReporter: what the agent does with no collector configured. Prints one line per
// received batch (port, format, service, span count) so a first run shows what arrives.
// Thread-safe (one mutex around the write).
#pragma once

#include <cstdio>
#include <mutex>

#include "report/reporter.h"

namespace jagent::report {

class StdoutReporter final : public Reporter {
 public:
  explicit StdoutReporter(std::FILE* out = stdout) : out_(out) {}
  void emit(const EncodedBatch& batch) noexcept override;
  void close(std::chrono::steady_clock::time_point) override { std::fflush(out_); }

 private:
  std::FILE* out_;
  std::mutex mu_;
};

}  // namespace jagent::report
