#include <gtest/gtest.h>

#include "metrics/metrics.h"

namespace jagent::metrics {
namespace {

TEST(Metrics, PrometheusTextFormat) {
  Registry r;
  r.counter("jaeger_agent_x", "X things", {{"model", "jaeger"}}).inc(3);
  r.counter("jaeger_agent_x", "X things", {{"model", "zipkin"}}).inc();
  r.gauge("jaeger_agent_g", "a \"gauge\"\nwith newline").set(-2);
  r.callbackGauge("jaeger_agent_cb", "computed", {{"q", "a\"b"}}, [] { return 1.5; });
  const std::string text = r.renderPrometheus();
  EXPECT_NE(text.find("# HELP jaeger_agent_x_total X things\n# TYPE jaeger_agent_x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("jaeger_agent_x_total{model=\"jaeger\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("jaeger_agent_x_total{model=\"zipkin\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP jaeger_agent_g a \"gauge\"\\nwith newline\n"), std::string::npos);
  EXPECT_NE(text.find("jaeger_agent_g -2\n"), std::string::npos);
  EXPECT_NE(text.find("jaeger_agent_cb{q=\"a\\\"b\"} 1.5\n"), std::string::npos);
}

TEST(Metrics, SameSeriesIsShared) {
  Registry r;
  Counter& a = r.counter("c", "h", {{"k", "v"}});
  Counter& b = r.counter("c", "h", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  a.inc(2);
  r.counter("c", "h", {{"k", "w"}, {"z", "1"}}).inc(5);
  EXPECT_EQ(r.counterSum("c"), 7u);
  EXPECT_EQ(r.counterSum("c", {{"k", "v"}}), 2u);
  EXPECT_EQ(r.counterSum("missing"), 0u);
}

}  // namespace
}  // namespace jagent::metrics
