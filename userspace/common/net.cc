#include "common/net.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace jagent {

Result<HostPort> parseHostPort(std::string_view s) {
  HostPort hp;
  std::string_view portStr;
  if (s.empty()) return makeError("empty host:port");
  if (s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return makeError(fmt::format("invalid host:port '{}'", s));
    hp.host = std::string(s.substr(1, close - 1));
    portStr = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      portStr = s;  // a bare port number
    } else {
      hp.host = std::string(s.substr(0, colon));
      portStr = s.substr(colon + 1);
    }
  }
  unsigned port = 0;
  auto [p, ec] = std::from_chars(portStr.data(), portStr.data() + portStr.size(), port);
  if (ec != std::errc() || p != portStr.data() + portStr.size() || port > 65535)
    return makeError(fmt::format("invalid port in '{}'", s));
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

Result<SockAddr> resolve(const HostPort& hp, int socktype) {
  auto all = resolveAll(hp, socktype, 1);
  if (!all) return Unexpected(all.error());
  return all->front();
}

Result<std::vector<SockAddr>> resolveAll(const HostPort& hp, int socktype, size_t max) {
  std::vector<SockAddr> out;
  if (hp.host.empty()) {
    SockAddr any;
    auto* sin = reinterpret_cast<sockaddr_in*>(&any.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(hp.port);
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    any.len = sizeof(sockaddr_in);
    out.push_back(any);
    return out;
  }
  addrinfo hints{};
  hints.ai_socktype = socktype;
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  const int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) return makeError(fmt::format("resolve '{}': {}", hp.host, gai_strerror(rc)));
  // IPv4 first (peers such as tchannel-node only speak IPv4 host_port), then the rest.
  for (const int family : {AF_INET, AF_INET6}) {
    for (const addrinfo* ai = res; ai && out.size() < std::max<size_t>(max, 1); ai = ai->ai_next) {
      if (ai->ai_family != family || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
      SockAddr a;
      std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
      a.len = static_cast<socklen_t>(ai->ai_addrlen);
      const bool dup = std::any_of(out.begin(), out.end(), [&](const SockAddr& b) {
        return b.len == a.len && std::memcmp(&b.storage, &a.storage, a.len) == 0;
      });
      if (!dup) out.push_back(a);
    }
  }
  ::freeaddrinfo(res);
  if (out.empty()) return makeError(fmt::format("resolve '{}': no IPv4 or IPv6 address", hp.host));
  return out;
}

std::string formatAddr(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    return fmt::format("{}:{}", buf, ntohs(sin->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(sin6->sin6_port));
  }
  return "?";
}

}  // namespace jagent
