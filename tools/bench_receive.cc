// bench-receive: the receive half of the receive benchmark (tools/bench_receive.sh runs it on a
// veth pair between two network namespaces and prints the table).
//
//   bench-receive send --dst IP --port P --size BYTES --seconds S
//       sendmmsg(32) of BYTES-byte UDP payloads to IP:P as fast as it can for S seconds.
//   bench-receive recv --mode xsk|uring|recvmmsg --iface IF --port P --seconds S
//                      [--warmup S] [--napi-cpu N] [--pin-path DIR]
//       Attaches the agent's XDP program to IF (always: the socket modes then measure exactly
//       the agent's fallback path, XDP_PASS → kernel UDP socket) and receives on port P with
//         xsk       the agent's XskReceiver (AF_XDP; copy mode on veth)
//         uring     the agent's UringReceiver (io_uring multishot recvmsg, provided buffers)
//         recvmmsg  a plain blocking recvmmsg(64) loop
//       Datagrams are counted and released at once (no decoding: this measures receiving).
//       After the warm-up it measures for S seconds and prints one line:
//         mode=… pkts=… seconds=… pps=… app_cpu_s=… napi_cpu_s=… ns_per_pkt=…
//       With --napi-cpu N it switches IF to threaded NAPI (after the XDP attach created the veth's
//       NAPI) and pins the NAPI kthread to CPU N, so that the whole receive side is measurable:
//       app_cpu_s is this process's CPU time (getrusage, all threads), napi_cpu_s the CPU time of
//       the NAPI kthread (/proc/PID/schedstat), where XDP, the skb path and the copy into the
//       UMEM or the socket run. ns_per_pkt = (app + napi) / pkts. Run inside `ip netns exec` so
//       that /sys/class/net shows the namespace's devices.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/net.h"
#include "metrics/metrics.h"
#include "receive/datagram.h"
#include "receive/uring_receiver.h"
#include "receive/xdp_program.h"
#include "receive/xsk_receiver.h"

namespace {

using namespace jagent;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string cmd, mode = "xsk", iface, dst, pinPath;
  int port = 6831;
  int size = 512;
  double seconds = 10;
  double warmup = 1;
  int napiCpu = -1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "bench-receive: %s\nusage: bench-receive send --dst IP --port P --size B --seconds S\n"
               "       bench-receive recv --mode xsk|uring|recvmmsg --iface IF --port P --seconds S "
               "[--warmup S] [--napi-cpu N] [--pin-path DIR]\n", why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("missing command");
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string_view f = argv[i];
    if (i + 1 >= argc) usage("missing value for " + std::string(f));
    const std::string v = argv[++i];
    if (f == "--mode") a.mode = v;
    else if (f == "--iface") a.iface = v;
    else if (f == "--dst") a.dst = v;
    else if (f == "--pin-path") a.pinPath = v;
    else if (f == "--port") a.port = std::atoi(v.c_str());
    else if (f == "--size") a.size = std::atoi(v.c_str());
    else if (f == "--seconds") a.seconds = std::atof(v.c_str());
    else if (f == "--warmup") a.warmup = std::atof(v.c_str());
    else if (f == "--napi-cpu") a.napiCpu = std::atoi(v.c_str());
    else usage("unknown flag " + std::string(f));
  }
  return a;
}

int send(const Args& a) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(a.port));
  if (fd < 0 || ::inet_pton(AF_INET, a.dst.c_str(), &to.sin_addr) != 1) usage("bad --dst");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) usage("connect failed");
  std::vector<uint8_t> payload(static_cast<size_t>(a.size), 'j');
  constexpr int kBatch = 32;
  mmsghdr msgs[kBatch]{};
  iovec iov{payload.data(), payload.size()};
  for (mmsghdr& m : msgs) {
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(a.seconds);
  while (Clock::now() < end) {
    const int n = ::sendmmsg(fd, msgs, kBatch, 0);
    if (n > 0) sent += static_cast<uint64_t>(n);
  }
  std::printf("sent=%llu\n", static_cast<unsigned long long>(sent));
  return 0;
}

// Counts and gives the buffer straight back.
class CountingSink final : public receive::DatagramSink {
 public:
  bool push(receive::Datagram& d) noexcept override {
    count_.fetch_add(1, std::memory_order_relaxed);
    d.release();
    return true;
  }
  [[nodiscard]] uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> count_{0};
};

double processCpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double threadCpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/schedstat");
  unsigned long long ns = 0;
  in >> ns;
  return static_cast<double>(ns) / 1e9;
}

// Switches `ifname` to threaded NAPI and pins its NAPI kthread(s) to `cpu`; returns one pid.
int threadedNapi(const std::string& ifname, int cpu) {
  std::ofstream("/sys/class/net/" + ifname + "/threaded") << "1";
  const std::string prefix = ("napi/" + ifname + "-").substr(0, 15);  // comm is 15 chars
  int found = 0;
  for (int attempt = 0; attempt < 50 && !found; ++attempt) {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.empty() || name[0] < '0' || name[0] > '9') continue;
      std::ifstream comm(e.path() / "comm");
      std::string c;
      std::getline(comm, c);
      if (c.rfind(prefix, 0) != 0) continue;
      found = std::atoi(name.c_str());
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(found, sizeof set, &set);
    }
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!found) std::fprintf(stderr, "bench-receive: no NAPI kthread for %s (threaded NAPI unsupported?)\n", ifname.c_str());
  return found;
}

int recv(const Args& a) {
  metrics::Registry reg;
  CountingSink sink;
  std::atomic<uint64_t> plainCount{0};

  receive::XdpProgramOptions po;
  po.interfaces = {a.iface};
  po.spanPorts = {static_cast<uint16_t>(a.port)};
  po.pinPath = a.pinPath;
  auto prog = receive::XdpProgram::attach(po);
  if (!prog) {
    std::fprintf(stderr, "bench-receive: %s\n", prog.error().message().c_str());
    return 1;
  }

  const int napiPid = a.napiCpu >= 0 ? threadedNapi(a.iface, a.napiCpu) : 0;

  std::unique_ptr<receive::XskReceiver> xsk;
  std::unique_ptr<receive::UringReceiver> uring;
  UniqueFd plain;
  std::atomic<bool> stop{false};
  std::thread plainThread;
  SockAddr bind;
  {
    auto r = resolve(HostPort{"", static_cast<uint16_t>(a.port)}, SOCK_DGRAM);
    if (!r) usage(r.error().message());
    bind = *r;
  }
  if (a.mode == "xsk") {
    receive::XskPort p{static_cast<uint16_t>(a.port), &sink, &reg.counter("processed", ""), &reg.counter("dropped", ""),
                       &reg.counter("xsk", "")};
    receive::XskCounters c{reg.counter("frames", ""), reg.counter("invalid", ""), reg.counter("rx_dropped", ""),
                           reg.counter("rx_ring_full", ""), reg.counter("fill_ring_empty", "")};
    receive::XskReceiver::Options o;
    o.ifname = a.iface;
    o.xsksMapFd = (*prog)->xsksMapFd();
    o.xsksMapKey = receive::XdpProgram::xskKey(0, 0);
    o.forceCopy = (*prog)->interfaces()[0].mode == receive::XdpMode::kSkb;
    auto r = receive::XskReceiver::create(o, {p}, c);
    if (!r) usage(r.error().message());
    xsk = std::move(*r);
    xsk->start();
  } else if (a.mode == "uring") {
    receive::UdpCounters c{reg.counter("processed", ""), reg.counter("dropped", ""), reg.counter("read_errors", ""),
                           reg.counter("too_large", ""), reg.counter("kernel_drops", ""), reg.gauge("size", "")};
    receive::UringReceiver::Options o;
    o.name = "bench";
    o.bind = bind;
    o.maxPacketSize = 2048;
    o.socketBufferSize = 8 << 20;
    o.bufferCount = 256;
    auto r = receive::UringReceiver::create(o, sink, c);
    if (!r) usage(r.error().message());
    uring = std::move(*r);
    uring->start();
  } else if (a.mode == "recvmmsg") {
    plain.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int rcvbuf = 8 << 20;
    ::setsockopt(plain.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    const timeval tv{0, 100'000};
    ::setsockopt(plain.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::bind(plain.get(), bind.get(), bind.len) != 0) usage("bind failed");
    plainThread = std::thread([&] {
      constexpr int kBatch = 64;
      std::vector<uint8_t> bufs(kBatch * 2048);
      mmsghdr msgs[kBatch]{};
      iovec iovs[kBatch];
      for (int i = 0; i < kBatch; ++i) {
        iovs[i] = {bufs.data() + i * 2048, 2048};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      while (!stop.load(std::memory_order_relaxed)) {
        const int n = ::recvmmsg(plain.get(), msgs, kBatch, MSG_WAITFORONE, nullptr);
        if (n > 0) plainCount.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      }
    });
  } else {
    usage("unknown --mode " + a.mode);
  }
  auto received = [&] { return a.mode == "recvmmsg" ? plainCount.load() : sink.count(); };

  std::this_thread::sleep_for(std::chrono::duration<double>(a.warmup));
  const uint64_t p0 = received();
  const double app0 = processCpuSeconds(), napi0 = threadCpuSeconds(napiPid);
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  const uint64_t p1 = received();
  const double app1 = processCpuSeconds(), napi1 = threadCpuSeconds(napiPid);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  stop = true;
  if (plainThread.joinable()) plainThread.join();
  if (xsk) xsk->stop();
  if (uring) uring->stop();
  const double pkts = static_cast<double>(p1 - p0);
  const double app = app1 - app0, napi = napi1 - napi0;
  std::printf("mode=%s pkts=%.0f seconds=%.2f pps=%.0f app_cpu_s=%.3f napi_cpu_s=%.3f ns_per_pkt=%.0f "
              "app_ns_per_pkt=%.0f napi_ns_per_pkt=%.0f xdp=%s\n",
              a.mode.c_str(), pkts, secs, pkts / secs, app, napi, pkts > 0 ? (app + napi) * 1e9 / pkts : 0.0,
              pkts > 0 ? app * 1e9 / pkts : 0.0, pkts > 0 ? napi * 1e9 / pkts : 0.0,
              receive::xdpModeName((*prog)->interfaces()[0].mode));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const Args a = parse(argc, argv);
  if (a.cmd == "send") return send(a);
  if (a.cmd == "recv") return recv(a);
  usage("unknown command " + a.cmd);
}
