// The sampling server over real HTTP on 127.0.0.1 (cpp-httplib client and raw sockets): every
// path, status code and body against the golden files, the request limits, and the metrics.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "common/unique_fd.h"
#include "http/sampling_server.h"
#include "http_test_util.h"

namespace jagent::http {
namespace {

using namespace std::chrono_literals;
using testing::readGolden;

// Sends `request` verbatim and returns everything the server wrote until it closed (or 5 s).
std::string rawExchange(uint16_t port, const std::string& request) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "<connect failed>";
  if (!request.empty()) ::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}
std::string statusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }
std::string bodyOf(const std::string& response) {
  const size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

struct Server {
  metrics::Registry reg;
  testing::FakeConfigManager upstream;
  std::unique_ptr<SamplingProxy> proxy;
  std::unique_ptr<SamplingServer> server;
  std::unique_ptr<httplib::Client> client;

  explicit Server(ConfigManager* up = nullptr, std::chrono::milliseconds readTimeout = 5s) {
    SamplingProxy::Options po;
    po.ttl = 0ms;  // every request reaches the fake (the cache has its own tests)
    proxy = std::make_unique<SamplingProxy>(up ? *up : upstream, po, reg);
    SamplingServer::Options so;
    so.hostPort = "127.0.0.1:0";
    so.readTimeout = readTimeout;
    so.maxRequestBytes = 1024;
    auto s = SamplingServer::create(so, *proxy, reg);
    EXPECT_TRUE(s) << s.error().message();
    server = std::move(*s);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_read_timeout(5, 0);
  }
  ~Server() { server->stop(); }

  httplib::Result get(const std::string& path) { return client->Get(path.c_str()); }
  uint64_t count(const std::string& name, const metrics::Labels& l) { return reg.counterSum(name, l); }
};

TEST(HttpSamplingServer, EveryGoldenStrategyOnBothForms) {
  Server s;
  EXPECT_NE(s.server->port(), 0);
  for (const auto& [svc, strategy] : testing::goldenStrategies()) {
    SCOPED_TRACE(svc);
    auto r = s.get("/sampling?service=" + svc);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(r->body, readGolden("sampling_" + svc + ".json"));
    auto legacy = s.get("/?service=" + svc);
    ASSERT_TRUE(legacy);
    EXPECT_EQ(legacy->status, 200);
    EXPECT_EQ(legacy->get_header_value("Content-Type"), "application/json");
    if (svc == "svc-prob" || svc == "svc-rate" || svc == "svc-perop") {
      EXPECT_EQ(legacy->body, readGolden("legacy_" + svc + ".json"));
    }
    EXPECT_NE(legacy->body.find(strategy.strategyType == kRateLimiting ? "\"strategyType\":1" : "\"strategyType\":0"),
              std::string::npos);
  }
  const uint64_t n = testing::goldenStrategies().size();
  EXPECT_EQ(s.count("jaeger_agent_http_server_requests", {{"type", "sampling"}}), n);
  EXPECT_EQ(s.count("jaeger_agent_http_server_requests", {{"type", "sampling-legacy"}}), n);
  EXPECT_EQ(s.count("jaeger_agent_http_server_errors", {}), 0u);
}

TEST(HttpSamplingServer, BaggageRestrictions) {
  Server s;
  auto r = s.get("/baggageRestrictions?service=svc-prob");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, readGolden("baggage_svc-prob.json"));
  r = s.get("/baggageRestrictions?service=nobody");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, readGolden("baggage_empty.json"));
  EXPECT_EQ(s.count("jaeger_agent_http_server_requests", {{"type", "baggage"}}), 2u);
}

TEST(HttpSamplingServer, ServiceMustBeGivenExactlyOnce) {
  Server s;
  const std::vector<std::string> bad = {"",
                                        "?",
                                        "?svc=x",
                                        "?service=a&service=a",  // identical pairs still count twice
                                        "?service=a&service=b",
                                        "?service=a;service=b",  // Go 1.13 also splits on ';'
                                        "?service=%zz"};         // a bad escape drops the pair
  int n = 0;
  for (const std::string path : {"/sampling", "/", "/baggageRestrictions"}) {
    for (const auto& q : bad) {
      SCOPED_TRACE(path + q);
      const std::string resp = rawExchange(s.server->port(), "GET " + path + q + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      EXPECT_EQ(statusLine(resp), "HTTP/1.1 400 Bad Request");
      EXPECT_NE(resp.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos) << resp;
      EXPECT_NE(resp.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
      EXPECT_EQ(bodyOf(resp), readGolden("error_400.txt"));
      ++n;
    }
  }
  EXPECT_EQ(s.count("jaeger_agent_http_server_errors", {{"source", "all"}, {"status", "4xx"}}), static_cast<uint64_t>(n));
  EXPECT_EQ(s.upstream.samplingCalls + s.upstream.baggageCalls, 0);
}

TEST(HttpSamplingServer, QueryIsUnescapedLikeGo) {
  Server s;
  s.client->set_url_encode(false);
  auto r = s.get("/sampling?service=svc%2Dprob");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, readGolden("sampling_svc-prob.json"));
  r = s.get("/sampling?x=1&service=svc-rate&y");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, readGolden("sampling_svc-rate.json"));
  // An empty value is a value: it goes to the collector (which knows no such service).
  r = s.get("/sampling?service=");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "collector error: no strategy for service \n");
  {
    std::lock_guard lock(s.upstream.mu);
    s.upstream.strategies["my service"] = s.upstream.strategies["svc-prob"];
  }
  r = s.get("/sampling?service=my+service");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpSamplingServer, CollectorErrorsAre500) {
  Server s;
  s.upstream.failing = true;
  for (const std::string path : {"/sampling?service=svc-prob", "/?service=svc-prob", "/baggageRestrictions?service=svc-prob"}) {
    auto r = s.get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r->body, "collector error: tchannel error: connection refused\n");
  }
  EXPECT_EQ(s.count("jaeger_agent_http_server_errors", {{"source", "collector-proxy"}, {"status", "5xx"}}), 3u);
  EXPECT_EQ(s.count("jaeger_agent_collector_proxy", {{"result", "err"}}), 3u);
  EXPECT_EQ(s.count("jaeger_agent_http_server_requests", {}), 0u);
}

TEST(HttpSamplingServer, NoCollectorConfigured) {
  NoCollectorConfigManager none;
  Server s(&none);
  for (const std::string path : {"/sampling?service=a", "/?service=a", "/baggageRestrictions?service=a"}) {
    auto r = s.get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body, readGolden("error_500_no_collector.txt"));
  }
}

TEST(HttpSamplingServer, UnrenderableStrategyIs500Thrift) {
  Server s;
  {
    std::lock_guard lock(s.upstream.mu);
    s.upstream.strategies["nan"].probabilisticSampling = ProbabilisticSampling{std::nan("")};
  }
  auto r = s.get("/sampling?service=nan");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "Cannot marshall Thrift to JSON\n");
  EXPECT_EQ(s.count("jaeger_agent_http_server_errors", {{"source", "thrift"}, {"status", "5xx"}}), 1u);
}

TEST(HttpSamplingServer, UnknownPathsAndMethods) {
  Server s;
  for (const std::string path : {"/foo", "/sampling/", "/samplingx?service=a", "/metrics"}) {
    auto r = s.get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->body, readGolden("error_404.txt"));
  }
  auto p = s.client->Post("/sampling?service=svc-prob", "x", "text/plain");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 405);
  EXPECT_EQ(p->get_header_value("Allow"), "GET");
  auto d = s.client->Delete("/baggageRestrictions?service=svc-prob");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, 405);
  const std::string head = rawExchange(s.server->port(), "HEAD /sampling?service=svc-prob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusLine(head), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(s.upstream.samplingCalls + s.upstream.baggageCalls, 0);
}

TEST(HttpSamplingServer, RequestsAreBounded) {
  Server s(nullptr, 300ms);
  // Bodies are never read (the routing answers before httplib reads content), so a client
  // announcing 100 MB gets its answer at once and the agent buffers nothing.
  auto t0 = std::chrono::steady_clock::now();
  std::string resp = rawExchange(s.server->port(), "POST /sampling?service=svc-prob HTTP/1.1\r\nHost: x\r\n"
                                                   "Content-Length: 100000000\r\nConnection: close\r\n\r\n" +
                                                       std::string(4096, 'x'));
  EXPECT_EQ(statusLine(resp), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  resp = rawExchange(s.server->port(), "GET /sampling?service=svc-prob HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n"
                                       "Connection: close\r\n\r\n" + std::string(4096, 'x'));
  EXPECT_EQ(statusLine(resp), "HTTP/1.1 200 OK");
  // A header line longer than httplib's 8 KiB limit.
  resp = rawExchange(s.server->port(), "GET /sampling?service=svc-prob HTTP/1.1\r\nX-Big: " + std::string(10000, 'a') +
                                           "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(resp.empty() || statusLine(resp).find(" 400 ") != std::string::npos ||
              statusLine(resp).find(" 431 ") != std::string::npos)
      << statusLine(resp);
  // A client that connects and never finishes its headers gets a 400 after the read timeout
  // (0.3 s) and is disconnected after the keep-alive idle time (1 s).
  t0 = std::chrono::steady_clock::now();
  resp = rawExchange(s.server->port(), "GET /sampling?service=svc-prob HTTP/1.1\r\nHost:");
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(resp.find("200 OK"), std::string::npos);
  // Still serving.
  auto r = s.get("/sampling?service=svc-prob");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpSamplingServer, KeepAliveAndConcurrentClients) {
  Server s;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", s.server->port());
      c.set_keep_alive(true);
      for (int i = 0; i < 20; ++i) {
        auto r = c.Get("/sampling?service=svc-rate");
        if (r && r->status == 200 && r->body == readGolden("sampling_svc-rate.json")) ok++;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 120);
  EXPECT_EQ(s.count("jaeger_agent_http_server_requests", {{"type", "sampling"}}), 120u);
}

TEST(HttpSamplingServer, BindFailureIsAStartupErrorWithContext) {
  Server s;
  metrics::Registry reg;
  SamplingServer::Options so;
  so.hostPort = "127.0.0.1:" + std::to_string(s.server->port());
  auto second = SamplingServer::create(so, *s.proxy, reg);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "sampling server: bind " + so.hostPort + ": Address already in use");
  so.hostPort = "[::1:5778";
  second = SamplingServer::create(so, *s.proxy, reg);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message(), "sampling server: invalid host:port '[::1:5778': Invalid argument");
  so.hostPort = "127.0.0.1:99999";
  EXPECT_FALSE(SamplingServer::create(so, *s.proxy, reg));
}

TEST(HttpSamplingServer, StopIsPromptAndIdempotent) {
  Server s;
  httplib::Client keep("127.0.0.1", s.server->port());
  keep.set_keep_alive(true);
  ASSERT_TRUE(keep.Get("/sampling?service=svc-prob"));  // leaves an idle keep-alive connection
  const auto t0 = std::chrono::steady_clock::now();
  s.server->stop();
  s.server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(httplib::Client("127.0.0.1", s.server->port()).Get("/sampling?service=svc-prob"));
}

TEST(HttpSamplingServer, ParseGoQuery) {
  using Q = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parseGoQuery(""), Q{});
  EXPECT_EQ(parseGoQuery("a=1&b=2&a=3"), (Q{{"a", "1"}, {"b", "2"}, {"a", "3"}}));
  EXPECT_EQ(parseGoQuery("a;b=;=c"), (Q{{"a", ""}, {"b", ""}, {"", "c"}}));
  EXPECT_EQ(parseGoQuery("&&a=x+y%20z%2B&"), (Q{{"a", "x y z+"}}));
  EXPECT_EQ(parseGoQuery("a=%4&b=%g1&c=%41=%42"), (Q{{"c", "A=B"}}));
  EXPECT_EQ(parseGoQuery("s%65rvice=x"), (Q{{"service", "x"}}));
}

}  // namespace
}  // namespace jagent::http
