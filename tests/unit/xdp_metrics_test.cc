// XdpMetrics: what /metrics shows of the XDP datapath (no BPF needed: fed with map contents).
#include "receive/xdp_metrics.h"

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

using jagent::receive::XdpMetrics;
using jagent::receive::XdpProgram;

agent_source_key key4(uint32_t hostOrder, uint32_t port) {
  agent_source_key k{};
  k.addr[10] = k.addr[11] = 0xff;
  const uint32_t be = htonl(hostOrder);
  std::memcpy(&k.addr[12], &be, 4);
  k.port = port;
  return k;
}

bool has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST(XdpMetrics, SourceLabels) {
  agent_source_key k = key4(0x0a0a0302, 6831);
  EXPECT_EQ(XdpMetrics::sourceLabel(k.addr), "10.10.3.2");
  agent_source_key k6{};
  k6.addr[0] = 0xfd;
  k6.addr[15] = 7;
  EXPECT_EQ(XdpMetrics::sourceLabel(k6.addr), "fd00::7");
}

// Top 10 by datagrams, summed per address over its ports (port 0 = later fragments), with the
// userspace drops joined; the 11th and later sources are not exported (bounded cardinality).
TEST(XdpMetrics, TopSourcesBoundedAndAggregated) {
  jagent::metrics::Registry reg;
  XdpMetrics m(reg);
  std::vector<XdpProgram::Source> src;
  for (uint32_t i = 1; i <= 15; ++i) src.push_back({key4(0x0a000000 + i, 6831), {i * 10, i * 1000, 0, 0, 1}});
  src.push_back({key4(0x0a000001, 6832), {500, 100, 2, 0, 1}});  // 10.0.0.1: 510 in total
  src.push_back({key4(0x0a000001, 0), {0, 3000, 0, 40, 1}});     // and 40 later fragments
  m.updateSources(src, {{key4(0x0a000001, 6831), {7}}, {key4(0x0a00000f, 6831), {1}}});
  const std::string text = reg.renderPrometheus();
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_datagrams_total{source=\"10.0.0.1\"} 510")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_fragments_total{source=\"10.0.0.1\",kind=\"first\"} 2")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_fragments_total{source=\"10.0.0.1\",kind=\"later\"} 40")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_bytes_total{source=\"10.0.0.1\"} 4100")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_drops_total{source=\"10.0.0.1\"} 7")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_drops_total{source=\"10.0.0.15\"} 1")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_source_datagrams_total{source=\"10.0.0.7\"} 70")) << text;
  // 10.0.0.2 .. 10.0.0.6 have the fewest datagrams: left out (1 + 9 others = 10 exported).
  EXPECT_EQ(text.find("source=\"10.0.0.6\""), std::string::npos) << text;
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find("jaeger_agent_xdp_source_datagrams_total{", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, XdpMetrics::kTopSources);
}

// Interfaces come and go: their series go with them.
TEST(XdpMetrics, InterfaceSeriesFollowTheSnapshot) {
  jagent::metrics::Registry reg;
  XdpMetrics m(reg);
  agent_port_stats st{};
  st.not_ours = {5, 500};
  st.pass_unsteered = {3, 300};
  m.updateInterfaces({{"cali123", 6831, st}});
  std::string text = reg.renderPrometheus();
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_packets_total{interface=\"cali123\",port=\"6831\",result=\"not_ours\"} 5")) << text;
  EXPECT_TRUE(has(text, "jaeger_agent_xdp_bytes_total{interface=\"cali123\",port=\"6831\",result=\"pass_unsteered\"} 300")) << text;
  m.updateInterfaces({});
  text = reg.renderPrometheus();
  EXPECT_EQ(text.find("cali123"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE jaeger_agent_xdp_packets_total counter"), std::string::npos);
}

TEST(XdpMetrics, ReassemblyCountersFromProc) {
  jagent::receive::ReassemblyCounters c;
  ASSERT_TRUE(jagent::receive::readReassembly(false, c)) << "/proc/net/snmp has no Ip: lines";
  EXPECT_LE(c.oks, c.reqds);
  jagent::metrics::Registry reg;
  XdpMetrics m(reg);
  const std::string text = reg.renderPrometheus();
  EXPECT_NE(text.find("jaeger_agent_ip_reassembly_total{family=\"ipv4\",result=\"fails\"} "), std::string::npos) << text;
  if (std::ifstream("/proc/net/snmp6")) {
    EXPECT_NE(text.find("jaeger_agent_ip_reassembly_total{family=\"ipv6\",result=\"oks\"} "), std::string::npos) << text;
  }
}

}  // namespace
