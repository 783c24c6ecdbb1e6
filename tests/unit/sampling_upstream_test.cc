// --sampling.upstream (modern-collectors.md §5.4, §5.5): URL validation, Jaeger's sampling JSON
// parsed back into the proxy's struct (both renderings of reference-agent.md §1.1.1, round-tripped
// through the golden bodies of tests/data/http), hostile JSON, and HttpConfigManager against a real
// HTTP server on loopback (cpp-httplib): size cap, status, malformed answers, counters.
#include <gtest/gtest.h>

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "config/config.h"
#include "http/sampling_upstream.h"
#include "http_test_util.h"

namespace jagent {
namespace {

using config::SamplingUpstream;
using http::parseSamplingStrategyJson;

Result<config::AgentConfig> parseArgs(std::vector<const char*> args) {
  args.insert(args.begin(), "jaeger-xdp-agent");
  return config::parse(static_cast<int>(args.size()), args.data());
}

TEST(SamplingUpstreamUrl, AcceptsGrpcAndHttpForms) {
  auto g = config::parseSamplingUpstream("grpc://jaeger:5779");
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->kind, SamplingUpstream::Kind::kGrpc);
  EXPECT_EQ(g->host, "jaeger");
  EXPECT_EQ(g->port, 5779);
  auto h = config::parseSamplingUpstream("http://127.0.0.1:5778/sampling");
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->kind, SamplingUpstream::Kind::kHttp);
  EXPECT_EQ(h->host, "127.0.0.1");
  EXPECT_EQ(h->port, 5778);
  EXPECT_EQ(h->path, "/sampling");
  EXPECT_EQ(h->url, "http://127.0.0.1:5778/sampling");
  auto d = config::parseSamplingUpstream("http://collector");  // port 80, path /
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 80);
  EXPECT_EQ(d->path, "/");
  auto q = config::parseSamplingUpstream("http://[::1]:8080/api/sampling?tenant=a");
  ASSERT_TRUE(q) << q.error().message();
  EXPECT_EQ(q->host, "::1");
  EXPECT_EQ(q->port, 8080);
  EXPECT_EQ(q->path, "/api/sampling?tenant=a");
  auto g6 = config::parseSamplingUpstream("grpc://[fd00::1]:5779/");
  ASSERT_TRUE(g6);
  EXPECT_EQ(g6->host, "fd00::1");
  auto none = config::parseSamplingUpstream("");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->kind, SamplingUpstream::Kind::kDefault);
}

TEST(SamplingUpstreamUrl, RejectsWithAClearMessage) {
  const std::pair<const char*, const char*> bad[] = {
      {"https://jaeger:5778/sampling", "TLS is not supported"},
      {"grpcs://jaeger:5779", "TLS is not supported"},
      {"ftp://jaeger:21/x", "unknown scheme"},
      {"jaeger:5779", "unknown scheme"},
      {"grpc://jaeger", "a port is required"},
      {"grpc://jaeger:", "a port is required"},
      {"http://jaeger:/x", "a port is required"},
      {"grpc://jaeger:0", "1..65535"},
      {"grpc://jaeger:65536", "1..65535"},
      {"grpc://jaeger:99999999999999999999", "1..65535"},
      {"http://jaeger:80a/x", "1..65535"},
      {"grpc://jaeger:5779/api", "takes no path"},
      {"http://:5778/sampling", "no host"},
      {"http://fd00::1:5778/", "brackets"},
      {"http://[fd00::1/x", "unclosed"},
      {"http://user@jaeger/x", "user info"},
      {"http://jaeger:5778/sam pling", "spaces"},
      {"http://jaeger:5778/sampling#frag", "'#'"},
  };
  for (auto [url, why] : bad) {
    auto r = config::parseSamplingUpstream(url);
    ASSERT_FALSE(r) << url;
    EXPECT_NE(r.error().message().find(why), std::string::npos) << url << ": " << r.error().message();
    EXPECT_NE(r.error().message().find("--sampling.upstream"), std::string::npos) << r.error().message();
  }
}

TEST(SamplingUpstreamUrl, FlagAndEnvironment) {
  auto c = parseArgs({"--reporter.otlp.endpoint=otel:4317", "--sampling.upstream=grpc://jaeger:5779"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->reporter.type, config::ReporterType::kOtlp);
  EXPECT_EQ(c->samplingUpstream.kind, SamplingUpstream::Kind::kGrpc);
  EXPECT_EQ(c->samplingUpstream.port, 5779);
  auto def = parseArgs({});
  ASSERT_TRUE(def);
  EXPECT_EQ(def->samplingUpstream.kind, SamplingUpstream::Kind::kDefault);
  auto bad = parseArgs({"--sampling.upstream=udp://jaeger:5779"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("--sampling.upstream 'udp://jaeger:5779': unknown scheme"), std::string::npos)
      << bad.error().message();
  ::setenv("SAMPLING_UPSTREAM", "http://jaeger:5778/sampling", 1);
  auto env = parseArgs({});
  ::unsetenv("SAMPLING_UPSTREAM");
  ASSERT_TRUE(env) << env.error().message();
  EXPECT_EQ(env->samplingUpstream.kind, SamplingUpstream::Kind::kHttp);
  EXPECT_EQ(env->samplingUpstream.path, "/sampling");
}

// ---- JSON ----------------------------------------------------------------------------------------

std::string render(const http::SamplingStrategyResponse& r, bool legacy) {
  auto j = http::samplingStrategyJson(r, legacy);
  return j ? *j : "<render error: " + j.error().message() + ">";
}

TEST(SamplingJson, GoldenBodiesRoundTripInBothRenderings) {
  // The v1.17 json.Marshal bodies (/sampling) and the legacy numeric-enum bodies (/) parse back
  // into strategies that render to the very same bytes.
  for (const auto& [service, strategy] : http::testing::goldenStrategies()) {
    for (bool legacy : {false, true}) {
      const std::string body = render(strategy, legacy);
      auto parsed = parseSamplingStrategyJson(body);
      ASSERT_TRUE(parsed) << service << ": " << parsed.error().message();
      EXPECT_EQ(render(*parsed, false), render(strategy, false)) << service;
      EXPECT_EQ(render(*parsed, true), render(strategy, true)) << service;
    }
  }
  auto golden = parseSamplingStrategyJson(http::testing::readGolden("sampling_svc-perop.json"));
  ASSERT_TRUE(golden) << golden.error().message();
  EXPECT_EQ(render(*golden, false), http::testing::readGolden("sampling_svc-perop.json"));
  auto legacy = parseSamplingStrategyJson(http::testing::readGolden("legacy_svc-rate.json"));
  ASSERT_TRUE(legacy) << legacy.error().message();
  EXPECT_EQ(render(*legacy, true), http::testing::readGolden("legacy_svc-rate.json"));
}

TEST(SamplingJson, JsonpbWithEmitDefaultsRendersAsTheGrpcPath) {
  // gogo jsonpb EmitDefaults (Jaeger v2's HTTP handler before it strips nulls, or an upstream
  // that does not strip them), unknown keys, and an upper bound of 0 that proto3 would not send.
  const std::string body =
      R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"rateLimitingSampling":null,)"
      R"("operationSampling":{"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.5,)"
      R"("perOperationStrategies":[{"operation":"GET /a<b>","probabilisticSampling":{"samplingRate":1},"x":[1,2]}],)"
      R"("defaultUpperBoundTracesPerSecond":0},"futureField":{"deep":{"er":[true,null]}}})";
  auto r = parseSamplingStrategyJson(body);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(r->rateLimitingSampling);
  ASSERT_TRUE(r->operationSampling);
  EXPECT_FALSE(r->operationSampling->defaultUpperBoundTracesPerSecond);
  EXPECT_EQ(render(*r, false),
            R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.1},"operationSampling":)"
            R"({"defaultSamplingProbability":0.1,"defaultLowerBoundTracesPerSecond":0.5,"perOperationStrategies":)"
            R"([{"operation":"GET /a\u003cb\u003e","probabilisticSampling":{"samplingRate":1}}]}})");
  // The observed §5.4 answer, both renderings.
  auto p =
      parseSamplingStrategyJson(R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}})");
  ASSERT_TRUE(p);
  EXPECT_EQ(render(*p, true), R"({"strategyType":0,"probabilisticSampling":{"samplingRate":0.25}})");
  // Missing strategyType = 0 (proto3 default); maxTracesPerSecond clamped to i16 like the gRPC path.
  auto rl = parseSamplingStrategyJson(R"({"rateLimitingSampling":{"maxTracesPerSecond":100000}})");
  ASSERT_TRUE(rl) << rl.error().message();
  EXPECT_EQ(rl->strategyType, http::kProbabilistic);
  EXPECT_EQ(rl->rateLimitingSampling->maxTracesPerSecond, 32767);
  auto un = parseSamplingStrategyJson(R"({"strategyType":7})");  // unknown code kept, as on the gRPC path
  ASSERT_TRUE(un);
  EXPECT_EQ(render(*un, false), R"({"strategyType":"\u003cUNSET\u003e"})");
}

TEST(SamplingJson, NonFiniteValuesParseButDoNotRender) {
  // jsonpb writes non-finite doubles as strings; the proxy then answers 500 as for a NaN over gRPC.
  auto r = parseSamplingStrategyJson(R"({"probabilisticSampling":{"samplingRate":"NaN"}})");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(http::samplingStrategyJson(*r, false));
}

TEST(SamplingJson, RejectsWrongTypesAndMalformedBodies) {
  const std::pair<std::string, const char*> bad[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {R"({"strategyType":"PROBABILISTIC",})", "not valid JSON"},
      {R"({"strategyType":"PROBABILISTIC"} trailing)", "not valid JSON"},
      {"\xff\xfe{}", "not valid JSON"},
      {R"({"probabilisticSampling":{"samplingRate":"0.5"}})", "samplingRate is not a number"},
      {R"([{"strategyType":0}])", "not an object"},
      {R"("PROBABILISTIC")", "not an object"},
      {"null", "not an object"},
      {R"({"strategyType":"SOMETIMES"})", "unknown strategyType"},
      {R"({"strategyType":1.5})", "strategyType is not an integer"},
      {R"({"strategyType":true})", "strategyType is not an integer"},
      {R"({"strategyType":4294967296})", "strategyType is out of range"},
      {R"({"strategyType":-2147483649})", "strategyType is out of range"},
      {R"({"probabilisticSampling":[0.5]})", "probabilisticSampling is not an object"},
      {R"({"rateLimitingSampling":{"maxTracesPerSecond":2.5}})", "maxTracesPerSecond is not an integer"},
      {R"({"rateLimitingSampling":{"maxTracesPerSecond":"5"}})", "maxTracesPerSecond is not an integer"},
      {R"({"operationSampling":{"perOperationStrategies":{}}})", "perOperationStrategies is not an array"},
      {R"({"operationSampling":{"perOperationStrategies":[3]}})", "element is not an object"},
      {R"({"operationSampling":{"perOperationStrategies":[{"operation":7}]}})", "operation is not a string"},
      {R"({"operationSampling":{"defaultSamplingProbability":{}}})", "defaultSamplingProbability is not a number"},
      {R"({"operationSampling":5})", "operationSampling is not an object"},
  };
  for (const auto& [body, why] : bad) {
    auto r = parseSamplingStrategyJson(body);
    ASSERT_FALSE(r) << body;
    EXPECT_NE(r.error().message().find(why), std::string::npos) << body << ": " << r.error().message();
  }
}

TEST(SamplingJson, HostileSizesAreRejectedCheaply) {
  // 1 MiB of '[' is refused by the shape scan before parsing.
  auto deep = parseSamplingStrategyJson(std::string(1 << 20, '['));
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message().find("nested deeper than 8"), std::string::npos);
  // Brackets inside strings do not count as nesting.
  auto quoted = parseSamplingStrategyJson(R"({"perOperationStrategies":"[[[[[[[[[[[[","x":"\"[[[[[[[[[[["})");
  EXPECT_TRUE(quoted) << quoted.error().message();
  // Too many values: 200k per-operation entries (each well formed).
  std::string many = R"({"operationSampling":{"perOperationStrategies":[)";
  for (int i = 0; i < 200'000; ++i) many += i ? ",{}" : "{}";
  many += "]}}";
  auto m = parseSamplingStrategyJson(many);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("more than 100000 values"), std::string::npos) << m.error().message();
  // Unknown keys are dropped while parsing (not stored), within the same item bound.
  std::string unknown = R"({"probabilisticSampling":{"samplingRate":1},"junk":[)";
  for (int i = 0; i < 50'000; ++i) unknown += i ? ",0" : "0";
  unknown += "]}";
  auto u = parseSamplingStrategyJson(unknown);
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(render(*u, false), R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}})");
  auto flat = parseSamplingStrategyJson("[" + std::string(300'000, ',') + "]");
  ASSERT_FALSE(flat);
  EXPECT_NE(flat.error().message().find("more than 100000 values"), std::string::npos);
  // The largest legitimate answer still parses: 10k operations.
  std::string big = R"({"operationSampling":{"perOperationStrategies":[)";
  for (int i = 0; i < 10'000; ++i)
    big += fmt::format(R"({}{{"operation":"op-{}","probabilisticSampling":{{"samplingRate":0.5}}}})", i ? "," : "", i);
  big += "]}}";
  auto b = parseSamplingStrategyJson(big);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->operationSampling->perOperationStrategies.size(), 10'000u);
  EXPECT_EQ(b->operationSampling->perOperationStrategies[9'999].operation, "op-9999");
}

TEST(SamplingJson, PercentEncodesServiceNames) {
  EXPECT_EQ(http::percentEncode("svc-1_a.b~"), "svc-1_a.b~");
  EXPECT_EQ(http::percentEncode("a b&c=d/\xc3\xbc"), "a%20b%26c%3Dd%2F%C3%BC");
}

// ---- HttpConfigManager against a real HTTP server ------------------------------------------------

struct HttpUpstream {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::vector<std::string> services;  // as the server decoded them

  HttpUpstream() {
    server.Get("/sampling", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string svc = req.get_param_value("service");
      {
        std::lock_guard lock(mu);
        services.push_back(svc);
      }
      if (svc == "huge") {
        res.set_content(std::string(2 << 20, ' '), "application/json");
      } else if (svc == "huge-chunked") {
        res.set_chunked_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
          const std::string chunk(64 * 1024, ' ');
          return sink.write(chunk.data(), chunk.size());  // never ends on its own
        });
      } else if (svc == "slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the 1 s read timeout
        res.set_content("{}", "application/json");
      } else if (svc == "trickle") {
        // One byte every 200 ms: each read is in time, the whole body is not.
        res.set_chunked_content_provider("application/json", [n = 0](size_t, httplib::DataSink& sink) mutable {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          if (++n > 10) {
            sink.done();
            return true;
          }
          return sink.write(" ", 1);
        });
      } else if (svc == "bad") {
        res.set_content(R"({"strategyType":)", "application/json");
      } else if (svc == "down") {
        res.status = 503;
        res.set_content("overloaded", "text/plain");
      } else {
        res.set_content(R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}})",
                        "application/json");
      }
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    // bind_to_any_port already listens: connections wait in the backlog until the thread accepts.
  }
  ~HttpUpstream() {
    server.stop();
    thread.join();
  }
};

TEST(HttpConfigManager, FetchesParsesAndBoundsAnswers) {
  HttpUpstream up;
  ASSERT_GT(up.port, 0);
  metrics::Registry reg;
  http::HttpConfigManager::Options o;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(up.port);
  o.path = "/sampling";
  http::HttpConfigManager m(o, reg);
  auto rejects = [&](const char* reason) {
    return reg.counterSum("jaeger_agent_sampling_upstream_rejects", {{"reason", reason}, {"upstream", "http"}});
  };

  auto ok = m.getSamplingStrategy("a b&c=d/\xc3\xbc");
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(render(*ok, true), R"({"strategyType":0,"probabilisticSampling":{"samplingRate":0.25}})");
  {
    std::lock_guard lock(up.mu);
    ASSERT_EQ(up.services.size(), 1u);
    EXPECT_EQ(up.services[0], "a b&c=d/\xc3\xbc");  // the name arrives intact
  }

  const std::string prefix = fmt::format("GET http://127.0.0.1:{}/sampling: ", up.port);
  auto huge = m.getSamplingStrategy("huge");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message(), prefix + "answer larger than 1048576 bytes");
  auto chunked = m.getSamplingStrategy("huge-chunked");
  ASSERT_FALSE(chunked);
  EXPECT_EQ(chunked.error().message(), prefix + "answer larger than 1048576 bytes");
  EXPECT_EQ(rejects("too_large"), 2u);

  auto bad = m.getSamplingStrategy("bad");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), prefix + "sampling JSON: not valid JSON");
  EXPECT_EQ(rejects("malformed"), 1u);

  auto down = m.getSamplingStrategy("down");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().message(), prefix + "HTTP status 503");
  EXPECT_EQ(rejects("malformed"), 1u);  // a status is an upstream error, not a reject

  auto timed = [&](const char* svc) {
    const auto start = std::chrono::steady_clock::now();
    auto r = m.getSamplingStrategy(svc);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400)) << svc;
    return r;
  };
  auto slow = timed("slow");
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message(), prefix + "no complete answer (read failed or timed out)");
  auto trickle = timed("trickle");
  ASSERT_FALSE(trickle);
  EXPECT_EQ(trickle.error().message(), prefix + "answer not complete within 1000 ms");

  auto baggage = m.getBaggageRestrictions("x");
  EXPECT_FALSE(baggage);
}

TEST(HttpConfigManager, UnreachableUpstreamFailsWithinTheTimeout) {
  // A port bound but not listening, held for the test: connections are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int port = ntohs(a.sin_port);
  metrics::Registry reg;
  http::HttpConfigManager::Options o;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(port);
  o.path = "/sampling?tenant=x";
  http::HttpConfigManager m(o, reg);
  const auto start = std::chrono::steady_clock::now();
  auto r = m.getSamplingStrategy("svc");
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(r.error().message(),
            fmt::format("GET http://127.0.0.1:{}/sampling?tenant=x: connection refused or unreachable", port));
  ::close(fd);
}

TEST(SplitConfigManager, SamplingFromOneBaggageFromTheOther) {
  http::testing::FakeConfigManager sampling, baggage;
  baggage.failing = true;
  http::SplitConfigManager split(sampling, baggage);
  EXPECT_TRUE(split.getSamplingStrategy("svc-prob"));
  EXPECT_FALSE(split.getBaggageRestrictions("svc-prob"));
  EXPECT_EQ(sampling.samplingCalls.load(), 1);
  EXPECT_EQ(sampling.baggageCalls.load(), 0);
  EXPECT_EQ(baggage.baggageCalls.load(), 1);
  EXPECT_EQ(baggage.samplingCalls.load(), 0);
}

}  // namespace
}  // namespace jagent
