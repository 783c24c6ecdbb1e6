// Agent configuration: one aggregate with in-class defaults, filled from jaeger-agent v1.17.1
// compatible flags (reference-agent.md §1.2) and their environment-variable forms
// (PROCESSOR_JAEGER_COMPACT_SERVER_HOST_PORT=… as viper maps them), then validated.
//
// Threading: built once on the main thread before anything starts, then read-only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/pipeline.h"

namespace jagent::config {

using std::chrono::milliseconds;

// Default ports, all in one place (reference-agent.md §1.1, jaeger ports/ports.go).
inline constexpr uint16_t kZipkinCompactPort = 5775;
inline constexpr uint16_t kJaegerCompactPort = 6831;
inline constexpr uint16_t kJaegerBinaryPort = 6832;
inline constexpr uint16_t kSamplingHttpPort = 5778;
inline constexpr uint16_t kAdminHttpPort = 14271;
inline constexpr uint16_t kCollectorTChannelPort = 14267;

// One UDP processor (`--processor.<name>.*`).
struct ProcessorConfig {
  std::string name;            // "zipkin-compact" | "jaeger-compact" | "jaeger-binary"
  std::string model;           // "zipkin" | "jaeger" (metric label)
  std::string protocolName;    // "compact" | "binary" (metric label)
  Protocol protocol = Protocol::kCompact;
  std::string hostPort;        // ":6831", "6831", "127.0.0.1:6831", "[::1]:6831"
  int queueSize = 1000;        // receive buffers per shard (power of two ≤ 32 used): datagrams read, not yet decoded
  int maxPacketSize = 65000;   // largest datagram accepted; larger ones are counted as too_large
  int workers = 10;            // shards receiving this port: min(workers, shards)
  // SO_RCVBUF. jaeger-agent's default is 0 (OS default, ~425 KB effective here: 6 datagrams of
  // 64 KB); the benchmark lost 3.3 % at 64 KB datagrams with it and nothing with 8 MiB, so 8 MiB is
  // the default here (0 still means "leave the OS default"). Forced past rmem_max with CAP_NET_ADMIN.
  int socketBufferSize = 8 << 20;
};

// TLS of a gRPC / OTLP reporter (`--reporter.grpc.tls.*`, `--reporter.otlp.tls.*`,
// modern-collectors.md §5.1).
struct TlsConfig {
  bool enabled = false;
  std::string ca, cert, key, serverName;
  bool skipHostVerify = false;
};

// `--reporter.type` (§5.1; with none given, the transport whose endpoint is set).
enum class ReporterType : uint8_t { kStdout, kTChannel, kGrpc, kOtlp };

// jaeger-agent's gRPC reporter (§5.1).
struct GrpcReporterConfig {
  std::vector<std::string> hostPorts;        // --reporter.grpc.host-port
  int retryMax = 3;                          // total attempts (go-grpc-middleware WithMax, §5.2)
  int minPeers = 3;                          // accepted; no effect with a static list (as jaeger-agent)
  TlsConfig tls;
};

// OTLP exporter (§4.3, §4.5).
struct OtlpReporterConfig {
  std::string endpoint;                      // grpc: host:port or http(s)://host:port; http: the full traces URL
  bool http = false;                         // --reporter.otlp.protocol=http/protobuf
  std::vector<std::pair<std::string, std::string>> headers;
  bool gzip = false;
  milliseconds timeout{10'000};              // per export (OTEL_EXPORTER_OTLP_TIMEOUT default)
  TlsConfig tls;
};

// Which clients the grpc and otlp reporters use (--reporter.client): the native ones on the
// receive threads (nghttp2 for gRPC, HTTP/1.1 for OTLP/HTTP), or the libraries with their own
// threads (libgrpc++, cpp-httplib); kAuto = native where it can serve the flags.
enum class ReporterClient : uint8_t { kAuto, kNative, kLibrary };

struct ReporterConfig {
  ReporterType type = ReporterType::kStdout;
  ReporterClient client = ReporterClient::kAuto;
  GrpcReporterConfig grpc;
  OtlpReporterConfig otlp;
  std::vector<std::string> hostPorts;        // TChannel collectors; empty = no collector: stdout reporter
  milliseconds reportTimeout{1000};          // TChannel ttl and deadline of each call
  int minPeers = 3;
  milliseconds connCheckTimeout{250};
  size_t batchMaxBytes = 1 << 20;            // coalesce UDP batches into one call up to this arg3 size
  milliseconds batchMaxDelay{20};            // … or until the oldest queued batch is this old
  size_t queueMaxBytes = 32u << 20;          // bound on bytes queued + in flight; beyond it, drop and count
                                             // (32 MiB keeps RSS near 64 MiB under overload, docs/benchmarks.md)
};

// XDP/AF_XDP receive path (`--xdp.*`). Empty interfaces = off (sockets only).
struct XdpConfig {
  std::vector<std::string> interfaces;         // names ("auto" = the default-route interface): steered;
                                               // glob patterns (cali*): count-only, followed by netlink
  std::string mode = "auto";                   // auto | native | skb
  std::string pinPath = "/sys/fs/bpf/jaeger-agent";
  uint32_t frameSize = 4096;                   // UMEM frame size (a power of two, 2048 or 4096)
  uint32_t ringSize = 2048;                    // rx / fill ring entries per socket (power of two)
  uint32_t umemFrames = 4096;                  // UMEM frames per socket (power of two)
};

// HTTP surfaces: sampling proxy (5778) and admin (14271).
struct HttpConfig {
  milliseconds samplingCacheTtl{60'000};       // serve a cached strategy for this long
  size_t samplingCacheSize = 10'000;           // services remembered
  milliseconds readTimeout{5'000};
  size_t maxRequestBytes = 64 * 1024;
};

// `--sampling.upstream` (modern-collectors.md §5.4, §5.5): where /sampling and / get strategies
// from instead of the reporter's collectors. kDefault = the reporter's (tchannel, grpc), or none
// (stdout, otlp: 500 "no collector configured").
struct SamplingUpstream {
  enum class Kind : uint8_t { kDefault, kGrpc, kHttp };
  Kind kind = Kind::kDefault;
  std::string host;       // without brackets for IPv6 literals
  uint16_t port = 0;
  std::string path;       // http: the request target before ?service= (may hold a query), "/" if none
  std::string url;        // as given (logs, errors)
};

struct AgentConfig {
  std::array<ProcessorConfig, 3> processors;
  int shards = 0;                            // --processor.shards; 0 = one per CPU we may run on
  ReporterConfig reporter;
  std::vector<AgentTag> agentTags;   // --agent.tags, ${ENV:default} already expanded
  XdpConfig xdp;
  HttpConfig http;
  SamplingUpstream samplingUpstream;
  std::string httpHostPort = ":5778";
  std::string adminHostPort = ":14271";
  std::string logLevel = "info";
  milliseconds shutdownTimeout{5000};
};

// Parses argv (and the environment). `--help`/`--version` are reported as an Error whose
// context is the text to print and whose code is empty; the caller prints it and exits 0.
[[nodiscard]] Result<AgentConfig> parse(int argc, const char* const* argv);

// Helpers exposed for tests.
// `k1=v1,k2=v2` (OTEL_EXPORTER_OTLP_HEADERS syntax, values percent-decoded).
[[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> parseHeaders(std::string_view s);
// `grpc://host:port` or `http://host[:port][/path[?query]]` (--sampling.upstream); "" = kDefault.
[[nodiscard]] Result<SamplingUpstream> parseSamplingUpstream(std::string_view url);
[[nodiscard]] Result<milliseconds> parseDuration(std::string_view s);          // Go syntax: 1s, 250ms, 1m30s, 1.5s
[[nodiscard]] Result<std::vector<AgentTag>> parseAgentTags(std::string_view s,
                                                                   const std::function<const char*(const char*)>& getenv);

}  // namespace jagent::config
