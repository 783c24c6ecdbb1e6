// HttpServer: the one place that configures cpp-httplib (Debian libcpp-httplib-dev), shared by
// the sampling server (5778) and the admin server (14271).
//
// What it enforces for every route:
//   * GET only: another method on a known path is 405, an unknown path is 404
//     ("404 page not found\n", as Go's mux says);
//   * per-read and per-write timeouts (a client that stops sending headers is dropped after
//     readTimeout), at most 8 KiB of request line / header (httplib's limits), request bodies
//     bounded by maxRequestBytes (413), keep-alive bounded in requests and idle time;
//   * a fixed pool of worker threads, so a flood of connections cannot create threads;
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
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

namespace httplib {
class Server;
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
    std::chrono::milliseconds readTimeout{5'000};
    std::chrono::milliseconds writeTimeout{5'000};
    size_t maxRequestBytes = 64 * 1024;        // request body limit
    int threads = 4;
    size_t keepAliveMaxRequests = 100;
    // Idle time allowed between keep-alive requests. Short on purpose: httplib's stop() waits
    // for idle keep-alive connections to time out (it does not interrupt them), and this also
    // bounds how long a connection lingers after a malformed request got its 400. Jaeger
    // clients poll every minute and Prometheus every 15 s or more: they reconnect anyway.
    std::chrono::seconds keepAliveIdle{1};
    // Called when writing a response body fails (the client went away): counts write errors.
    std::function<void()> onWriteError;
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

 private:
  HttpServer(Options opts, std::map<std::string, Handler> routes);
  void configure();

  Options opts_;
  std::map<std::string, Handler> routes_;
  std::unique_ptr<httplib::Server> server_;
  std::string host_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> listenReturned_{false};
};

}  // namespace jagent::http
