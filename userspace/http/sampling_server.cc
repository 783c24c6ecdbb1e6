#include "http/sampling_server.h"

namespace jagent::http {
namespace {

constexpr const char* kRequestsHelp = "Sampling and baggage requests answered successfully, by endpoint";
constexpr const char* kErrorsHelp =
    "HTTP server errors: 4xx bad requests; 5xx by source (collector-proxy: the collector call failed, "
    "thrift: the answer could not be rendered as JSON, write: the response could not be written)";

}  // namespace

SamplingServer::SamplingServer(SamplingProxy& proxy, metrics::Registry& r)
    : proxy_(proxy),
      samplingOk_(r.counter("jaeger_agent_http_server_requests", kRequestsHelp, {{"type", "sampling"}})),
      legacyOk_(r.counter("jaeger_agent_http_server_requests", kRequestsHelp, {{"type", "sampling-legacy"}})),
      baggageOk_(r.counter("jaeger_agent_http_server_requests", kRequestsHelp, {{"type", "baggage"}})),
      badRequest_(r.counter("jaeger_agent_http_server_errors", kErrorsHelp, {{"source", "all"}, {"status", "4xx"}})),
      collectorErrors_(r.counter("jaeger_agent_http_server_errors", kErrorsHelp,
                                 {{"source", "collector-proxy"}, {"status", "5xx"}})),
      thriftErrors_(r.counter("jaeger_agent_http_server_errors", kErrorsHelp, {{"source", "thrift"}, {"status", "5xx"}})),
      writeErrors_(r.counter("jaeger_agent_http_server_errors", kErrorsHelp, {{"source", "write"}, {"status", "5xx"}})) {}

Result<std::unique_ptr<SamplingServer>> SamplingServer::create(const Options& opts, SamplingProxy& proxy,
                                                               metrics::Registry& registry) {
  std::unique_ptr<SamplingServer> s(new SamplingServer(proxy, registry));
  HttpServer::Options ho;
  ho.name = "sampling";
  ho.registry = &registry;
  ho.hostPort = opts.hostPort;
  ho.readTimeout = opts.readTimeout;
  ho.writeTimeout = opts.readTimeout;
  ho.maxRequestBytes = opts.maxRequestBytes;
  ho.threads = opts.threads;
  SamplingServer* self = s.get();
  ho.onWriteError = [self] { self->writeErrors_.inc(); };
  std::map<std::string, HttpServer::Handler> routes{
      {"/sampling", [self](const HttpRequest& r) { return self->serveSampling(r, false); }},
      {"/", [self](const HttpRequest& r) { return self->serveSampling(r, true); }},
      {"/baggageRestrictions", [self](const HttpRequest& r) { return self->serveBaggage(r); }},
  };
  auto server = HttpServer::create(std::move(ho), std::move(routes));
  if (!server) return Unexpected(server.error());
  s->server_ = std::move(*server);
  return s;
}

bool SamplingServer::service(const HttpRequest& req, std::string& out, HttpResponse& error) {
  std::vector<std::string> services = req.values("service");
  if (services.size() != 1) {
    badRequest_.inc();
    error = goHttpError(400, "'service' parameter must be provided once");
    return false;
  }
  out = std::move(services[0]);
  return true;
}

HttpResponse SamplingServer::serveSampling(const HttpRequest& req, bool legacy) {
  std::string svc;
  HttpResponse resp;
  if (!service(req, svc, resp)) return resp;
  auto strategy = proxy_.samplingStrategy(svc);
  if (!strategy) {
    collectorErrors_.inc();
    return goHttpError(500, "collector error: " + strategy.error().message());
  }
  auto json = samplingStrategyJson(*strategy, legacy);
  if (!json) {
    thriftErrors_.inc();
    return goHttpError(500, "Cannot marshall Thrift to JSON");
  }
  (legacy ? legacyOk_ : samplingOk_).inc();
  resp.body = std::move(*json);
  return resp;
}

HttpResponse SamplingServer::serveBaggage(const HttpRequest& req) {
  std::string svc;
  HttpResponse resp;
  if (!service(req, svc, resp)) return resp;
  auto restrictions = proxy_.baggageRestrictions(svc);
  if (!restrictions) {
    collectorErrors_.inc();
    return goHttpError(500, "collector error: " + restrictions.error().message());
  }
  baggageOk_.inc();
  resp.body = baggageRestrictionsJson(*restrictions);
  return resp;
}

}  // namespace jagent::http
