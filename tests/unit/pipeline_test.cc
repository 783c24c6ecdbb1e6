// Loopback pipeline: real io_uring UDP receivers on 127.0.0.1 feeding inline decode stages that
// report into a capturing Reporter. Asserts the batches and the counters, including the drop
// paths (too large, rejected), buffer back-pressure (more datagrams in flight than ring
// buffers), and the spread of one client's datagrams over the shards of a SO_REUSEPORT group.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"
#include "test_support.h"
#include "pipeline/decode_stage.h"
#include "metrics/metrics.h"
#include "receive/uring_receiver.h"

namespace jagent {
namespace {

using testing::readTestData;

class CapturingReporter final : public report::Reporter {
 public:
  void emit(const report::EncodedBatch& b) noexcept override {
    std::lock_guard lock(mu);
    batches++;
    spans += b.summary->spans;
    services.emplace_back(b.summary->serviceName());
    bytes.emplace_back(b.bytes.begin(), b.bytes.end());
    if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  void close(std::chrono::steady_clock::time_point) override {}
  bool saturated() const noexcept override { return full.load(); }
  std::atomic<bool> full{false};
  std::mutex mu;
  int batches = 0;
  uint64_t spans = 0;
  bool slow = false;
  std::vector<std::string> services;
  std::vector<std::vector<uint8_t>> bytes;
};

bool ioUringAvailable(std::string* why) {
  io_uring ring;
  const int rc = io_uring_queue_init(4, &ring, 0);
  if (rc < 0) {
    *why = std::string("io_uring_queue_init: ") + strerror(-rc);
    return false;
  }
  io_uring_queue_exit(&ring);
  return true;
}

struct Pipeline {
  metrics::Registry reg;
  CapturingReporter reporter;
  metrics::Labels labels{{"model", "jaeger"}, {"protocol", "binary"}};
  pipeline::PortMetrics portMetrics{reg, "jaeger", "binary"};
  std::vector<std::unique_ptr<pipeline::DecodeStage>> stages;
  std::vector<std::unique_ptr<receive::UringReceiver>> shards;
  receive::UringReceiver* rx = nullptr;  // shard 0

  explicit Pipeline(unsigned buffers = 8, int maxPacket = 65000, int nShards = 1) {
    receive::UdpCounters c{reg.counter("processed", "", labels), reg.counter("dropped", "", labels),
                           reg.counter("read_errors", "", labels), reg.counter("too_large", "", labels),
                           reg.counter("kernel_drops", "", labels), reg.gauge("packet_size", "", labels)};
    for (int s = 0; s < nShards; ++s) {
      pipeline::DecodeStage::Options so;
      so.name = "jaeger-binary";
      so.protocol = Protocol::kBinary;
      stages.push_back(std::make_unique<pipeline::DecodeStage>(so, portMetrics, reporter));
      receive::UringReceiver::Options ro;
      ro.name = "test";
      ro.bind = *resolve(*parseHostPort("127.0.0.1:0"), SOCK_DGRAM);
      if (s > 0) ro.bind.setPort(shards[0]->boundPort());
      ro.maxPacketSize = maxPacket;
      ro.socketBufferSize = 4 << 20;
      ro.bufferCount = buffers;
      ro.reusePort = nShards > 1;
      auto r = receive::UringReceiver::create(ro, *stages.back(), c);
      EXPECT_TRUE(r) << (r ? "" : r.error().message());
      shards.push_back(std::move(*r));
    }
    if (nShards > 1) {
      auto ok = receive::UringReceiver::spreadReusePortGroup(shards[0]->fd(), static_cast<unsigned>(nShards));
      EXPECT_TRUE(ok) << (ok ? "" : ok.error().message());
    }
    rx = shards[0].get();
    for (auto& r : shards) r->start();
  }
  ~Pipeline() {
    for (auto& r : shards) r->stop();
  }
  uint64_t count(const char* name) { return reg.counterSum(name); }
};

void sendTo(uint16_t port, std::span<const uint8_t> payload) { testing::sendUdpLoopback(port, payload); }

template <typename Pred>
bool waitFor(Pred p, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return p();
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!ioUringAvailable(&why)) GTEST_SKIP() << "io_uring unavailable here: " << why;
  }
};

TEST_F(PipelineTest, RealClientDatagramsFlowThrough) {
  Pipeline p;
  const auto pkt = readTestData("udp_jaeger_client.bin");
  ASSERT_FALSE(pkt.empty());
  for (int i = 0; i < 200; ++i) {
    sendTo(p.rx->boundPort(), pkt);
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(p.reporter.mu);
    return p.reporter.batches == 200;
  }));
  EXPECT_EQ(p.count("processed"), 200u);
  EXPECT_EQ(p.count("dropped"), 0u);
  EXPECT_EQ(p.count("jaeger_agent_received_batches"), 200u);
  EXPECT_EQ(p.count("jaeger_agent_received_spans"), p.reporter.spans);
  EXPECT_EQ(p.reporter.services[0], "demo");
}

TEST_F(PipelineTest, RejectsAndOversizeAreCountedByReason) {
  Pipeline p(8, /*maxPacket=*/2000);
  const uint8_t garbage[] = {0x80, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 'e', 'm', 'i', 't'};
  sendTo(p.rx->boundPort(), garbage);
  const uint8_t compactOnBinaryPort[] = {0x82, 0x21, 0x01, 0x09, 'e', 'm', 'i', 't', 'B', 'a', 't', 'c', 'h', 0x00};
  sendTo(p.rx->boundPort(), compactOnBinaryPort);
  std::vector<uint8_t> big(3000, 0x80);
  sendTo(p.rx->boundPort(), big);
  ASSERT_TRUE(waitFor([&] { return p.count("jaeger_agent_thrift_udp_t_processor_handler_errors") == 2 && p.count("too_large") == 1; }));
  EXPECT_EQ(p.count("processed"), 2u);
  EXPECT_EQ(p.reg.counterSum("jaeger_agent_decode_rejected", {{"reason", "length_too_large"}}), 1u);
  EXPECT_EQ(p.reg.counterSum("jaeger_agent_decode_rejected", {{"reason", "wrong_protocol"}}), 1u);
  std::lock_guard lock(p.reporter.mu);
  EXPECT_EQ(p.reporter.batches, 0);
}

TEST_F(PipelineTest, BackPressureWhenAllBuffersAreLentLosesNothing) {
  // 4 ring buffers, a slow reporter: datagrams wait in the socket buffer, none are lost.
  Pipeline p(/*buffers=*/4);
  p.reporter.slow = true;
  const auto pkt = readTestData("udp_jaeger_client.bin");
  for (int i = 0; i < 100; ++i) sendTo(p.rx->boundPort(), pkt);
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(p.reporter.mu);
    return p.reporter.batches == 100;
  }));
  EXPECT_EQ(p.count("dropped"), 0u);
  EXPECT_EQ(p.count("kernel_drops"), 0u);
}

TEST_F(PipelineTest, ASaturatedReporterLeavesDatagramsInTheSocket) {
  // While the reporter is saturated the receiver must stop reading (its multishot recvmsg is
  // cancelled), so datagrams wait in the socket buffer — where the kernel counts what does not
  // fit — instead of being read only to be dropped; once it drains, they are all forwarded.
  Pipeline p;
  const auto pkt = readTestData("udp_jaeger_client.bin");
  auto batches = [&] {
    std::lock_guard lock(p.reporter.mu);
    return p.reporter.batches;
  };
  sendTo(p.rx->boundPort(), pkt);
  ASSERT_TRUE(waitFor([&] { return batches() == 1; }));
  p.reporter.full = true;
  sendTo(p.rx->boundPort(), pkt);  // the armed multishot may read this one: dropped, counted
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the loop has looked since
  for (int i = 0; i < 50; ++i) sendTo(p.rx->boundPort(), pkt);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(batches(), 1);
  EXPECT_LE(p.count("dropped"), 1u) << "datagrams were read and dropped while the reporter was saturated";
  p.reporter.full = false;
  ASSERT_TRUE(waitFor([&] { return batches() + static_cast<int>(p.count("dropped")) == 52; }))
      << batches() << " forwarded, " << p.count("dropped") << " dropped";
  EXPECT_EQ(p.count("kernel_drops"), 0u);
}

TEST_F(PipelineTest, OneClientSocketIsSpreadOverEveryShard) {
  // SO_REUSEPORT alone hashes the 4-tuple: one client socket would always reach one shard. The
  // reuseport program spreads at random, so both shards decode part of one sender's traffic.
  Pipeline p(/*buffers=*/8, 65000, /*nShards=*/2);
  const auto pkt = readTestData("udp_jaeger_client.bin");
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(p.rx->boundPort());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  std::vector<uint64_t> perShard(2, 0);
  for (int i = 0; i < 400; ++i) {
    ASSERT_EQ(::send(fd.get(), pkt.data(), pkt.size(), 0), static_cast<ssize_t>(pkt.size()));
    if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(p.reporter.mu);
    return p.reporter.batches == 400;
  }));
  // The port's metrics are shared by its shards; each receiver also counts what it read itself.
  EXPECT_EQ(p.count("processed"), 400u);
  for (size_t s = 0; s < 2; ++s) EXPECT_GT(p.shards[s]->datagramsRead(), 40u) << "shard " << s;
}

}  // namespace
}  // namespace jagent
