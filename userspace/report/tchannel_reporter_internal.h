// Private to report/: the types and constants shared by tchannel_reporter.cc (queueing,
// dispatch, accounting) and tchannel_connection.cc (one TCP connection per collector: connect,
// handshake, frames in and out, keepalive). Not part of the reporter's interface.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "report/tchannel_reporter.h"

namespace jagent::report {
namespace detail {


using tchannel::ChecksumType;
using tchannel::ErrorCode;
using tchannel::FrameType;

constexpr std::string_view kCollectorService = "jaeger-collector";
constexpr std::string_view kSubmitBatches = "Collector::submitBatches";
constexpr std::string_view kSubmitZipkin = "ZipkinCollector::submitZipkinBatch";
constexpr int kMaxAttempts = 5;  // tchannel-go's RunWithRetry default
constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr uint64_t kResolverTag = ~uint64_t{0} - 1;  // AsyncResolver results waiting
// How long a collector name may take to resolve before the attempt counts as failed.
constexpr auto kResolveTimeout = std::chrono::seconds(5);
// Keepalive: an idle connection is pinged this often; no ping res within the timeout = dead
// (a collector host that vanished without a FIN would otherwise hold calls until their ttl).
constexpr auto kPingInterval = std::chrono::seconds(10);
constexpr auto kPingTimeout = std::chrono::seconds(5);
// A peer whose socket is this far behind gets no new calls: they wait in the (bounded) queue
// instead of piling up a second copy of their bytes in the peer's send buffer.
constexpr size_t kMaxUnsentPerPeer = 2u << 20;
constexpr size_t kFreeBodies = 4;

inline const char* formatName(decode::Format f) { return f == decode::Format::kJaeger ? "jaeger" : "zipkin"; }

inline void putBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Counts `ok == false` entries in a `{0: list<struct{1: bool ok}>}` result struct. Returns -1 if
// the bytes are not of that shape (the call still succeeded at the transport level).
inline int countNotOk(std::span<const uint8_t> r) {
  if (r.size() < 8 || r[0] != 0x0F || r[1] != 0 || r[2] != 0 || r[3] != 0x0C) return -1;
  const uint32_t n = (uint32_t{r[4]} << 24) | (uint32_t{r[5]} << 16) | (uint32_t{r[6]} << 8) | r[7];
  size_t pos = 8;
  int notOk = 0;
  for (uint32_t i = 0; i < n; ++i) {
    // Expect exactly: 02 00 01 <b> 00
    if (pos + 5 > r.size() || r[pos] != 0x02 || r[pos + 1] != 0 || r[pos + 2] != 1 || r[pos + 4] != 0) return -1;
    if (r[pos + 3] == 0) ++notOk;
    pos += 5;
  }
  return notOk;
}

// Stable metric label for a failure description produced in this file.
inline std::string failureReason(std::string_view outcome) {
  auto starts = [&](std::string_view p) { return outcome.substr(0, p.size()) == p; };
  if (starts("connection lost after")) return "connection_lost_after_send";  // may or may not have been processed
  if (starts("malformed")) return "bad_response";
  if (starts("application error")) return "application_error";
  if (starts("request could not be encoded")) return "encode";
  if (starts("timed out after the request was sent")) return "timeout_after_send";  // outcome unknown too
  if (starts("deadline exceeded") || starts("timed out")) return "timeout";
  if (starts("no collector connection")) return "no_connection";
  const size_t colon = outcome.find(':');
  if (colon != std::string_view::npos) return "error_" + std::string(outcome.substr(0, colon));  // error frame code
  return "other";
}


}  // namespace detail

struct TChannelReporter::Call {
  decode::Format format = decode::Format::kJaeger;
  std::vector<uint8_t> body;        // concatenated binary Batch (or zipkin Span) structs
  uint32_t items = 0;               // list elements in body
  uint32_t batches = 0;             // UDP batches coalesced in
  uint32_t spans = 0;
  Clock::time_point created{};
  Clock::time_point deadline{};     // set when first dispatched
  int attempts = 0;
  int lastPeer = -1;
  // Generic calls (sampling, baggage): `method` set, `body` is the whole arg3, and the outcome
  // goes to `callback` instead of the batch metrics.
  std::string method;
  RawCallback callback;
  std::vector<uint8_t> response;    // arg3 of the call res (OK or application error)
  bool applicationError = false;
  [[nodiscard]] bool raw() const { return !method.empty(); }
};

struct TChannelReporter::Peer {
  int index = 0;
  std::string spec;                 // as configured, e.g. "collector:14267"
  HostPort hp;
  enum class State { kDown, kResolving, kConnecting, kHandshake, kReady } state = State::kDown;
  uint64_t resolveId = 0;           // AsyncResolver lookup while kResolving
  UniqueFd fd;
  Clock::time_point stateSince{};
  Clock::time_point nextAttempt{};
  std::chrono::milliseconds backoff{100};
  uint32_t nextId = 1;
  std::vector<uint8_t> out;
  size_t outOff = 0;
  uint64_t written = 0;             // bytes ever written on this connection
  uint64_t queued = 0;              // bytes ever appended to `out` on this connection
  std::vector<uint8_t> in;
  bool wantWrite = false;
  struct InFlight {
    std::unique_ptr<Call> call;
    uint64_t endPos = 0;            // `queued` after the last byte of the request
    Clock::time_point deadline{};
  };
  std::unordered_map<uint32_t, InFlight> inflight;
  std::unordered_map<uint32_t, tchannel::CallAssembler> partial;
  metrics::Gauge* connectedGauge = nullptr;
  Clock::time_point lastActivity{};  // last frame received
  uint32_t pingId = 0;               // outstanding ping req, 0 = none
  Clock::time_point pingSent{};
};

struct TChannelReporter::FormatMetrics {
  metrics::Counter& batchesSubmitted;
  metrics::Counter& batchesFailures;
  metrics::Counter& spansSubmitted;
  metrics::Counter& spansFailures;
  metrics::Gauge& batchSize;
  metrics::Counter& batchesDroppedQueueFull;
  metrics::Counter& spansDroppedQueueFull;
  metrics::Counter& batchesDroppedShutdown;
  metrics::Counter& spansDroppedShutdown;
  metrics::Counter& calls;
  metrics::Counter& notOk;
};

}  // namespace jagent::report
