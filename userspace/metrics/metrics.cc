#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace jagent::metrics {
namespace {

std::string escapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string renderLabels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first + "=\"" + escapeLabel(labels[i].second) + "\"";
  }
  return out + "}";
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

bool includes(const Labels& have, const Labels& want) {
  return std::all_of(want.begin(), want.end(), [&](const auto& w) {
    return std::find(have.begin(), have.end(), w) != have.end();
  });
}

}  // namespace

Registry::Series* Registry::find(Family& f, const Labels& labels) {
  for (Series& s : f.series)
    if (s.labels == labels) return &s;
  return nullptr;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) noexcept {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sumMicro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, Labels labels,
                               std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Family& f = families_.try_emplace(name, Family{Kind::kHistogram, help, {}, {}}).first->second;
  if (Series* s = find(f, labels); s && s->histogram) return *s->histogram;
  Histogram& h = histograms_.emplace_back(std::move(bounds));
  f.series.push_back(Series{std::move(labels), nullptr, nullptr, {}, &h});
  return h;
}

Counter& Registry::counter(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard lock(mu_);
  Family& f = families_.try_emplace(name, Family{Kind::kCounter, help, {}, {}}).first->second;
  if (Series* s = find(f, labels); s && s->counter) return *s->counter;
  Counter& c = counters_.emplace_back();
  f.series.push_back(Series{std::move(labels), &c, nullptr, {}, nullptr});
  return c;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, Labels labels) {
  std::lock_guard lock(mu_);
  Family& f = families_.try_emplace(name, Family{Kind::kGauge, help, {}, {}}).first->second;
  if (Series* s = find(f, labels); s && s->gauge) return *s->gauge;
  Gauge& g = gauges_.emplace_back();
  f.series.push_back(Series{std::move(labels), nullptr, &g, {}, nullptr});
  return g;
}

void Registry::callbackGauge(const std::string& name, const std::string& help, Labels labels,
                             std::function<double()> fn) {
  std::lock_guard lock(mu_);
  Family& f = families_.try_emplace(name, Family{Kind::kCallback, help, {}, {}}).first->second;
  if (Series* s = find(f, labels)) {
    s->fn = std::move(fn);
    return;
  }
  f.series.push_back(Series{std::move(labels), nullptr, nullptr, std::move(fn), nullptr});
}

void Registry::dynamicFamily(const std::string& name, const std::string& help, bool isCounter,
                             std::function<std::vector<Sample>()> fn) {
  std::lock_guard lock(mu_);
  Family& f = families_.try_emplace(name, Family{isCounter ? Kind::kDynamicCounter : Kind::kDynamicGauge, help, {}, {}})
                  .first->second;
  f.dynamic = std::move(fn);
}

std::string Registry::renderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (f.kind == Kind::kHistogram) {
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, escapeHelp(f.help), name);
      for (const Series& s : f.series) {
        const Histogram& h = *s.histogram;
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          Labels l = s.labels;
          l.emplace_back("le", i < h.bounds().size() ? formatValue(h.bounds()[i]) : "+Inf");
          out += name + "_bucket" + renderLabels(l) + " " + std::to_string(cumulative) + "\n";
        }
        out += name + "_sum" + renderLabels(s.labels) + " " + formatValue(h.sum()) + "\n";
        out += name + "_count" + renderLabels(s.labels) + " " + std::to_string(h.count()) + "\n";
      }
      continue;
    }
    const bool isCounter = f.kind == Kind::kCounter || f.kind == Kind::kDynamicCounter;
    const std::string full = isCounter ? name + "_total" : name;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", full, escapeHelp(f.help), full, isCounter ? "counter" : "gauge");
    if (f.dynamic)
      for (const Sample& s : f.dynamic()) out += full + renderLabels(s.labels) + " " + formatValue(s.value) + "\n";
    for (const Series& s : f.series) {
      double v = 0;
      if (s.counter) v = static_cast<double>(s.counter->value());
      else if (s.gauge) v = static_cast<double>(s.gauge->value());
      else if (s.fn) v = s.fn();
      out += full + renderLabels(s.labels) + " " + formatValue(v) + "\n";
    }
  }
  return out;
}

uint64_t Registry::counterSum(const std::string& name, const Labels& match) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  uint64_t sum = 0;
  for (const Series& s : it->second.series)
    if (s.counter && includes(s.labels, match)) sum += s.counter->value();
  return sum;
}

}  // namespace jagent::metrics
