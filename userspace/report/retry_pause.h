// RetryPause: how long a transport stops taking new calls after the collector answered a call
// with a retryable refusal (busy, throttled, unavailable). The collector's own hint wins
// (gRPC RetryInfo §4.1, HTTP Retry-After §4.2); otherwise 50 ms doubling per consecutive refusal
// up to 800 ms, with jitter: ±10 % for gRPC (jaeger-agent's backoff, §5.2), ±25 % for OTLP/HTTP.
// Threading: the transport's I/O thread.
#pragma once

#include <chrono>

namespace jagent::report {

class RetryPause {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryPause(int jitterPercent) noexcept : jitterPercent_(jitterPercent) {}
  void onOk() noexcept { streak_ = 0; }
  void onRetryable(std::chrono::milliseconds hinted, Clock::time_point now);
  [[nodiscard]] Clock::time_point until() const noexcept { return until_; }

 private:
  int jitterPercent_;
  int streak_ = 0;
  Clock::time_point until_{};
};

}  // namespace jagent::report
