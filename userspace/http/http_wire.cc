#include "http/http_wire.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "http/http_server.h"

namespace jagent::http {
namespace {

struct CaseLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
    });
  }
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding of the path (no '+' rule: that is for queries); an invalid escape stays as is.
std::string decodePath(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      const int h = hexValue(in[i + 1]), l = hexValue(in[i + 2]);
      if (h >= 0 && l >= 0) {
        out += static_cast<char>(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += in[i];
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

HeadStatus parseRequestHead(std::string_view head, RequestHead& out) {
  out = RequestHead{};
  size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  if (line.find('\n') != std::string_view::npos) return HeadStatus::kBadRequest;
  // METHOD SP+ TARGET SP+ VERSION (runs of spaces collapse, as httplib splits them).
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && line[i] == ' ') ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) parts.push_back(line.substr(start, i - start));
  }
  if (parts.size() != 3 || (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) return HeadStatus::kBadRequest;
  out.method = parts[0];
  out.target = parts[1];
  out.head = out.method == "HEAD";
  out.path = decodePath(std::string_view(out.target).substr(0, out.target.find('?')));

  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    const std::string_view h = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    if (h.find('\n') != std::string_view::npos) return HeadStatus::kBadRequest;
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;  // ignored, as httplib does
    const std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
    if (iequals(name, "Connection")) {
      out.connectionClose = value == "close";  // exact, as httplib compares it
    } else if (iequals(name, "Content-Length")) {
      size_t n = 0;
      bool ok = !value.empty() && value.size() <= 18;
      for (char c : value) ok = ok && c >= '0' && c <= '9', n = n * 10 + static_cast<size_t>(c - '0');
      if (ok) {
        out.contentLength = n;
        if (n > 0) out.hasBody = true;
      } else {
        out.hasBody = true;  // unknown length: the connection cannot be reused
      }
    } else if (iequals(name, "Transfer-Encoding")) {
      out.hasBody = true;
    }
  }
  return HeadStatus::kOk;
}

const char* reasonPhrase(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
  }
}

const char* statusText(int status) noexcept {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string formatResponse(const HttpResponse& res, const RequestHead* req, bool keepAlive, int keepAliveTimeoutSec,
                           size_t keepAliveMax) {
  std::multimap<std::string, std::string, CaseLess> headers;
  for (const auto& [k, v] : res.headers) headers.emplace(k, v);
  std::string_view body = res.body;
  std::string contentType = res.contentType;
  std::string errorBody;
  if (res.status >= 400 && body.empty()) {
    errorBody = std::to_string(res.status) + " " + statusText(res.status) + "\n";
    body = errorBody;
    contentType = "text/plain; charset=utf-8";
  }
  if (!contentType.empty()) headers.emplace("Content-Type", contentType);
  headers.emplace("Content-Length", std::to_string(body.size()));
  if (keepAlive)
    headers.emplace("Keep-Alive", "timeout=" + std::to_string(keepAliveTimeoutSec) + ", max=" + std::to_string(keepAliveMax));
  else
    headers.emplace("Connection", "close");
  const bool head = req != nullptr && req->head;
  if (head) headers.emplace("Accept-Ranges", "bytes");

  std::string out = "HTTP/1.1 " + std::to_string(res.status) + " " + reasonPhrase(res.status) + "\r\n";
  for (const auto& [k, v] : headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "\r\n";
  if (!head) out += body;
  return out;
}

// ---- query strings and Go-style errors (used by HttpServer) ----

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

}  // namespace jagent::http
