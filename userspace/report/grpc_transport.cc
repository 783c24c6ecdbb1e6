#include "report/grpc_transport.h"

#include <grpc/slice.h>
#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "report/protowire.h"

namespace jagent::report {

namespace {
constexpr const char* kPostSpans = "/jaeger.api_v2.CollectorService/PostSpans";            // §1.1
constexpr const char* kOtlpExport = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";  // §4.1
// A channel's state is re-read at least this often (a watch with this deadline), so a channel
// that became READY wakes the loop at once and one that never changes costs little.
constexpr auto kWatchPeriod = std::chrono::milliseconds(250);

Result<std::string> readFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(fmt::format("{}: cannot read '{}'", what, path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::chrono::system_clock::time_point toSystem(Clock::time_point t) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t - Clock::now());
}

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }
}  // namespace

struct GrpcTransport::Tag {
  enum class Kind : uint8_t { kFinish, kWake, kState } kind;
  explicit Tag(Kind k) : kind(k) {}
};

struct WakeTag final : GrpcTransport::Tag {
  WakeTag() : Tag(Kind::kWake) {}
  grpc::Alarm alarm;
};

struct GrpcTransport::Chan final : Tag {
  Chan() : Tag(Kind::kState) {}
  int index = 0;
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  grpc_connectivity_state last = GRPC_CHANNEL_IDLE;
  bool watching = false;
  bool ready = false;
};

struct GrpcTransport::Call final : Tag {
  Call() : Tag(Kind::kFinish) {}
  GrpcTransport* self = nullptr;
  std::unique_ptr<OutCall> out;
  grpc::ClientContext ctx;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<grpc::ByteBuffer>> reader;
  std::atomic<bool> released{false};  // grpc dropped its last reference to the body slice
  bool cancelledByUs = false;
  Clock::time_point parkedAt{};
  bool orphan = false;                // already handed back (shutdown); only the body remains
  Outcome outcome = Outcome::kFailed;
  FailReason reason = FailReason::kErrorOther;
  uint32_t rejected = 0;
};

namespace {
// The body slice's destroy callback: grpc's thread, possibly after Finish (a write still in the
// transport). The OutCall goes back to the core (which recycles the body) only after this. It only
// sets a flag (no call back into grpc from inside grpc); the I/O loop looks again within 2 ms
// (nextTimer) while some call waits for it.
void onSliceRelease(void* user) {
  static_cast<GrpcTransport::Call*>(user)->released.store(true, std::memory_order_release);
}
}  // namespace

GrpcTransport::ConnMetrics GrpcTransport::registerMetrics(metrics::Registry& registry, const char* protocol) {
  ConnMetrics m;
  auto ready = m.readyShards;
  // §5.3: jaeger-agent's connection gauges (v1.22+), labelled by protocol.
  registry.callbackGauge("jaeger_agent_connection_status_collector_connected",
                         "1 while a gRPC channel to the collectors is READY", {{"protocol", protocol}},
                         [ready] { return ready->load() > 0 ? 1.0 : 0.0; });
  m.reconnects = &registry.counter("jaeger_agent_connection_status_collector_reconnects",
                                   "gRPC channel transitions to READY", {{"protocol", protocol}});
  return m;
}

GrpcTransport::GrpcTransport(const Options& opts, ConnMetrics metrics) : opts_(opts), conn_(std::move(metrics)) {
  label_ = !opts_.protocolLabel.empty() ? opts_.protocolLabel : opts_.mode == Mode::kOtlpExport ? "otlp" : "grpc";
  method_ = !opts_.method.empty() ? opts_.method : opts_.mode == Mode::kOtlpExport ? kOtlpExport : kPostSpans;
}

Result<std::unique_ptr<GrpcTransport>> GrpcTransport::create(const Options& opts, ConnMetrics metrics) {
  if (opts.hostPorts.empty()) return makeError("gRPC transport: no collector address");
  std::unique_ptr<GrpcTransport> t(new GrpcTransport(opts, std::move(metrics)));
  if (auto ok = t->init(); !ok) return Unexpected(ok.error());
  return t;
}

Result<void> GrpcTransport::init() {
  cq_ = std::make_unique<grpc::CompletionQueue>();
  std::shared_ptr<grpc::ChannelCredentials> creds;
  const TlsOptions& tls = opts_.tls;
  if (!tls.enabled) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    std::string ca, cert, key;
    if (!tls.ca.empty()) {
      auto r = readFile(tls.ca, "tls.ca");
      if (!r) return Unexpected(r.error());
      ca = std::move(*r);
    }
    if (!tls.cert.empty() || !tls.key.empty()) {
      if (tls.cert.empty() || tls.key.empty()) return makeError("tls.cert and tls.key go together");
      auto c = readFile(tls.cert, "tls.cert");
      if (!c) return Unexpected(c.error());
      auto k = readFile(tls.key, "tls.key");
      if (!k) return Unexpected(k.error());
      cert = std::move(*c);
      key = std::move(*k);
    }
    if (tls.skipHostVerify) {
      // Only grpc's (experimental) TLS credentials can skip server verification.
      std::vector<grpc::experimental::IdentityKeyCertPair> pairs;
      if (!cert.empty()) pairs.push_back({key, cert});
      grpc::experimental::TlsChannelCredentialsOptions o;
      if (!ca.empty() || !pairs.empty()) {  // the provider refuses to hold nothing
        o.set_certificate_provider(std::make_shared<grpc::experimental::StaticDataCertificateProvider>(ca, pairs));
        if (!ca.empty()) o.watch_root_certs();
        if (!pairs.empty()) o.watch_identity_key_cert_pairs();
      }
      o.set_verify_server_certs(false);
      o.set_check_call_host(false);
      o.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
      creds = grpc::experimental::TlsCredentials(o);
    } else {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = ca;
      o.pem_private_key = key;
      o.pem_cert_chain = cert;
      creds = grpc::SslCredentials(o);
    }
    if (!creds) return makeError("cannot build TLS credentials");
  }
  for (size_t i = 0; i < opts_.hostPorts.size(); ++i) {
    const std::string& hp = opts_.hostPorts[i];
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");  // every resolved address gets calls (§5.2)
    args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(opts_.keepaliveTime.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(opts_.keepaliveTimeout.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);  // no pings on idle connections (§4.4)
    args.SetMaxSendMessageSize(opts_.maxMessageBytes);
    args.SetMaxReceiveMessageSize(4 * 1024 * 1024);  // §4.1: responses capped at 4 MiB
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
    // One connection per channel: shards must not share a subchannel (each has its own).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetUserAgentPrefix("jaeger-xdp-agent/" JAGENT_VERSION);
    if (opts_.gzip) args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    if (tls.enabled && !tls.serverName.empty()) args.SetSslTargetNameOverride(tls.serverName);
    auto ch = std::make_unique<Chan>();
    ch->index = static_cast<int>(i);
    ch->target = hp.find(':') != std::string::npos && hp.find("://") == std::string::npos &&
                         !hp.starts_with("ipv4:") && !hp.starts_with("ipv6:") && !hp.starts_with("unix:")
                     ? "dns:///" + hp
                     : hp;
    ch->channel = grpc::CreateCustomChannel(ch->target, creds, args);
    if (!ch->channel) return makeError(fmt::format("cannot create a gRPC channel to '{}'", hp));
    ch->stub = std::make_unique<grpc::GenericStub>(ch->channel);
    ch->last = ch->channel->GetState(true);  // start connecting now
    chans_.push_back(std::move(ch));
  }
  for (auto& ch : chans_) watch(*ch);
  return {};
}

GrpcTransport::~GrpcTransport() {
  {
    std::lock_guard lock(wakeMu_);
    shutdown_ = true;
  }
  for (Call* c : calls_) {
    c->cancelledByUs = true;
    c->ctx.TryCancel();
  }
  // Drain our own tags (calls, watches, alarm) before the channels go.
  const auto until = Clock::now() + std::chrono::seconds(2);
  bool pendingWatch = std::any_of(chans_.begin(), chans_.end(), [](auto& c) { return c->watching; });
  while ((!calls_.empty() || pendingWatch || wakeArmed_.load()) && Clock::now() < until) {
    void* tag;
    bool ok;
    if (cq_->AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(50)) ==
        grpc::CompletionQueue::GOT_EVENT) {
      auto* t = static_cast<Tag*>(tag);
      if (t->kind == Tag::Kind::kState) {
        static_cast<Chan*>(t)->watching = false;
      } else if (t->kind == Tag::Kind::kWake) {
        delete static_cast<WakeTag*>(t);
        wakeArmed_.store(false);
      } else {
        auto* c = static_cast<Call*>(t);
        calls_.erase(c);
        parked_.push_back(c);
      }
    }
    pendingWatch = std::any_of(chans_.begin(), chans_.end(), [](auto& c) { return c->watching; });
  }
  for (auto& ch : chans_) setReady(*ch, false);  // leave the shared connection gauge
  chans_.clear();
  cq_->Shutdown();
  void* tag;
  bool ok;
  while (cq_->Next(&tag, &ok)) {
    auto* t = static_cast<Tag*>(tag);
    if (t->kind == Tag::Kind::kWake) delete static_cast<WakeTag*>(t);
  }
  // Channels gone: grpc released the body slices (or leaks them rather than free memory it may read).
  const auto releaseBy = Clock::now() + std::chrono::seconds(1);
  for (Call* c : parked_) {
    while (!c->released.load() && Clock::now() < releaseBy) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (c->released.load()) delete c;
  }
}

void GrpcTransport::watch(Chan& ch) {
  if (ch.watching) return;
  ch.watching = true;
  ch.channel->NotifyOnStateChange(ch.last, std::chrono::system_clock::now() + kWatchPeriod, cq_.get(), &ch);
}

void GrpcTransport::setReady(Chan& ch, bool ready) {
  if (ch.ready == ready) return;
  ch.ready = ready;
  ready_.fetch_add(ready ? 1 : -1, std::memory_order_relaxed);
  if (ready && conn_.reconnects) conn_.reconnects->inc();  // §5.3: counts transitions to READY
  // The shared gauge: shards with at least one READY channel.
  const int now = ready_.load(std::memory_order_relaxed);
  if (ready && now == 1) conn_.readyShards->fetch_add(1);
  if (!ready && now == 0) conn_.readyShards->fetch_sub(1);
}

void GrpcTransport::maintain(Clock::time_point) {
  for (auto& ch : chans_) {
    // try_to_connect: an IDLE channel (never used, or idle-timed-out) starts connecting.
    const grpc_connectivity_state s = ch->channel->GetState(true);
    setReady(*ch, s == GRPC_CHANNEL_READY);
  }
  releaseParked(false);
}

bool GrpcTransport::send(std::unique_ptr<OutCall>& call, Clock::time_point now) {
  if (now < pause_.until() || inflight_ >= opts_.maxInflight) return false;
  // Round robin over READY channels, avoiding the one the call just failed on when possible.
  Chan* pick = nullptr;
  for (size_t k = 0; k < chans_.size(); ++k) {
    Chan& ch = *chans_[(next_ + k) % chans_.size()];
    if (!ch.ready) continue;
    if (ch.index == call->lastPeer && ready_.load(std::memory_order_relaxed) > 1) continue;
    pick = &ch;
    next_ = (next_ + k + 1) % chans_.size();
    break;
  }
  if (!pick) return false;
  if (call->body.size() + 6 > static_cast<size_t>(opts_.maxMessageBytes)) {
    // Over the receivers' limit (§4.4): it would be refused; count it as an encoding failure.
    sink_->complete(std::move(call), Outcome::kFailed, FailReason::kEncode, now);
    return true;
  }
  auto* c = new Call();
  c->self = this;
  c->out = std::move(call);
  OutCall& out = *c->out;
  ++out.attempts;
  out.lastPeer = pick->index;
  c->ctx.set_deadline(toSystem(out.deadline));
  for (const auto& [k, v] : opts_.metadata) c->ctx.AddMetadata(k, v);
  if (out.attempts > 1) c->ctx.AddMetadata("x-retry-attempt", std::to_string(out.attempts - 1));  // §5.2

  // The body goes out by reference (no copy); `onSliceRelease` tells us when grpc is done with it.
  grpc::Slice slices[2];
  size_t n = 0;
  uint8_t prefix[8];
  const bool batchPrefix = !out.raw() && opts_.mode == Mode::kJaegerPostSpans;
  if (batchPrefix) {
    // PostSpansRequest{batch = 1}: tag 0x0A + varint length (§1.2; "an empty batch is 0a 00").
    prefix[0] = 0x0A;
    const size_t plen = 1 + protowire::putVarint(prefix + 1, out.body.size());
    slices[n++] = grpc::Slice(prefix, plen);  // copied: a few bytes
  }
  if (!out.body.empty()) {
    grpc_slice s = grpc_slice_new_with_user_data(out.body.data(), out.body.size(), onSliceRelease, c);
    slices[n++] = grpc::Slice(s, grpc::Slice::STEAL_REF);
  } else {
    c->released.store(true);
  }
  grpc::ByteBuffer request(slices, n);
  for (size_t i = 0; i < n; ++i) slices[i] = grpc::Slice();  // the ByteBuffer holds the references
  const std::string& method = out.raw() ? (out.method.starts_with('/') ? out.method : "/" + out.method) : method_;
  c->reader = pick->stub->PrepareUnaryCall(&c->ctx, method, request, cq_.get());
  c->reader->StartCall();
  c->reader->Finish(&c->response, &c->status, static_cast<Tag*>(c));
  calls_.insert(c);
  ++inflight_;
  return true;
}

void GrpcTransport::poll(int timeoutMs) {
  void* tag;
  bool ok;
  auto st = cq_->AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(timeoutMs));
  for (int n = 0; st == grpc::CompletionQueue::GOT_EVENT; ++n) {
    handle(tag, ok);
    if (n >= 1024) break;
    st = cq_->AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_REALTIME));
  }
  releaseParked(false);
}

void GrpcTransport::handle(void* tag, bool ok) {
  auto* t = static_cast<Tag*>(tag);
  switch (t->kind) {
    case Tag::Kind::kWake:
      delete static_cast<WakeTag*>(t);
      wakeArmed_.store(false, std::memory_order_release);
      break;
    case Tag::Kind::kState: {
      auto* ch = static_cast<Chan*>(t);
      ch->watching = false;
      (void)ok;  // ok = changed, !ok = the watch period ended: either way read the state again
      ch->last = ch->channel->GetState(true);
      setReady(*ch, ch->last == GRPC_CHANNEL_READY);
      watch(*ch);
      break;
    }
    case Tag::Kind::kFinish: onFinish(static_cast<Call*>(t)); break;
  }
}

std::chrono::milliseconds GrpcTransport::retryDelayOf(const std::string& details) {
  // google.rpc.Status{details = 3: repeated Any{type_url = 1, value = 2}} (§4.1); the Any whose
  // type is google.rpc.RetryInfo holds {retry_delay = 1: Duration{seconds = 1, nanos = 2}}.
  using namespace protowire;
  Reader st(details);
  Field f;
  while (st.next(f)) {
    if (f.number != 3 || f.wire != kLen) continue;
    Reader any(f.bytes);
    std::string_view type, value;
    Field a;
    while (any.next(a)) {
      if (a.number == 1 && a.wire == kLen) type = a.bytes;
      if (a.number == 2 && a.wire == kLen) value = a.bytes;
    }
    if (!type.ends_with("/google.rpc.RetryInfo")) continue;
    Reader ri(value);
    Field r;
    while (ri.next(r)) {
      if (r.number != 1 || r.wire != kLen) continue;
      Reader d(r.bytes);
      Field x;
      int64_t secs = 0, nanos = 0;
      while (d.next(x)) {
        if (x.number == 1 && x.wire == kVarint) secs = static_cast<int64_t>(x.varint);
        if (x.number == 2 && x.wire == kVarint) nanos = static_cast<int32_t>(x.varint);
      }
      const int64_t ms = secs * 1000 + nanos / 1'000'000;
      return std::chrono::milliseconds(std::max<int64_t>(ms, 1));
    }
  }
  return std::chrono::milliseconds(0);
}

GrpcVerdict GrpcTransport::classify(Mode mode, int code, const std::string& msg, const std::string& details,
                                    bool cancelledByUs) {
  GrpcVerdict v;
  v.retryDelay = retryDelayOf(details);
  const bool otlp = mode == Mode::kOtlpExport;
  auto set = [&](Outcome o, FailReason r) {
    v.outcome = o;
    v.reason = r;
    return v;
  };
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK: return set(Outcome::kOk, FailReason::kNone);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // Our deadline passed with the request out: it may have been processed (no retry, §2 of the
      // transport contract), whatever the OTLP table says about retrying.
      return set(Outcome::kUnknown, FailReason::kTimeoutAfterSend);
    case grpc::StatusCode::CANCELLED:
      if (cancelledByUs) return set(Outcome::kFailed, FailReason::kConnectionLostAfterSend);
      return set(otlp ? Outcome::kRetryable : Outcome::kFailed, FailReason::kErrorCancelled);
    case grpc::StatusCode::UNAVAILABLE:
      // grpc reports both "could not connect" (nothing sent: retry) and "connection lost with the
      // call open" (maybe processed: unknown) as UNAVAILABLE; its own messages tell them apart. A
      // collector's own UNAVAILABLE answer (it declined the call) is retryable in both tables.
      if (details.empty() &&
          (contains(msg, "failed to connect") || contains(msg, "Connection refused") ||
           contains(msg, "connections to all backends failing") || contains(msg, "DNS resolution failed") ||
           contains(msg, "empty address list") || contains(msg, "no children")))
        return set(Outcome::kRetryable, FailReason::kNoConnection);
      if (details.empty() &&
          (contains(msg, "Socket closed") || contains(msg, "reset by peer") || contains(msg, "Broken pipe") ||
           contains(msg, "Stream removed") || contains(msg, "GOAWAY") || contains(msg, "keepalive") ||
           contains(msg, "Endpoint read failed") || contains(msg, "Transport closed") ||
           contains(msg, "Connection lost") || contains(msg, "FD shutdown") || contains(msg, "EOF")))
        return set(Outcome::kUnknown, FailReason::kConnectionLostAfterSend);
      return set(Outcome::kRetryable, FailReason::kErrorDeclined);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // api_v2: jaeger-agent retries it (§5.2). OTLP: only with RetryInfo (§4.1); without, it is
      // typically "message larger than max" and never succeeds.
      if (!otlp || v.retryDelay.count() > 0) return set(Outcome::kRetryable, FailReason::kErrorBusy);
      return set(Outcome::kFailed, FailReason::kErrorBusy);
    case grpc::StatusCode::ABORTED:
      return set(otlp ? Outcome::kRetryable : Outcome::kFailed, FailReason::kErrorCancelled);
    case grpc::StatusCode::OUT_OF_RANGE:
      return set(otlp ? Outcome::kRetryable : Outcome::kFailed, FailReason::kErrorBadRequest);
    case grpc::StatusCode::DATA_LOSS:
      return set(otlp ? Outcome::kRetryable : Outcome::kFailed, FailReason::kErrorUnexpected);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION: return set(Outcome::kFailed, FailReason::kErrorBadRequest);
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL: return set(Outcome::kFailed, FailReason::kErrorUnexpected);
    default: return set(Outcome::kFailed, FailReason::kErrorFatal);  // unimplemented, permission, auth, …
  }
}

void GrpcTransport::onFinish(Call* c) {
  calls_.erase(c);
  const grpc::Status& st = c->status;
  OutCall& out = *c->out;
  const GrpcVerdict v =
      classify(opts_.mode, st.error_code(), st.error_message(), st.error_details(), c->cancelledByUs);
  c->outcome = v.outcome;
  c->reason = v.reason;
  std::vector<grpc::Slice> slices;
  if (st.ok()) {
    pause_.onOk();
    if (c->response.Dump(&slices).ok()) {
      out.response.clear();
      for (const auto& s : slices) out.response.insert(out.response.end(), s.begin(), s.end());
    }
    if (!out.raw() && opts_.mode == Mode::kOtlpExport) {
      std::string message;
      c->rejected = protowire::otlpPartialSuccess(out.response, &message);
      if (c->rejected > 0 || !message.empty()) {
        uint64_t suppressed = 0;
        if (errorLog_.allow(&suppressed))
          spdlog::warn("otlp: partial success: {} spans rejected: {} ({} similar suppressed)", c->rejected, message,
                       suppressed);
      }
    }
  } else {
    if (out.raw()) out.errorDetail = fmt::format("grpc status {}: {}", static_cast<int>(st.error_code()), st.error_message());
    if (v.outcome == Outcome::kRetryable && v.reason != FailReason::kNoConnection) pause_.onRetryable(v.retryDelay, Clock::now());
    if (v.outcome != Outcome::kRetryable) {
      uint64_t suppressed = 0;
      if (!out.raw() && errorLog_.allow(&suppressed))
        spdlog::warn("{}: call failed: status {} '{}' ({} similar suppressed)", label_, static_cast<int>(st.error_code()),
                     st.error_message(), suppressed);
    }
  }
  if (c->released.load(std::memory_order_acquire)) finishCall(c, Clock::now());
  else {
    c->parkedAt = Clock::now();
    parked_.push_back(c);
  }
}

void GrpcTransport::finishCall(Call* c, Clock::time_point now) {
  std::unique_ptr<OutCall> out = std::move(c->out);
  const Outcome o = c->outcome;
  const FailReason r = c->reason;
  const uint32_t rejected = c->rejected;
  delete c;
  --inflight_;
  sink_->complete(std::move(out), o, r, now, rejected);
}

void GrpcTransport::releaseParked(bool force) {
  if (parked_.empty()) return;
  std::vector<Call*> keep;
  for (Call* c : parked_) {
    if (c->released.load(std::memory_order_acquire)) {
      if (c->orphan) delete c;
      else finishCall(c, Clock::now());
    } else if (!c->orphan && (force || Clock::now() - c->parkedAt > std::chrono::seconds(5))) {
      // Shutdown (or 5 s after Finish), and grpc still holds the body (a write stuck in a dying
      // connection): the core
      // gets a copy of the same capacity (its accounting counts capacity); the original stays
      // with `c` until grpc lets go.
      std::unique_ptr<OutCall> out = std::move(c->out);
      c->out = std::make_unique<OutCall>();
      c->out->body.swap(out->body);
      out->body.reserve(c->out->body.capacity());
      out->body.assign(c->out->body.begin(), c->out->body.end());
      c->orphan = true;
      --inflight_;
      sink_->complete(std::move(out), c->outcome, c->reason, Clock::now(), c->rejected);
      keep.push_back(c);
    } else {
      keep.push_back(c);
    }
  }
  parked_.swap(keep);
}

void GrpcTransport::abortAll(Clock::time_point now) {
  for (Call* c : calls_) {
    c->cancelledByUs = true;
    c->ctx.TryCancel();
  }
  // Cancelled calls finish promptly; collect them (bounded).
  const auto until = Clock::now() + std::chrono::seconds(1);
  while (!calls_.empty() && Clock::now() < until) poll(10);
  releaseParked(true);
  (void)now;
}

void GrpcTransport::wake() noexcept {
  if (wakeArmed_.exchange(true, std::memory_order_acq_rel)) return;  // one already on its way
  std::lock_guard lock(wakeMu_);
  if (shutdown_) {
    wakeArmed_.store(false, std::memory_order_release);  // no alarm was set: the destructor must not wait for one
    return;
  }
  auto* w = new WakeTag();
  w->alarm.Set(cq_.get(), gpr_time_0(GPR_CLOCK_REALTIME), static_cast<Tag*>(w));
}

Clock::time_point GrpcTransport::nextTimer(Clock::time_point now) const {
  if (std::any_of(parked_.begin(), parked_.end(), [](const Call* c) { return !c->orphan; }))
    return now + std::chrono::milliseconds(2);
  if (pause_.until() > now) return pause_.until();
  return Clock::time_point::max();
}

}  // namespace jagent::report
