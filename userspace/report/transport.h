// The seam between the reporter core (report/reporter_core.h: queueing, coalescing, deadlines,
// retries, shutdown drain, loss accounting) and a transport (connections to the collectors and
// the wire format of one protocol: TChannel today, gRPC and OTLP next).
//
// A transport only encodes and sends. It never decides whether a call is retried or how it is
// counted: it reports what happened (Outcome + FailReason) and the core decides.
//
// Threading: every Transport method except wake(), pollFd() and connectedPeers() runs on the
// core's I/O thread — its own, or the shard loop that drives it — which is also the thread that
// calls CompletionSink::complete() (from inside poll(), maintain() or send()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/pipeline.h"

namespace jagent::report {

using Clock = std::chrono::steady_clock;

// What became of one attempt to send a call.
enum class Outcome : uint8_t {
  kOk,         // the collector took it
  kRetryable,  // the collector did not process it (busy, declined, or it never fully left the
               // agent): safe to send again, elsewhere
  kFailed,     // definitive failure: never retried
  kUnknown,    // the request reached the collector's socket and then the answer was lost: it may
               // have been processed, so it is not retried (no duplicate spans) and is counted apart
};

// Why a call failed: the `reason` label of jaeger_agent_reporter_{batches,spans}_failed.
// Keep failReasonName() in step.
enum class FailReason : uint8_t {
  kNone,
  kConnectionLostAfterSend,  // outcome unknown
  kTimeoutAfterSend,         // outcome unknown
  kTimeout,
  kNoConnection,
  kBadResponse,
  kApplicationError,
  kEncode,
  kErrorTimeout,             // error frames / statuses from the collector
  kErrorCancelled,
  kErrorBusy,
  kErrorDeclined,
  kErrorUnexpected,
  kErrorBadRequest,
  kErrorNetwork,
  kErrorUnhealthy,
  kErrorFatal,
  kErrorOther,
  kShutdown,                 // not a failure label: calls still queued at the shutdown deadline
  kCount
};
[[nodiscard]] const char* failReasonName(FailReason r) noexcept;
[[nodiscard]] constexpr bool outcomeUnknown(FailReason r) noexcept {
  return r == FailReason::kConnectionLostAfterSend || r == FailReason::kTimeoutAfterSend;
}

// Outcome of a generic request/response call (sampling, baggage): ok = the collector answered
// (arg3 holds the Thrift result struct; applicationError = it answered with its declared
// exception); otherwise `error` says what failed.
struct RawResult {
  bool ok = false;
  bool applicationError = false;
  std::vector<uint8_t> arg3;
  std::string error;
};
using RawCallback = std::function<void(RawResult)>;

// One call to a collector: many coalesced UDP batches of one format, or one generic call.
// Owned by the core while queued and by the transport while in flight; always handed back.
struct OutCall {
  Format format = Format::kJaeger;
  std::vector<uint8_t> body;        // concatenated encoded batches (or the whole generic request)
  uint32_t items = 0;               // list elements in body (batches, or zipkin spans)
  uint32_t batches = 0;             // UDP batches coalesced in
  uint32_t spans = 0;
  uint32_t mergeSuffix = 0;         // > 0: body ends with this many bytes its batches share (merged)
  Clock::time_point created{};
  Clock::time_point deadline{};     // set when first dispatched (generic calls: when made)
  Clock::time_point sentAt{};       // when the current attempt was handed to the transport
  int attempts = 0;
  int lastPeer = -1;                // the transport's peer index of the last attempt
  // Generic calls (sampling, baggage): `method` set, `body` is the whole request, and the outcome
  // goes to `callback` instead of the batch metrics.
  std::string method;
  RawCallback callback;
  std::vector<uint8_t> response;
  bool applicationError = false;
  std::string errorDetail;          // generic calls: what the transport saw fail ("busy: …"), for the caller
  [[nodiscard]] bool raw() const { return !method.empty(); }
};

class CompletionSink {
 public:
  // The transport is done with `call`. `rejectedSpans`: what the collector accepted the call
  // for but declared it did not store — batches for TChannel (ok=false), spans for OTLP (partial
  // success); Transport::rejectsSpans() says which.
  virtual void complete(std::unique_ptr<OutCall> call, Outcome outcome, FailReason reason,
                        Clock::time_point now, uint32_t rejectedSpans = 0) = 0;

 protected:
  ~CompletionSink() = default;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Called once before anything else, on the I/O thread.
  virtual void bind(CompletionSink& sink) = 0;
  // Connections, keepalives, and the transport's own timeouts of calls in flight (reported
  // through complete()).
  virtual void maintain(Clock::time_point now) = 0;
  // Takes `call` and starts sending it, or leaves it with the caller and returns false when no
  // connection can take it now. `call->deadline` is set.
  virtual bool send(std::unique_ptr<OutCall>& call, Clock::time_point now) = 0;
  // Waits for I/O up to `timeoutMs` (0 = just look) and handles it.
  virtual void poll(int timeoutMs) = 0;
  // Any thread: makes a poll() in progress (or the next one) return at once.
  virtual void wake() noexcept = 0;
  // The earliest moment maintain() has something to do (reconnect, a call's deadline).
  [[nodiscard]] virtual Clock::time_point nextTimer(Clock::time_point now) const = 0;
  [[nodiscard]] virtual size_t inflight() const = 0;
  // At the shutdown deadline: every call still in flight goes back through complete().
  virtual void abortAll(Clock::time_point now) = 0;
  // Any thread. Connections ready to take calls (readiness).
  [[nodiscard]] virtual int connectedPeers() const noexcept = 0;
  // A file descriptor that becomes readable when poll() has work (so another loop, a shard's
  // io_uring, can wait on it and then call poll(0)); -1 if the transport cannot offer one (the
  // core then runs its own thread).
  [[nodiscard]] virtual int pollFd() const noexcept { return -1; }
  // What the `rejected` count of CompletionSink::complete() counts: batches (TChannel's
  // ok=false per batch) or spans (OTLP partial_success.rejected_spans).
  [[nodiscard]] virtual bool rejectsSpans() const noexcept { return false; }
  // Static label for metrics and logs: "tchannel", "grpc", "otlp".
  [[nodiscard]] virtual const char* protocolName() const noexcept = 0;
};

}  // namespace jagent::report
