// AsyncResolver (issue #11): numeric hosts complete inline, names complete through the eventfd,
// the pending bound, cancel, and a destructor that returns at once.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>

#include <chrono>

#include "common/async_resolver.h"

namespace jagent {
namespace {

using namespace std::chrono_literals;

uint16_t portOf(const SockAddr& a) {
  return ntohs(a.family() == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_port
                                      : reinterpret_cast<const sockaddr_in*>(a.get())->sin_port);
}

std::vector<AsyncResolver::Resolution> waitFor(AsyncResolver& r, size_t n, std::chrono::milliseconds limit) {
  std::vector<AsyncResolver::Resolution> out;
  const auto end = std::chrono::steady_clock::now() + limit;
  while (out.size() < n && std::chrono::steady_clock::now() < end) {
    pollfd p{r.eventFd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    for (auto& x : r.take()) out.push_back(std::move(x));
  }
  return out;
}

TEST(AsyncResolver, NumericHostsCompleteWithoutWaiting) {
  AsyncResolver r;
  const uint64_t a = r.submit(HostPort{"127.0.0.1", 14267}, SOCK_STREAM);
  const uint64_t b = r.submit(HostPort{"::1", 14250}, SOCK_STREAM);
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  pollfd p{r.eventFd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);  // readable at once: nothing went to a resolver thread
  auto got = r.take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, a);
  ASSERT_TRUE(got[0].addr);
  EXPECT_EQ(got[0].addr->family(), AF_INET);
  EXPECT_EQ(portOf(*got[0].addr), 14267);
  ASSERT_TRUE(got[1].addr);
  EXPECT_EQ(got[1].addr->family(), AF_INET6);
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_TRUE(r.take().empty());
}

TEST(AsyncResolver, NamesCompleteThroughTheEventFd) {
  AsyncResolver r;
  const uint64_t id = r.submit(HostPort{"localhost", 5778}, SOCK_STREAM);  // /etc/hosts, via a thread
  auto got = waitFor(r, 1, 5s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, id);
  ASSERT_TRUE(got[0].addr) << got[0].addr.error().message();
  EXPECT_EQ(got[0].addr->family(), AF_INET);  // IPv4 preferred, as resolve() does
  EXPECT_EQ(portOf(*got[0].addr), 5778);
}

TEST(AsyncResolver, PendingLookupsAreBounded) {
  AsyncResolver r(1, 1);
  r.submit(HostPort{"127.0.0.1", 1}, SOCK_STREAM);  // live until taken
  const uint64_t over = r.submit(HostPort{"localhost", 2}, SOCK_STREAM);
  auto got = r.take();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].id, over);
  ASSERT_FALSE(got[1].addr);
  EXPECT_EQ(got[1].addr.error().message(),
            "resolve 'localhost': too many lookups pending: Resource temporarily unavailable");
}

TEST(AsyncResolver, CancelledLookupsAreNotReported) {
  AsyncResolver r;
  const uint64_t a = r.submit(HostPort{"127.0.0.1", 1}, SOCK_STREAM);
  const uint64_t b = r.submit(HostPort{"localhost", 2}, SOCK_STREAM);
  r.cancel(a);
  r.cancel(b);
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_TRUE(waitFor(r, 1, 300ms).empty());
}

TEST(AsyncResolver, DestructorDoesNotWaitForLookups) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    AsyncResolver r(2, 8);
    for (int i = 0; i < 8; ++i) r.submit(HostPort{"localhost", static_cast<uint16_t>(i + 1)}, SOCK_STREAM);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

}  // namespace
}  // namespace jagent
