// Socket address helpers for the control plane: parsing jaeger-style host:port strings and
// resolving them. Blocking (getaddrinfo); never call on the data path.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>
#include <string_view>

#include "common/result.h"

namespace jagent {

struct HostPort {
  std::string host;  // empty = any address
  uint16_t port = 0;
};

// Accepts "host:port", ":port", "port" (jaeger's portNumToHostPort), "[v6]:port".
[[nodiscard]] Result<HostPort> parseHostPort(std::string_view s);

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  [[nodiscard]] int family() const { return storage.ss_family; }
  void setPort(uint16_t port) {
    if (storage.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    else reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  }
};

// Resolves for binding (host empty → 0.0.0.0) or connecting; prefers IPv4 for empty/"localhost".
[[nodiscard]] Result<SockAddr> resolve(const HostPort& hp, int socktype);
// Every address `hp` resolves to, IPv4 first, duplicates removed, at most `max` (a gRPC target
// gets a connection per address, so a headless service's pods all get calls).
[[nodiscard]] Result<std::vector<SockAddr>> resolveAll(const HostPort& hp, int socktype, size_t max = 16);

// "1.2.3.4:5" / "[::1]:5" for logs.
[[nodiscard]] std::string formatAddr(const sockaddr* sa);

}  // namespace jagent
