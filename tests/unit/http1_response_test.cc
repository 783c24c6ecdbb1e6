// Http1Response (report/http1_response.h): the native OTLP/HTTP client's response parser, fed
// whole and byte by byte, and with what a broken or hostile collector might send.
#include "report/http1_response.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace jagent::report {
namespace {

using State = Http1Response::State;

// Feeds `wire` in pieces of `step` bytes; returns the final state and what was left unconsumed.
State feedAll(Http1Response& r, std::string_view wire, size_t step, std::string* rest = nullptr) {
  State st = State::kMore;
  size_t at = 0;
  while (at < wire.size() && st == State::kMore) {
    const size_t n = std::min(step, wire.size() - at);
    size_t used = 0;
    st = r.feed({reinterpret_cast<const uint8_t*>(wire.data() + at), n}, used);
    at += used;
    if (st == State::kMore && used != n) return State::kError;  // kMore must consume everything
  }
  if (rest) *rest = std::string(wire.substr(at));
  return st;
}

TEST(Http1Response, ContentLengthChunkedAndInterimAtAnySplit) {
  const std::string cases[] = {
      "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
  };
  for (const std::string& wire : cases) {
    for (size_t step : {size_t{1}, size_t{2}, size_t{7}, wire.size()}) {
      Http1Response r;
      std::string rest;
      ASSERT_EQ(feedAll(r, wire, step, &rest), State::kDone) << wire << " step " << step;
      EXPECT_EQ(r.status, 200);
      EXPECT_EQ(r.body, "hello");
      EXPECT_TRUE(r.keepAlive);
      EXPECT_EQ(rest, "");
    }
  }
}

TEST(Http1Response, StatusRetryAfterCloseAndBodyUntilClose) {
  Http1Response r;
  ASSERT_EQ(feedAll(r, "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 3),
            State::kDone);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retryAfter, "7");
  EXPECT_FALSE(r.keepAlive);

  r.reset();
  ASSERT_EQ(feedAll(r, "HTTP/1.0 503 Service Unavailable\r\n\r\npartial", 4), State::kMore);
  EXPECT_EQ(r.eof(), State::kDone) << "no length: the body ends with the connection";
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "partial");
  EXPECT_FALSE(r.keepAlive);

  r.reset();
  ASSERT_EQ(feedAll(r, "HTTP/1.1 204 No Content\r\n\r\n", 5), State::kDone);
  EXPECT_EQ(r.status, 204);
}

TEST(Http1Response, HostileAnswersAreErrorsAndStayBounded) {
  const char* bad[] = {
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
  };
  for (const char* wire : bad) {
    Http1Response r;
    EXPECT_EQ(feedAll(r, wire, 1), State::kError) << wire;
    EXPECT_FALSE(r.error.empty());
  }
  // An endless head is cut at 64 KiB, not buffered.
  Http1Response r;
  std::string head = "HTTP/1.1 200 OK\r\n";
  while (head.size() < 200 * 1024) head += "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  EXPECT_EQ(feedAll(r, head, 4096), State::kError);
  // A huge body is read through, only the first 64 KiB kept.
  r.reset();
  const std::string big(1 << 20, 'b');
  ASSERT_EQ(feedAll(r, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + big, 65536), State::kDone);
  EXPECT_EQ(r.body.size(), Http1Response::kMaxKeptBody);
  // A connection closed mid-body is an error, not a response.
  r.reset();
  ASSERT_EQ(feedAll(r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100), State::kMore);
  EXPECT_EQ(r.eof(), State::kError);
  // Bytes after a complete response are left for the caller (who closes the connection).
  r.reset();
  std::string rest;
  ASSERT_EQ(feedAll(r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 100, &rest), State::kDone);
  EXPECT_EQ(rest, "EXTRA");
}

}  // namespace
}  // namespace jagent::report
