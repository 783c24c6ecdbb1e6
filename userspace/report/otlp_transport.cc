#include "report/otlp_transport.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include <httplib.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <random>

#include <spdlog/spdlog.h>

#include "report/h2_grpc_transport.h"
#include "report/otlp_http_native.h"
#include "report/protowire.h"

namespace jagent::report {

struct OtlpHttpTransport::Worker {
  std::unique_ptr<httplib::Client> client;
  std::thread thread;
  std::unique_ptr<OutCall> job;  // guarded by mu_; set by send(), taken by the worker
  bool busy = false;             // I/O thread only: a job is assigned and not yet collected
  std::vector<uint8_t> gz;       // gzip output, reused
  // Its own wake-up: one condition variable for all workers woke every idle one per request
  // (about 90 futex wake-ups a second per idle thread at 250k spans/s).
  std::condition_variable cv;
};

std::chrono::milliseconds parseRetryAfter(const std::string& v, std::chrono::system_clock::time_point now) {
  if (v.empty()) return std::chrono::milliseconds(0);
  // OC parses an integer first, then an RFC 1123 date (§4.2).
  char* end = nullptr;
  const long secs = std::strtol(v.c_str(), &end, 10);
  if (end && *end == '\0' && end != v.c_str()) return std::chrono::milliseconds(std::max(0L, secs) * 1000);
  std::tm tm{};
  const char* p = ::strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!p) return std::chrono::milliseconds(0);
  const auto at = std::chrono::system_clock::from_time_t(::timegm(&tm));
  return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(at - now));
}

bool gzipInto(const std::vector<uint8_t>& in, std::vector<uint8_t>& out) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&zs, in.size()) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

OtlpHttpVerdict classifyOtlpHttp(int status, const std::string& retryAfter) {
  OtlpHttpVerdict v;
  if (status >= 200 && status < 300) {
    v.outcome = Outcome::kOk;
    v.reason = FailReason::kNone;
  } else if (status == 429 || status == 503) {  // §4.2: Retry-After honoured on these two only
    v.outcome = Outcome::kRetryable;
    v.reason = status == 429 ? FailReason::kErrorBusy : FailReason::kErrorUnhealthy;
    v.retryAfter = parseRetryAfter(retryAfter, std::chrono::system_clock::now());
  } else if (status == 502 || status == 504) {
    v.outcome = Outcome::kRetryable;
    v.reason = status == 502 ? FailReason::kErrorNetwork : FailReason::kErrorTimeout;
  } else {
    v.outcome = Outcome::kFailed;
    v.reason = status == 400 || status == 413 || status == 415 ? FailReason::kErrorBadRequest
               : status >= 500                                  ? FailReason::kErrorUnexpected
                                                                : FailReason::kErrorFatal;
  }
  return v;
}

OtlpHttpTransport::OtlpHttpTransport(const OtlpOptions& opts) : opts_(opts) {}

Result<std::unique_ptr<OtlpHttpTransport>> OtlpHttpTransport::create(const OtlpOptions& opts) {
  std::unique_ptr<OtlpHttpTransport> t(new OtlpHttpTransport(opts));
  if (auto ok = t->init(); !ok) return Unexpected(ok.error());
  return t;
}

Result<void> OtlpHttpTransport::init() {
  const std::string& url = opts_.endpoint;
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return makeError(fmt::format("OTLP/HTTP endpoint '{}' is not a URL", url));
  const size_t slash = url.find('/', scheme + 3);
  schemeHostPort_ = url.substr(0, slash);
  path_ = slash == std::string::npos ? "/" : url.substr(slash);
  const bool https = url.starts_with("https://");
  if (!https && !url.starts_with("http://")) return makeError(fmt::format("OTLP/HTTP endpoint '{}': http or https", url));
  eventFd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!eventFd_) return makeError("eventfd failed");
  const size_t n = std::max<size_t>(1, opts_.httpConnections);
  for (size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    if (https && !opts_.tls.cert.empty() && !opts_.tls.key.empty())
      w->client = std::make_unique<httplib::Client>(schemeHostPort_, opts_.tls.cert, opts_.tls.key);
    else
      w->client = std::make_unique<httplib::Client>(schemeHostPort_);
    if (!w->client->is_valid()) return makeError(fmt::format("OTLP/HTTP endpoint '{}': cannot build a client", url));
    w->client->set_keep_alive(true);  // §4.2: keep connections between requests
    w->client->set_connection_timeout(std::chrono::milliseconds(std::min<int64_t>(opts_.timeout.count(), 5000)));
    if (https) {
      if (!opts_.tls.ca.empty()) w->client->set_ca_cert_path(opts_.tls.ca);
      w->client->enable_server_certificate_verification(!opts_.tls.skipHostVerify);
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] {
      ::pthread_setname_np(::pthread_self(), "otlp-http");
      run(*wp);
    });
  }
  return {};
}

OtlpHttpTransport::~OtlpHttpTransport() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  for (auto& w : workers_) w->cv.notify_all();
  for (auto& w : workers_) w->client->stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

void OtlpHttpTransport::run(Worker& w) {
  for (;;) {
    std::unique_ptr<OutCall> job;
    {
      std::unique_lock lock(mu_);
      w.cv.wait(lock, [&] { return stopping_ || w.job; });
      if (stopping_ || !w.job) return;  // the transport is going away: the core already abortAll()ed
      job = std::move(w.job);
    }
    Done d = perform(w, std::move(job));
    d.worker = &w;
    {
      std::lock_guard lock(mu_);
      done_.push_back(std::move(d));
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(eventFd_.get(), &one, sizeof one);
  }
}

OtlpHttpTransport::Done OtlpHttpTransport::perform(Worker& w, std::unique_ptr<OutCall> call) {
  Done d;
  const auto start = Clock::now();
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(call->deadline - start);
  if (budget.count() <= 0) budget = std::chrono::milliseconds(1);
  budget = std::min(budget, opts_.timeout);
  w.client->set_read_timeout(budget);
  w.client->set_write_timeout(budget);

  httplib::Headers headers{{"User-Agent", "jaeger-xdp-agent/" JAGENT_VERSION}};
  for (const auto& [k, v] : opts_.headers) headers.emplace(k, v);
  const std::vector<uint8_t>* body = &call->body;
  if (opts_.gzip && gzipInto(call->body, w.gz)) {
    headers.emplace("Content-Encoding", "gzip");
    body = &w.gz;
  }
  const std::string path = call->raw() ? call->method : path_;
  // The body is streamed from our buffer (no copy into a request string).
  auto res = w.client->Post(
      path, headers, body->size(),
      [body](size_t offset, size_t length, httplib::DataSink& sink) {
        sink.write(reinterpret_cast<const char*>(body->data()) + offset, length);
        return true;
      },
      "application/x-protobuf");
  d.call = std::move(call);
  if (!res) {
    const httplib::Error e = res.error();
    if (e == httplib::Error::Connection || e == httplib::Error::ConnectionTimeout ||
        e == httplib::Error::SSLConnection || e == httplib::Error::SSLServerVerification) {
      d.outcome = Outcome::kRetryable;  // nothing was sent (§4.2: retry with backoff and jitter)
      d.reason = FailReason::kNoConnection;
      d.connectFailed = true;
    } else if (e == httplib::Error::Write) {
      // The request did not fully leave: the collector cannot have processed a partial body.
      d.outcome = Outcome::kRetryable;
      d.reason = FailReason::kErrorNetwork;
    } else {
      // Written, and the answer was lost or late: may have been processed, never retried.
      d.outcome = Outcome::kUnknown;
      d.reason = Clock::now() >= d.call->deadline || Clock::now() - start >= budget ? FailReason::kTimeoutAfterSend
                                                                                    : FailReason::kConnectionLostAfterSend;
    }
    if (d.call->raw()) d.call->errorDetail = fmt::format("http: {}", httplib::to_string(e));
    return d;
  }
  const int status = res->status;
  if (status >= 200 && status < 300) {
    d.outcome = Outcome::kOk;
    d.reason = FailReason::kNone;
    // §4.2: the exporter reads at most 64 KiB of a response body.
    const std::string_view b(res->body.data(), std::min<size_t>(res->body.size(), 64 * 1024));
    if (d.call->raw()) {
      d.call->response.assign(b.begin(), b.end());
    } else {
      std::string message;
      d.rejected = protowire::otlpPartialSuccess(b, &message);
      if (d.rejected > 0 || !message.empty()) {
        uint64_t suppressed = 0;
        if (errorLog_.allow(&suppressed))
          spdlog::warn("otlp: partial success: {} spans rejected: {} ({} similar suppressed)", d.rejected, message,
                       suppressed);
      }
    }
    return d;
  }
  const OtlpHttpVerdict v = classifyOtlpHttp(status, res->get_header_value("Retry-After"));
  d.outcome = v.outcome;
  d.reason = v.reason;
  d.retryAfter = v.retryAfter;
  if (d.call->raw()) d.call->errorDetail = fmt::format("http status {}", status);
  if (d.outcome == Outcome::kFailed) {
    uint64_t suppressed = 0;
    if (errorLog_.allow(&suppressed))
      spdlog::warn("otlp: HTTP {} from {}{} ({} similar suppressed)", status, schemeHostPort_, path, suppressed);
  }
  return d;
}

bool OtlpHttpTransport::send(std::unique_ptr<OutCall>& call, Clock::time_point now) {
  if (now < pause_.until()) return false;
  for (auto& w : workers_) {
    if (w->busy) continue;
    w->busy = true;
    ++call->attempts;
    call->lastPeer = 0;
    {
      std::lock_guard lock(mu_);
      w->job = std::move(call);
    }
    ++inflight_;
    w->cv.notify_one();
    return true;
  }
  return false;
}

void OtlpHttpTransport::collect(Clock::time_point now) {
  std::deque<Done> done;
  {
    std::lock_guard lock(mu_);
    done.swap(done_);
  }
  for (Done& d : done) {
    d.worker->busy = false;  // its thread is back waiting for a job
    --inflight_;
    reachable_.store(!d.connectFailed, std::memory_order_relaxed);
    if (d.outcome == Outcome::kRetryable) pause_.onRetryable(d.retryAfter, now);
    else pause_.onOk();
    sink_->complete(std::move(d.call), d.outcome, d.reason, now, d.rejected);
  }
}

void OtlpHttpTransport::poll(int timeoutMs) {
  pollfd p{eventFd_.get(), POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) > 0) {
    uint64_t v;
    [[maybe_unused]] ssize_t r = ::read(eventFd_.get(), &v, sizeof v);
  }
  collect(Clock::now());
}

void OtlpHttpTransport::wake() noexcept {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(eventFd_.get(), &one, sizeof one);
}

Clock::time_point OtlpHttpTransport::nextTimer(Clock::time_point now) const {
  return pause_.until() > now ? pause_.until() : Clock::time_point::max();
}

void OtlpHttpTransport::abortAll(Clock::time_point now) {
  // Requests in progress are cut (their connections closed); they come back as failures.
  for (auto& w : workers_) w->client->stop();
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (inflight_ > 0 && Clock::now() < until) poll(10);
  (void)now;
}

Result<std::unique_ptr<Transport>> createOtlpTransport(const OtlpOptions& opts, GrpcTransport::ConnMetrics metrics) {
  if (opts.protocol == OtlpOptions::Protocol::kHttpProtobuf) {
    using Engine = GrpcTransport::Options::Engine;
    const std::string why = OtlpHttpNativeTransport::unsupported(opts);
    if (opts.engine == Engine::kNative || (opts.engine == Engine::kAuto && why.empty())) {
      auto n = OtlpHttpNativeTransport::create(opts);
      if (!n) return Unexpected(n.error());
      return std::unique_ptr<Transport>(std::move(*n));
    }
    auto t = OtlpHttpTransport::create(opts);
    if (!t) return Unexpected(t.error());
    return std::unique_ptr<Transport>(std::move(*t));
  }
  GrpcTransport::Options g;
  g.mode = GrpcTransport::Mode::kOtlpExport;
  std::string ep = opts.endpoint;
  g.tls = opts.tls;
  // An https:// scheme forces TLS, http:// turns it off (§4.3, §4.5); the target is host:port.
  if (ep.starts_with("https://")) {
    g.tls.enabled = true;
    ep = ep.substr(8);
  } else if (ep.starts_with("http://")) {
    ep = ep.substr(7);
  }
  if (const size_t slash = ep.find('/'); slash != std::string::npos) ep.resize(slash);
  g.hostPorts = {ep};
  g.metadata = opts.headers;
  for (auto& [k, v] : g.metadata)
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  g.gzip = opts.gzip;
  g.engine = opts.engine;
  return createGrpcClient(g, std::move(metrics));
}

}  // namespace jagent::report
