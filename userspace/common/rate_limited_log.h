// A log gate for the data plane: at most one line per interval per call site, with a count of
// what was suppressed. Thread-safe (one atomic CAS per allowed line, one relaxed load otherwise).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace jagent {

class RateLimiter {
 public:
  explicit RateLimiter(std::chrono::milliseconds interval = std::chrono::seconds(1)) noexcept
      : intervalNs_(std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count()) {}

  // True when the caller may log now. `suppressed` receives how many calls were refused since
  // the last allowed one, so the line can say "(N more suppressed)".
  bool allow(uint64_t* suppressed = nullptr) noexcept {
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t next = next_.load(std::memory_order_relaxed);
    if (now < next || !next_.compare_exchange_strong(next, now + intervalNs_, std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const uint64_t s = suppressed_.exchange(0, std::memory_order_relaxed);
    if (suppressed) *suppressed = s;
    return true;
  }

 private:
  int64_t intervalNs_;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace jagent
