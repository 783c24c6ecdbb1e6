#include "report/http1_response.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace jagent::report {
namespace {

constexpr size_t kMaxLine = 1024;  // chunk-size and trailer lines

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool containsToken(std::string_view v, std::string_view token) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    if (iequals(trim(v.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void Http1Response::reset() {
  status = 0;
  retryAfter.clear();
  body.clear();
  keepAlive = true;
  error.clear();
  phase_ = Phase::kHead;
  head_.clear();
  left_ = 0;
}

Http1Response::State Http1Response::fail(std::string why) {
  error = std::move(why);
  keepAlive = false;
  return State::kError;
}

void Http1Response::keep(const uint8_t* p, size_t n) {
  const size_t room = kMaxKeptBody - std::min(kMaxKeptBody, body.size());
  body.append(reinterpret_cast<const char*>(p), std::min(n, room));
}

bool Http1Response::parseHead() {
  std::string_view h(head_);
  size_t eol = h.find("\r\n");
  const std::string_view statusLine = h.substr(0, eol);
  // HTTP-version SP 3DIGIT [SP reason]
  if (statusLine.size() < 12 || !statusLine.starts_with("HTTP/1.") || statusLine[8] != ' ') {
    error = "malformed status line";
    return false;
  }
  const bool http10 = statusLine[7] == '0';
  int s = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (statusLine[i] < '0' || statusLine[i] > '9') {
      error = "malformed status code";
      return false;
    }
    s = s * 10 + (statusLine[i] - '0');
  }
  if (statusLine.size() > 12 && statusLine[12] != ' ') {
    error = "malformed status line";
    return false;
  }
  if (s < 100) {
    error = "malformed status code";
    return false;
  }
  bool chunked = false, otherCoding = false, hasLength = false;
  uint64_t length = 0;
  bool close = http10;
  std::string retry;
  h.remove_prefix(eol + 2);
  while (!h.empty()) {
    eol = h.find("\r\n");
    const std::string_view line = h.substr(0, eol);
    h.remove_prefix(eol == std::string_view::npos ? h.size() : eol + 2);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "malformed header line";
      return false;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      uint64_t v = 0;
      if (value.empty() || value.size() > 15) {
        error = "bad Content-Length";
        return false;
      }
      for (const char c : value) {
        if (c < '0' || c > '9') {
          error = "bad Content-Length";
          return false;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (hasLength && v != length) {
        error = "conflicting Content-Length";
        return false;
      }
      hasLength = true;
      length = v;
    } else if (iequals(name, "transfer-encoding")) {
      const size_t lastComma = value.rfind(',');
      const std::string_view last = trim(lastComma == std::string_view::npos ? value : value.substr(lastComma + 1));
      if (iequals(last, "chunked")) chunked = true;
      else otherCoding = true;
    } else if (iequals(name, "connection")) {
      if (containsToken(value, "close")) close = true;
    } else if (iequals(name, "retry-after")) {
      retry.assign(value.begin(), value.end());
    }
  }
  if (s >= 100 && s < 200) {  // interim (100 Continue, 103 Early Hints): the real one follows
    if (s == 101) {
      error = "unexpected protocol switch";
      return false;
    }
    head_.clear();
    phase_ = Phase::kHead;
    return true;
  }
  status = s;
  retryAfter = std::move(retry);
  keepAlive = !close;
  head_.clear();
  if (s == 204 || s == 304) {
    phase_ = Phase::kDone;
  } else if (chunked) {
    phase_ = Phase::kChunkSize;  // RFC 9112 §6.3: chunked wins over Content-Length
  } else if (otherCoding) {
    phase_ = Phase::kCloseBody;
    keepAlive = false;
  } else if (hasLength) {
    left_ = length;
    phase_ = length == 0 ? Phase::kDone : Phase::kLengthBody;
  } else {
    phase_ = Phase::kCloseBody;
    keepAlive = false;
  }
  return true;
}

Http1Response::State Http1Response::feed(std::span<const uint8_t> in, size_t& consumed) {
  size_t i = 0;
  // One line (chunk size, chunk end, trailer) into head_; true once it is complete.
  auto line = [&]() -> bool {
    while (i < in.size()) {
      const char c = static_cast<char>(in[i++]);
      if (c == '\n') return true;
      head_.push_back(c);
      if (head_.size() > kMaxLine) return false;
    }
    return false;
  };
  while (i < in.size() && phase_ != Phase::kDone) {
    switch (phase_) {
      case Phase::kHead: {
        const size_t old = head_.size();
        const size_t take = std::min(in.size() - i, kMaxHead + 4 - old);
        head_.append(reinterpret_cast<const char*>(in.data() + i), take);
        const size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
        if (end == std::string::npos) {
          i += take;
          if (head_.size() > kMaxHead) return consumed = i, fail("response head over 64 KiB");
          break;
        }
        i += end + 4 - old;
        head_.resize(end + 4);
        if (!parseHead()) return consumed = i, fail(error);
        break;
      }
      case Phase::kLengthBody:
      case Phase::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size() - i));
        keep(in.data() + i, n);
        i += n;
        left_ -= n;
        if (left_ == 0) phase_ = phase_ == Phase::kLengthBody ? Phase::kDone : Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkSize: {
        if (!line()) {
          if (head_.size() > kMaxLine) return consumed = i, fail("chunk size line too long");
          break;
        }
        std::string_view l = trim(head_);
        if (const size_t semi = l.find(';'); semi != std::string_view::npos) l = trim(l.substr(0, semi));
        if (l.empty() || l.size() > 12) return consumed = i, fail("bad chunk size");
        uint64_t v = 0;
        for (const char c : l) {
          const int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
          if (d < 0) return consumed = i, fail("bad chunk size");
          v = v * 16 + static_cast<uint64_t>(d);
        }
        head_.clear();
        left_ = v;
        phase_ = v == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkDataEnd:
        if (!line()) {
          if (head_.size() > kMaxLine) return consumed = i, fail("chunk not followed by CRLF");
          break;
        }
        if (!trim(head_).empty()) return consumed = i, fail("chunk not followed by CRLF");
        head_.clear();
        phase_ = Phase::kChunkSize;
        break;
      case Phase::kTrailers:
        if (!line()) {
          if (head_.size() > kMaxLine) return consumed = i, fail("trailer line too long");
          break;
        }
        if (trim(head_).empty()) phase_ = Phase::kDone;
        head_.clear();
        break;
      case Phase::kCloseBody:
        keep(in.data() + i, in.size() - i);
        i = in.size();
        break;
      case Phase::kDone: break;
    }
  }
  consumed = i;
  return phase_ == Phase::kDone ? State::kDone : State::kMore;
}

Http1Response::State Http1Response::eof() {
  if (phase_ == Phase::kCloseBody) {
    phase_ = Phase::kDone;
    return State::kDone;
  }
  if (phase_ == Phase::kDone) return State::kDone;
  return fail("connection closed before the response was complete");
}

}  // namespace jagent::report
