// The parts of the native gRPC client that are about gRPC rather than HTTP/2 sessions: status
// and header decoding (gRPC's PROTOCOL-HTTP2.md and http-grpc-status-mapping.md), and which
// client serves which options.
#include <string>
#include <string_view>

#include "report/h2_grpc_transport.h"

namespace jagent::report {

int H2GrpcTransport::statusOfHttp(int http) noexcept {
  switch (http) {  // gRPC's doc/http-grpc-status-mapping.md
    case 400: return 13;                                  // INTERNAL
    case 401: return 16;                                  // UNAUTHENTICATED
    case 403: return 7;                                   // PERMISSION_DENIED
    case 404: return 12;                                  // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return 14;    // UNAVAILABLE
    default: return 2;                                    // UNKNOWN
  }
}

std::string H2GrpcTransport::percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string H2GrpcTransport::base64Decode(std::string_view s) {
  auto val = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : s) {
    const int v = val(ch);
    if (v < 0) continue;  // padding, whitespace
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string H2GrpcTransport::unsupported(const Options& opts) {
  if (opts.tls.enabled) return "TLS";
  if (opts.gzip) return "gzip compression";
  for (const std::string& hp : opts.hostPorts) {
    if (hp.find("://") != std::string::npos || hp.starts_with("ipv4:") || hp.starts_with("ipv6:") || hp.starts_with("unix:") ||
        hp.starts_with("dns:"))
      return fmt::format("target '{}' (a gRPC target URI)", hp);
    if (!parseHostPort(hp)) return fmt::format("target '{}'", hp);
  }
  return {};
}

Result<std::unique_ptr<Transport>> createGrpcClient(const GrpcTransport::Options& opts,
                                                    GrpcTransport::ConnMetrics metrics) {
  using Engine = GrpcTransport::Options::Engine;
  const std::string why = H2GrpcTransport::unsupported(opts);
  if (opts.engine == Engine::kNative || (opts.engine == Engine::kAuto && why.empty())) {
    auto t = H2GrpcTransport::create(opts, std::move(metrics));
    if (!t) return Unexpected(t.error());
    return std::unique_ptr<Transport>(std::move(*t));
  }
  auto t = GrpcTransport::create(opts, std::move(metrics));
  if (!t) return Unexpected(t.error());
  return std::unique_ptr<Transport>(std::move(*t));
}

}  // namespace jagent::report
