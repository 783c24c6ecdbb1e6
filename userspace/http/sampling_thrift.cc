#include "http/sampling_thrift.h"

#include <bit>

#include <fmt/format.h>

#include "decode/thrift_wire.h"
#include "http/go_format.h"

namespace jagent::http {
namespace {

namespace wire = decode::wire;

// A bounded TBinary struct reader over decode::wire::BinaryReader that keeps the first error
// as text. Fields of an unexpected type are skipped, as a generated reader does.
class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> b) : r_(b.data(), b.data() + b.size()) {}

  [[nodiscard]] const std::string& error() const { return err_; }

  bool fail(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
    return false;
  }
  bool readerFail(std::string_view what) {
    return fail(fmt::format("malformed {}: {}", what, decode::reasonName(r_.error())));
  }

  // Calls `field(header)` for every field until stop; `field` returns false to abort and must
  // consume the value (or call skip()).
  template <typename F>
  bool readStruct(std::string_view what, F&& field) {
    if (++depth_ > kMaxNesting) return fail(fmt::format("malformed {}: nested too deeply", what));
    int16_t lastId = 0;
    wire::FieldHeader f;
    for (;;) {
      if (!r_.readFieldHeader(f, lastId)) return readerFail(what);
      if (f.type == wire::kStop) break;
      if (!field(f)) return false;
    }
    --depth_;
    return true;
  }
  bool skip(const wire::FieldHeader& f, std::string_view what) {
    return r_.skipValue(f.type, depth_) || readerFail(what);
  }
  bool readDouble(double& v, std::string_view what) {
    int64_t bits;
    if (!r_.readI64(bits)) return readerFail(what);
    v = std::bit_cast<double>(bits);
    return true;
  }
  bool readI16(int16_t& v, std::string_view what) {
    const uint8_t* p;
    if (!r_.readRaw(p, 2)) return readerFail(what);
    v = wire::loadBig<int16_t>(p);
    return true;
  }
  bool readI32(int32_t& v, std::string_view what) { return r_.readI32(v) || readerFail(what); }
  bool readString(std::string& v, std::string_view what) {
    const uint8_t* p;
    uint32_t n;
    if (!r_.readBinary(p, n)) return readerFail(what);
    v.assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  bool readListHeader(uint8_t& elemType, uint32_t& n, std::string_view what) {
    return r_.readListHeader(elemType, n) || readerFail(what);
  }

 private:
  static constexpr int kMaxNesting = 16;  // the IDL nests 4 deep; unknown fields are skipped with wire's own cap
  wire::BinaryReader r_;
  std::string err_;
  int depth_ = 0;
};

bool required(Decoder& d, bool isSet, std::string_view structName, std::string_view field) {
  return isSet || d.fail(fmt::format("required field {}.{} is not set", structName, field));
}

bool readProbabilistic(Decoder& d, ProbabilisticSampling& out) {
  bool rate = false;
  return d.readStruct("ProbabilisticSamplingStrategy",
                      [&](const wire::FieldHeader& f) {
                        if (f.id == 1 && f.type == wire::kDouble)
                          return (rate = true, d.readDouble(out.samplingRate, "samplingRate"));
                        return d.skip(f, "ProbabilisticSamplingStrategy");
                      }) &&
         required(d, rate, "ProbabilisticSamplingStrategy", "samplingRate");
}

bool readRateLimiting(Decoder& d, RateLimitingSampling& out) {
  bool max = false;
  return d.readStruct("RateLimitingSamplingStrategy",
                      [&](const wire::FieldHeader& f) {
                        if (f.id == 1 && f.type == wire::kI16)
                          return (max = true, d.readI16(out.maxTracesPerSecond, "maxTracesPerSecond"));
                        return d.skip(f, "RateLimitingSamplingStrategy");
                      }) &&
         required(d, max, "RateLimitingSamplingStrategy", "maxTracesPerSecond");
}

bool readOperation(Decoder& d, OperationSampling& out) {
  bool op = false, prob = false;
  return d.readStruct("OperationSamplingStrategy",
                      [&](const wire::FieldHeader& f) {
                        if (f.id == 1 && f.type == wire::kString)
                          return (op = true, d.readString(out.operation, "operation"));
                        if (f.id == 2 && f.type == wire::kStruct)
                          return (prob = true, readProbabilistic(d, out.probabilisticSampling));
                        return d.skip(f, "OperationSamplingStrategy");
                      }) &&
         required(d, op, "OperationSamplingStrategy", "operation") &&
         required(d, prob, "OperationSamplingStrategy", "probabilisticSampling");
}

bool readPerOperation(Decoder& d, PerOperationSampling& out) {
  bool def = false, lower = false, list = false;
  return d.readStruct(
             "PerOperationSamplingStrategies",
             [&](const wire::FieldHeader& f) {
               switch (f.id) {
                 case 1:
                   if (f.type == wire::kDouble)
                     return (def = true, d.readDouble(out.defaultSamplingProbability, "defaultSamplingProbability"));
                   break;
                 case 2:
                   if (f.type == wire::kDouble)
                     return (lower = true,
                             d.readDouble(out.defaultLowerBoundTracesPerSecond, "defaultLowerBoundTracesPerSecond"));
                   break;
                 case 3:
                   if (f.type == wire::kList) {
                     // Initialised: GCC -O3 cannot see through readListHeader's failure path.
                     uint8_t et = 0;
                     uint32_t n = 0;
                     if (!d.readListHeader(et, n, "perOperationStrategies")) return false;
                     if (n > 0 && et != wire::kStruct) return d.fail("malformed perOperationStrategies: not a list of structs");
                     list = true;
                     out.perOperationStrategies.clear();
                     // Grow with what is actually read, not with what the count claims.
                     for (uint32_t i = 0; i < n; ++i)
                       if (!readOperation(d, out.perOperationStrategies.emplace_back())) return false;
                     return true;
                   }
                   break;
                 case 4:
                   if (f.type == wire::kDouble) {
                     double v = 0;
                     if (!d.readDouble(v, "defaultUpperBoundTracesPerSecond")) return false;
                     out.defaultUpperBoundTracesPerSecond = v;
                     return true;
                   }
                   break;
                 default:
                   break;
               }
               return d.skip(f, "PerOperationSamplingStrategies");
             }) &&
         required(d, def, "PerOperationSamplingStrategies", "defaultSamplingProbability") &&
         required(d, lower, "PerOperationSamplingStrategies", "defaultLowerBoundTracesPerSecond") &&
         required(d, list, "PerOperationSamplingStrategies", "perOperationStrategies");
}

bool readResponse(Decoder& d, SamplingStrategyResponse& out) {
  bool type = false;
  return d.readStruct("SamplingStrategyResponse",
                      [&](const wire::FieldHeader& f) {
                        if (f.id == 1 && f.type == wire::kI32)
                          return (type = true, d.readI32(out.strategyType, "strategyType"));
                        if (f.id == 2 && f.type == wire::kStruct)
                          return readProbabilistic(d, out.probabilisticSampling.emplace());
                        if (f.id == 3 && f.type == wire::kStruct)
                          return readRateLimiting(d, out.rateLimitingSampling.emplace());
                        if (f.id == 4 && f.type == wire::kStruct)
                          return readPerOperation(d, out.operationSampling.emplace());
                        return d.skip(f, "SamplingStrategyResponse");
                      }) &&
         required(d, type, "SamplingStrategyResponse", "strategyType");
}

bool readRestriction(Decoder& d, BaggageRestriction& out) {
  bool key = false, len = false;
  return d.readStruct("BaggageRestriction",
                      [&](const wire::FieldHeader& f) {
                        if (f.id == 1 && f.type == wire::kString)
                          return (key = true, d.readString(out.baggageKey, "baggageKey"));
                        if (f.id == 2 && f.type == wire::kI32)
                          return (len = true, d.readI32(out.maxValueLength, "maxValueLength"));
                        return d.skip(f, "BaggageRestriction");
                      }) &&
         required(d, key, "BaggageRestriction", "baggageKey") &&
         required(d, len, "BaggageRestriction", "maxValueLength");
}

// ---- encoding ----

class Encoder {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  template <typename T>
  void big(T v) {
    uint8_t b[sizeof(T)];
    wire::storeBig(b, v);
    out_.insert(out_.end(), b, b + sizeof(T));
  }
  void field(uint8_t type, int16_t id) {
    u8(type);
    big(id);
  }
  void dbl(int16_t id, double v) {
    field(wire::kDouble, id);
    big(std::bit_cast<int64_t>(v));
  }
  void str(int16_t id, std::string_view s) {
    field(wire::kString, id);
    big(static_cast<int32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void stop() { u8(wire::kStop); }
  void reserve(size_t n) { out_.reserve(n); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

void writeProbabilistic(Encoder& e, int16_t id, const ProbabilisticSampling& p) {
  e.field(wire::kStruct, id);
  e.dbl(1, p.samplingRate);
  e.stop();
}

// ---- JSON ----

void jsonKey(std::string& out, std::string_view k) {
  out += '"';
  out += k;  // keys are fixed ASCII identifiers
  out += "\":";
}

bool jsonProbabilistic(std::string& out, const ProbabilisticSampling& p) {
  out += '{';
  jsonKey(out, "samplingRate");
  if (!appendGoJsonFloat64(out, p.samplingRate)) return false;
  out += '}';
  return true;
}

}  // namespace

std::vector<uint8_t> encodeServiceNameArgs(std::string_view serviceName) {
  Encoder e;
  // Exact size up front: one allocation, and GCC 12 at -O3 otherwise reports a false
  // stringop-overflow inside vector growth from an empty vector.
  e.reserve(1 + 2 + 4 + serviceName.size() + 1);
  e.str(1, serviceName);
  e.stop();
  return e.take();
}

Result<SamplingStrategyResponse> decodeSamplingStrategyResult(std::span<const uint8_t> arg3) {
  Decoder d(arg3);
  SamplingStrategyResponse out;
  bool success = false;
  const bool ok = d.readStruct("getSamplingStrategy result", [&](const wire::FieldHeader& f) {
    if (f.id == 0 && f.type == wire::kStruct) return (success = true, readResponse(d, out));
    return d.skip(f, "getSamplingStrategy result");
  });
  if (!ok) return upstreamError(d.error());
  if (!success) return upstreamError("getSamplingStrategy failed: unknown result");
  return out;
}

Result<std::vector<BaggageRestriction>> decodeBaggageRestrictionsResult(std::span<const uint8_t> arg3) {
  Decoder d(arg3);
  std::vector<BaggageRestriction> out;
  bool success = false;
  const bool ok = d.readStruct("getBaggageRestrictions result", [&](const wire::FieldHeader& f) {
    if (f.id == 0 && f.type == wire::kList) {
      uint8_t et = 0;
      uint32_t n = 0;
      if (!d.readListHeader(et, n, "getBaggageRestrictions result")) return false;
      if (n > 0 && et != wire::kStruct) return d.fail("malformed getBaggageRestrictions result: not a list of structs");
      success = true;
      out.clear();
      for (uint32_t i = 0; i < n; ++i)  // grow with what is read, not with what the count claims
        if (!readRestriction(d, out.emplace_back())) return false;
      return true;
    }
    return d.skip(f, "getBaggageRestrictions result");
  });
  if (!ok) return upstreamError(d.error());
  if (!success) return upstreamError("getBaggageRestrictions failed: unknown result");
  return out;
}

std::vector<uint8_t> encodeSamplingStrategyResult(const SamplingStrategyResponse& r) {
  Encoder e;
  e.field(wire::kStruct, 0);
  e.field(wire::kI32, 1);
  e.big(r.strategyType);
  if (r.probabilisticSampling) writeProbabilistic(e, 2, *r.probabilisticSampling);
  if (r.rateLimitingSampling) {
    e.field(wire::kStruct, 3);
    e.field(wire::kI16, 1);
    e.big(r.rateLimitingSampling->maxTracesPerSecond);
    e.stop();
  }
  if (r.operationSampling) {
    const PerOperationSampling& o = *r.operationSampling;
    e.field(wire::kStruct, 4);
    e.dbl(1, o.defaultSamplingProbability);
    e.dbl(2, o.defaultLowerBoundTracesPerSecond);
    e.field(wire::kList, 3);
    e.u8(wire::kStruct);
    e.big(static_cast<int32_t>(o.perOperationStrategies.size()));
    for (const OperationSampling& op : o.perOperationStrategies) {
      e.str(1, op.operation);
      writeProbabilistic(e, 2, op.probabilisticSampling);
      e.stop();
    }
    if (o.defaultUpperBoundTracesPerSecond) e.dbl(4, *o.defaultUpperBoundTracesPerSecond);
    e.stop();
  }
  e.stop();  // SamplingStrategyResponse
  e.stop();  // result
  return e.take();
}

std::vector<uint8_t> encodeBaggageRestrictionsResult(const std::vector<BaggageRestriction>& r) {
  Encoder e;
  e.field(wire::kList, 0);
  e.u8(wire::kStruct);
  e.big(static_cast<int32_t>(r.size()));
  for (const BaggageRestriction& b : r) {
    e.str(1, b.baggageKey);
    e.field(wire::kI32, 2);
    e.big(b.maxValueLength);
    e.stop();
  }
  e.stop();
  return e.take();
}

Result<std::string> samplingStrategyJson(const SamplingStrategyResponse& r, bool legacy) {
  std::string out = "{";
  jsonKey(out, "strategyType");
  if (legacy && (r.strategyType == kProbabilistic || r.strategyType == kRateLimiting)) {
    // jaeger's encodeThriftEnums092 rewrites exactly these two strings to their codes.
    out += std::to_string(r.strategyType);
  } else if (r.strategyType == kProbabilistic) {
    out += "\"PROBABILISTIC\"";
  } else if (r.strategyType == kRateLimiting) {
    out += "\"RATE_LIMITING\"";
  } else {
    appendGoJsonString(out, "<UNSET>");  // Go thrift's String() of an unknown enum value
  }
  bool ok = true;
  if (r.probabilisticSampling) {
    out += ',';
    jsonKey(out, "probabilisticSampling");
    ok = ok && jsonProbabilistic(out, *r.probabilisticSampling);
  }
  if (r.rateLimitingSampling) {
    out += ',';
    jsonKey(out, "rateLimitingSampling");
    out += '{';
    jsonKey(out, "maxTracesPerSecond");
    out += std::to_string(r.rateLimitingSampling->maxTracesPerSecond);
    out += '}';
  }
  if (r.operationSampling) {
    const PerOperationSampling& o = *r.operationSampling;
    out += ',';
    jsonKey(out, "operationSampling");
    out += '{';
    jsonKey(out, "defaultSamplingProbability");
    ok = ok && appendGoJsonFloat64(out, o.defaultSamplingProbability);
    out += ',';
    jsonKey(out, "defaultLowerBoundTracesPerSecond");
    ok = ok && appendGoJsonFloat64(out, o.defaultLowerBoundTracesPerSecond);
    out += ',';
    jsonKey(out, "perOperationStrategies");
    out += '[';
    for (size_t i = 0; i < o.perOperationStrategies.size(); ++i) {
      const OperationSampling& op = o.perOperationStrategies[i];
      if (i) out += ',';
      out += '{';
      jsonKey(out, "operation");
      appendGoJsonString(out, op.operation);
      out += ',';
      jsonKey(out, "probabilisticSampling");
      ok = ok && jsonProbabilistic(out, op.probabilisticSampling);
      out += '}';
    }
    out += ']';
    if (o.defaultUpperBoundTracesPerSecond) {
      out += ',';
      jsonKey(out, "defaultUpperBoundTracesPerSecond");
      ok = ok && appendGoJsonFloat64(out, *o.defaultUpperBoundTracesPerSecond);
    }
    out += '}';
  }
  out += '}';
  if (!ok) return upstreamError("json: unsupported value: NaN or Inf in the sampling strategy");
  return out;
}

std::string baggageRestrictionsJson(const std::vector<BaggageRestriction>& r) {
  std::string out = "[";
  for (size_t i = 0; i < r.size(); ++i) {
    if (i) out += ',';
    out += '{';
    jsonKey(out, "baggageKey");
    appendGoJsonString(out, r[i].baggageKey);
    out += ',';
    jsonKey(out, "maxValueLength");
    out += std::to_string(r[i].maxValueLength);
    out += '}';
  }
  return out + "]";
}

}  // namespace jagent::http
