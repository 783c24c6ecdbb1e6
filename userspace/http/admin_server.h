// AdminServer: --admin.http.host-port (default :14271; v1.17's --admin-http-port also works),
// reference-agent.md §1.1.2:
//   GET /         health: 200 {"status":"Server available","upSince":"<RFC3339>","uptime":"<Go
//                 duration>"} once the agent is up, 503 {"status":"Server not available"} while
//                 it starts and from the moment shutdown begins (so a load balancer stops
//                 sending before the agent stops serving). Like jaeger's, it does not look at
//                 the collectors.
//   GET /metrics  Prometheus text exposition 0.0.4 of the whole Registry.
//   GET /version  {"gitCommit":…,"gitVersion":…,"buildDate":…} (jaeger's version.Info).
//   GET /ready    beyond the reference: 200 when at least one collector is connected (or none
//                 is configured: stdout mode) and the agent is up, else 503; the body says how
//                 many collectors are configured and connected. For Kubernetes readiness probes.
//
// Threading: setReady/setUnavailable from any thread (atomics); handlers on the HTTP workers;
// create/start/stop from the control thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "common/result.h"
#include "http/http_server.h"
#include "metrics/metrics.h"

namespace jagent::http {

class AdminServer {
 public:
  struct Collectors {
    int configured = 0;
    int connected = 0;
  };
  struct Options {
    std::string hostPort = ":14271";
    std::chrono::milliseconds readTimeout{5'000};
    size_t maxRequestBytes = 64 * 1024;
    int threads = 2;
    std::function<Collectors()> collectors = [] { return Collectors{}; };
  };

  // Binds the port; health is "not available" until setReady(). `registry` outlives the server.
  [[nodiscard]] static Result<std::unique_ptr<AdminServer>> create(Options opts, metrics::Registry& registry);

  void start() { server_->start(); }
  void stop() { server_->stop(); }
  [[nodiscard]] uint16_t port() const noexcept { return server_->port(); }
  [[nodiscard]] const std::string& host() const noexcept { return server_->host(); }

  void setReady();
  void setUnavailable() { ready_.store(false, std::memory_order_release); }

  // The handlers, callable without a socket (tests).
  [[nodiscard]] HttpResponse serveHealth() const;
  [[nodiscard]] HttpResponse serveMetrics() const;
  [[nodiscard]] HttpResponse serveVersion() const;
  [[nodiscard]] HttpResponse serveReady() const;

 private:
  AdminServer(Options opts, metrics::Registry& registry) : opts_(std::move(opts)), registry_(registry) {}

  Options opts_;
  metrics::Registry& registry_;
  std::atomic<bool> ready_{false};
  // Written by setReady() before ready_ is released; read after ready_ is acquired.
  std::chrono::system_clock::time_point upSinceWall_{};
  std::chrono::steady_clock::time_point upSinceMono_{};
  std::unique_ptr<HttpServer> server_;
};

// Build identity served by /version and jaeger_agent_build_info.
[[nodiscard]] std::string versionString();

}  // namespace jagent::http
