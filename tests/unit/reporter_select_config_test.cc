// Reporter selection and the gRPC / OTLP flags (modern-collectors.md §5.1, §4.3, §4.5):
// --reporter.type, the endpoint that picks the transport, errors for two, TLS rules, and the
// OTEL_EXPORTER_OTLP_* fallbacks.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/config.h"

namespace jagent::config {
namespace {

Result<AgentConfig> parseArgs(std::vector<const char*> args) {
  args.insert(args.begin(), "jaeger-xdp-agent");
  return parse(static_cast<int>(args.size()), args.data());
}

TEST(ReporterSelect, ByEndpointFlag) {
  auto none = parseArgs({});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_EQ(none->reporter.type, ReporterType::kStdout);
  auto tc = parseArgs({"--reporter.tchannel.host-port=a:14267"});
  ASSERT_TRUE(tc);
  EXPECT_EQ(tc->reporter.type, ReporterType::kTChannel);
  auto g = parseArgs({"--reporter.grpc.host-port=a:14250, b:14250", "--reporter.grpc.retry.max=5"});
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->reporter.type, ReporterType::kGrpc);
  ASSERT_EQ(g->reporter.grpc.hostPorts.size(), 2u);
  EXPECT_EQ(g->reporter.grpc.hostPorts[1], "b:14250");
  EXPECT_EQ(g->reporter.grpc.retryMax, 5);
  auto o = parseArgs({"--reporter.otlp.endpoint=otel:4317"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->reporter.type, ReporterType::kOtlp);
  EXPECT_FALSE(o->reporter.otlp.http);
  EXPECT_EQ(o->reporter.otlp.endpoint, "otel:4317");
}

TEST(ReporterSelect, TwoEndpointsIsAClearError) {
  auto r = parseArgs({"--reporter.tchannel.host-port=a:14267", "--reporter.grpc.host-port=b:14250"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("--reporter.type"), std::string::npos) << r.error().message();
  // --reporter.type settles it (jaeger-agent manifests set it with both flags around).
  auto t = parseArgs({"--reporter.type=grpc", "--reporter.tchannel.host-port=a:14267", "--reporter.grpc.host-port=b:1"});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->reporter.type, ReporterType::kGrpc);
  EXPECT_FALSE(parseArgs({"--reporter.type=grpc"}));
  EXPECT_FALSE(parseArgs({"--reporter.type=udp"}));
}

TEST(ReporterSelect, GrpcTlsRules) {
  // J67: tls.* without tls.enabled is a startup error (§5.1).
  EXPECT_FALSE(parseArgs({"--reporter.grpc.host-port=a:1", "--reporter.grpc.tls.ca=/ca.pem"}));
  auto ok = parseArgs({"--reporter.grpc.host-port=a:1", "--reporter.grpc.tls.enabled", "--reporter.grpc.tls.ca=/ca.pem",
                       "--reporter.grpc.tls.server-name=collector", "--reporter.grpc.tls.skip-host-verify"});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(ok->reporter.grpc.tls.enabled);
  EXPECT_EQ(ok->reporter.grpc.tls.serverName, "collector");
  EXPECT_TRUE(ok->reporter.grpc.tls.skipHostVerify);
  EXPECT_FALSE(parseArgs({"--reporter.grpc.host-port=a:1", "--reporter.grpc.tls.enabled", "--reporter.grpc.tls.cert=/c"}));
}

TEST(ReporterSelect, OtlpHttpAppendsV1TracesAndFlagsWin) {
  auto o = parseArgs({"--reporter.otlp.endpoint=http://otel:4318/", "--reporter.otlp.protocol=http/protobuf",
                      "--reporter.otlp.headers=x-tenant=a,authorization=Bearer%20t", "--reporter.otlp.compression=gzip",
                      "--reporter.otlp.timeout=3s"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_TRUE(o->reporter.otlp.http);
  EXPECT_EQ(o->reporter.otlp.endpoint, "http://otel:4318/v1/traces");
  ASSERT_EQ(o->reporter.otlp.headers.size(), 2u);
  EXPECT_EQ(o->reporter.otlp.headers[1].second, "Bearer t");
  EXPECT_TRUE(o->reporter.otlp.gzip);
  EXPECT_EQ(o->reporter.otlp.timeout.count(), 3000);
  EXPECT_FALSE(parseArgs({"--reporter.otlp.endpoint=otel:4318", "--reporter.otlp.protocol=http/protobuf"}));
}

TEST(ReporterSelect, OtelEnvironmentFallbacks) {
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel:4318", 1);
  ::setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
  ::setenv("OTEL_EXPORTER_OTLP_HEADERS", "k=v", 1);
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500", 1);
  ::setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
  auto o = parseArgs({"--reporter.type=otlp"});
  ::setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom", 1);
  auto t = parseArgs({"--reporter.type=otlp"});
  auto f = parseArgs({"--reporter.type=otlp", "--reporter.otlp.protocol=grpc", "--reporter.otlp.endpoint=flag:4317"});
  for (const char* v : {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
                        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_COMPRESSION",
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"})
    ::unsetenv(v);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_TRUE(o->reporter.otlp.http);
  EXPECT_EQ(o->reporter.otlp.endpoint, "https://otel:4318/v1/traces");
  EXPECT_TRUE(o->reporter.otlp.tls.enabled) << "an https:// endpoint turns TLS on";
  EXPECT_EQ(o->reporter.otlp.timeout.count(), 2500);
  EXPECT_TRUE(o->reporter.otlp.gzip);
  ASSERT_EQ(o->reporter.otlp.headers.size(), 1u);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->reporter.otlp.endpoint, "http://traces:4318/custom") << "per-signal endpoint used as is";
  ASSERT_TRUE(f);
  EXPECT_EQ(f->reporter.otlp.endpoint, "flag:4317");
  EXPECT_FALSE(f->reporter.otlp.http);
  EXPECT_FALSE(parseArgs({"--reporter.type=otlp"})) << "no endpoint anywhere";
}

}  // namespace
}  // namespace jagent::config
