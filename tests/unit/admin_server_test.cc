// The admin server (health, /metrics, /version, /ready) over real HTTP, and a whole agent
// scraped after a known UDP workload: exact counter values, and the text checked by a strict
// exposition parser (and by promtool when it is installed).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <liburing.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_support.h"
#include "agent.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "decode/transcoder.h"
#include "decode_test_util.h"
#include "http/admin_server.h"
#include "http_test_util.h"

namespace jagent::http {
namespace {

using namespace std::chrono_literals;
using testing::parsePrometheus;
using testing::readGolden;

struct Admin {
  metrics::Registry reg;
  AdminServer::Collectors collectors;
  std::mutex mu;
  std::unique_ptr<AdminServer> server;
  std::unique_ptr<httplib::Client> client;
  Admin() {
    AdminServer::Options o;
    o.hostPort = "127.0.0.1:0";
    o.collectors = [this] {
      std::lock_guard lock(mu);
      return collectors;
    };
    auto s = AdminServer::create(o, reg);
    EXPECT_TRUE(s) << s.error().message();
    server = std::move(*s);
    server->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
  }
  ~Admin() { server->stop(); }
  void set(int configured, int connected) {
    std::lock_guard lock(mu);
    collectors = {configured, connected};
  }
};

TEST(AdminServer, HealthFollowsTheAgentLifecycle) {
  Admin a;
  auto r = a.client->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);  // starting
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->body, readGolden("health_503.json"));

  const auto before = std::chrono::system_clock::now();
  a.server->setReady();
  std::this_thread::sleep_for(20ms);
  r = a.client->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // {"status":"Server available","upSince":"<RFC3339>","uptime":"<Go duration>"} in this order.
  static const std::regex kHealthy(
      R"re(\{"status":"Server available","upSince":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z)",)re"
      R"re("uptime":"(\d+(\.\d+)?(ns|µs|ms|s)|\d+m\d+(\.\d+)?s|\d+h\d+m\d+(\.\d+)?s)"\})re");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(r->body, m, kHealthy)) << r->body;
  const auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body["status"], "Server available");
  // upSince is the moment setReady() ran (to the second, in UTC).
  const std::time_t t = std::chrono::system_clock::to_time_t(before);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char prefix[32];
  std::strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M", &tm);
  EXPECT_EQ(body["upSince"].get<std::string>().substr(0, 16), prefix);

  a.server->setUnavailable();  // shutdown began
  r = a.client->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, readGolden("health_503.json"));
}

TEST(AdminServer, ReadinessReflectsCollectorConnections) {
  Admin a;
  auto ready = [&] {
    auto r = a.client->Get("/ready");
    EXPECT_TRUE(r);
    return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
  };
  a.set(0, 0);
  EXPECT_EQ(ready(), std::make_pair(503, std::string(R"({"ready":false,"status":"agent not running","collectors":{"configured":0,"connected":0}})")));
  a.server->setReady();
  EXPECT_EQ(ready(), std::make_pair(200, std::string(R"({"ready":true,"status":"ok","collectors":{"configured":0,"connected":0}})")));
  a.set(2, 0);
  EXPECT_EQ(ready(), std::make_pair(503, std::string(R"({"ready":false,"status":"no collector connected","collectors":{"configured":2,"connected":0}})")));
  a.set(2, 1);
  EXPECT_EQ(ready(), std::make_pair(200, std::string(R"({"ready":true,"status":"ok","collectors":{"configured":2,"connected":1}})")));
  a.server->setUnavailable();
  EXPECT_EQ(ready().first, 503);
}

TEST(AdminServer, VersionAndMetricsAndLimits) {
  Admin a;
  auto v = a.client->Get("/version");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_EQ(v->get_header_value("Content-Type"), "application/json");
  const auto body = nlohmann::json::parse(v->body);
  ASSERT_EQ(body.size(), 3u);
  EXPECT_EQ(body["gitVersion"], versionString());
  EXPECT_TRUE(body["gitCommit"].is_string());
  EXPECT_TRUE(body["buildDate"].is_string());
  EXPECT_EQ(v->body.substr(0, 13), R"({"gitCommit":)");

  a.reg.counter("jaeger_agent_test_things", "Things", {{"k", "v\"\\\n"}}).inc(7);
  auto m = a.client->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto ex = parsePrometheus(m->body);
  EXPECT_TRUE(ex.ok()) << ::testing::PrintToString(ex.errors) << m->body;
  EXPECT_EQ(ex.value("jaeger_agent_test_things_total{k=\"v\"\\\n\"}"), 7);
  EXPECT_EQ(ex.value("jaeger_agent_build_info{build_date=\"\",revision=\"\",version=\"" + versionString() + "\"}"), 1);

  EXPECT_EQ(a.client->Get("/nope")->status, 404);
  EXPECT_EQ(a.client->Post("/metrics", "", "text/plain")->status, 405);
}

TEST(AdminServer, StrictExpositionParserCatchesBrokenText) {
  EXPECT_TRUE(parsePrometheus("# HELP a_total h\n# TYPE a_total counter\na_total{x=\"1\"} 1\n").ok());
  EXPECT_FALSE(parsePrometheus("# HELP a_total h\n# TYPE a_total counter\na_total 1").ok());          // no final newline
  EXPECT_FALSE(parsePrometheus("# TYPE a_total counter\na_total 1\n").ok());                          // no HELP
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a counter\na 1\n").ok());                          // counter w/o _total
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n").ok());     // duplicate series
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\na{x=\"\\q\"} 1\n").ok());                 // bad escape
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\na{1x=\"1\"} 1\n").ok());                  // bad label name
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\na one\n").ok());                          // bad value
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\nb 1\na 1\n").ok());  // split family
  EXPECT_FALSE(parsePrometheus("# HELP a h\n# TYPE a gauge\na 1\n\n").ok());                          // empty line
}

// ---- a whole agent after a known workload ------------------------------------------------------


void sendUdp(uint16_t port, const std::vector<uint8_t>& payload) { jagent::testing::sendUdpLoopback(port, payload); }

// A binary emitBatch from client `uuid` with seqNo and ClientStats {full, tooLarge, failed}.
std::vector<uint8_t> statsBatch(const std::string& uuid, int64_t seqNo, int64_t full, int64_t tooLarge, int64_t failed) {
  namespace dt = decode::testing;
  dt::TValue process = dt::tStruct({{1, dt::tString("stats-svc")}});
  process.add(2, dt::tList(dt::tt::kStruct, {dt::tTag("client-uuid", uuid)}));
  dt::TValue batch = dt::tStruct({{1, process},
                                  {2, dt::tList(dt::tt::kStruct, {dt::tSpan(1), dt::tSpan(2)})},
                                  {3, dt::tI64(seqNo)},
                                  {4, dt::tStruct({{1, dt::tI64(full)}, {2, dt::tI64(tooLarge)}, {3, dt::tI64(failed)}})}});
  return dt::emitBatch(dt::Wire::kBinary, batch);
}

std::string rejectReason(decode::Protocol p, const std::vector<uint8_t>& d) {
  decode::Transcoder t;
  return decode::reasonName(t.transcode(p, d));
}

bool promtoolAvailable() { return ::access("/usr/bin/promtool", X_OK) == 0; }

TEST(AdminMetricsScrape, ExactCountersAfterAKnownWorkload) {
  {
    io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0) GTEST_SKIP() << "io_uring unavailable here";
    io_uring_queue_exit(&ring);
  }
  const char* argv[] = {"jaeger-xdp-agent",
                        "--processor.zipkin-compact.server-host-port=127.0.0.1:0",
                        "--processor.jaeger-compact.server-host-port=127.0.0.1:0",
                        "--processor.jaeger-binary.server-host-port=127.0.0.1:0",
                        "--processor.jaeger-binary.workers=1",  // FIFO: the client-stats order matters
                        "--processor.jaeger-compact.workers=1",
                        "--http-server.host-port=127.0.0.1:0",
                        "--admin.http.host-port=127.0.0.1:0"};
  auto cfg = config::parse(static_cast<int>(std::size(argv)), argv);
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto agent = Agent::create(*cfg);
  ASSERT_TRUE(agent) << agent.error().message();
  httplib::Client admin("127.0.0.1", (*agent)->adminPort());
  ASSERT_TRUE((*agent)->start());
  ASSERT_EQ(admin.Get("/")->status, 200);
  EXPECT_EQ(admin.Get("/ready")->status, 200);  // stdout mode: no collector to wait for

  const uint16_t compact = (*agent)->udpPort(1), binary = (*agent)->udpPort(2);
  const auto client = jagent::testing::readTestData("udp_jaeger_client.bin");
  ASSERT_FALSE(client.empty());
  const std::vector<uint8_t> garbage = {'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'};
  const std::vector<uint8_t> truncated(client.begin(), client.begin() + 100);
  const std::string garbageReason = rejectReason(decode::Protocol::kCompact, garbage);
  const std::string truncatedReason = rejectReason(decode::Protocol::kBinary, truncated);
  ASSERT_NE(garbageReason, "ok");
  ASSERT_NE(truncatedReason, "ok");

  for (int i = 0; i < 5; ++i) sendUdp(binary, client);  // 5 batches, 1 span each
  sendUdp(binary, statsBatch("uuid-A", 10, 1, 0, 0));   // first batch: baseline only
  sendUdp(binary, statsBatch("uuid-A", 11, 2, 0, 1));
  sendUdp(binary, statsBatch("uuid-A", 14, 5, 3, 1));
  sendUdp(binary, statsBatch("uuid-A", 12, 9, 9, 9));   // out of order: ignored by client stats
  for (int i = 0; i < 3; ++i) sendUdp(compact, garbage);
  for (int i = 0; i < 2; ++i) sendUdp(binary, truncated);

  metrics::Registry& reg = (*agent)->registry();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline &&
         (reg.counterSum("jaeger_agent_received_batches") < 9 || reg.counterSum("jaeger_agent_decode_rejected") < 5))
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(50ms);  // nothing more may arrive

  auto m = admin.Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  const auto ex = parsePrometheus(m->body);
  ASSERT_TRUE(ex.ok()) << ::testing::PrintToString(ex.errors) << "\n" << m->body;
  const std::string jb = R"(model="jaeger",protocol="binary")", jc = R"(model="jaeger",protocol="compact")";
  EXPECT_EQ(ex.value("jaeger_agent_thrift_udp_server_packets_processed_total{" + jb + "}"), 11);
  EXPECT_EQ(ex.value("jaeger_agent_thrift_udp_server_packets_processed_total{" + jc + "}"), 3);
  EXPECT_EQ(ex.value("jaeger_agent_thrift_udp_server_packets_dropped_total{" + jb + "}"), 0);
  EXPECT_EQ(ex.value("jaeger_agent_received_batches_total{" + jb + "}"), 9);
  EXPECT_EQ(ex.value("jaeger_agent_received_spans_total{" + jb + "}"), 13);
  EXPECT_EQ(ex.value("jaeger_agent_received_batches_total{" + jc + "}"), 0);
  EXPECT_EQ(ex.value("jaeger_agent_thrift_udp_t_processor_handler_errors_total{" + jb + "}"), 2);
  EXPECT_EQ(ex.value("jaeger_agent_thrift_udp_t_processor_handler_errors_total{" + jc + "}"), 3);
  EXPECT_EQ(ex.value("jaeger_agent_decode_rejected_total{" + jc + ",reason=\"" + garbageReason + "\"}"), 3);
  EXPECT_EQ(ex.value("jaeger_agent_decode_rejected_total{" + jb + ",reason=\"" + truncatedReason + "\"}"), 2);
  double rejectedTotal = 0;
  for (const auto& [k, v] : ex.samples)
    if (k.rfind("jaeger_agent_decode_rejected_total{", 0) == 0) rejectedTotal += v;
  EXPECT_EQ(rejectedTotal, 5);
  // Client-reported loss (reference semantics: first batch is the baseline, 12 after 14 ignored).
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_batches_received_total"), 3);
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_batches_sent_total"), 4);
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_connected_clients"), 1);
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_spans_dropped_total{cause=\"full-queue\"}"), 4);
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_spans_dropped_total{cause=\"too-large\"}"), 3);
  EXPECT_EQ(ex.value("jaeger_agent_client_stats_spans_dropped_total{cause=\"send-failure\"}"), 1);
  // The HTTP families are present from the start, at zero.
  EXPECT_EQ(ex.value("jaeger_agent_http_server_requests_total{type=\"sampling\"}"), 0);
  EXPECT_EQ(ex.value("jaeger_agent_http_server_errors_total{source=\"collector-proxy\",status=\"5xx\"}"), 0);
  EXPECT_EQ(ex.value("jaeger_agent_collector_proxy_total{endpoint=\"sampling\",protocol=\"tchannel\",result=\"ok\"}"), 0);
  EXPECT_EQ(ex.types.at("jaeger_agent_client_stats_connected_clients"), "gauge");

  // Sampling without a collector, then the same scrape shows it.
  httplib::Client sampling("127.0.0.1", (*agent)->samplingPort());
  auto s = sampling.Get("/sampling?service=x");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 500);
  EXPECT_EQ(s->body, readGolden("error_500_no_collector.txt"));
  const auto ex2 = parsePrometheus(admin.Get("/metrics")->body);
  EXPECT_EQ(ex2.value("jaeger_agent_http_server_errors_total{source=\"collector-proxy\",status=\"5xx\"}"), 1);

  if (promtoolAvailable()) {
    const std::string path = ::testing::TempDir() + "/jagent_metrics.txt";
    std::ofstream(path) << m->body;
    const std::string cmd = "promtool check metrics < " + path + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int rc = ::pclose(p);
    EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << out;
  } else {
    std::printf("promtool not installed: exposition checked by the strict parser only\n");
  }

  (*agent)->stop();
  EXPECT_FALSE(admin.Get("/"));  // the admin server stops last, and then it is gone
}

}  // namespace
}  // namespace jagent::http
