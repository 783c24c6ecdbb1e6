#include "http/sampling_proxy.h"

#include <algorithm>
#include <cstring>
#include <future>

#include <spdlog/spdlog.h>

#include "report/protowire.h"

namespace jagent::http {

// ---- TChannelConfigManager -------------------------------------------------------------------

Result<std::vector<uint8_t>> TChannelConfigManager::roundTrip(std::string_view method, const std::string& service) {
  auto done = std::make_shared<std::promise<report::RawResult>>();
  auto result = done->get_future();
  // The callback runs exactly once on the reporter's I/O thread; `done` keeps the promise alive
  // even if this thread has given up waiting.
  call_(method, encodeServiceNameArgs(service), timeout_, [done](report::RawResult r) { done->set_value(std::move(r)); });
  // The reporter enforces the deadline itself; the margin only guards against a callback that
  // never comes, so an HTTP worker can never hang.
  if (result.wait_for(timeout_ + std::chrono::seconds(1)) != std::future_status::ready)
    return upstreamError(fmt::format("{}: no answer within {} ms", method, timeout_.count()));
  report::RawResult r = result.get();
  if (!r.ok) return upstreamError(fmt::format("{}: {}", method, r.error));
  if (r.applicationError) return upstreamError(fmt::format("{}: application error from the collector", method));
  return std::move(r.arg3);
}

Result<SamplingStrategyResponse> TChannelConfigManager::getSamplingStrategy(const std::string& service) {
  auto raw = roundTrip(kGetSamplingStrategy, service);
  if (!raw) return Unexpected(raw.error());
  return decodeSamplingStrategyResult(*raw);
}

Result<std::vector<BaggageRestriction>> TChannelConfigManager::getBaggageRestrictions(const std::string& service) {
  auto raw = roundTrip(kGetBaggageRestrictions, service);
  if (!raw) return Unexpected(raw.error());
  return decodeBaggageRestrictionsResult(*raw);
}

namespace {
double asDouble(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}
// ProbabilisticSamplingStrategy{samplingRate = 1: double}.
ProbabilisticSampling decodeProbabilistic(std::string_view b) {
  ProbabilisticSampling p;
  report::protowire::Reader r(b);
  report::protowire::Field f;
  while (r.next(f))
    if (f.number == 1 && f.wire == report::protowire::kFixed64) p.samplingRate = asDouble(f.varint);
  return p;
}
}  // namespace

Result<SamplingStrategyResponse> decodeApiV2SamplingStrategy(std::span<const uint8_t> bytes) {
  using namespace report::protowire;
  SamplingStrategyResponse out;
  Reader r(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  Field f;
  while (r.next(f)) {
    if (f.number == 1 && f.wire == kVarint) {
      out.strategyType = static_cast<int32_t>(f.varint);
    } else if (f.number == 2 && f.wire == kLen) {
      out.probabilisticSampling = decodeProbabilistic(f.bytes);
    } else if (f.number == 3 && f.wire == kLen) {
      RateLimitingSampling rl;
      Reader x(f.bytes);
      Field g;
      while (x.next(g))
        if (g.number == 1 && g.wire == kVarint)
          rl.maxTracesPerSecond = static_cast<int16_t>(std::clamp<int64_t>(static_cast<int32_t>(g.varint), INT16_MIN, INT16_MAX));
      if (x.bad()) return upstreamError("GetSamplingStrategy: malformed rateLimitingSampling");
      out.rateLimitingSampling = rl;
    } else if (f.number == 4 && f.wire == kLen) {
      PerOperationSampling po;
      Reader x(f.bytes);
      Field g;
      while (x.next(g)) {
        if (g.number == 1 && g.wire == kFixed64) po.defaultSamplingProbability = asDouble(g.varint);
        else if (g.number == 2 && g.wire == kFixed64) po.defaultLowerBoundTracesPerSecond = asDouble(g.varint);
        else if (g.number == 4 && g.wire == kFixed64) po.defaultUpperBoundTracesPerSecond = asDouble(g.varint);
        else if (g.number == 3 && g.wire == kLen) {
          OperationSampling os;
          Reader y(g.bytes);
          Field h;
          while (y.next(h)) {
            if (h.number == 1 && h.wire == kLen) os.operation = std::string(h.bytes);
            else if (h.number == 2 && h.wire == kLen) os.probabilisticSampling = decodeProbabilistic(h.bytes);
          }
          if (y.bad()) return upstreamError("GetSamplingStrategy: malformed perOperationStrategies");
          po.perOperationStrategies.push_back(std::move(os));
        }
      }
      if (x.bad()) return upstreamError("GetSamplingStrategy: malformed operationSampling");
      out.operationSampling = std::move(po);
    }
  }
  if (r.bad()) return upstreamError("GetSamplingStrategy: malformed response");
  return out;
}

Result<SamplingStrategyResponse> GrpcConfigManager::getSamplingStrategy(const std::string& service) {
  // SamplingStrategyParameters{serviceName = 1} (§1.5; observed: 0a 03 73 76 63 for "svc").
  std::vector<uint8_t> req{0x0A};
  uint8_t v[10];
  req.insert(req.end(), v, v + report::protowire::putVarint(v, service.size()));
  req.insert(req.end(), service.begin(), service.end());
  auto done = std::make_shared<std::promise<report::RawResult>>();
  auto result = done->get_future();
  call_(kGrpcGetSamplingStrategy, std::move(req), timeout_, [done](report::RawResult r) { done->set_value(std::move(r)); });
  if (result.wait_for(timeout_ + std::chrono::seconds(1)) != std::future_status::ready)
    return upstreamError(fmt::format("GetSamplingStrategy: no answer within {} ms", timeout_.count()));
  report::RawResult r = result.get();
  if (!r.ok) return upstreamError(fmt::format("GetSamplingStrategy: {}", r.error));
  auto decoded = decodeApiV2SamplingStrategy(r.arg3);
  if (!decoded && malformed_) malformed_->inc();
  return decoded;
}

// ---- SamplingProxy -----------------------------------------------------------------------------

// LRU map service → (answer, fetch time). Guarded by its own mutex; values are copied out so
// the lock is never held across an upstream call or a JSON render.
template <typename T>
class SamplingProxy::Cache {
 public:
  Cache(size_t maxEntries, metrics::Gauge& entries, metrics::Counter& evictions)
      : max_(maxEntries), entries_(entries), evictions_(evictions) {}

  struct Hit {
    T value;
    Clock::time_point fetched;
  };

  std::optional<Hit> lookup(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second);
    return Hit{it->second->value, it->second->fetched};
  }

  void store(const std::string& key, const T& value, Clock::time_point fetched) {
    if (max_ == 0) return;
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->value = value;
      it->second->fetched = fetched;
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.push_front(Entry{key, value, fetched});
    index_.emplace(key, lru_.begin());
    while (lru_.size() > max_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      evictions_.inc();
    }
    entries_.set(static_cast<int64_t>(lru_.size()));
  }

 private:
  struct Entry {
    std::string key;
    T value;
    Clock::time_point fetched;
  };
  const size_t max_;
  metrics::Gauge& entries_;
  metrics::Counter& evictions_;
  std::mutex mu_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, typename std::list<Entry>::iterator> index_;
};

struct SamplingProxy::EndpointMetrics {
  EndpointMetrics(metrics::Registry& r, const std::string& endpoint, const std::string& protocol)
      : proxyOk(r.counter("jaeger_agent_collector_proxy", "Calls from the HTTP config proxy to the collectors, by outcome",
                          {{"endpoint", endpoint}, {"protocol", protocol}, {"result", "ok"}})),
        proxyErr(r.counter("jaeger_agent_collector_proxy", "Calls from the HTTP config proxy to the collectors, by outcome",
                           {{"endpoint", endpoint}, {"protocol", protocol}, {"result", "err"}})),
        hits(r.counter("jaeger_agent_http_server_cache_lookups",
                       "Sampling/baggage requests answered from the agent's cache (hit) or sent to a collector (miss)",
                       {{"endpoint", endpoint}, {"result", "hit"}})),
        misses(r.counter("jaeger_agent_http_server_cache_lookups",
                         "Sampling/baggage requests answered from the agent's cache (hit) or sent to a collector (miss)",
                         {{"endpoint", endpoint}, {"result", "miss"}})),
        stale(r.counter("jaeger_agent_http_server_cache_stale_serves",
                        "Requests answered with an expired cached answer because the collector call failed",
                        {{"endpoint", endpoint}})),
        evictions(r.counter("jaeger_agent_http_server_cache_evictions",
                            "Cached answers dropped because the cache was full (least recently used first)",
                            {{"endpoint", endpoint}})),
        entries(r.gauge("jaeger_agent_http_server_cache_entries", "Services whose answer is cached",
                        {{"endpoint", endpoint}})) {}
  metrics::Counter& proxyOk;
  metrics::Counter& proxyErr;
  metrics::Counter& hits;
  metrics::Counter& misses;
  metrics::Counter& stale;
  metrics::Counter& evictions;
  metrics::Gauge& entries;
};

SamplingProxy::SamplingProxy(ConfigManager& upstream, Options opts, metrics::Registry& registry)
    : upstream_(upstream),
      opts_(std::move(opts)),
      samplingMetrics_(std::make_unique<EndpointMetrics>(registry, "sampling", opts_.samplingProtocol)),
      baggageMetrics_(std::make_unique<EndpointMetrics>(registry, "baggage", opts_.baggageProtocol)),
      staleLog_(std::chrono::seconds(10)) {
  sampling_ = std::make_unique<Cache<SamplingStrategyResponse>>(opts_.maxEntries, samplingMetrics_->entries,
                                                                samplingMetrics_->evictions);
  baggage_ = std::make_unique<Cache<std::vector<BaggageRestriction>>>(opts_.maxEntries, baggageMetrics_->entries,
                                                                      baggageMetrics_->evictions);
}

SamplingProxy::~SamplingProxy() = default;

template <typename T, typename Fetch>
Result<T> SamplingProxy::get(Cache<T>& cache, EndpointMetrics& m, const std::string& service, Fetch&& fetch) {
  auto cached = opts_.maxEntries > 0 ? cache.lookup(service) : std::nullopt;
  if (cached && opts_.now() - cached->fetched < opts_.ttl) {
    m.hits.inc();
    return std::move(cached->value);
  }
  m.misses.inc();
  Result<T> fresh = fetch();
  if (fresh) {
    m.proxyOk.inc();
    cache.store(service, *fresh, opts_.now());
    return fresh;
  }
  m.proxyErr.inc();
  if (cached) {
    m.stale.inc();
    uint64_t suppressed = 0;
    if (staleLog_.allow(&suppressed))
      spdlog::warn("collector call for service {:?} failed ({}); serving the last good answer, {} s old "
                   "({} similar lines suppressed)",
                   service, fresh.error().message(),
                   std::chrono::duration_cast<std::chrono::seconds>(opts_.now() - cached->fetched).count(), suppressed);
    return std::move(cached->value);
  }
  return fresh;
}

Result<SamplingStrategyResponse> SamplingProxy::samplingStrategy(const std::string& service) {
  return get(*sampling_, *samplingMetrics_, service, [&] { return upstream_.getSamplingStrategy(service); });
}

Result<std::vector<BaggageRestriction>> SamplingProxy::baggageRestrictions(const std::string& service) {
  return get(*baggage_, *baggageMetrics_, service, [&] { return upstream_.getBaggageRestrictions(service); });
}

}  // namespace jagent::http
