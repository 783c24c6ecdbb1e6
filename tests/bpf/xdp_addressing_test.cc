// Issue 12 in the XDP program, under BPF_PROG_TEST_RUN: only what is addressed to us
// (local_addrs, both families, per span-port mask), per-source accounting (source_stats,
// fragments), count-only interfaces, and per-source drops on the AF_XDP path (source_drops).
// Needs root (CAP_BPF + CAP_NET_ADMIN); skips with the reason where that is missing.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "receive/netlink_watcher.h"
#include "receive/xdp_metrics.h"
#include "xdp_test_support.h"

namespace {

using namespace jagent::testing;  // NOLINT: test helpers

// Only what is addressed to us: span-port UDP to an address our sockets do not receive on is
// passed untouched (not_ours), per family and per port, and follows the address map's changes.
TEST(XdpProgram, OnlyWhatIsAddressedToUs) {
  LOAD_OR_SKIP(prog, options());
  using PB = PacketBuilder;
  std::vector<Case> cases;
  for (uint16_t p : kPorts) {
    cases.push_back({"ipv4 to 10.0.0.99:" + std::to_string(p), PB().ipv4().dst4(0x0a000063).udp(1, p).payload(30).build(),
                     Want::kNotOurs, p});
    cases.push_back({"ipv6 to fd00::99:" + std::to_string(p), PB().ipv6().dst6(0x99).udp(1, p).payload(30).build(),
                     Want::kNotOurs, p});
  }
  cases.push_back({"not ours, first fragment", PB().ipv4().dst4(0x0a000063).ipv4Fragment(0, true).udp(1, kCompact).payload(900).build(),
                   Want::kNotOurs, kCompact});
  cases.push_back({"not ours, bad udp length", PB().ipv6().dst6(0x99).udp(1, kCompact).udpLen(3).payload(9).build(),
                   Want::kNotOurs, kCompact});
  cases.push_back({"not ours, other port", PB().ipv4().dst4(0x0a000063).udp(1, 53).payload(9).build(), Want::kOther});
  runTable(prog, cases);

  // A socket bound to one address takes only its port there: 10.0.0.7 is ours for 5775 only.
  ASSERT_TRUE(prog.setLocalAddress(v4(0x0a000007), 1u << slotOf(kZipkin), 1));
  runTable(prog, {{"10.0.0.7:5775 ours", PB().ipv4().dst4(0x0a000007).udp(1, kZipkin).payload(9).build(), Want::kPassNoSocket, kZipkin},
                  {"10.0.0.7:6831 not ours", PB().ipv4().dst4(0x0a000007).udp(1, kCompact).payload(9).build(), Want::kNotOurs, kCompact}});
  // The address goes away (RTM_DELADDR): no longer ours.
  prog.removeLocalAddress(v4(0x0a000001));
  prog.removeLocalAddress(v6(1));
  runTable(prog, {{"ipv4 after its address went", PB().ipv4().udp(1, kCompact).payload(9).build(), Want::kNotOurs, kCompact},
                  {"ipv6 after its address went", PB().ipv6().udp(1, kCompact).payload(9).build(), Want::kNotOurs, kCompact}});
  auto addrs = prog.localAddresses();
  ASSERT_TRUE(addrs);
  EXPECT_EQ(addrs->size(), 1u);
  // Nothing that was not ours reached the per-source map.
  auto src = prog.sources();
  ASSERT_TRUE(src);
  EXPECT_EQ(src->size(), 1u);  // 10.0.0.2 → 10.0.0.7:5775
}

// Per-source accounting: datagrams, bytes, first fragments under (source, port); later fragments
// (no UDP header) under (source, 0); both families; only what is addressed to us.
TEST(XdpProgram, CountsPerSource) {
  LOAD_OR_SKIP(prog, options());
  using PB = PacketBuilder;
  const auto a = PB().ipv4().src4(0x0a000005).udp(1, kCompact).payload(58).build();  // 100 bytes
  const auto first = PB().ipv4().src4(0x0a000005).ipv4Fragment(0, true).udp(1, kCompact).payload(958).build();
  const auto later = PB().ipv4().src4(0x0a000005).ipv4Fragment(185, false).udp(1, kCompact).payload(92).build();
  const auto b6 = PB().ipv6().src6(7).udp(1, kBinary).payload(100).build();
  const auto later6 = PB().ipv6().src6(7).fragment6(181, false).udp(1, kBinary).payload(100).build();
  const auto notOurs = PB().ipv4().src4(0x0a000006).dst4(0x0a000063).udp(1, kCompact).payload(58).build();
  const auto laterNotOurs = PB().ipv4().src4(0x0a000006).dst4(0x0a000063).ipv4Fragment(185, false).udp(1, kCompact).payload(9).build();
  for (const auto* f : {&a, &a, &first, &later, &b6, &later6, &later6, &notOurs, &laterNotOurs})
    ASSERT_EQ(testRun(prog, *f).err, 0);
  auto src = prog.sources();
  ASSERT_TRUE(src) << src.error().message();
  auto find = [&](const agent_addr& addr, uint32_t port) -> const agent_source_stats* {
    for (const auto& s : *src)
      if (std::memcmp(s.key.addr, addr.addr, 16) == 0 && s.key.port == port) return &s.stats;
    return nullptr;
  };
  ASSERT_EQ(src->size(), 4u);
  const agent_source_stats* s = find(v4(0x0a000005), kCompact);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->datagrams, 3u);
  EXPECT_EQ(s->first_fragments, 1u);
  EXPECT_EQ(s->bytes, 2 * a.size() + first.size());
  EXPECT_GT(s->last_seen_ns, 0u);
  s = find(v4(0x0a000005), 0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->later_fragments, 1u);
  EXPECT_EQ(s->bytes, later.size());
  s = find(v6(7), kBinary);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->datagrams, 1u);
  s = find(v6(7), 0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->later_fragments, 2u);
  EXPECT_EQ(find(v4(0x0a000006), kCompact), nullptr);
  EXPECT_EQ(find(v4(0x0a000006), 0), nullptr);
}

// A count-only interface (a pod's veth host end) counts and passes: no AF_XDP on it.
TEST(XdpProgram, CountOnlyInterfacePasses) {
  XdpProgramOptions o = options();
  o.interfaces.clear();
  o.countOnly = {"lo"};
  LOAD_OR_SKIP(prog, o);
  ASSERT_EQ(prog.interfaces().size(), 1u);
  EXPECT_FALSE(prog.interfaces()[0].steer);
  using PB = PacketBuilder;
  runTable(prog, {{"ipv4 span datagram", PB().ipv4().udp(1, kCompact).payload(40).build(), Want::kPassUnsteered, kCompact},
                  {"ipv6 span datagram", PB().ipv6().udp(1, kZipkin).payload(40).build(), Want::kPassUnsteered, kZipkin},
                  {"first fragment", PB().ipv4().ipv4Fragment(0, true).udp(1, kCompact).payload(900).build(), Want::kPassFragment, kCompact},
                  {"not ours", PB().ipv4().dst4(0x0a000063).udp(1, kCompact).payload(40).build(), Want::kNotOurs, kCompact}});
}

// A datagram dropped in the agent (decode queue full) is counted against its source, and the
// stats thread's flush into source_drops accumulates.
TEST(XdpProgram, QueueFullDropsCountPerSource) {
  PRIVATE_NETNS_OR_SKIP();
  LOAD_OR_SKIP(prog, options());
  XskOnLo xsk(prog, true);
  ASSERT_TRUE(xsk.rx) << xsk.error;
  xsk.rx->start();
  const auto frame = PacketBuilder().ipv4().src4(0x0a000009).udp(40001, kCompact).payload(64).build();
  for (int i = 0; i < 3; ++i) {
    const RunResult r = testRun(prog, frame, true);
    if (r.err == EINVAL || r.err == EOPNOTSUPP) GTEST_SKIP() << "live-frames test runs unsupported: " << std::strerror(r.err);
    ASSERT_EQ(r.err, 0) << std::strerror(r.err);
  }
  for (int i = 0; i < 200 && xsk.registry.counterSum("dropped") < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(xsk.registry.counterSum("dropped"), 3u);
  auto taken = xsk.drops.take();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(std::memcmp(taken[0].first.addr, v4(0x0a000009).addr, 16), 0);
  EXPECT_EQ(taken[0].first.port, kCompact);
  EXPECT_EQ(taken[0].second, 3u);
  prog.addSourceDrops(taken[0].first, taken[0].second);
  prog.addSourceDrops(taken[0].first, 2);
  auto drops = prog.sourceDrops();
  ASSERT_TRUE(drops);
  ASSERT_EQ(drops->size(), 1u);
  EXPECT_EQ((*drops)[0].second.queue_full, 5u);
  EXPECT_TRUE(xsk.drops.take().empty());
}

// The watcher behind local_addrs and the pod interfaces: the snapshot has what is there, then
// address and link events arrive as `ip` changes them (in this test's own network namespace;
// a veth pair, as the kernel here has no dummy device).
TEST(NetlinkWatcher, SnapshotThenAddressAndLinkEvents) {
  PRIVATE_NETNS_OR_SKIP();
  using jagent::receive::NetAddress;
  using jagent::receive::NetLink;
  std::mutex mu;
  std::vector<std::string> events;
  std::vector<NetLink> snapLinks;
  std::vector<NetAddress> snapAddrs;
  auto label = [](const NetAddress& a) {
    agent_source_key k{};
    std::memcpy(k.addr, a.addr.data(), 16);
    return jagent::receive::XdpMetrics::sourceLabel(k.addr);
  };
  jagent::receive::NetlinkWatcher::Handlers h;
  h.snapshot = [&](const std::vector<NetLink>& l, const std::vector<NetAddress>& a) {
    std::lock_guard lock(mu);
    snapLinks = l;
    snapAddrs = a;
  };
  h.linkAdded = [&](const NetLink& l) {
    std::lock_guard lock(mu);
    events.push_back("link+ " + l.name);
  };
  h.linkRemoved = [&](uint32_t) {
    std::lock_guard lock(mu);
    events.push_back("link-");
  };
  h.addressAdded = [&](const NetAddress& a) {
    std::lock_guard lock(mu);
    events.push_back("addr+ " + label(a));
  };
  h.addressRemoved = [&](const NetAddress& a) {
    std::lock_guard lock(mu);
    events.push_back("addr- " + label(a));
  };
  auto w = jagent::receive::NetlinkWatcher::create(h);
  ASSERT_TRUE(w) << w.error().message();
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(snapLinks.size(), 1u);  // a fresh namespace: lo only
    EXPECT_EQ(snapLinks[0].name, "lo");
    bool loopback = false;
    for (const NetAddress& a : snapAddrs) loopback |= label(a) == "127.0.0.1";
    EXPECT_TRUE(loopback);
  }
  (*w)->start();
  auto has = [&](const std::string& e) {
    std::lock_guard lock(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  };
  // The link is up before its IPv6 address is added, and the address announced before the link
  // goes: on a link still down, deleted at once, the kernel left out RTM_NEWADDR for it in ~3 of
  // 100 runs (not traced further: with the link up and the wait, 150 of 150 runs pass).
  ASSERT_EQ(std::system("ip link add jxw0 type veth peer name jxw1 && ip link set jxw1 up && ip link set jxw0 up && "
                        "ip addr add 10.9.9.9/32 dev jxw0 && ip addr add fd00::99/128 dev jxw0 nodad"),
            0);
  for (int i = 0; i < 200 && !has("addr+ fd00::99"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(std::system("ip addr del 10.9.9.9/32 dev jxw0 && ip link del jxw0"), 0);
  for (int i = 0; i < 200 && !has("link-"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  (*w)->stop();
  EXPECT_TRUE(has("link+ jxw0"));
  EXPECT_TRUE(has("addr+ 10.9.9.9"));
  EXPECT_TRUE(has("addr+ fd00::99"));
  EXPECT_TRUE(has("addr- 10.9.9.9"));
  EXPECT_TRUE(has("link-"));
}

}  // namespace

namespace {

// Not a check: the cost of each path through the program, for docs/xdp-datapath.md. Run with
//   build/tests/bpf_tests --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_PathCost*'
TEST(XdpProgram, DISABLED_PathCost) {
  LOAD_OR_SKIP(prog, options());
  using PB = PacketBuilder;
  const std::pair<const char*, std::vector<uint8_t>> frames[] = {
      {"udp to another port (other)", PB().ipv4().udp(1, 53).payload(100).build()},
      {"span, not ours", PB().ipv4().dst4(0x0a000063).udp(1, kCompact).payload(100).build()},
      {"span, ours, no socket (+source)", PB().ipv4().udp(1, kCompact).payload(100).build()},
      {"span ipv6, ours, no socket (+source)", PB().ipv6().udp(1, kCompact).payload(100).build()},
      {"later fragment, ours (+source)", PB().ipv4().ipv4Fragment(185, false).udp(1, kCompact).payload(100).build()},
  };
  for (const auto& [name, frame] : frames) {
    std::vector<uint8_t> out(frame.size() + 512);
    xdp_md ctx{};
    ctx.data_end = static_cast<__u32>(frame.size());
    ctx.ingress_ifindex = 1;
    bpf_test_run_opts o{};
    o.sz = sizeof o;
    o.data_in = frame.data();
    o.data_size_in = static_cast<__u32>(frame.size());
    o.data_out = out.data();
    o.data_size_out = static_cast<__u32>(out.size());
    o.ctx_in = &ctx;
    o.ctx_size_in = sizeof ctx;
    o.repeat = 1'000'000;
    ASSERT_EQ(bpf_prog_test_run_opts(prog.progFd(), &o), 0);
    std::printf("%-40s %4u ns/frame (BPF_PROG_TEST_RUN, 1e6 repeats)\n", name, o.duration);
  }
}

}  // namespace
