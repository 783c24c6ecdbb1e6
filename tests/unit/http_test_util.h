// Test helpers for the HTTP surfaces:
//  * the strategies and baggage restrictions behind the golden bodies in tests/data/http (the
//    same ones tests/interop/sampling_collector.js serves), and a scriptable fake upstream;
//  * a strict parser of the Prometheus text exposition format 0.0.4, so a /metrics scrape is
//    checked for validity (not just grepped) even where promtool is not installed.
#pragma once

#include <atomic>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/sampling_proxy.h"
#include "http/sampling_thrift.h"

namespace jagent::http::testing {

inline std::string readGolden(const std::string& name) {
  std::ifstream f(std::string(JAGENT_TEST_DATA_DIR) + "/http/" + name, std::ios::binary);
  if (!f) return "<missing golden file " + name + ">";
  return {std::istreambuf_iterator<char>(f), {}};
}

// The upstream answers behind the golden files (keep in step with sampling_collector.js).
inline std::map<std::string, SamplingStrategyResponse> goldenStrategies() {
  std::map<std::string, SamplingStrategyResponse> m;
  SamplingStrategyResponse prob;
  prob.strategyType = kProbabilistic;
  prob.probabilisticSampling = ProbabilisticSampling{0.001};
  m["svc-prob"] = prob;

  SamplingStrategyResponse rate;
  rate.strategyType = kRateLimiting;
  rate.rateLimitingSampling = RateLimitingSampling{5};
  m["svc-rate"] = rate;

  SamplingStrategyResponse perop;
  perop.strategyType = kProbabilistic;
  perop.probabilisticSampling = ProbabilisticSampling{0.2};
  PerOperationSampling pos;
  pos.defaultSamplingProbability = 0.2;
  pos.defaultLowerBoundTracesPerSecond = 0.5;
  pos.perOperationStrategies = {{"GET /a<b>&c", {0.75}}, {"op-\xc3\xbc" "n\xc3\xaf" "code", {1}}};
  pos.defaultUpperBoundTracesPerSecond = 10;
  perop.operationSampling = pos;
  m["svc-perop"] = perop;

  SamplingStrategyResponse empty;
  empty.strategyType = kProbabilistic;
  PerOperationSampling e;
  e.defaultSamplingProbability = 1e-7;
  e.defaultLowerBoundTracesPerSecond = 0;
  empty.operationSampling = e;
  m["svc-perop-empty"] = empty;

  SamplingStrategyResponse all;
  all.probabilisticSampling = ProbabilisticSampling{1};
  m["client-all"] = all;
  SamplingStrategyResponse none;
  none.probabilisticSampling = ProbabilisticSampling{0};
  m["client-none"] = none;
  return m;
}

inline std::vector<BaggageRestriction> goldenBaggage(const std::string& service) {
  if (service == "svc-prob") return {{"user-id", 64}, {"k\"q<", 8}};
  return {};
}

// Scriptable upstream: answers from goldenStrategies(), fails for unknown services or while
// `failing` is set, counts calls.
class FakeConfigManager final : public ConfigManager {
 public:
  Result<SamplingStrategyResponse> getSamplingStrategy(const std::string& service) override {
    samplingCalls++;
    if (failing) return upstreamError("tchannel error: connection refused");
    std::lock_guard lock(mu);
    auto it = strategies.find(service);
    if (it == strategies.end()) return upstreamError("no strategy for service " + service);
    return it->second;
  }
  Result<std::vector<BaggageRestriction>> getBaggageRestrictions(const std::string& service) override {
    baggageCalls++;
    if (failing) return upstreamError("tchannel error: connection refused");
    return goldenBaggage(service);
  }
  std::mutex mu;
  std::map<std::string, SamplingStrategyResponse> strategies = goldenStrategies();
  std::atomic<bool> failing{false};
  std::atomic<int> samplingCalls{0};
  std::atomic<int> baggageCalls{0};
};

// ---- strict Prometheus text format 0.0.4 -------------------------------------------------------

struct Exposition {
  std::map<std::string, double> samples;      // canonical "name{a=\"1\",b=\"2\"}" (labels sorted) → value
  std::map<std::string, std::string> types;   // family → counter|gauge|…
  std::map<std::string, std::string> help;    // family → help text
  std::vector<std::string> errors;            // empty = valid
  [[nodiscard]] bool ok() const { return errors.empty(); }
  [[nodiscard]] double value(const std::string& key) const {
    auto it = samples.find(key);
    return it == samples.end() ? std::nan("") : it->second;
  }
};

inline bool isMetricNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
inline bool isMetricNameChar(char c) { return isMetricNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }
inline bool isLabelNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
inline bool isLabelNameChar(char c) { return isLabelNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Rejects anything the format does not allow, plus what this project requires on top: every
// family has exactly one HELP (non-empty) and one TYPE before its samples, samples of a family
// are contiguous, no series appears twice, and counters end in _total.
inline Exposition parsePrometheus(const std::string& text) {
  Exposition ex;
  auto err = [&](size_t lineNo, const std::string& msg) {
    ex.errors.push_back("line " + std::to_string(lineNo) + ": " + msg);
  };
  if (!text.empty() && text.back() != '\n') ex.errors.push_back("text does not end with a newline");
  std::set<std::string> closedFamilies;  // families whose block has ended
  std::set<std::string> withSamples;     // families that have had a sample
  std::string currentFamily;
  size_t lineNo = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineNo;
    if (line.empty()) {
      err(lineNo, "empty line");
      continue;
    }
    auto readName = [&](size_t& i, bool metric) {
      size_t start = i;
      if (i >= line.size() || !(metric ? isMetricNameStart(line[i]) : isLabelNameStart(line[i]))) return std::string();
      while (i < line.size() && (metric ? isMetricNameChar(line[i]) : isLabelNameChar(line[i]))) ++i;
      return line.substr(start, i - start);
    };
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        const bool isHelp = line[2] == 'H';
        size_t i = 7;
        std::string name = readName(i, true);
        if (name.empty() || i >= line.size() || line[i] != ' ') {
          err(lineNo, "bad metric name in " + line);
          continue;
        }
        std::string rest = line.substr(i + 1);
        if (withSamples.count(name)) err(lineNo, "HELP/TYPE for " + name + " after its samples");
        if (isHelp) {
          for (size_t k = 0; k < rest.size(); ++k)
            if (rest[k] == '\\' && (k + 1 >= rest.size() || (rest[k + 1] != '\\' && rest[k + 1] != 'n')))
              err(lineNo, "bad escape in HELP of " + name);
            else if (rest[k] == '\\')
              ++k;
          if (ex.help.count(name)) err(lineNo, "second HELP for " + name);
          if (rest.empty()) err(lineNo, "empty HELP for " + name);
          ex.help[name] = rest;
        } else {
          static const std::set<std::string> kTypes{"counter", "gauge", "histogram", "summary", "untyped"};
          if (!kTypes.count(rest)) err(lineNo, "unknown TYPE '" + rest + "'");
          if (ex.types.count(name)) err(lineNo, "second TYPE for " + name);
          ex.types[name] = rest;
          if (rest == "counter" && (name.size() < 6 || name.substr(name.size() - 6) != "_total"))
            err(lineNo, "counter " + name + " does not end in _total");
        }
        if (name != currentFamily) {
          if (!currentFamily.empty()) closedFamilies.insert(currentFamily);
          currentFamily = name;
        }
      }
      continue;  // other comments are allowed
    }
    // A sample: name[{labels}] value [timestamp]
    size_t i = 0;
    std::string name = readName(i, true);
    if (name.empty()) {
      err(lineNo, "bad sample line: " + line);
      continue;
    }
    std::map<std::string, std::string> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      bool bad = false;
      while (i < line.size() && line[i] != '}') {
        std::string ln = readName(i, false);
        if (ln.empty() || i >= line.size() || line[i] != '=' || i + 1 >= line.size() || line[i + 1] != '"') {
          bad = true;
          break;
        }
        i += 2;
        std::string v;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')) {
              bad = true;
              break;
            }
            v += line[i + 1] == 'n' ? '\n' : line[i + 1];
            i += 2;
          } else {
            v += line[i++];
          }
        }
        if (bad || i >= line.size()) {
          bad = true;
          break;
        }
        ++i;  // closing quote
        if (labels.count(ln)) err(lineNo, "duplicate label " + ln);
        labels[ln] = v;
        if (i < line.size() && line[i] == ',') ++i;
        else if (i < line.size() && line[i] != '}') {
          bad = true;
          break;
        }
      }
      if (bad || i >= line.size()) {
        err(lineNo, "bad label set: " + line);
        continue;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      err(lineNo, "no value: " + line);
      continue;
    }
    std::string rest = line.substr(i + 1);
    std::string valueStr = rest.substr(0, rest.find(' '));
    double value = 0;
    if (valueStr == "NaN") value = std::nan("");
    else if (valueStr == "+Inf") value = INFINITY;
    else if (valueStr == "-Inf") value = -INFINITY;
    else {
      try {
        size_t used = 0;
        value = std::stod(valueStr, &used);
        if (used != valueStr.size()) throw std::invalid_argument("trailing");
      } catch (...) {
        err(lineNo, "bad value '" + valueStr + "'");
        continue;
      }
    }
    if (rest.find(' ') != std::string::npos) {
      const std::string ts = rest.substr(rest.find(' ') + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) err(lineNo, "bad timestamp");
    }
    // Family: counters and gauges here never carry histogram suffixes.
    if (name != currentFamily || closedFamilies.count(name))
      err(lineNo, "sample " + name + " outside its family block (current: " + currentFamily + ")");
    withSamples.insert(name);
    if (!ex.types.count(name)) err(lineNo, "sample " + name + " before/without TYPE");
    if (!ex.help.count(name)) err(lineNo, "sample " + name + " without HELP");
    std::string key = name;
    if (!labels.empty()) {
      key += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) key += ',';
        first = false;
        key += k + "=\"" + v + "\"";
      }
      key += '}';
    }
    if (ex.samples.count(key)) err(lineNo, "duplicate series " + key);
    ex.samples[key] = value;
  }
  for (const auto& [name, type] : ex.types)
    if (!ex.help.count(name)) ex.errors.push_back("family " + name + " has no HELP");
  return ex;
}

}  // namespace jagent::http::testing
