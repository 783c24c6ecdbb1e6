// libFuzzer target for what parses HTTP from outside (issue #11): the request-head parser of
// HttpServer (http_wire.cc), the Go-style query parser, the response writer fed with what was
// parsed — and, on the same bytes, the native OTLP/HTTP client's response parser
// (report/http1_response.h, issue #15: a collector's answer), fed in pieces whose sizes come from
// the input. Never a crash or an out-of-bounds read (ASan/UBSan), and properties:
//   * the decoded path is never longer than the target; the raw query is a suffix of it;
//   * every response is one status line, headers, a blank line, and exactly Content-Length
//     bytes of body (none for HEAD), with either "Connection: close" or a Keep-Alive header.
#include <cstdint>
#include <string>
#include <string_view>

#include "http/http_server.h"
#include "http/http_wire.h"
#include "report/http1_response.h"

namespace h = jagent::http;

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

void checkResponse(const std::string& out, const h::RequestHead* req, bool keepAlive) {
  FUZZ_CHECK(out.rfind("HTTP/1.1 ", 0) == 0);
  const size_t end = out.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  const std::string_view head(out.data(), end);
  const size_t cl = head.find("\r\nContent-Length: ");
  FUZZ_CHECK(cl != std::string_view::npos);
  const size_t len = std::stoul(std::string(head.substr(cl + 18, head.find("\r\n", cl + 2) - cl - 18)));
  const size_t body = out.size() - end - 4;
  FUZZ_CHECK(req && req->head ? body == 0 : body == len);
  FUZZ_CHECK((head.find("\r\nConnection: close") != std::string_view::npos) != keepAlive);
}

// A collector's answer, split at byte counts taken from the input itself: the parser consumes
// only what it was given, never keeps more than its bounds, and after kDone or kError it stops.
void fuzzResponse(const uint8_t* data, size_t size) {
  jagent::report::Http1Response r;
  using State = jagent::report::Http1Response::State;
  State st = State::kMore;
  size_t at = 0;
  while (at < size && st == State::kMore) {
    const size_t step = 1 + data[at] % 97;
    const size_t n = step < size - at ? step : size - at;
    size_t used = 0;
    st = r.feed({data + at, n}, used);
    FUZZ_CHECK(used <= n);
    FUZZ_CHECK(st != State::kMore || used == n);
    at += used;
  }
  if (st == State::kMore) st = r.eof();
  FUZZ_CHECK(r.body.size() <= jagent::report::Http1Response::kMaxKeptBody);
  if (st == State::kDone) FUZZ_CHECK(r.status >= 200 && r.status <= 999);
  if (st == State::kError) FUZZ_CHECK(!r.error.empty() && !r.keepAlive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzResponse(data, size);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t end = in.find("\r\n\r\n");
  h::RequestHead req;
  const bool keepAlive = size % 2 == 0;
  if (h::parseRequestHead(in.substr(0, end), req) != h::HeadStatus::kOk) {
    h::HttpResponse bad;
    bad.status = 400;
    bad.contentType.clear();
    checkResponse(h::formatResponse(bad, nullptr, false, 1, 100), nullptr, false);
    return 0;
  }
  FUZZ_CHECK(req.path.size() <= req.target.size());
  const std::string_view q = req.rawQuery();
  FUZZ_CHECK(q.size() <= req.target.size() && req.target.compare(req.target.size() - q.size(), q.size(), q) == 0);
  size_t total = 0;
  for (const auto& [k, v] : h::parseGoQuery(q)) total += k.size() + v.size();
  FUZZ_CHECK(total <= q.size());
  // A handler's answer echoing the input, and an error without a body.
  h::HttpResponse ok;
  ok.body = std::string(req.path) + std::string(q);
  ok.headers.emplace_back("X-Echo", req.method);
  checkResponse(h::formatResponse(ok, &req, keepAlive, 1, 100), &req, keepAlive);
  checkResponse(h::formatResponse(h::goHttpError(404, "404 page not found"), &req, keepAlive, 1, 100), &req, keepAlive);
  h::HttpResponse empty405;
  empty405.status = 405;
  empty405.contentType.clear();
  checkResponse(h::formatResponse(empty405, &req, keepAlive, 1, 100), &req, keepAlive);
  return 0;
}
