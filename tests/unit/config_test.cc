// Flag parsing: jaeger-agent v1.17.1 names and defaults (reference-agent.md §1.2), env forms,
// durations, --agent.tags expansion.
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/net.h"
#include "config/config.h"

namespace jagent::config {
namespace {

Result<AgentConfig> parseArgs(std::vector<const char*> args) {
  args.insert(args.begin(), "jaeger-xdp-agent");
  return parse(static_cast<int>(args.size()), args.data());
}

TEST(Config, DefaultsMatchJaegerAgent) {
  auto c = parseArgs({});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->processors[0].name, "zipkin-compact");
  EXPECT_EQ(c->processors[0].hostPort, ":5775");
  EXPECT_EQ(c->processors[1].hostPort, ":6831");
  EXPECT_EQ(c->processors[2].hostPort, ":6832");
  EXPECT_EQ(c->processors[2].protocol, Protocol::kBinary);
  for (const auto& p : c->processors) {
    EXPECT_EQ(p.queueSize, 1000);
    EXPECT_EQ(p.maxPacketSize, 65000);
    EXPECT_EQ(p.workers, 10);
    EXPECT_EQ(p.socketBufferSize, 8 << 20);  // deliberate difference from jaeger-agent (0), see config.h
  }
  EXPECT_TRUE(c->reporter.hostPorts.empty());
  EXPECT_EQ(c->reporter.reportTimeout.count(), 1000);
  EXPECT_EQ(c->reporter.minPeers, 3);
  EXPECT_EQ(c->reporter.connCheckTimeout.count(), 250);
  EXPECT_EQ(c->httpHostPort, ":5778");
  EXPECT_EQ(c->adminHostPort, ":14271");
}

TEST(Config, ProcessorAndReporterFlags) {
  auto c = parseArgs({"--processor.jaeger-compact.server-host-port=127.0.0.1:7000",
                      "--processor.jaeger-binary.workers=3", "--processor.zipkin-compact.server-queue-size=5",
                      "--processor.jaeger-compact.server-socket-buffer-size=8388608",
                      "--reporter.tchannel.host-port=a:14267, b:14267", "--reporter.tchannel.report-timeout=1500ms",
                      "--admin-http-port=9999"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->processors[1].hostPort, "127.0.0.1:7000");
  EXPECT_EQ(c->processors[1].socketBufferSize, 8388608);
  EXPECT_EQ(c->processors[2].workers, 3);
  EXPECT_EQ(c->processors[0].queueSize, 5);
  ASSERT_EQ(c->reporter.hostPorts.size(), 2u);
  EXPECT_EQ(c->reporter.hostPorts[1], "b:14267");
  EXPECT_EQ(c->reporter.reportTimeout.count(), 1500);
  EXPECT_EQ(c->adminHostPort, ":9999");
}

TEST(Config, EnvironmentVariablesLikeViper) {
  ::setenv("REPORTER_TCHANNEL_HOST_PORT", "c:1", 1);
  ::setenv("PROCESSOR_JAEGER_COMPACT_WORKERS", "4", 1);
  auto c = parseArgs({});
  ::unsetenv("REPORTER_TCHANNEL_HOST_PORT");
  ::unsetenv("PROCESSOR_JAEGER_COMPACT_WORKERS");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->reporter.hostPorts.size(), 1u);
  EXPECT_EQ(c->reporter.hostPorts[0], "c:1");
  EXPECT_EQ(c->processors[1].workers, 4);
}

TEST(Config, RejectsBadValues) {
  EXPECT_FALSE(parseArgs({"--processor.jaeger-compact.workers=0"}));
  EXPECT_FALSE(parseArgs({"--reporter.tchannel.report-timeout=soon"}));
  EXPECT_FALSE(parseArgs({"--no-such-flag=1"}));
  EXPECT_FALSE(parseArgs({"--agent.tags=novalue"}));
}

TEST(Config, HelpIsNotAnError) {
  auto c = parseArgs({"--help"});
  ASSERT_FALSE(c);
  EXPECT_FALSE(c.error().code);
  EXPECT_NE(c.error().context.find("--processor.jaeger-compact.server-host-port"), std::string::npos);
}

TEST(Config, Durations) {
  EXPECT_EQ(parseDuration("1s")->count(), 1000);
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_EQ(parseDuration("1m30s")->count(), 90000);
  EXPECT_EQ(parseDuration("1.5s")->count(), 1500);
  EXPECT_FALSE(parseDuration("5"));
  EXPECT_FALSE(parseDuration("5x"));
}

TEST(Config, AgentTagsExpandEnvironment) {
  auto getenv = [](const char* n) -> const char* { return std::string_view(n) == "NODE" ? "node-7" : nullptr; };
  auto t = parseAgentTags("a=1, node=${NODE:none},pod=${POD:unknown}, empty=${EMPTY}", getenv);
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[0].key, "a");
  EXPECT_EQ((*t)[0].value, "1");
  EXPECT_EQ((*t)[1].value, "node-7");
  EXPECT_EQ((*t)[2].value, "unknown");
  EXPECT_EQ((*t)[3].value, "");
}

TEST(Net, ParseHostPort) {
  EXPECT_EQ(parseHostPort(":6831")->port, 6831);
  EXPECT_EQ(parseHostPort(":6831")->host, "");
  EXPECT_EQ(parseHostPort("6831")->port, 6831);
  EXPECT_EQ(parseHostPort("10.0.0.1:5")->host, "10.0.0.1");
  EXPECT_EQ(parseHostPort("[::1]:14267")->host, "::1");
  EXPECT_FALSE(parseHostPort("host:99999"));
  EXPECT_FALSE(parseHostPort("host:"));
}

}  // namespace
}  // namespace jagent::config
