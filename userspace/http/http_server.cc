#include "http/http_server.h"

#include <arpa/inet.h>
#include <pthread.h>

#include <cerrno>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "common/net.h"

namespace jagent::http {
namespace {

// Go's url.QueryUnescape: "+" is a space, %XX must be two hex digits. False on a bad escape.
bool goQueryUnescape(std::string_view in, std::string& out) {
  out.clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int h = hex(in[i + 1]), l = hex(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

const char* statusText(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

std::vector<std::string> HttpRequest::values(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query)
    if (k == key) out.push_back(v);
  return out;
}

HttpResponse goHttpError(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::string(message) + "\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

std::vector<std::pair<std::string, std::string>> parseGoQuery(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw.empty()) {
    const size_t sep = raw.find_first_of("&;");  // Go < 1.17 split on both
    std::string_view pair = raw.substr(0, sep);
    raw = sep == std::string_view::npos ? std::string_view() : raw.substr(sep + 1);
    if (pair.empty()) continue;
    std::string_view k = pair, v;
    if (const size_t eq = pair.find('='); eq != std::string_view::npos) {
      k = pair.substr(0, eq);
      v = pair.substr(eq + 1);
    }
    std::string key, value;
    if (!goQueryUnescape(k, key) || !goQueryUnescape(v, value)) continue;  // Go drops the pair
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

HttpServer::HttpServer(Options opts, std::map<std::string, Handler> routes)
    : opts_(std::move(opts)), routes_(std::move(routes)), server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() {
  // httplib closes a bound socket only from its accept loop: a server that was bound but never
  // started (startup failed later) is started and stopped so the port is released.
  if (server_ && port_ != 0 && !started_.load()) start();
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::create(Options opts, std::map<std::string, Handler> routes) {
  const std::string flagValue = opts.hostPort;
  auto hp = parseHostPort(flagValue);
  if (!hp) return withContext(hp.error(), "{} server", opts.name);
  // Resolve ourselves (same rules as the UDP ports: empty host = 0.0.0.0) and give httplib a
  // numeric address, so what we log is what was bound.
  auto addr = resolve(*hp, SOCK_STREAM);
  if (!addr) return withContext(addr.error(), "{} server", opts.name);
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src = addr->family() == AF_INET6
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(addr->get())->sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(addr->get())->sin_addr);
  ::inet_ntop(addr->family(), src, buf, sizeof buf);

  std::unique_ptr<HttpServer> s(new HttpServer(std::move(opts), std::move(routes)));
  s->host_ = buf;
  s->configure();
  errno = 0;
  if (hp->port == 0) {
    const int port = s->server_->bind_to_any_port(s->host_);
    if (port <= 0) return errnoError(fmt::format("{} server: bind {}", s->opts_.name, flagValue));
    s->port_ = static_cast<uint16_t>(port);
  } else {
    if (!s->server_->bind_to_port(s->host_, hp->port))
      return errnoError(fmt::format("{} server: bind {}", s->opts_.name, flagValue));
    s->port_ = hp->port;
  }
  return s;
}

void HttpServer::configure() {
  httplib::Server& svr = *server_;
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  const auto split = [](std::chrono::milliseconds d, auto setter) {
    const auto us = duration_cast<microseconds>(d).count();
    setter(static_cast<time_t>(us / 1'000'000), static_cast<time_t>(us % 1'000'000));
  };
  split(opts_.readTimeout, [&](time_t s, time_t us) { svr.set_read_timeout(s, us); });
  split(opts_.writeTimeout, [&](time_t s, time_t us) { svr.set_write_timeout(s, us); });
  svr.set_keep_alive_max_count(opts_.keepAliveMaxRequests);
  svr.set_keep_alive_timeout(static_cast<time_t>(opts_.keepAliveIdle.count()));
  svr.set_payload_max_length(opts_.maxRequestBytes);
  const size_t threads = static_cast<size_t>(std::max(1, opts_.threads));
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default is SO_REUSEPORT, which would let a second agent (or anything else running
  // as this user) bind the same port and silently take half of the requests. SO_REUSEADDR only:
  // a restart can rebind over TIME_WAIT, a second listener fails with EADDRINUSE.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  // All routing happens here, before httplib's regex router: exact paths, GET only.
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto route = routes_.find(req.path);
    HttpResponse out;
    if (route == routes_.end()) {
      out = goHttpError(404, "404 page not found");
    } else if (req.method != "GET") {
      out.status = 405;  // gorilla/mux answers a method mismatch with an empty 405
      out.contentType.clear();
      out.headers.emplace_back("Allow", "GET");
    } else {
      HttpRequest hr;
      hr.path = req.path;
      const size_t q = req.target.find('?');
      if (q != std::string::npos) hr.query = parseGoQuery(std::string_view(req.target).substr(q + 1));
      try {
        out = route->second(hr);
      } catch (const std::exception& e) {  // a handler bug must not take the server down
        spdlog::error("{} server: handler for {} threw: {}", opts_.name, req.path, e.what());
        out = goHttpError(500, "internal error");
      }
    }
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    if (!out.body.empty()) {
      // A content provider (rather than set_content) is the one place httplib reports a failed
      // write back to us.
      auto body = std::make_shared<std::string>(std::move(out.body));
      auto onWriteError = opts_.onWriteError;
      res.set_content_provider(body->size(), out.contentType,
                               [body, onWriteError](size_t offset, size_t length, httplib::DataSink& sink) {
                                 if (sink.write(body->data() + offset, length)) return true;
                                 if (onWriteError) onWriteError();
                                 return false;
                               });
    } else if (!out.contentType.empty()) {
      res.set_header("Content-Type", out.contentType);
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib produces itself (malformed request, 413, 414): give them a short text body.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty() || res.content_length_ > 0) return httplib::Server::HandlerResponse::Unhandled;
    res.set_content(fmt::format("{} {}\n", res.status, statusText(res.status)), "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  }));
}

void HttpServer::start() {
  if (started_.exchange(true)) return;
  thread_ = std::thread([this] {
    const std::string tname = fmt::format("http-{}", opts_.name).substr(0, 15);
    ::pthread_setname_np(::pthread_self(), tname.c_str());
    if (!server_->listen_after_bind()) spdlog::error("{} server on {}:{} stopped with an error", opts_.name, host_, port_);
    listenReturned_.store(true);
  });
  // stop() is only effective once httplib runs its accept loop: wait for it (milliseconds).
  for (int i = 0; i < 5000 && !server_->is_running() && !listenReturned_.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
  if (!started_.load() || !thread_.joinable()) return;
  server_->stop();  // closes the listening socket; workers finish their current request
  thread_.join();
}

}  // namespace jagent::http
