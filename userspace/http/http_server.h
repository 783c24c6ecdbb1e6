// HttpServer: the HTTP/1.1 server of the sampling server (5778) and the admin server (14271).
//
// Design (issue #11, docs/http.md): one event thread per server owns every connection
// (non-blocking sockets, epoll) and reads request heads; only a complete request reaches the
// worker threads, which run the handlers. So a client that is idle, trickles bytes, sends huge
// headers or declares a huge body costs a few KiB and a slot in a table, never a worker: health,
// metrics and sampling keep answering. cpp-httplib (the previous server) gave each connection a
// pool thread for as long as it kept sending a byte within the read timeout.
//
// What it enforces for every connection and route:
//   * GET only: another method on a known path is 405, an unknown path is 404
//     ("404 page not found\n", as Go's mux says);
//   * the whole request head within headerTimeout of its first byte (or of accept), at most
//     maxHeaderBytes of it (431 then close); a declared body is never read: the answer comes
//     first and the connection closes after it;
//   * at most maxConnections open; the next one evicts the connection that has waited longest
//     for its request head (a slowloris cannot hold the table), or is refused if all are busy;
//   * writes bounded by writeTimeout; keep-alive bounded in requests and idle time;
//   * a fixed pool of worker threads and a bounded queue in front of it (503 when full);
//   * every connection closed for one of these reasons is counted in
//     jaeger_agent_http_connections_rejected_total{server,reason} (when a registry is given);
//   * binding happens in create(), so a taken port is a startup error with context; port 0
//     picks a free port (tests), see port().
// Handlers get the raw query parsed the way Go's url.Query() does (repeated keys kept, in
// order), because the jaeger endpoints must tell "service given once" from "given twice".
//
// Threading: create/start/stop from the control thread; handlers run on the worker threads,
// concurrently, and must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace jagent::metrics {
class Registry;
}

namespace jagent::http {

struct HttpRequest {
  std::string path;                                  // decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;  // in order, repeated keys kept
  // Values of `key` in the query, in order.
  [[nodiscard]] std::vector<std::string> values(std::string_view key) const;
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// What Go's http.Error writes: text/plain, nosniff, the message and a newline.
[[nodiscard]] HttpResponse goHttpError(int status, std::string_view message);

// Parses a raw query string ("a=1&b=%20&a") like Go 1.13's url.ParseQuery: pairs split on '&'
// and ';', "+" and %XX unescaped, a pair whose escapes are invalid is dropped, "k" alone = "k=".
[[nodiscard]] std::vector<std::pair<std::string, std::string>> parseGoQuery(std::string_view raw);

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  struct Options {
    std::string name;                          // for logs: "sampling", "admin"
    std::string hostPort;                      // ":5778", "127.0.0.1:0", "[::1]:14271"
    // The whole request head must arrive within this of its first byte (of accept for the first
    // request): a total deadline, not per read, so trickling bytes does not extend it.
    std::chrono::milliseconds readTimeout{5'000};
    std::chrono::milliseconds writeTimeout{5'000};
    size_t maxRequestBytes = 64 * 1024;        // declared bodies above this are counted (never read)
    size_t maxHeaderBytes = 8 * 1024;          // request line + headers (httplib's limit too)
    size_t maxConnections = 256;               // open at once; see the eviction rule above
    size_t maxQueuedRequests = 64;             // complete requests waiting for a worker
    int threads = 4;
    size_t keepAliveMaxRequests = 100;
    // Idle time allowed between keep-alive requests. Jaeger clients poll every minute and
    // Prometheus every 15 s or more: they reconnect anyway.
    std::chrono::seconds keepAliveIdle{1};
    // Called when writing a response fails (the client went away): counts write errors.
    std::function<void()> onWriteError;
    // Where the reject counters go (nullptr: not counted).
    metrics::Registry* registry = nullptr;
  };

  // Binds (not yet serving). `routes`: exact path → handler.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> create(Options opts,
                                                                  std::map<std::string, Handler> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts accepting on a thread of its own; returns once the server is accepting.
  void start();
  // Stops accepting, lets in-flight requests finish, joins. Idempotent.
  void stop();

  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const std::string& host() const noexcept { return host_; }

  // Answers one parsed request (routing, 404/405, handler exceptions → 500). Public for tests.
  [[nodiscard]] HttpResponse dispatch(const std::string& method, const std::string& path,
                                      std::string_view rawQuery) const;

 private:
  struct Impl;
  HttpServer(Options opts, std::map<std::string, Handler> routes);

  Options opts_;
  std::map<std::string, Handler> routes_;
  std::unique_ptr<Impl> impl_;
  std::string host_;
  uint16_t port_ = 0;
  std::atomic<bool> started_{false};
};

}  // namespace jagent::http
