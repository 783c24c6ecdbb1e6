// Counters and gauges for the data plane, and the registry that names them.
//
// Components ask the Registry for their metrics once at construction and keep the returned
// references; the registry owns the storage (stable addresses) and outlives every component.
// Increments are relaxed atomics (one writer or a few; read by the scraper on another thread).
// Names follow the jaeger-agent Prometheus names (reference-agent.md §1.3) where one exists.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace jagent::metrics {

class Counter {
 public:
  void inc(uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<uint64_t> v_{0};  // own cache line: counters are hit by different threads
};

class Gauge {
 public:
  void set(int64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) noexcept { v_.fetch_add(d, std::memory_order_relaxed); }
  [[nodiscard]] int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<int64_t> v_{0};
};

// A Prometheus histogram with fixed upper bounds (seconds, or whatever the name says). observe()
// is one relaxed increment of a bucket, the count and the sum (in micro-units, so integer).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  [[nodiscard]] const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Per bucket (not cumulative); the last one is +Inf.
  [[nodiscard]] uint64_t bucket(size_t i) const noexcept { return counts_[i].load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] double sum() const noexcept { return static_cast<double>(sumMicro_.load(std::memory_order_relaxed)) / 1e6; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sumMicro_{0};
};

using Labels = std::vector<std::pair<std::string, std::string>>;

// One series of a dynamic family, as produced at scrape time.
struct Sample {
  Labels labels;
  double value = 0;
};

class Registry {
 public:
  // Same name + labels → same object (so two components may share a series).
  Counter& counter(const std::string& name, const std::string& help, Labels labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, Labels labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, Labels labels, std::vector<double> bounds);
  // A gauge computed at scrape time (e.g. a queue's current depth, a BPF map sum).
  void callbackGauge(const std::string& name, const std::string& help, Labels labels, std::function<double()> fn);

  // A family whose label sets come and go (attached interfaces, the top N sources): `fn` produces
  // the series at scrape time. It runs under the registry's lock, so it must not call the
  // registry, and must stay valid until the registry goes (capture shared state, not `this`).
  void dynamicFamily(const std::string& name, const std::string& help, bool isCounter,
                     std::function<std::vector<Sample>()> fn);

  // Prometheus text exposition format 0.0.4. Counters get the `_total` suffix.
  [[nodiscard]] std::string renderPrometheus() const;

  // Sum of a counter family over all label sets whose labels include `match` (tests, invariants).
  [[nodiscard]] uint64_t counterSum(const std::string& name, const Labels& match = {}) const;

 private:
  enum class Kind { kCounter, kGauge, kCallback, kDynamicCounter, kDynamicGauge, kHistogram };
  struct Series {
    Labels labels;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    std::function<double()> fn;
    Histogram* histogram = nullptr;
  };
  struct Family {
    Kind kind;
    std::string help;
    std::vector<Series> series;
    std::function<std::vector<Sample>()> dynamic;
  };
  Series* find(Family& f, const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
};

}  // namespace jagent::metrics
