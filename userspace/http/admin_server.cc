#include "http/admin_server.h"

#include <nlohmann/json.hpp>

#include "http/go_format.h"

#ifndef JAGENT_VERSION
#define JAGENT_VERSION "0.0.0"
#endif
#ifndef JAGENT_GIT_COMMIT
#define JAGENT_GIT_COMMIT ""
#endif
#ifndef JAGENT_BUILD_DATE
#define JAGENT_BUILD_DATE ""
#endif

namespace jagent::http {

std::string versionString() { return "v" JAGENT_VERSION; }

Result<std::unique_ptr<AdminServer>> AdminServer::create(Options opts, metrics::Registry& registry) {
  std::unique_ptr<AdminServer> s(new AdminServer(std::move(opts), registry));
  registry
      .gauge("jaeger_agent_build_info", "Build identity of the running agent (value is always 1)",
             {{"build_date", JAGENT_BUILD_DATE}, {"revision", JAGENT_GIT_COMMIT}, {"version", versionString()}})
      .set(1);

  HttpServer::Options ho;
  ho.name = "admin";
  ho.registry = &registry;
  ho.hostPort = s->opts_.hostPort;
  ho.readTimeout = s->opts_.readTimeout;
  ho.writeTimeout = s->opts_.readTimeout;
  ho.maxRequestBytes = s->opts_.maxRequestBytes;
  ho.threads = s->opts_.threads;
  const AdminServer* self = s.get();
  std::map<std::string, HttpServer::Handler> routes{
      {"/", [self](const HttpRequest&) { return self->serveHealth(); }},
      {"/metrics", [self](const HttpRequest&) { return self->serveMetrics(); }},
      {"/version", [self](const HttpRequest&) { return self->serveVersion(); }},
      {"/ready", [self](const HttpRequest&) { return self->serveReady(); }},
  };
  auto server = HttpServer::create(std::move(ho), std::move(routes));
  if (!server) return Unexpected(server.error());
  s->server_ = std::move(*server);
  return s;
}

void AdminServer::setReady() {
  upSinceWall_ = std::chrono::system_clock::now();
  upSinceMono_ = std::chrono::steady_clock::now();
  ready_.store(true, std::memory_order_release);
}

HttpResponse AdminServer::serveHealth() const {
  HttpResponse r;
  // Key order as jaeger's healthCheckResponse struct: status, upSince, uptime.
  nlohmann::ordered_json body;
  if (ready_.load(std::memory_order_acquire)) {
    body["status"] = "Server available";
    body["upSince"] = goRfc3339Nano(upSinceWall_);
    body["uptime"] = goDurationString(std::chrono::steady_clock::now() - upSinceMono_);
  } else {
    r.status = 503;
    body["status"] = "Server not available";
  }
  r.body = body.dump();
  return r;
}

HttpResponse AdminServer::serveMetrics() const {
  HttpResponse r;
  r.contentType = "text/plain; version=0.0.4; charset=utf-8";
  r.body = registry_.renderPrometheus();
  return r;
}

HttpResponse AdminServer::serveVersion() const {
  HttpResponse r;
  nlohmann::ordered_json body;
  body["gitCommit"] = JAGENT_GIT_COMMIT;
  body["gitVersion"] = versionString();
  body["buildDate"] = JAGENT_BUILD_DATE;
  r.body = body.dump();
  return r;
}

HttpResponse AdminServer::serveReady() const {
  HttpResponse r;
  const Collectors c = opts_.collectors();
  const bool up = ready_.load(std::memory_order_acquire);
  const bool ready = up && (c.configured == 0 || c.connected > 0);
  nlohmann::ordered_json body;
  body["ready"] = ready;
  body["status"] = !up ? "agent not running" : ready ? "ok" : "no collector connected";
  body["collectors"] = {{"configured", c.configured}, {"connected", c.connected}};
  r.status = ready ? 200 : 503;
  r.body = body.dump();
  return r;
}

}  // namespace jagent::http
