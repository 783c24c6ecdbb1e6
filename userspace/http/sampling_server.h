// SamplingServer: the agent's "config server" on --http-server.host-port (default :5778), the
// endpoints jaeger-clients poll (reference-agent.md §1.1.1, wire-protocols.md §3.6):
//   GET /sampling?service=S             → SamplingStrategyResponse as JSON (strategyType string)
//   GET /?service=S                     → the same with strategyType as 0/1 (legacy clients)
//   GET /baggageRestrictions?service=S  → [{"baggageKey":…,"maxValueLength":…}]
// `service` missing or repeated → 400 "'service' parameter must be provided once"; collector
// failure without a cached answer → 500 "collector error: <why>"; bodies as jaeger-agent
// v1.17.1 wrote them (see sampling_thrift.h). Answers come through SamplingProxy (cache, stale
// serve). Metrics: jaeger_agent_http_server_requests{type}, jaeger_agent_http_server_errors{
// source,status} as in the reference.
//
// Threading: handlers run on the HTTP worker threads; create/start/stop from the control thread.
#pragma once

#include <memory>

#include "common/result.h"
#include "http/http_server.h"
#include "http/sampling_proxy.h"
#include "metrics/metrics.h"

namespace jagent::http {

class SamplingServer {
 public:
  struct Options {
    std::string hostPort = ":5778";
    std::chrono::milliseconds readTimeout{5'000};
    size_t maxRequestBytes = 64 * 1024;
    int threads = 8;  // each may wait up to the collector timeout on a cache miss
  };

  // Binds the port. `proxy` and `registry` outlive the server.
  [[nodiscard]] static Result<std::unique_ptr<SamplingServer>> create(const Options& opts, SamplingProxy& proxy,
                                                                      metrics::Registry& registry);

  void start() { server_->start(); }
  void stop() { server_->stop(); }
  [[nodiscard]] uint16_t port() const noexcept { return server_->port(); }
  [[nodiscard]] const std::string& host() const noexcept { return server_->host(); }

  // The handlers, callable without a socket (tests).
  [[nodiscard]] HttpResponse serveSampling(const HttpRequest& req, bool legacy);
  [[nodiscard]] HttpResponse serveBaggage(const HttpRequest& req);

 private:
  SamplingServer(SamplingProxy& proxy, metrics::Registry& registry);
  // The one `service` value, or the 400 response.
  [[nodiscard]] bool service(const HttpRequest& req, std::string& out, HttpResponse& error);

  SamplingProxy& proxy_;
  metrics::Counter& samplingOk_;
  metrics::Counter& legacyOk_;
  metrics::Counter& baggageOk_;
  metrics::Counter& badRequest_;
  metrics::Counter& collectorErrors_;
  metrics::Counter& thriftErrors_;
  metrics::Counter& writeErrors_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace jagent::http
