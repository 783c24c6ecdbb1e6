#include "http/sampling_upstream.h"

#include <cmath>
#include <limits>
#include <optional>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace jagent::http {
namespace {

using Json = nlohmann::json;

constexpr int kMaxJsonDepth = 8;            // the schema needs 5: {operationSampling{[{probabilisticSampling{
constexpr size_t kMaxJsonValues = 100'000;  // items: ~33k per-operation strategies; bounds the tree built

Unexpected jsonError(std::string_view what) { return upstreamError(fmt::format("sampling JSON: {}", what)); }

// What the parser would build from `b`, bounded before it runs: nesting depth, and items (commas
// and openings outside strings, an upper bound on the values). A body of 1 MiB of '[' or of
// "0,0,0,…" costs nothing but this scan.
std::optional<std::string> shapeProblem(std::string_view b) {
  int depth = 0;
  size_t items = 0;
  bool inString = false, escaped = false;
  for (char c : b) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[' || c == ',') {
      if (c != ',' && ++depth > kMaxJsonDepth) return fmt::format("nested deeper than {}", kMaxJsonDepth);
      if (++items > kMaxJsonValues) return fmt::format("more than {} values", kMaxJsonValues);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::nullopt;
}

bool knownKey(const std::string& k) {
  static const char* const kKeys[] = {"strategyType",
                                      "probabilisticSampling",
                                      "samplingRate",
                                      "rateLimitingSampling",
                                      "maxTracesPerSecond",
                                      "operationSampling",
                                      "defaultSamplingProbability",
                                      "defaultLowerBoundTracesPerSecond",
                                      "perOperationStrategies",
                                      "defaultUpperBoundTracesPerSecond",
                                      "operation"};
  for (const char* key : kKeys)
    if (k == key) return true;
  return false;
}

// A member that is absent or null counts as absent (jsonpb writes null for unset messages).
const Json* member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// A double: a JSON number, or the strings jsonpb writes for non-finite values.
Result<double> number(const Json* v, const char* name) {
  if (!v) return 0.0;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return jsonError(fmt::format("{} is not a number", name));
}

// An int32 (proto) / i32 (Thrift enum) value.
Result<int32_t> int32Of(const Json& v, const char* name) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) return jsonError(fmt::format("{} is out of range", name));
    return static_cast<int32_t>(v.get<uint64_t>());
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < INT32_MIN || i > INT32_MAX) return jsonError(fmt::format("{} is out of range", name));
    return static_cast<int32_t>(i);
  }
  return jsonError(fmt::format("{} is not an integer", name));
}

Result<const Json*> object(const Json& parent, const char* key) {
  const Json* v = member(parent, key);
  if (v && !v->is_object()) return jsonError(fmt::format("{} is not an object", key));
  return v;
}

// `parent.probabilisticSampling`, absent (nullopt) or {samplingRate}.
Result<std::optional<ProbabilisticSampling>> probabilistic(const Json& parent) {
  auto obj = object(parent, "probabilisticSampling");
  if (!obj) return Unexpected(obj.error());
  if (!*obj) return std::nullopt;
  auto rate = number(member(**obj, "samplingRate"), "samplingRate");
  if (!rate) return Unexpected(rate.error());
  return ProbabilisticSampling{*rate};
}

Result<PerOperationSampling> perOperation(const Json& obj) {
  PerOperationSampling po;
  auto p = number(member(obj, "defaultSamplingProbability"), "defaultSamplingProbability");
  if (!p) return Unexpected(p.error());
  po.defaultSamplingProbability = *p;
  auto lower = number(member(obj, "defaultLowerBoundTracesPerSecond"), "defaultLowerBoundTracesPerSecond");
  if (!lower) return Unexpected(lower.error());
  po.defaultLowerBoundTracesPerSecond = *lower;
  if (const Json* upper = member(obj, "defaultUpperBoundTracesPerSecond")) {
    auto u = number(upper, "defaultUpperBoundTracesPerSecond");
    if (!u) return Unexpected(u.error());
    if (*u != 0) po.defaultUpperBoundTracesPerSecond = *u;  // proto3 never sends 0 on the gRPC path
  }
  if (const Json* ops = member(obj, "perOperationStrategies")) {
    if (!ops->is_array()) return jsonError("perOperationStrategies is not an array");
    po.perOperationStrategies.reserve(ops->size());
    for (const Json& op : *ops) {
      if (!op.is_object()) return jsonError("a perOperationStrategies element is not an object");
      OperationSampling os;
      if (const Json* name = member(op, "operation")) {
        if (!name->is_string()) return jsonError("operation is not a string");
        os.operation = name->get<std::string>();
      }
      auto ps = probabilistic(op);
      if (!ps) return Unexpected(ps.error());
      os.probabilisticSampling = ps->value_or(ProbabilisticSampling{});
      po.perOperationStrategies.push_back(std::move(os));
    }
  }
  return po;
}

}  // namespace

Result<SamplingStrategyResponse> parseSamplingStrategyJson(std::string_view body) {
  if (auto problem = shapeProblem(body)) return jsonError(*problem);
  // Unknown keys are dropped while parsing, never stored.
  Json::parser_callback_t keep = [](int, Json::parse_event_t ev, Json& v) {
    return ev != Json::parse_event_t::key || knownKey(v.get_ref<const std::string&>());
  };
  Json doc = Json::parse(body.begin(), body.end(), keep, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return jsonError("not valid JSON");
  if (!doc.is_object()) return jsonError("not an object");

  SamplingStrategyResponse out;
  if (const Json* t = member(doc, "strategyType")) {
    if (t->is_string()) {
      // The Thrift/proto enum names (/sampling), or the 0/1 codes of the legacy `/` rendering.
      const auto& s = t->get_ref<const std::string&>();
      if (s == "PROBABILISTIC") out.strategyType = kProbabilistic;
      else if (s == "RATE_LIMITING") out.strategyType = kRateLimiting;
      else return jsonError("unknown strategyType");
    } else {
      auto code = int32Of(*t, "strategyType");
      if (!code) return Unexpected(code.error());
      out.strategyType = *code;
    }
  }
  auto ps = probabilistic(doc);
  if (!ps) return Unexpected(ps.error());
  out.probabilisticSampling = *ps;
  auto rl = object(doc, "rateLimitingSampling");
  if (!rl) return Unexpected(rl.error());
  if (*rl) {
    RateLimitingSampling r;
    if (const Json* m = member(**rl, "maxTracesPerSecond")) {
      auto n = int32Of(*m, "maxTracesPerSecond");
      if (!n) return Unexpected(n.error());
      // proto int32 → Thrift i16, clamped as decodeApiV2SamplingStrategy does.
      r.maxTracesPerSecond = static_cast<int16_t>(std::clamp<int32_t>(*n, INT16_MIN, INT16_MAX));
    }
    out.rateLimitingSampling = r;
  }
  auto os = object(doc, "operationSampling");
  if (!os) return Unexpected(os.error());
  if (*os) {
    auto po = perOperation(**os);
    if (!po) return Unexpected(po.error());
    out.operationSampling = std::move(*po);
  }
  return out;
}

UpstreamRejects::UpstreamRejects(metrics::Registry& r, const std::string& upstream)
    : tooLarge(r.counter("jaeger_agent_sampling_upstream_rejects",
                         "Answers of the --sampling.upstream rejected: too_large (over 1 MiB) or malformed",
                         {{"reason", "too_large"}, {"upstream", upstream}})),
      malformed(r.counter("jaeger_agent_sampling_upstream_rejects",
                          "Answers of the --sampling.upstream rejected: too_large (over 1 MiB) or malformed",
                          {{"reason", "malformed"}, {"upstream", upstream}})) {}

std::string percentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

// ---- gRPC ----------------------------------------------------------------------------------------

namespace {
// One call: owned by its completion callback (grpc runs it exactly once, on a grpc thread).
struct UnaryCall {
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::shared_ptr<grpc::GenericStub> stub;  // kept alive until the callback
  report::RawCallback callback;
};
}  // namespace

GrpcChannelConfigManager::GrpcChannelConfigManager(std::shared_ptr<grpc::Channel> channel,
                                                   std::chrono::milliseconds timeout, metrics::Registry& registry)
    : channel_(std::move(channel)), rejects_(registry, "grpc") {
  // Shared by the call function and every call in flight (a call may outlive a timed-out wait).
  auto stub = std::make_shared<grpc::GenericStub>(channel_);
  metrics::Counter* tooLarge = &rejects_.tooLarge;  // owned by the registry, which outlives calls
  auto call = [stub, tooLarge](std::string_view method, std::vector<uint8_t> req, std::chrono::milliseconds t,
                              report::RawCallback cb) {
    auto c = std::make_shared<UnaryCall>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + t);
    grpc::Slice slice(req.data(), req.size());
    c->request = grpc::ByteBuffer(&slice, 1);
    c->stub = stub;
    c->callback = std::move(cb);
    UnaryCall* raw = c.get();
    stub->UnaryCall(&raw->ctx, std::string(method), grpc::StubOptions(), &raw->request, &raw->response,
                    [c, tooLarge](grpc::Status st) {
                      report::RawResult r;
                      if (st.ok()) {
                        r.ok = true;
                        std::vector<grpc::Slice> slices;
                        (void)c->response.Dump(&slices);
                        for (const grpc::Slice& s : slices) r.arg3.insert(r.arg3.end(), s.begin(), s.end());
                      } else {
                        // The channel's own receive limit answers RESOURCE_EXHAUSTED "... larger than max".
                        if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                            st.error_message().find("larger than max") != std::string::npos)
                          tooLarge->inc();
                        r.error = fmt::format("grpc status {}: {}", static_cast<int>(st.error_code()),
                                              st.error_message());
                      }
                      c->callback(std::move(r));
                    });
  };
  inner_ = std::make_unique<GrpcConfigManager>(std::move(call), timeout, &rejects_.malformed);
}

GrpcChannelConfigManager::~GrpcChannelConfigManager() = default;

Result<std::unique_ptr<GrpcChannelConfigManager>> GrpcChannelConfigManager::create(const std::string& target,
                                                                                 std::chrono::milliseconds timeout,
                                                                                 metrics::Registry& registry) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(kMaxSamplingAnswerBytes));
  args.SetUserAgentPrefix("jaeger-xdp-agent/" JAGENT_VERSION);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  auto channel = grpc::CreateCustomChannel("dns:///" + target, grpc::InsecureChannelCredentials(), args);
  if (!channel) return makeError(fmt::format("cannot create a gRPC channel to '{}'", target));
  return std::unique_ptr<GrpcChannelConfigManager>(new GrpcChannelConfigManager(std::move(channel), timeout, registry));
}

Result<SamplingStrategyResponse> GrpcChannelConfigManager::getSamplingStrategy(const std::string& service) {
  return inner_->getSamplingStrategy(service);
}

// ---- HTTP ----------------------------------------------------------------------------------------

namespace {
// httplib 0.11's to_string() says only "Connection" / "Read": these reach clients in the 500 body.
std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection: return "connection refused or unreachable";
    case httplib::Error::ConnectionTimeout: return "connect timed out";
    case httplib::Error::Read: return "no complete answer (read failed or timed out)";
    case httplib::Error::Write: return "request not sent (write failed)";
    case httplib::Error::Compression: return "bad compressed answer";
    default: return "http error " + httplib::to_string(e);
  }
}
}  // namespace

HttpConfigManager::HttpConfigManager(Options opts, metrics::Registry& registry)
    : opts_(std::move(opts)), rejects_(registry, "http") {
  const bool v6 = opts_.host.find(':') != std::string::npos;
  display_ = fmt::format("http://{}{}{}:{}{}", v6 ? "[" : "", opts_.host, v6 ? "]" : "", opts_.port, opts_.path);
}

Result<SamplingStrategyResponse> HttpConfigManager::getSamplingStrategy(const std::string& service) {
  // A client per call: no state shared between HTTP worker threads, and with the proxy's cache a
  // service costs one upstream request per TTL, so keep-alive would buy little.
  httplib::Client client(opts_.host, opts_.port);
  client.set_connection_timeout(opts_.timeout);
  client.set_read_timeout(opts_.timeout);
  client.set_write_timeout(opts_.timeout);
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.set_url_encode(false);  // the target below is already encoded
  const std::string target =
      opts_.path + (opts_.path.find('?') == std::string::npos ? "?" : "&") + "service=" + percentEncode(service);
  const auto deadline = std::chrono::steady_clock::now() + opts_.timeout;
  std::string body;
  bool tooLarge = false, late = false;
  // The body goes through this receiver, which stops reading at the cap or the deadline (a
  // trickling upstream cannot hold the worker past read-timeout per chunk times forever).
  auto res = client.Get(target, httplib::Headers{{"User-Agent", "jaeger-xdp-agent/" JAGENT_VERSION}},
                        [&](const char* data, size_t n) {
                          if (body.size() + n > opts_.maxAnswerBytes) {
                            tooLarge = true;
                            return false;
                          }
                          if (std::chrono::steady_clock::now() > deadline) {
                            late = true;
                            return false;
                          }
                          body.append(data, n);
                          return true;
                        });
  if (tooLarge) {
    rejects_.tooLarge.inc();
    return upstreamError(fmt::format("GET {}: answer larger than {} bytes", display_, opts_.maxAnswerBytes));
  }
  if (late)
    return upstreamError(fmt::format("GET {}: answer not complete within {} ms", display_, opts_.timeout.count()));
  if (!res) return upstreamError(fmt::format("GET {}: {}", display_, describe(res.error())));
  if (res->status != 200) return upstreamError(fmt::format("GET {}: HTTP status {}", display_, res->status));
  auto parsed = parseSamplingStrategyJson(body);
  if (!parsed) {
    rejects_.malformed.inc();
    return upstreamError(fmt::format("GET {}: {}", display_, parsed.error().message()));
  }
  return parsed;
}

}  // namespace jagent::http
