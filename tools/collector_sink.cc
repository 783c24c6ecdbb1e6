// jaeger-collector-sink: a fast TChannel "jaeger-collector" for benchmarks and tests (issue #7).
//
//   jaeger-collector-sink [--host 127.0.0.1] [--port P (0 = any)] [--delay-ms D]
//                         [--busy-every N | --busy-first N] [--stats-file PATH]
//                         [--stats-interval-ms MS]
//
// Serves Collector::submitBatches, ZipkinCollector::submitZipkinBatch and
// SamplingManager::getSamplingStrategy (thrift over TChannel, wire-protocols.md §1–§2) on one
// single-threaded epoll loop. It must cost far less than the agent it measures, so it never
// builds Thrift objects: a request's arg3 is validated by a skip-walk over the TBinary bytes
// that only reads the few span fields it needs (ids, start time, duration) to count spans and
// to sum the same content checksum jaeger-loadgen computes (see loadgen.cc). Every frame's
// CRC is verified by tchannel::CallAssembler. A malformed request is answered with a
// bad-request error frame and counted in `errors`; it is never counted as delivered.
//
// Fault injection: --delay-ms answers each call that much later (the loop keeps reading);
// --busy-every N answers every Nth submit call, --busy-first N the first N, with a busy
// error frame (not counted as delivered: the agent is expected to retry elsewhere or count).
//
// Prints "ready <port>" on stdout once listening. Stats (JSON: calls by method, batches, spans,
// bytes, errors, busy_answered, checksum, cpu seconds) are written to --stats-file on
// SIGTERM/SIGINT (then it exits 0) and, with --stats-interval-ms, periodically.

#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "report/tchannel_frame.h"

namespace {

namespace tc = jagent::report::tchannel;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int delayMs = 0;
  uint64_t busyEvery = 0;
  uint64_t busyFirst = 0;
  std::string statsFile;
  int statsIntervalMs = 0;
};

[[noreturn]] void usage(const std::string& msg) {
  std::cerr << "jaeger-collector-sink: " << msg << "\n";
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{"jaeger-collector-sink: a cheap TChannel collector that validates and counts spans"};
  app.add_option("--host", o.host, "IPv4 address to listen on");
  app.add_option("--port", o.port, "TCP port (0 = ephemeral; printed as 'ready <port>')")->check(CLI::Range(0, 65535));
  app.add_option("--delay-ms", o.delayMs, "hold every span call this long")->check(CLI::Range(0, 600000));
  app.add_option("--busy-every", o.busyEvery, "answer every Nth span call with a busy error")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--busy-first", o.busyFirst, "answer the first N span calls with a busy error")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  app.add_option("--stats-file", o.statsFile, "JSON stats written on exit (and every --stats-interval-ms)");
  app.add_option("--stats-interval-ms", o.statsIntervalMs, "stats file period")->check(CLI::Range(10, 3600000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  if (o.busyEvery != 0 && o.busyFirst != 0) usage("--busy-every and --busy-first are exclusive");
  return o;
}

// ---------------------------------------------------------------------------------------------
// TBinary skip-walk (no allocation, bounded depth, every length checked against what is left).

enum : uint8_t {
  kStop = 0, kBool = 2, kByte = 3, kDouble = 4, kI16 = 6, kI32 = 8, kI64 = 10,
  kString = 11, kStruct = 12, kMap = 13, kSet = 14, kList = 15, kUuid = 16
};
constexpr int kMaxDepth = 64;

uint64_t mix64(uint64_t z) {  // same as loadgen.cc
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class BinaryWalker {
 public:
  BinaryWalker(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}

  bool ok() const { return ok_; }
  bool atEnd() const { return p_ == end_; }
  const char* error() const { return error_; }

  uint8_t u8() {
    if (!need(1)) return 0;
    return *p_++;
  }
  uint16_t be16() {
    if (!need(2)) return 0;
    const uint16_t v = static_cast<uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return v;
  }
  uint32_t be32() {
    if (!need(4)) return 0;
    const uint32_t v = (uint32_t{p_[0]} << 24) | (uint32_t{p_[1]} << 16) | (uint32_t{p_[2]} << 8) | p_[3];
    p_ += 4;
    return v;
  }
  uint64_t be64() {
    const uint64_t hi = be32();
    return (hi << 32) | be32();
  }

  // A list/set/map count: non-negative, and at least `minElem` bytes each must still be there.
  uint32_t count(size_t minElem) {
    const uint32_t n = be32();
    if (!ok_) return 0;
    if (n > 0x7FFFFFFF) return fail("negative count"), 0;
    if (minElem != 0 && n > static_cast<size_t>(end_ - p_) / minElem) return fail("count larger than the bytes left"), 0;
    return n;
  }

  void skip(uint8_t type, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    const size_t fixed = fixedSize(type);
    if (fixed != 0) {
      advance(fixed);
      return;
    }
    switch (type) {
      case kString: advance(be32()); return;  // be32 > bytes left is caught by advance()
      case kStruct: return skipStructBody(depth);
      case kMap: {
        const uint8_t kt = u8(), vt = u8();
        const uint32_t n = count(0);
        skipElements(kt, vt, n, depth);
        return;
      }
      case kSet:
      case kList: {
        const uint8_t et = u8();
        const uint32_t n = count(0);
        skipElements(et, 0xFF, n, depth);
        return;
      }
      default: return fail("unknown wire type");
    }
  }

  // Reads a struct, handing each (type, id) to `onField`, which must consume the value
  // (or return false to have it skipped).
  template <typename F>
  void structFields(int depth, F&& onField) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    for (;;) {
      const uint8_t t = u8();
      if (!ok_ || t == kStop) return;
      const uint16_t id = be16();
      if (!ok_) return;
      if (!onField(t, id)) skip(t, depth + 1);
      if (!ok_) return;
    }
  }

  // The hot loop of the sink: Tag, Log and Span bodies are mostly strings and fixed-size
  // scalars. Those are skipped without a data-dependent branch (the string-or-scalar choice is
  // a conditional move), because the field types of a tag list are random to the predictor.
  void skipStructBody(int depth) {
    // Bytes to skip after the field header, by wire type; 0 = not a scalar (string is special).
    static constexpr uint8_t kScalar[17] = {0, 0, 1, 1, 8, 0, 2, 0, 4, 0, 8, 0, 0, 0, 0, 0, 16};
    for (;;) {
      if (p_ >= end_) return fail("truncated");
      const uint8_t t = *p_;
      if (t == kStop) {
        ++p_;
        return;
      }
      const uint8_t* q = p_ + 3;  // after type:1 id:2
      if (t <= kUuid && end_ - p_ >= 7) {
        const uint32_t len = (uint32_t{q[0]} << 24) | (uint32_t{q[1]} << 16) | (uint32_t{q[2]} << 8) | q[3];
        const uint64_t adv = t == kString ? uint64_t{4} + len : kScalar[t];
        if (adv != 0) {
          if (adv > static_cast<uint64_t>(end_ - q)) return fail("truncated");
          p_ = q + adv;
          continue;
        }
      }
      if (end_ - p_ < 3) return fail("truncated");
      p_ = q;
      skip(t, depth + 1);
      if (!ok_) return;
    }
  }

  void fail(const char* why) {
    if (ok_) error_ = why;
    ok_ = false;
    p_ = end_;
  }

 private:
  static size_t fixedSize(uint8_t type) {
    switch (type) {
      case kBool: case kByte: return 1;
      case kI16: return 2;
      case kI32: return 4;
      case kDouble: case kI64: return 8;
      case kUuid: return 16;
      default: return 0;
    }
  }
  bool need(size_t n) {
    if (static_cast<size_t>(end_ - p_) >= n) return true;
    fail("truncated");
    return false;
  }
  void advance(size_t n) {
    if (need(n)) p_ += n;
  }
  void skipElements(uint8_t a, uint8_t b, uint32_t n, int depth) {
    if (!ok_) return;
    const size_t fa = fixedSize(a), fb = b == 0xFF ? 0 : fixedSize(b);
    if (fa != 0 && (b == 0xFF || fb != 0)) {  // all fixed-size: one bounds check
      const uint64_t total = uint64_t{n} * (fa + fb);
      if (total > static_cast<uint64_t>(end_ - p_)) return fail("truncated");
      p_ += total;
      return;
    }
    for (uint32_t i = 0; i < n && ok_; ++i) {
      skip(a, depth + 1);
      if (b != 0xFF) skip(b, depth + 1);
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
  const char* error_ = "";
};

struct WalkResult {
  uint64_t items = 0;     // list elements (batches, or zipkin spans)
  uint64_t spans = 0;
  uint64_t checksum = 0;
};

// One span struct (jaeger.Span or zipkincore.Span): only the digest fields are read.
void walkSpan(BinaryWalker& w, bool zipkin, WalkResult& r) {
  // jaeger: 1 traceIdLow, 2 traceIdHigh, 3 spanId, 8 startTime, 9 duration.
  // zipkin: 1 trace_id, 12 trace_id_high, 4 id, 10 timestamp, 11 duration.
  uint64_t v[5] = {0, 0, 0, 0, 0};  // low, high, id, start, duration
  w.structFields(2, [&](uint8_t type, uint16_t id) {
    if (type != kI64) return false;
    int slot = -1;
    if (!zipkin) {
      slot = id == 1 ? 0 : id == 2 ? 1 : id == 3 ? 2 : id == 8 ? 3 : id == 9 ? 4 : -1;
    } else {
      slot = id == 1 ? 0 : id == 12 ? 1 : id == 4 ? 2 : id == 10 ? 3 : id == 11 ? 4 : -1;
    }
    if (slot < 0) return false;
    v[slot] = w.be64();
    return true;
  });
  const uint64_t rest = std::rotl(v[0], 17) ^ std::rotl(v[1], 31) ^ std::rotl(v[3], 43) ^ v[4];
  r.checksum += mix64(v[2] ^ rest);
  ++r.spans;
}

// A list<Span> value (after its field header).
void walkSpanList(BinaryWalker& w, bool zipkin, WalkResult& r) {
  const uint8_t et = w.u8();
  const uint32_t n = w.count(1);
  if (!w.ok()) return;
  if (et != kStruct && n != 0) return w.fail("span list of non-structs");
  for (uint32_t i = 0; i < n && w.ok(); ++i) walkSpan(w, zipkin, r);
}

// `{1: list<Batch>}` or `{1: list<zipkincore.Span>}`: the whole arg3, nothing after it.
bool walkSubmit(std::span<const uint8_t> arg3, bool zipkin, WalkResult& r, std::string& err) {
  BinaryWalker w(arg3.data(), arg3.size());
  bool sawList = false;
  w.structFields(0, [&](uint8_t type, uint16_t id) {
    if (id != 1 || type != kList) return false;
    sawList = true;
    if (zipkin) {
      const uint64_t before = r.spans;
      walkSpanList(w, true, r);
      r.items += r.spans - before;
      return true;
    }
    const uint8_t et = w.u8();
    const uint32_t n = w.count(1);
    if (!w.ok()) return true;
    if (et != kStruct && n != 0) {
      w.fail("batch list of non-structs");
      return true;
    }
    for (uint32_t i = 0; i < n && w.ok(); ++i) {
      bool sawSpans = false, sawProcess = false;
      w.structFields(1, [&](uint8_t bt, uint16_t bid) {
        if (bid == 2 && bt == kList) {
          sawSpans = true;
          walkSpanList(w, false, r);
          return true;
        }
        if (bid == 1 && bt == kStruct) sawProcess = true;
        return false;
      });
      if (w.ok() && (!sawSpans || !sawProcess)) w.fail("Batch without process or spans");
      ++r.items;
    }
    return true;
  });
  if (w.ok() && !w.atEnd()) w.fail("bytes after the args struct");
  if (w.ok() && !sawList) w.fail("no field 1 list");
  if (!w.ok()) err = w.error();
  return w.ok();
}

// ---------------------------------------------------------------------------------------------
// Server

struct Stats {
  std::map<std::string, uint64_t> calls;   // answered OK, by method
  uint64_t batches = 0;
  uint64_t spans = 0;
  uint64_t zipkinSpans = 0;
  uint64_t bytes = 0;                      // arg3 bytes of answered submit calls
  uint64_t errors = 0;                     // error frames sent for bad requests
  uint64_t badChecksum = 0;
  uint64_t busyAnswered = 0;
  uint64_t checksum = 0;                   // sum of span digests (see loadgen.cc)
  uint64_t connections = 0;
  uint64_t frames = 0;
  uint64_t submitCalls = 0;                // submit calls seen (incl. busy-answered)
};

struct Pending {
  Clock::time_point due;
  int fd;
  uint64_t generation;
  std::vector<uint8_t> bytes;
};

struct Conn {
  int fd = -1;
  uint64_t generation = 0;
  std::unique_ptr<uint8_t[]> in;
  size_t inCap = 0, inLen = 0, inOff = 0;
  std::vector<uint8_t> out;
  size_t outOff = 0;
  bool wantWrite = false;
  std::unordered_map<uint32_t, tc::CallAssembler> partial;
};

class Sink {
 public:
  explicit Sink(Options o) : o_(std::move(o)) {}

  int run();

 private:
  void accept();
  void onReadable(Conn& c);
  void onWritable(Conn& c);
  void handleFrame(Conn& c, const tc::FrameView& f);
  void handleCall(Conn& c, const tc::CallAssembler& a);
  void reply(Conn& c, std::vector<uint8_t> bytes);
  void sendError(Conn& c, uint32_t id, tc::ErrorCode code, const tc::Tracing& tr, std::string_view msg);
  void flush(Conn& c);
  void closeConn(int fd);
  void writeStats(const char* state);
  int timeoutMs();
  void firePending();

  Options o_;
  int epfd_ = -1;
  int listenFd_ = -1;
  int sigFd_ = -1;
  uint16_t port_ = 0;
  uint64_t nextGeneration_ = 1;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::deque<Pending> pending_;   // delayed answers, in due order (the delay is constant)
  std::vector<tc::CallAssembler> spare_;
  Stats s_;
  Clock::time_point nextStats_{};
};


int Sink::run() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigprocmask(SIG_BLOCK, &sigs, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  sigFd_ = ::signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  (void)::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o_.port));
  if (::inet_pton(AF_INET, o_.host.c_str(), &addr.sin_addr) != 1) usage("--host must be an IPv4 address");
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listenFd_, 64) != 0) {
    std::fprintf(stderr, "jaeger-collector-sink: bind/listen %s:%d: %s\n", o_.host.c_str(), o_.port, std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof addr;
  (void)::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);

  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listenFd_;
  (void)::epoll_ctl(epfd_, EPOLL_CTL_ADD, listenFd_, &ev);
  ev.data.fd = sigFd_;
  (void)::epoll_ctl(epfd_, EPOLL_CTL_ADD, sigFd_, &ev);

  std::printf("ready %u\n", port_);
  std::fflush(stdout);
  if (o_.statsIntervalMs > 0) nextStats_ = Clock::now() + std::chrono::milliseconds(o_.statsIntervalMs);

  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epfd_, events, 64, timeoutMs());
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "jaeger-collector-sink: epoll_wait: %s\n", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == sigFd_) {
        writeStats("final");
        return 0;
      }
      if (fd == listenFd_) {
        accept();
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) onReadable(*it->second);
      it = conns_.find(fd);  // may have been closed
      if (it != conns_.end() && (events[i].events & EPOLLOUT)) onWritable(*it->second);
    }
    firePending();
    if (o_.statsIntervalMs > 0 && Clock::now() >= nextStats_) {
      writeStats("running");
      nextStats_ = Clock::now() + std::chrono::milliseconds(o_.statsIntervalMs);
    }
  }
}

int Sink::timeoutMs() {
  int t = -1;
  const auto now = Clock::now();
  auto until = [&](Clock::time_point tp) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - now).count() + 1;
    const int v = static_cast<int>(std::clamp<int64_t>(ms, 0, 1000));
    t = t < 0 ? v : std::min(t, v);
  };
  if (!pending_.empty()) until(pending_.front().due);
  if (o_.statsIntervalMs > 0) until(nextStats_);
  return t;
}

void Sink::firePending() {
  const auto now = Clock::now();
  while (!pending_.empty() && pending_.front().due <= now) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    auto it = conns_.find(p.fd);
    if (it == conns_.end() || it->second->generation != p.generation) continue;  // connection gone
    Conn& c = *it->second;
    c.out.insert(c.out.end(), p.bytes.begin(), p.bytes.end());
    flush(c);
  }
}

void Sink::accept() {
  for (int i = 0; i < 64; ++i) {
    const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->generation = nextGeneration_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    (void)::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    conns_[fd] = std::move(c);
    ++s_.connections;
  }
}

void Sink::closeConn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  (void)::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  conns_.erase(it);
}

void Sink::onReadable(Conn& c) {
  constexpr size_t kChunk = 1 << 20;
  // `in` is a raw buffer (no zero-fill per read): bytes [inOff, inLen) are unparsed.
  if (c.inOff == c.inLen) {
    c.inOff = c.inLen = 0;
  } else if (c.inOff > 0 && c.inCap - c.inLen < kChunk) {  // only a partial frame is left: move it down
    std::memmove(c.in.get(), c.in.get() + c.inOff, c.inLen - c.inOff);
    c.inLen -= c.inOff;
    c.inOff = 0;
  }
  if (c.inCap - c.inLen < kChunk) {
    const size_t cap = c.inLen + 2 * kChunk;
    std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
    if (c.inLen > 0) std::memcpy(bigger.get(), c.in.get(), c.inLen);
    c.in = std::move(bigger);
    c.inCap = cap;
  }
  const ssize_t r = ::recv(c.fd, c.in.get() + c.inLen, kChunk, 0);
  if (r <= 0) {
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    closeConn(c.fd);
    return;
  }
  c.inLen += static_cast<size_t>(r);
  const int fd = c.fd;
  for (;;) {
    tc::FrameView f;
    size_t used = 0;
    const auto st = tc::parseFrame({c.in.get() + c.inOff, c.inLen - c.inOff}, f, used);
    if (st == tc::ParseStatus::kNeedMore) break;
    if (st == tc::ParseStatus::kMalformed) {
      ++s_.errors;
      closeConn(fd);
      return;
    }
    ++s_.frames;
    handleFrame(c, f);
    if (conns_.find(fd) == conns_.end()) return;
    c.inOff += used;
  }
  flush(c);
}

void Sink::handleFrame(Conn& c, const tc::FrameView& f) {
  const auto type = static_cast<tc::FrameType>(f.type);
  switch (type) {
    case tc::FrameType::kInitReq: {
      tc::InitView init;
      if (!tc::parseInit(f.payload, init)) {
        sendError(c, f.id, tc::ErrorCode::kFatal, {}, "malformed init req");
        return;
      }
      const std::string hostPort = o_.host + ":" + std::to_string(port_);
      const std::string process = "jaeger-collector-sink[" + std::to_string(::getpid()) + "]";
      const tc::Header headers[] = {{"host_port", hostPort},
                                    {"process_name", process},
                                    {"tchannel_language", "c++"},
                                    {"tchannel_language_version", "20"},
                                    {"tchannel_version", "2.0.0"}};
      (void)tc::appendInitRes(c.out, f.id, headers);
      return;
    }
    case tc::FrameType::kPingReq: tc::appendPingRes(c.out, f.id); return;
    case tc::FrameType::kCallReq:
    case tc::FrameType::kCallReqContinue: {
      auto it = c.partial.find(f.id);
      if (it == c.partial.end()) {
        if (type != tc::FrameType::kCallReq) {
          ++s_.errors;
          sendError(c, f.id, tc::ErrorCode::kBadRequest, {}, "continue frame without a call");
          return;
        }
        tc::CallAssembler a(size_t{64} << 20);
        if (!spare_.empty()) {
          a = std::move(spare_.back());
          spare_.pop_back();
        }
        it = c.partial.emplace(f.id, std::move(a)).first;
      }
      const auto st = it->second.feed(f);
      if (st == tc::CallAssembler::Status::kIncomplete) return;
      if (st == tc::CallAssembler::Status::kComplete) {
        handleCall(c, it->second);
      } else {
        ++s_.errors;
        if (st == tc::CallAssembler::Status::kBadChecksum) ++s_.badChecksum;
        sendError(c, f.id, tc::ErrorCode::kBadRequest, it->second.tracing(),
                  st == tc::CallAssembler::Status::kBadChecksum ? "invalid checksum" : "malformed call req");
      }
      it->second.reset();
      if (spare_.size() < 16) spare_.push_back(std::move(it->second));
      c.partial.erase(it);
      return;
    }
    case tc::FrameType::kCancel:
    case tc::FrameType::kClaim:
    case tc::FrameType::kPingRes:
    case tc::FrameType::kError: return;
    default:
      ++s_.errors;
      sendError(c, f.id, tc::ErrorCode::kBadRequest, {}, "unexpected frame type");
      return;
  }
}

void Sink::handleCall(Conn& c, const tc::CallAssembler& a) {
  const std::string_view method(reinterpret_cast<const char*>(a.arg1().data()), a.arg1().size());
  std::vector<tc::Header> appHeaders;
  if (!tc::parseThriftHeaders(a.arg2(), appHeaders)) {
    ++s_.errors;
    return sendError(c, a.id(), tc::ErrorCode::kBadRequest, a.tracing(), "malformed arg2");
  }
  std::vector<uint8_t> result;  // the thrift result struct (arg3 of the call res)
  const bool jaeger = method == "Collector::submitBatches";
  const bool zipkin = method == "ZipkinCollector::submitZipkinBatch";
  if (jaeger || zipkin) {
    ++s_.submitCalls;
    if ((o_.busyFirst != 0 && s_.submitCalls <= o_.busyFirst) ||
        (o_.busyEvery != 0 && s_.submitCalls % o_.busyEvery == 0)) {
      ++s_.busyAnswered;
      return sendError(c, a.id(), tc::ErrorCode::kBusy, a.tracing(), "busy (injected by jaeger-collector-sink)");
    }
    WalkResult r;
    std::string err;
    if (!walkSubmit(a.arg3(), zipkin, r, err)) {
      ++s_.errors;
      return sendError(c, a.id(), tc::ErrorCode::kBadRequest, a.tracing(), "bad arg3: " + err);
    }
    // {0: list<BatchSubmitResponse|Response{1: bool ok = true}>}: one per batch (zipkin: per span).
    const uint32_t n = static_cast<uint32_t>(r.items);
    result.reserve(8 + 5 * size_t{n} + 1);
    result.insert(result.end(), {kList, 0, 0, kStruct, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                                 static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    for (uint32_t i = 0; i < n; ++i) result.insert(result.end(), {kBool, 0, 1, 1, kStop});
    result.push_back(kStop);
    if (jaeger) {
      s_.batches += r.items;
      s_.spans += r.spans;
    } else {
      s_.zipkinSpans += r.spans;
      s_.spans += r.spans;
    }
    s_.bytes += a.arg3().size();
    s_.checksum += r.checksum;
  } else if (method == "SamplingManager::getSamplingStrategy") {
    BinaryWalker w(a.arg3().data(), a.arg3().size());
    w.skip(kStruct, 0);
    if (!w.ok() || !w.atEnd()) {
      ++s_.errors;
      return sendError(c, a.id(), tc::ErrorCode::kBadRequest, a.tracing(), "bad arg3");
    }
    // {0: SamplingStrategyResponse{1: PROBABILISTIC, 2: {1: samplingRate 0.001}}}
    const uint64_t rate = std::bit_cast<uint64_t>(0.001);
    result = {kStruct, 0, 0, kI32, 0, 1, 0, 0, 0, 0, kStruct, 0, 2, kDouble, 0, 1};
    for (int i = 7; i >= 0; --i) result.push_back(static_cast<uint8_t>(rate >> (8 * i)));
    result.insert(result.end(), {kStop, kStop, kStop});
  } else {
    ++s_.errors;
    return sendError(c, a.id(), tc::ErrorCode::kBadRequest, a.tracing(),
                     "no handler for method " + std::string(method));
  }
  ++s_.calls[std::string(method)];

  const tc::Header headers[] = {{"as", "thrift"}};
  const std::span<const uint8_t> pieces[] = {result};
  tc::CallRes res;
  res.id = a.id();
  res.tracing = a.tracing();
  res.headers = headers;
  res.checksum = a.checksumType() == tc::ChecksumType::kFarmhash32 ? tc::ChecksumType::kNone : a.checksumType();
  res.arg2 = tc::kEmptyThriftHeaders;
  res.arg3 = pieces;
  std::vector<uint8_t> frame;
  (void)tc::appendCallRes(frame, res);
  reply(c, std::move(frame));
}

void Sink::reply(Conn& c, std::vector<uint8_t> bytes) {
  if (o_.delayMs > 0) {
    pending_.push_back({Clock::now() + std::chrono::milliseconds(o_.delayMs), c.fd, c.generation, std::move(bytes)});
    return;
  }
  c.out.insert(c.out.end(), bytes.begin(), bytes.end());
}

void Sink::sendError(Conn& c, uint32_t id, tc::ErrorCode code, const tc::Tracing& tr, std::string_view msg) {
  std::vector<uint8_t> frame;
  tc::appendError(frame, id, code, tr, msg);
  reply(c, std::move(frame));
}

void Sink::flush(Conn& c) {
  while (c.outOff < c.out.size()) {
    const ssize_t w = ::send(c.fd, c.out.data() + c.outOff, c.out.size() - c.outOff, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      closeConn(c.fd);
      return;
    }
    c.outOff += static_cast<size_t>(w);
  }
  if (c.outOff == c.out.size()) {
    c.out.clear();
    c.outOff = 0;
  }
  const bool want = c.outOff < c.out.size();
  if (want != c.wantWrite) {
    c.wantWrite = want;
    epoll_event ev{};
    ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    (void)::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  }
}

void Sink::onWritable(Conn& c) { flush(c); }

void Sink::writeStats(const char* state) {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const double user = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) * 1e-6;
  const double sys = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) * 1e-6;
  std::string calls;
  for (const auto& [m, n] : s_.calls) calls += (calls.empty() ? "" : ",") + ("\"" + m + "\":" + std::to_string(n));
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"state\":\"%s\",\"port\":%u,\"calls\":{%s},\"submit_calls\":%llu,\"batches\":%llu,\"spans\":%llu,"
                "\"zipkin_spans\":%llu,\"bytes\":%llu,\"errors\":%llu,\"bad_checksum\":%llu,\"busy_answered\":%llu,"
                "\"checksum\":%llu,\"connections\":%llu,\"frames\":%llu,\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,"
                "\"max_rss_kb\":%ld}\n",
                state, port_, calls.c_str(), static_cast<unsigned long long>(s_.submitCalls),
                static_cast<unsigned long long>(s_.batches), static_cast<unsigned long long>(s_.spans),
                static_cast<unsigned long long>(s_.zipkinSpans), static_cast<unsigned long long>(s_.bytes),
                static_cast<unsigned long long>(s_.errors), static_cast<unsigned long long>(s_.badChecksum),
                static_cast<unsigned long long>(s_.busyAnswered), static_cast<unsigned long long>(s_.checksum),
                static_cast<unsigned long long>(s_.connections), static_cast<unsigned long long>(s_.frames), user, sys,
                ru.ru_maxrss);
  if (o_.statsFile.empty()) {
    if (std::strcmp(state, "final") == 0) std::fputs(buf, stdout), std::fflush(stdout);
    return;
  }
  // Write-then-rename: a reader never sees half a file.
  const std::string tmp = o_.statsFile + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fputs(buf, f);
    std::fclose(f);
    std::rename(tmp.c_str(), o_.statsFile.c_str());
  }
  if (std::strcmp(state, "final") == 0) std::fputs(buf, stdout), std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Sink sink(parseOptions(argc, argv));
  return sink.run();
}
