// HTTP/1.1 wire pieces of HttpServer, kept pure (no sockets) so they can be unit-tested and
// fuzzed (tests/fuzz/http_request_fuzz.cc): the request head parser and the response writer.
//
// Compatibility: the responses are byte-for-byte what cpp-httplib 0.11 (the server before issue
// #11) wrote for the same answers — status line, headers in case-insensitive order
// (Accept-Ranges, Allow, Connection, Content-Length, Content-Type, Keep-Alive, X-...), an error
// status without a body gets "<code> <text>\n" as text/plain, HEAD gets the headers only plus
// "Accept-Ranges: bytes". docs/http.md lists the few request corner cases that differ.
//
// Threading: free functions, no state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jagent::http {

struct HttpResponse;

// What the server needs from a request head (request line + header lines, up to the blank line).
struct RequestHead {
  std::string method;
  std::string target;  // as sent (path + "?" + query)
  std::string path;    // target before '?', %XX-decoded
  std::string_view rawQuery() const noexcept {
    const size_t q = target.find('?');
    return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
  }
  bool head = false;              // HEAD: answer without the body
  bool connectionClose = false;   // "Connection: close"
  bool hasBody = false;           // Content-Length > 0 or Transfer-Encoding present
  std::optional<size_t> contentLength;  // when declared and valid
};

enum class HeadStatus { kOk, kBadRequest };

// Parses `head`: the bytes before the "\r\n\r\n" that ends it. Lines end with CRLF (a bare LF
// is a bad request, as in httplib); the request line is METHOD SP+ TARGET SP+ HTTP/1.0|HTTP/1.1;
// header lines without a colon are ignored.
[[nodiscard]] HeadStatus parseRequestHead(std::string_view head, RequestHead& out);

// Status-line reason phrase ("OK", "Not Found", ...) and the short text of error bodies.
[[nodiscard]] const char* reasonPhrase(int status) noexcept;
[[nodiscard]] const char* statusText(int status) noexcept;

// Serialises `res` for `req` (nullptr: no parsed request, e.g. a 400 for a malformed head).
// `keepAlive` decides "Connection: close" vs "Keep-Alive: timeout=T, max=M".
[[nodiscard]] std::string formatResponse(const HttpResponse& res, const RequestHead* req, bool keepAlive,
                                         int keepAliveTimeoutSec, size_t keepAliveMax);

}  // namespace jagent::http
