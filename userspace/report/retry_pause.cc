#include "report/retry_pause.h"

#include <algorithm>
#include <random>

namespace jagent::report {

void RetryPause::onRetryable(std::chrono::milliseconds hinted, Clock::time_point now) {
  std::chrono::milliseconds delay = hinted;
  if (delay.count() == 0) {
    static thread_local std::minstd_rand rng{std::random_device{}()};
    const int base = 50 << std::min(streak_, 4);
    const int spread = base * jitterPercent_ / 100;
    delay = std::chrono::milliseconds(base + static_cast<int>(rng() % static_cast<unsigned>(2 * spread + 1)) - spread);
  }
  ++streak_;
  until_ = std::max(until_, now + delay);
}

}  // namespace jagent::report
