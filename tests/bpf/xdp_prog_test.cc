// The XDP program (bpf/agent.bpf.c), run for real: the embedded skeleton is loaded and every
// crafted frame goes through BPF_PROG_TEST_RUN. Each case asserts the verdict, that the frame
// was not altered, and the exact change of every counter (per span port and global).
// Also: the same table through the userspace copy of the parser (bpf/parse.h), a live redirect
// into an AF_XDP socket read by XskReceiver, and the pinned maps as bpftool prints them.
//
// Needs root (CAP_BPF + CAP_NET_ADMIN); skips with the reason where that is missing.
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent_abi.h"
#include "decode/transcoder.h"
#include "metrics/metrics.h"
#include "packet_builder.h"
#include "xdp_test_support.h"
#include "parse.h"
#include "receive/xdp_program.h"
#include "receive/source_drop_tally.h"
#include "receive/xsk_receiver.h"

namespace {

using namespace jagent::testing;  // NOLINT: test helpers (xdp_test_support.h)

// The table. Without an AF_XDP socket, span datagrams are passed (pass_no_socket).
std::vector<Case> passCases() {
  using PB = PacketBuilder;
  std::vector<Case> c;
  for (uint16_t p : kPorts) {
    c.push_back({"ipv4 udp to " + std::to_string(p), PB().ipv4().udp(40000, p).payload(100).build(), Want::kPassNoSocket, p});
    c.push_back({"ipv6 udp to " + std::to_string(p), PB().ipv6().udp(40000, p).payload(100).build(), Want::kPassNoSocket, p});
  }
  c.push_back({"802.1Q vlan ipv4", PB().vlan(PB::kVlan8021Q, 7).ipv4().udp(1, kCompact).payload(50).build(),
               Want::kPassNoSocket, kCompact});
  c.push_back({"802.1ad+802.1Q (QinQ) ipv6",
               PB().vlan(PB::kVlan8021AD, 100).vlan(PB::kVlan8021Q, 7).ipv6().udp(1, kBinary).payload(50).build(),
               Want::kPassNoSocket, kBinary});
  c.push_back({"three vlan tags: not ours",
               PB().vlan(PB::kVlan8021AD, 1).vlan(PB::kVlan8021Q, 2).vlan(PB::kVlan8021Q, 3).ipv4().udp(1, kCompact).payload(10).build(),
               Want::kOther});
  c.push_back({"ipv4 with 12 bytes of options", PB().ipv4(3).udp(1, kCompact).payload(64).build(), Want::kPassNoSocket, kCompact});
  c.push_back({"ipv4 with 40 bytes of options (ihl 15)", PB().ipv4(10).udp(1, kZipkin).payload(64).build(),
               Want::kPassNoSocket, kZipkin});
  c.push_back({"ipv6 hop-by-hop + routing + dstopts",
               PB().ipv6().ext(0).ext(43).ext(60).udp(1, kCompact).payload(64).build(), Want::kPassNoSocket, kCompact});
  c.push_back({"ipv6 with AH", PB().ipv6().ext(51).udp(1, kCompact).payload(64).build(), Want::kPassNoSocket, kCompact});
  c.push_back({"ipv4 padded to the 60-byte ethernet minimum",
               padded(PB().ipv4().udp(1, kCompact).payload(2).build(), 60), Want::kPassNoSocket, kCompact});
  // Fragments: the first carries the UDP header (port known), later ones do not.
  c.push_back({"ipv4 first fragment", PB().ipv4().ipv4Fragment(0, true).udp(1, kCompact).payload(1000).build(),
               Want::kPassFragment, kCompact});
  c.push_back({"ipv4 middle fragment", PB().ipv4().ipv4Fragment(185, true).udp(1, kCompact).payload(1000).build(),
               Want::kLaterFragment});
  c.push_back({"ipv4 last fragment", PB().ipv4().ipv4Fragment(370, false).udp(1, kCompact).payload(100).build(),
               Want::kLaterFragment});
  c.push_back({"ipv6 first fragment", PB().ipv6().fragment6(0, true).udp(1, kBinary).payload(1000).build(),
               Want::kPassFragment, kBinary});
  c.push_back({"ipv6 later fragment", PB().ipv6().fragment6(181, false).udp(1, kBinary).payload(100).build(),
               Want::kLaterFragment});
  c.push_back({"ipv6 atomic fragment (offset 0, no M)", PB().ipv6().fragment6(0, false).udp(1, kBinary).payload(100).build(),
               Want::kPassFragment, kBinary});
  c.push_back({"ipv6 hop-by-hop then first fragment", PB().ipv6().ext(0).fragment6(0, true).udp(1, kZipkin).payload(500).build(),
               Want::kPassFragment, kZipkin});
  // Size: the largest frame a UMEM frame holds goes to AF_XDP, one byte more is passed.
  c.push_back({"frame of exactly max_frame_len", PB().ipv4().udp(1, kCompact).payload(kMaxFrame - kUdp4Overhead).build(),
               Want::kPassNoSocket, kCompact});
  c.push_back({"frame one byte over max_frame_len",
               PB().ipv4().udp(1, kCompact).payload(kMaxFrame + 1 - kUdp4Overhead).build(), Want::kPassTooBig, kCompact});
  c.push_back({"ipv6 frame over max_frame_len", PB().ipv6().udp(1, kBinary).payload(1900).build(), Want::kPassTooBig, kBinary});
  // Not ours: untouched, counted as other.
  c.push_back({"tcp to a span port", PB().ipv4().tcp(1, kCompact).payload(20).build(), Want::kOther});
  c.push_back({"ipv6 tcp to a span port", PB().ipv6().tcp(1, kCompact).payload(20).build(), Want::kOther});
  c.push_back({"icmp", PB().ipv4().icmp().payload(56).build(), Want::kOther});
  c.push_back({"arp", PB().arp().build(), Want::kOther});
  c.push_back({"udp to another port (53)", PB().ipv4().udp(40000, 53).payload(40).build(), Want::kOther});
  c.push_back({"udp from a span port to another port", PB().ipv4().udp(kCompact, 9999).payload(40).build(), Want::kOther});
  c.push_back({"ipv6 udp to another port", PB().ipv6().udp(40000, 6833).payload(40).build(), Want::kOther});
  // Malformed, port known: passed, counted against the port.
  c.push_back({"udp length below the header size", PB().ipv4().udp(1, kCompact).udpLen(4).payload(40).build(),
               Want::kPortParseError, kCompact});
  c.push_back({"udp length beyond the ip packet", PB().ipv4().udp(1, kCompact).udpLen(200).payload(40).build(),
               Want::kPortParseError, kCompact});
  c.push_back({"ipv6 udp length beyond the packet", PB().ipv6().udp(1, kZipkin).udpLen(500).payload(40).build(),
               Want::kPortParseError, kZipkin});
  // Malformed before the port is known: passed, counted globally.
  c.push_back({"ipv4 ihl 4", PB().ipv4().ipv4Ihl(4).udp(1, kCompact).payload(40).build(), Want::kParseError});
  c.push_back({"version 5 in an ipv4 frame", PB().ipv4().ipVersion(5).udp(1, kCompact).payload(40).build(), Want::kParseError});
  c.push_back({"version 4 in an ipv6 frame", PB().ipv6().ipVersion(4).udp(1, kCompact).payload(40).build(), Want::kParseError});
  c.push_back({"ipv6 with 7 extension headers",
               PB().ipv6().ext(0).ext(60).ext(60).ext(60).ext(60).ext(60).ext(60).udp(1, kCompact).payload(8).build(),
               Want::kParseError});
  // Truncated at every byte from the end of the Ethernet header to the last byte, for each
  // header layout (the XDP test run refuses frames shorter than an Ethernet header).
  const std::pair<const char*, std::vector<uint8_t>> full[] = {
      {"ipv4", PB().ipv4().udp(1, kCompact).payload(4).build()},
      {"ipv4+options", PB().ipv4(2).udp(1, kCompact).payload(4).build()},
      {"qinq ipv4", PB().vlan(PB::kVlan8021AD, 1).vlan(PB::kVlan8021Q, 2).ipv4().udp(1, kCompact).payload(4).build()},
      {"ipv6+hop+frag", PB().ipv6().ext(0).fragment6(0, true).udp(1, kBinary).payload(4).build()},
      {"vlan ipv6+dstopts", PB().vlan(PB::kVlan8021Q, 9).ipv6().ext(60).udp(1, kZipkin).payload(4).build()},
  };
  for (const auto& [name, frame] : full)
    for (size_t len = 14; len < frame.size(); ++len)
      c.push_back({std::string(name) + " truncated to " + std::to_string(len) + " bytes", truncated(frame, len),
                   Want::kParseError});
  return c;
}


TEST(XdpProgram, VerdictsAndCountersWithoutSocket) {
  LOAD_OR_SKIP(prog, options());
  EXPECT_EQ(prog.maxFrameLen(), kMaxFrame);
  const std::vector<Case> cases = passCases();
  EXPECT_GT(cases.size(), 200u);
  runTable(prog, cases);
}


TEST(XdpProgram, RedirectsToTheSocketOfTheQueue) {
  PRIVATE_NETNS_OR_SKIP();
  LOAD_OR_SKIP(prog, options());
  XskOnLo xsk(prog);
  ASSERT_TRUE(xsk.rx) << xsk.error;
  EXPECT_FALSE(xsk.rx->zeroCopy());
  using PB = PacketBuilder;
  const std::vector<Case> cases = {
      {"ipv4 to compact, socket bound", PB().ipv4().udp(40000, kCompact).payload(200).build(), Want::kRedirected, kCompact},
      {"ipv6 to binary, socket bound", PB().ipv6().udp(40000, kBinary).payload(200).build(), Want::kRedirected, kBinary},
      {"vlan ipv4 to zipkin, socket bound", PB().vlan(PB::kVlan8021Q, 3).ipv4().udp(1, kZipkin).payload(9).build(),
       Want::kRedirected, kZipkin},
      {"first fragment still passed", PB().ipv4().ipv4Fragment(0, true).udp(1, kCompact).payload(900).build(),
       Want::kPassFragment, kCompact},
      {"too big still passed", PB().ipv4().udp(1, kCompact).payload(1800).build(), Want::kPassTooBig, kCompact},
      {"other port still passed", PB().ipv4().udp(1, 53).payload(9).build(), Want::kOther},
      {"ipv4 to another host's address: not ours", PB().ipv4().dst4(0x0a000063).udp(1, kCompact).payload(50).build(),
       Want::kNotOurs, kCompact},
      {"ipv6 to another host's address: not ours", PB().ipv6().dst6(99).udp(1, kBinary).payload(50).build(),
       Want::kNotOurs, kBinary},
  };
  runTable(prog, cases);

  // The socket leaves the map when the receiver stops: span datagrams fall back to the stack.
  xsk.rx->stop();
  runTable(prog, {{"after stop: no socket", PB().ipv4().udp(40000, kCompact).payload(20).build(), Want::kPassNoSocket,
                   kCompact}});
}




// BPF_F_TEST_XDP_LIVE_FRAMES executes the redirect: the frame really lands in the AF_XDP rx
// ring, and XskReceiver parses it and hands the UDP payload to the port's sink.
TEST(XdpProgram, LiveRedirectReachesTheXskReceiver) {
  PRIVATE_NETNS_OR_SKIP();
  LOAD_OR_SKIP(prog, options());
  XskOnLo xsk(prog);
  ASSERT_TRUE(xsk.rx) << xsk.error;
  xsk.rx->start();
  std::vector<uint8_t> payload(300);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  const RunResult r = testRun(prog, PacketBuilder().vlan(PacketBuilder::kVlan8021Q, 5).ipv4(1).udp(40001, kCompact).payload(payload).build(), true);
  if (r.err == EINVAL || r.err == EOPNOTSUPP) GTEST_SKIP() << "live-frames test runs unsupported: " << std::strerror(r.err);
  ASSERT_EQ(r.err, 0) << std::strerror(r.err);
  std::vector<jagent::receive::Datagram> got;
  for (int i = 0; i < 200 && got.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    got = xsk.sink.take();
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::vector<uint8_t>(got[0].bytes.begin(), got[0].bytes.end()), payload);
  const auto* peer = reinterpret_cast<const sockaddr_in*>(&got[0].peer);
  EXPECT_EQ(peer->sin_family, AF_INET);
  EXPECT_EQ(ntohs(peer->sin_port), 40001);
  EXPECT_EQ(ntohl(peer->sin_addr.s_addr), 0x0a000002u);
  got[0].release();
  EXPECT_EQ(xsk.registry.counterSum("via_xsk", {{"port", "6831"}}), 1u);
  EXPECT_EQ(xsk.registry.counterSum("frames"), 1u);
  EXPECT_EQ(xsk.registry.counterSum("invalid"), 0u);
  auto st = prog.portStats(0, slotOf(kCompact));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->redirected.packets, 1u);
}


// The userspace copy of the parser classifies the same table the same way.
TEST(ParseFrame, UserspaceAgreesWithTheProgram) {
  for (const Case& c : passCases()) {
    agent_pkt pkt{};
    const int st = agent_parse_frame(c.frame.data(), c.frame.data() + c.frame.size(), &pkt);
    Want got = Want::kOther;
    if (st == AGENT_PARSE_ERROR) got = Want::kParseError;
    else if (st == AGENT_PARSE_LATER_FRAGMENT) got = Want::kLaterFragment;
    else if (st == AGENT_PARSE_UDP && slotOf(ntohs(pkt.dport)) < kPorts.size()) {
      if (pkt.bad_len) got = Want::kPortParseError;
      else if (pkt.fragment) got = Want::kPassFragment;
      else got = c.frame.size() > kMaxFrame ? Want::kPassTooBig : Want::kPassNoSocket;
    }
    EXPECT_EQ(static_cast<int>(got), static_cast<int>(c.want)) << c.name;
    if (got == Want::kPassNoSocket) {
      EXPECT_EQ(ntohs(pkt.dport), c.port) << c.name;
      const size_t end = static_cast<size_t>(pkt.l4 - c.frame.data()) + 8 + pkt.payload_len;
      EXPECT_LE(end, c.frame.size()) << c.name;
    }
  }
}

// The verifier sees the load-time constants, so the largest configuration must verify too.
TEST(XdpProgram, VerifiesWithTheLargestConfiguration) {
  XdpProgramOptions o;
  o.interfaces = {"lo"};
  o.maxInterfaces = AGENT_MAX_IFACES;
  for (uint16_t p = 0; p < AGENT_MAX_SPAN_PORTS; ++p) o.spanPorts.push_back(static_cast<uint16_t>(7000 + p));
  o.frameSize = 4096;
  LOAD_OR_SKIP(prog, o);
  ASSERT_TRUE(prog.setLocalAddress(v6(1), (1u << AGENT_MAX_SPAN_PORTS) - 1, 1));
  using PB = PacketBuilder;
  const RunResult r = testRun(prog, PB().ipv6().ext(0).udp(1, 7000 + AGENT_MAX_SPAN_PORTS - 1).payload(64).build());
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.action, static_cast<uint32_t>(XDP_PASS));
  auto st = prog.portStats(0, AGENT_MAX_SPAN_PORTS - 1);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pass_no_socket.packets, 1u);
  EXPECT_EQ(st->port, 7000u + AGENT_MAX_SPAN_PORTS - 1);
}

TEST(XdpProgram, RefusesAPinPathOutsideBpffs) {
  auto r = XdpProgram::load(options("/tmp/not-a-bpffs/jaeger-agent"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no bpffs at /tmp/not-a-bpffs"), std::string::npos) << r.error().message();
}

TEST(XdpProgram, ParsesModes) {
  using jagent::receive::parseXdpMode;
  using jagent::receive::XdpMode;
  EXPECT_EQ(*parseXdpMode("auto"), XdpMode::kAuto);
  EXPECT_EQ(*parseXdpMode("native"), XdpMode::kNative);
  EXPECT_EQ(*parseXdpMode("skb"), XdpMode::kSkb);
  EXPECT_FALSE(parseXdpMode("offload"));
}

// A private bpffs instance for the pins, so the test neither needs nor touches /sys/fs/bpf.
class PrivateBpffs {
 public:
  PrivateBpffs() {
    char tmpl[] = "/tmp/jagent-bpffs-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir_ = tmpl;
    if (::mount("bpf", dir_.c_str(), "bpf", 0, nullptr) != 0) {
      error_ = std::strerror(errno);
      ::rmdir(dir_.c_str());
      dir_.clear();
      return;
    }
    mounted_ = true;
  }
  ~PrivateBpffs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  [[nodiscard]] bool ok() const { return mounted_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  std::string dir_, error_;
  bool mounted_ = false;
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

// What an operator sees: `bpftool map dump pinned <pin-path>/<map>` prints named counters.
TEST(XdpProgram, PinnedMapsAsBpftoolShowsThem) {
  if (const std::string why = missingPrivilege(); !why.empty()) GTEST_SKIP() << why;
  if (std::system("bpftool version > /dev/null 2>&1") != 0) GTEST_SKIP() << "bpftool not installed";
  PrivateBpffs fs;
  if (!fs.ok()) GTEST_SKIP() << "cannot mount a bpffs: " << fs.error();
  const std::string pin = fs.dir() + "/jaeger-agent";

  // All test runs on one CPU, so that the per-CPU values are predictable.
  struct OnCpu0 {
    cpu_set_t saved;
    OnCpu0() {
      ::sched_getaffinity(0, sizeof saved, &saved);
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(0, &one);
      ::sched_setaffinity(0, sizeof one, &one);
    }
    ~OnCpu0() { ::sched_setaffinity(0, sizeof saved, &saved); }
  };
  {
    const OnCpu0 pinned;
    LOAD_OR_SKIP(prog, options(pin));
    using PB = PacketBuilder;
    const auto ok = PB().ipv4().udp(1, kCompact).payload(58).build();          // 100-byte frame
    const auto frag = PB().ipv4().ipv4Fragment(0, true).udp(1, kCompact).payload(958).build();  // 1000 bytes
    const auto bad = PB().ipv4().ipv4Ihl(3).udp(1, kBinary).payload(10).build();
    for (const auto* f : {&ok, &ok, &frag, &bad}) ASSERT_EQ(testRun(prog, *f).err, 0);

    agent_user_stats* u = prog.userStats();
    ASSERT_NE(u, nullptr);
    u->ports[1].queue_full = 7;
    u->ports[1].decode_rejected.truncated = 3;
    u->reporter_spans_dropped = 11;

    const std::string text = run("bpftool map dump pinned " + pin + "/port_stats");
    // Port 6831 is slot 1 (key 1): its CPU 0 entry, as bpftool prints it.
    const std::string want =
        "                \"value\": {\n"
        "                    \"ifindex\": 1,\n"
        "                    \"port\": 6831,\n"
        "                    \"seen\": {\n"
        "                        \"packets\": 3,\n"
        "                        \"bytes\": 1200\n"
        "                    },\n"
        "                    \"redirected\": {\n"
        "                        \"packets\": 0,\n"
        "                        \"bytes\": 0\n"
        "                    },\n"
        "                    \"pass_fragment\": {\n"
        "                        \"packets\": 1,\n"
        "                        \"bytes\": 1000\n"
        "                    },\n"
        "                    \"pass_too_big\": {\n"
        "                        \"packets\": 0,\n"
        "                        \"bytes\": 0\n"
        "                    },\n"
        "                    \"pass_no_socket\": {\n"
        "                        \"packets\": 2,\n"
        "                        \"bytes\": 200\n"
        "                    },\n"
        "                    \"parse_error\": {\n"
        "                        \"packets\": 0,\n"
        "                        \"bytes\": 0\n"
        "                    },\n"
        "                    \"not_ours\": {\n"
        "                        \"packets\": 0,\n"
        "                        \"bytes\": 0\n"
        "                    },\n"
        "                    \"pass_unsteered\": {\n"
        "                        \"packets\": 0,\n"
        "                        \"bytes\": 0\n"
        "                    }\n"
        "                }\n";
    EXPECT_NE(text.find(want), std::string::npos) << "bpftool printed:\n" << text;
    std::printf("bpftool map dump pinned %s/port_stats (excerpt, port 6831, cpu 0):\n%s", pin.c_str(), want.c_str());

    // JSON form: sum the port's counters over every CPU.
    const auto js = nlohmann::json::parse(run("bpftool map dump pinned " + pin + "/port_stats -j"));
    uint64_t noSocket = 0, fragments = 0;
    for (const auto& entry : js)
      for (const auto& v : entry["formatted"]["values"])
        if (v["value"]["port"] == kCompact) {
          noSocket += v["value"]["pass_no_socket"]["packets"].get<uint64_t>();
          fragments += v["value"]["pass_fragment"]["packets"].get<uint64_t>();
        }
    EXPECT_EQ(noSocket, 2u);
    EXPECT_EQ(fragments, 1u);

    const auto global = nlohmann::json::parse(run("bpftool map dump pinned " + pin + "/global_stats -j"));
    uint64_t parseErrors = 0;
    for (const auto& v : global[0]["formatted"]["values"]) parseErrors += v["value"]["parse_error"]["packets"].get<uint64_t>();
    EXPECT_EQ(parseErrors, 1u);

    const std::string user = run("bpftool map dump pinned " + pin + "/user_stats");
    EXPECT_NE(user.find("\"port\": 6831,\n                    \"received\": 0,\n                    \"received_xsk\": 0,\n"
                        "                    \"queue_full\": 7,"),
              std::string::npos)
        << user;
    EXPECT_NE(user.find("\"truncated\": 3,"), std::string::npos) << user;

    // Which client: the source address with its counts, by field name (10.0.0.2 IPv4-mapped).
    const auto src = nlohmann::json::parse(run("bpftool map dump pinned " + pin + "/source_stats -j"));
    bool found = false;
    for (const auto& entry : src) {
      const auto& k = entry["formatted"]["key"];
      if (k["port"] != kCompact) continue;
      const std::vector<int> mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, 2};
      EXPECT_EQ(k["addr"].get<std::vector<int>>(), mapped);
      EXPECT_EQ(entry["formatted"]["value"]["datagrams"], 3u);  // ok, ok, frag
      EXPECT_EQ(entry["formatted"]["value"]["bytes"], 1200u);
      EXPECT_EQ(entry["formatted"]["value"]["first_fragments"], 1u);
      found = true;
    }
    EXPECT_TRUE(found) << src.dump();
    EXPECT_NE(user.find("\"reporter_spans_dropped\": 11,"), std::string::npos) << user;

    // The decode reject fields carry decode::reasonName() names, in RejectReason order (BTF).
    const int fd = bpf_obj_get((pin + "/user_stats").c_str());
    ASSERT_GE(fd, 0);
    bpf_map_info info{};
    __u32 len = sizeof info;
    ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    ::close(fd);
    btf* b = btf__load_from_kernel_by_id(info.btf_id);
    ASSERT_NE(b, nullptr);
    const int id = btf__find_by_name_kind(b, "agent_decode_rejects", BTF_KIND_STRUCT);
    ASSERT_GT(id, 0);
    const btf_type* t = btf__type_by_id(b, static_cast<__u32>(id));
    ASSERT_EQ(btf_vlen(t), static_cast<int>(jagent::decode::RejectReason::kCount) - 1);
    const btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); ++i)
      EXPECT_STREQ(btf__name_by_offset(b, m[i].name_off),
                   jagent::decode::reasonName(static_cast<jagent::decode::RejectReason>(i + 1)));
    btf__free(b);
  }
  // Destroying the program removed the pins and the directory.
  EXPECT_FALSE(std::filesystem::exists(pin));
}

}  // namespace
