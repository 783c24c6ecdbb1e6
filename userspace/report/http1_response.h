// Http1Response: an incremental, bounded parser of one HTTP/1.1 response (RFC 9112) as the
// native OTLP/HTTP client reads it off a non-blocking socket: status line, the few headers the
// exporter acts on (Content-Length, Transfer-Encoding, Connection, Retry-After), and the body —
// Content-Length, chunked, or until the connection closes — of which only the first
// kMaxKeptBody bytes are kept (§4.2: the exporter reads at most 64 KiB of a response body).
//
// Hostile or broken collectors: a head over kMaxHead bytes, a malformed status line, chunk size
// or Content-Length, or conflicting lengths is an error (the connection is then closed); memory
// never grows past kMaxHead + kMaxKeptBody whatever is sent. Interim 1xx responses are skipped.
//
// Threading: none (one owner).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace jagent::report {

class Http1Response {
 public:
  static constexpr size_t kMaxHead = 64 * 1024;
  static constexpr size_t kMaxKeptBody = 64 * 1024;

  enum class State : uint8_t { kMore, kDone, kError };
  // Consumes a prefix of `in` (`consumed` bytes) and says where the response stands. After kDone
  // the rest of `in` is not this response's.
  State feed(std::span<const uint8_t> in, size_t& consumed);
  // The connection closed: completes a body delimited by the close, else an error.
  State eof();
  void reset();

  int status = 0;
  std::string retryAfter;   // the Retry-After header's value, if any
  std::string body;         // at most kMaxKeptBody bytes of the body
  bool keepAlive = true;    // false: the server closes (Connection: close, HTTP/1.0)
  std::string error;        // what was malformed (kError)

 private:
  enum class Phase : uint8_t { kHead, kLengthBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kCloseBody, kDone };
  bool parseHead();  // head_ holds status line + headers + CRLF CRLF
  void keep(const uint8_t* p, size_t n);
  Phase phase_ = Phase::kHead;
  std::string head_;        // bytes of the head (or of a chunk-size / trailer line) so far
  uint64_t left_ = 0;       // body or chunk bytes still to come
  State fail(std::string why);
};

}  // namespace jagent::report
