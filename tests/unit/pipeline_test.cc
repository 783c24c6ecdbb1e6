// Loopback pipeline: a real io_uring UDP receiver on 127.0.0.1 feeding a decode Processor that
// reports into a capturing Reporter. Asserts the batches and the counters, including the drop
// paths (too large, rejected, queue full) and buffer back-pressure (more datagrams in flight
// than ring buffers).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"
#include "test_support.h"
#include "decode/processor.h"
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
  std::unique_ptr<decode::Processor> proc;
  std::unique_ptr<receive::UringReceiver> rx;
  metrics::Labels labels{{"model", "jaeger"}, {"protocol", "binary"}};

  explicit Pipeline(int queueSize = 100, int workers = 2, unsigned buffers = 8, int maxPacket = 65000) {
    decode::Processor::Options po{"jaeger-binary", "jaeger", "binary", decode::Protocol::kBinary, queueSize, workers, {}};
    proc = std::make_unique<decode::Processor>(po, reporter, reg);
    receive::UdpCounters c{reg.counter("processed", "", labels), reg.counter("dropped", "", labels),
                           reg.counter("read_errors", "", labels), reg.counter("too_large", "", labels),
                           reg.counter("kernel_drops", "", labels), reg.gauge("packet_size", "", labels)};
    receive::UringReceiver::Options ro;
    ro.name = "test";
    ro.bind = *resolve(*parseHostPort("127.0.0.1:0"), SOCK_DGRAM);
    ro.maxPacketSize = maxPacket;
    ro.socketBufferSize = 4 << 20;
    ro.bufferCount = buffers;
    auto r = receive::UringReceiver::create(ro, *proc, c);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    rx = std::move(*r);
    proc->start();
    rx->start();
  }
  ~Pipeline() {
    rx->stop();
    proc->stop();
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
  Pipeline p(100, 1, 8, /*maxPacket=*/2000);
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
  Pipeline p(/*queueSize=*/64, /*workers=*/1, /*buffers=*/4);
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

TEST_F(PipelineTest, FullQueueDropsTheNewestAndCountsIt) {
  // 1-slot queue, many buffers, a slow reporter: the queue overflows and drops are counted.
  Pipeline p(/*queueSize=*/1, /*workers=*/1, /*buffers=*/64);
  p.reporter.slow = true;
  const auto pkt = readTestData("udp_jaeger_client.bin");
  for (int i = 0; i < 60; ++i) sendTo(p.rx->boundPort(), pkt);
  ASSERT_TRUE(waitFor([&] {
    std::lock_guard lock(p.reporter.mu);
    return p.count("processed") + p.count("dropped") == 60 &&
           static_cast<uint64_t>(p.reporter.batches) == p.count("processed");
  }));
  EXPECT_GT(p.count("dropped"), 0u);
}

}  // namespace
}  // namespace jagent
