#include "config/config.h"

#include <cstdlib>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>

namespace jagent::config {
namespace {

// viper's mapping of a flag name to its environment variable: upper case, '.' and '-' → '_'.
std::string envName(std::string_view flag) {
  std::string s(flag);
  for (char& c : s) {
    if (c == '.' || c == '-') c = '_';
    else c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> splitCommaList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string item = trim(s.substr(start, end - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

const char* envOr(const char* specific, const char* general) {
  const char* v = std::getenv(specific);
  if (v && *v) return v;
  v = std::getenv(general);
  return v && *v ? v : nullptr;
}

Result<void> checkTls(const TlsConfig& t, const char* prefix) {
  // J67: any tls.* value while tls.enabled=false is a startup error (§5.1).
  if (!t.enabled && (!t.ca.empty() || !t.cert.empty() || !t.key.empty() || !t.serverName.empty() || t.skipHostVerify))
    return makeError(fmt::format("{}.tls.* options are set but {}.tls.enabled is false", prefix, prefix));
  if (t.cert.empty() != t.key.empty()) return makeError(fmt::format("{}.tls.cert and .tls.key go together", prefix));
  return {};
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> parseHeaders(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  auto pct = [](std::string_view v) {
    std::string r;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size() + 0 && std::isxdigit(static_cast<unsigned char>(v[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(v[i + 2]))) {
        r += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        r += v[i];
      }
    }
    return r;
  };
  for (const std::string& item : splitCommaList(s)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return makeError(fmt::format("invalid header '{}': want key=value", item));
    out.emplace_back(trim(std::string_view(item).substr(0, eq)), pct(trim(std::string_view(item).substr(eq + 1))));
  }
  return out;
}

namespace {
// Picks the reporter and fills the gRPC / OTLP settings: flags (and their viper env names) first,
// then the OTEL_EXPORTER_OTLP_* variables for OTLP (§4.5).
Result<void> resolveReporter(const CLI::App& app, ReporterConfig& r, const std::string& type,
                             const std::string& grpcHostPorts, std::string otlpEndpoint, std::string otlpProtocol,
                             std::string otlpHeaders, std::string otlpCompression, std::string otlpTimeout) {
  r.grpc.hostPorts = splitCommaList(grpcHostPorts);
  if (type.empty()) {
    std::vector<std::string> set;
    if (!r.hostPorts.empty()) set.push_back("--reporter.tchannel.host-port");
    if (!r.grpc.hostPorts.empty()) set.push_back("--reporter.grpc.host-port");
    if (!otlpEndpoint.empty()) set.push_back("--reporter.otlp.endpoint");
    if (set.size() > 1)
      return makeError(fmt::format("{} are set: choose one collector protocol with --reporter.type",
                                   fmt::join(set, " and ")));
    r.type = !r.hostPorts.empty()        ? ReporterType::kTChannel
             : !r.grpc.hostPorts.empty() ? ReporterType::kGrpc
             : !otlpEndpoint.empty()     ? ReporterType::kOtlp
                                         : ReporterType::kStdout;
  } else {
    r.type = type == "tchannel" ? ReporterType::kTChannel : type == "grpc" ? ReporterType::kGrpc : ReporterType::kOtlp;
  }
  (void)app;
  if (r.type == ReporterType::kTChannel && r.hostPorts.empty())
    return makeError("--reporter.type=tchannel needs --reporter.tchannel.host-port");
  if (r.type == ReporterType::kGrpc) {
    if (r.grpc.hostPorts.empty()) return makeError("--reporter.type=grpc needs --reporter.grpc.host-port");
    if (auto ok = checkTls(r.grpc.tls, "--reporter.grpc"); !ok) return ok;
  }
  if (r.type != ReporterType::kOtlp) return {};

  OtlpReporterConfig& o = r.otlp;
  if (otlpProtocol.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")) otlpProtocol = v;
  if (otlpProtocol.empty()) otlpProtocol = "grpc";
  if (otlpProtocol != "grpc" && otlpProtocol != "http/protobuf")
    return makeError(fmt::format("OTLP protocol '{}' is not supported (grpc, http/protobuf)", otlpProtocol));
  o.http = otlpProtocol == "http/protobuf";
  if (!otlpEndpoint.empty()) {
    o.endpoint = otlpEndpoint;
    if (o.http) {
      while (o.endpoint.ends_with('/')) o.endpoint.pop_back();
      o.endpoint += "/v1/traces";  // a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT (§4.5)
    }
  } else if (const char* t = std::getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); t && *t) {
    o.endpoint = t;  // per-signal: used as is (an empty path becomes /)
    if (o.http && o.endpoint.find('/', o.endpoint.find("://") == std::string::npos ? 0 : o.endpoint.find("://") + 3) ==
                      std::string::npos)
      o.endpoint += "/";
  } else if (const char* e = std::getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); e && *e) {
    o.endpoint = e;
    if (o.http) {
      while (o.endpoint.ends_with('/')) o.endpoint.pop_back();
      o.endpoint += "/v1/traces";
    }
  } else {
    return makeError("--reporter.type=otlp needs --reporter.otlp.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)");
  }
  if (o.http && !o.endpoint.starts_with("http://") && !o.endpoint.starts_with("https://"))
    return makeError(fmt::format("OTLP/HTTP endpoint '{}' must be an http:// or https:// URL", o.endpoint));
  if (otlpHeaders.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")) otlpHeaders = v;
  auto h = parseHeaders(otlpHeaders);
  if (!h) return withContext(h.error(), "--reporter.otlp.headers");
  o.headers = std::move(*h);
  if (otlpCompression.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION")) otlpCompression = v;
  if (!otlpCompression.empty() && otlpCompression != "none" && otlpCompression != "gzip")
    return makeError(fmt::format("OTLP compression '{}' is not supported (none, gzip)", otlpCompression));
  o.gzip = otlpCompression == "gzip";
  if (!otlpTimeout.empty()) {
    auto d = parseDuration(otlpTimeout);
    if (!d) return withContext(d.error(), "--reporter.otlp.timeout");
    o.timeout = *d;
  } else if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")) {
    char* end = nullptr;
    const long ms = std::strtol(v, &end, 10);
    if (!end || *end || ms <= 0) return makeError(fmt::format("OTEL_EXPORTER_OTLP_TIMEOUT '{}': milliseconds", v));
    o.timeout = milliseconds(ms);
  }
  if (o.timeout.count() <= 0) return makeError("--reporter.otlp.timeout must be positive");
  // TLS: flags, then OTEL_EXPORTER_OTLP_{CERTIFICATE,CLIENT_KEY,CLIENT_CERTIFICATE}; an https://
  // endpoint turns TLS on, OTEL_EXPORTER_OTLP_INSECURE=true keeps a scheme-less gRPC target clear.
  TlsConfig& t = o.tls;
  if (t.ca.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")) t.ca = v;
  if (t.cert.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")) t.cert = v;
  if (t.key.empty())
    if (const char* v = envOr("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY")) t.key = v;
  if (o.endpoint.starts_with("https://")) t.enabled = true;
  if (!t.enabled && (!t.ca.empty() || !t.cert.empty())) t.enabled = !o.endpoint.starts_with("http://");
  return checkTls(t, "--reporter.otlp");
}

}  // namespace

Result<SamplingUpstream> parseSamplingUpstream(std::string_view url) {
  SamplingUpstream u;
  if (url.empty()) return u;
  u.url = std::string(url);
  auto bad = [&](std::string_view why) {
    return makeError(fmt::format("--sampling.upstream '{}': {} (want grpc://host:port or http://host:port/path)", url, why));
  };
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') return bad("spaces, control characters and '#' are not allowed");
  std::string_view rest;
  if (url.starts_with("grpc://")) {
    u.kind = SamplingUpstream::Kind::kGrpc;
    rest = url.substr(7);
  } else if (url.starts_with("http://")) {
    u.kind = SamplingUpstream::Kind::kHttp;
    rest = url.substr(7);
  } else if (url.starts_with("https://") || url.starts_with("grpcs://")) {
    return bad("TLS is not supported for the sampling upstream");
  } else {
    return bad("unknown scheme");
  }
  const size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  std::string_view portText;
  if (authority.starts_with('[')) {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed '[' in the host");
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return bad("junk after ']'");
    if (!after.empty()) portText = after.substr(1);
    else if (u.kind == SamplingUpstream::Kind::kGrpc) return bad("a port is required");
  } else {
    const size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      u.host = std::string(authority.substr(0, colon));
      portText = authority.substr(colon + 1);
      if (u.host.find(':') != std::string::npos) return bad("IPv6 addresses go in brackets");
    } else {
      u.host = std::string(authority);
    }
  }
  if (u.host.empty()) return bad("no host");
  if (portText.empty()) {
    if (u.kind == SamplingUpstream::Kind::kGrpc || authority.ends_with(':')) return bad("a port is required");
    u.port = 80;
  } else {
    unsigned port = 0;
    for (char c : portText) {
      if (c < '0' || c > '9' || port > 65535) return bad("the port is not a number in 1..65535");
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return bad("the port is not a number in 1..65535");
    u.port = static_cast<uint16_t>(port);
  }
  if (u.kind == SamplingUpstream::Kind::kGrpc) {
    if (!target.empty() && target != "/") return bad("a grpc:// upstream takes no path (the method is fixed)");
    return u;
  }
  u.path = target.empty() ? "/" : target.starts_with('?') ? "/" + std::string(target) : std::string(target);
  return u;
}

Result<milliseconds> parseDuration(std::string_view s) {
  // Go's time.ParseDuration subset: a sequence of <decimal><unit>, units ns us µs ms s m h.
  if (s.empty()) return makeError("empty duration");
  if (s == "0") return milliseconds(0);
  double totalMs = 0;
  std::string_view rest = s;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.')) ++i;
    if (i == 0) return makeError(fmt::format("invalid duration '{}'", s));
    double value = std::strtod(std::string(rest.substr(0, i)).c_str(), nullptr);
    rest.remove_prefix(i);
    size_t j = 0;
    while (j < rest.size() && !std::isdigit(static_cast<unsigned char>(rest[j])) && rest[j] != '.') ++j;
    std::string_view unit = rest.substr(0, j);
    rest.remove_prefix(j);
    double scale;
    if (unit == "ns") scale = 1e-6;
    else if (unit == "us" || unit == "\xc2\xb5s") scale = 1e-3;
    else if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else return makeError(fmt::format("invalid duration '{}': unknown unit '{}'", s, unit));
    totalMs += value * scale;
  }
  return milliseconds(static_cast<int64_t>(totalMs));
}

Result<std::vector<AgentTag>> parseAgentTags(std::string_view s,
                                                     const std::function<const char*(const char*)>& getenv) {
  // `k1=v1,k2=${ENV_VAR:default}` (reference-agent.md §1.5; jaeger's flags.ParseJaegerTags).
  std::vector<AgentTag> tags;
  for (const std::string& pair : splitCommaList(s)) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) return makeError(fmt::format("invalid --agent.tags entry '{}': want key=value", pair));
    std::string key = trim(std::string_view(pair).substr(0, eq));
    std::string value = trim(std::string_view(pair).substr(eq + 1));
    if (value.size() >= 3 && value.starts_with("${") && value.ends_with("}")) {
      const std::string inner = value.substr(2, value.size() - 3);
      const size_t colon = inner.find(':');
      const std::string var = inner.substr(0, colon);
      const char* env = getenv(var.c_str());
      if (env && *env) value = env;
      else value = colon == std::string::npos ? std::string() : inner.substr(colon + 1);
    }
    tags.push_back({std::move(key), std::move(value)});
  }
  return tags;
}

Result<AgentConfig> parse(int argc, const char* const* argv) {
  AgentConfig cfg;
  cfg.processors[0] = {"zipkin-compact", "zipkin", "compact", Protocol::kCompact, ":5775"};
  cfg.processors[1] = {"jaeger-compact", "jaeger", "compact", Protocol::kCompact, ":6831"};
  cfg.processors[2] = {"jaeger-binary", "jaeger", "binary", Protocol::kBinary, ":6832"};

  CLI::App app{
      "jaeger-xdp-agent: a drop-in Jaeger agent. Receives spans from Jaeger clients over UDP (Thrift compact on "
      "6831 and 5775, binary on 6832) and forwards them to Jaeger collectors over TChannel. Without "
      "--reporter.tchannel.host-port it prints one line per received batch.",
      "jaeger-xdp-agent"};
  app.set_version_flag("--version", JAGENT_VERSION);
  app.get_formatter()->column_width(56);

  // Every option also reads its viper-style environment variable.
  auto opt = [&](CLI::Option* o, std::string_view flag) { return o->envname(envName(flag)); };

  for (ProcessorConfig& p : cfg.processors) {
    const std::string prefix = "--processor." + p.name + ".";
    const std::string bare = "processor." + p.name + ".";
    opt(app.add_option(prefix + "server-host-port", p.hostPort, "host:port for the UDP server")->capture_default_str(),
        bare + "server-host-port");
    opt(app.add_option(prefix + "server-queue-size", p.queueSize,
                       "datagrams read from the socket but not yet decoded, per shard (receive buffers of "
                       "server-max-packet-size each; rounded down to a power of two, at most 32); beyond them datagrams "
                       "wait in the socket buffer")
            ->capture_default_str()->check(CLI::PositiveNumber),
        bare + "server-queue-size");
    opt(app.add_option(prefix + "server-max-packet-size", p.maxPacketSize, "max packet size for the UDP server")
            ->capture_default_str()->check(CLI::Range(1, 65535)),
        bare + "server-max-packet-size");
    opt(app.add_option(prefix + "workers", p.workers,
                       "how many shards (threads, one socket each) receive and decode this port: min(workers, "
                       "--processor.shards)")
            ->capture_default_str()->check(CLI::PositiveNumber),
        bare + "workers");
    opt(app.add_option(prefix + "server-socket-buffer-size", p.socketBufferSize,
                       "socket buffer size for the UDP packets in bytes (0 = OS default)")
            ->capture_default_str()->check(CLI::NonNegativeNumber),
        bare + "server-socket-buffer-size");
  }

  opt(app.add_option("--processor.shards", cfg.shards,
                     "receive/decode/report shards, each a thread with its own sockets (SO_REUSEPORT), transcoder and "
                     "collector connections (0 = one per CPU the agent may run on)")
          ->capture_default_str()->check(CLI::Range(0, 256)),
      "processor.shards");

  std::string hostPorts, reportTimeout = "1s", connCheckTimeout = "250ms", batchMaxDelay = "20ms",
                         shutdownTimeout = "5s", agentTags;
  std::string collectorHostPortAlias;
  int adminHttpPortLegacy = 0;
  opt(app.add_option("--reporter.tchannel.host-port", hostPorts,
                     "comma-separated string representing host:port of a static list of collectors to connect to "
                     "directly (empty = print received batches to stdout)"),
      "reporter.tchannel.host-port");
  opt(app.add_option("--collector.host-port", collectorHostPortAlias, "older alias of --reporter.tchannel.host-port"),
      "collector.host-port");
  opt(app.add_option("--reporter.tchannel.report-timeout", reportTimeout,
                     "sets the timeout used when reporting spans")->capture_default_str(),
      "reporter.tchannel.report-timeout");
  opt(app.add_option("--reporter.tchannel.discovery.min-peers", cfg.reporter.minPeers,
                     "if greater than 0, the agent keeps at least this many collector connections open")
          ->capture_default_str(),
      "reporter.tchannel.discovery.min-peers");
  opt(app.add_option("--reporter.tchannel.discovery.conn-check-timeout", connCheckTimeout,
                     "sets the timeout used when establishing new connections")->capture_default_str(),
      "reporter.tchannel.discovery.conn-check-timeout");
  opt(app.add_option("--reporter.tchannel.batch-max-bytes", cfg.reporter.batchMaxBytes,
                     "coalesce received batches into one submitBatches call of at most this many bytes")
          ->capture_default_str()->check(CLI::Range(1024, 64 << 20)),
      "reporter.tchannel.batch-max-bytes");
  opt(app.add_option("--reporter.tchannel.batch-max-delay", batchMaxDelay,
                     "longest a received batch waits to be coalesced with others")->capture_default_str(),
      "reporter.tchannel.batch-max-delay");
  opt(app.add_option("--reporter.queue-max-bytes", cfg.reporter.queueMaxBytes,
                     "bound on batch bytes waiting for or in flight to collectors; beyond it batches are dropped "
                     "and counted")->capture_default_str()->check(CLI::Range(65536, 1 << 30)),
      "reporter.queue-max-bytes");
  opt(app.add_option("--agent.tags", agentTags,
                     "one or more tags to be added to the Process tags of all spans passing through this agent, "
                     "e.g. key1=value1,key2=${envVar:defaultValue}"),
      "agent.tags");
  opt(app.add_option("--http-server.host-port", cfg.httpHostPort, "host:port of the http server (e.g. for /sampling)")
          ->capture_default_str(),
      "http-server.host-port");
  opt(app.add_option("--admin.http.host-port", cfg.adminHostPort,
                     "host:port of the admin server (health check, /metrics)")->capture_default_str(),
      "admin.http.host-port");
  opt(app.add_option("--admin-http-port", adminHttpPortLegacy, "(v1.17 form) port of the admin server"),
      "admin-http-port");
  opt(app.add_option("--log-level", cfg.logLevel, "minimal allowed log level: debug, info, warn, error")
          ->capture_default_str()->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "fatal", "off"})),
      "log-level");
  opt(app.add_option("--shutdown-timeout", shutdownTimeout,
                     "on SIGTERM, how long queued batches may take to drain to the collectors")->capture_default_str(),
      "shutdown-timeout");

  std::string xdpInterfaces, samplingTtl = "1m";
  opt(app.add_option("--xdp.interfaces", xdpInterfaces,
                     "comma-separated interfaces and glob patterns for the XDP program: names ('auto' = the "
                     "default-route interface) steer span datagrams addressed to this host into AF_XDP sockets; "
                     "patterns (cali*, lxc*, eni*, cni*) count and pass on pod interfaces as they come and go; "
                     "empty = XDP off, kernel sockets only"),
      "xdp.interfaces");
  opt(app.add_option("--xdp.mode", cfg.xdp.mode, "XDP attach mode: auto, native (driver) or skb (generic)")
          ->capture_default_str()->check(CLI::IsMember({"auto", "native", "skb"})),
      "xdp.mode");
  opt(app.add_option("--xdp.pin-path", cfg.xdp.pinPath,
                     "bpffs directory where the agent pins its maps (bpftool map dump pinned <dir>/<map>)")
          ->capture_default_str(),
      "xdp.pin-path");
  opt(app.add_option("--xdp.frame-size", cfg.xdp.frameSize, "AF_XDP UMEM frame size in bytes")
          ->capture_default_str()->check(CLI::IsMember({2048, 4096})),
      "xdp.frame-size");
  opt(app.add_option("--xdp.ring-size", cfg.xdp.ringSize, "AF_XDP rx and fill ring entries per socket")
          ->capture_default_str()->check(CLI::Range(64, 65536)),
      "xdp.ring-size");
  opt(app.add_option("--xdp.umem-frames", cfg.xdp.umemFrames, "AF_XDP UMEM frames per socket")
          ->capture_default_str()->check(CLI::Range(128, 1 << 20)),
      "xdp.umem-frames");
  opt(app.add_option("--http-server.sampling-cache-ttl", samplingTtl,
                     "how long a sampling strategy fetched from the collector is served from cache (0 = ask every "
                     "time; when the collector fails the last good answer is served regardless)")
          ->capture_default_str(),
      "http-server.sampling-cache-ttl");
  std::string samplingUpstream;
  opt(app.add_option("--sampling.upstream", samplingUpstream,
                     "where /sampling and / get strategies from: grpc://host:port (api_v2 "
                     "SamplingManager/GetSamplingStrategy, e.g. Jaeger v2's remote_sampling on 5779) or "
                     "http://host:port/path (GET path?service=S, Jaeger's sampling JSON, e.g. "
                     "http://jaeger:5778/sampling); empty = the tchannel/grpc reporter's collectors (otlp and "
                     "stdout: none). Plaintext only"),
      "sampling.upstream");
  opt(app.add_option("--http-server.sampling-cache-size", cfg.http.samplingCacheSize,
                     "how many services' sampling strategies are cached (least recently used evicted; 0 = no cache)")->capture_default_str(),
      "http-server.sampling-cache-size");

  // --- gRPC (api_v2) and OTLP reporters (modern-collectors.md §5.1, §4.3, §4.5).
  std::string reporterType, grpcHostPorts, otlpEndpoint, otlpProtocol, otlpHeaders, otlpCompression, otlpTimeout;
  opt(app.add_option("--reporter.type", reporterType,
                     "collector protocol: tchannel, grpc (Jaeger api_v2 PostSpans) or otlp; default: the one whose "
                     "endpoint flag is set (none: print batches to stdout)")
          ->check(CLI::IsMember({"tchannel", "grpc", "otlp"})),
      "reporter.type");
  opt(app.add_option("--reporter.grpc.host-port", grpcHostPorts,
                     "comma-separated host:port list of Jaeger collectors' gRPC endpoints (14250); each name is "
                     "resolved and every address gets calls (round robin)"),
      "reporter.grpc.host-port");
  opt(app.add_option("--reporter.grpc.retry.max", cfg.reporter.grpc.retryMax,
                     "attempts per batch in total (retries of UNAVAILABLE / RESOURCE_EXHAUSTED answers)")
          ->capture_default_str()->check(CLI::Range(1, 100)),
      "reporter.grpc.retry.max");
  opt(app.add_option("--reporter.grpc.discovery.min-peers", cfg.reporter.grpc.minPeers,
                     "accepted for compatibility (no effect with a static host-port list, as in jaeger-agent)")
          ->capture_default_str(),
      "reporter.grpc.discovery.min-peers");
  auto tlsFlags = [&](const std::string& p, config::TlsConfig& t) {
    opt(app.add_flag("--" + p + ".tls.enabled", t.enabled, "enable TLS when talking to the remote server(s)"),
        p + ".tls.enabled");
    opt(app.add_option("--" + p + ".tls.ca", t.ca, "path to a TLS CA file used to verify the remote server(s) "
                       "(default: the system trust store)"), p + ".tls.ca");
    opt(app.add_option("--" + p + ".tls.cert", t.cert, "path to a TLS client certificate file"), p + ".tls.cert");
    opt(app.add_option("--" + p + ".tls.key", t.key, "path to the TLS client key file"), p + ".tls.key");
    opt(app.add_option("--" + p + ".tls.server-name", t.serverName,
                       "override the TLS server name expected in the certificate of the remote server(s)"),
        p + ".tls.server-name");
    opt(app.add_flag("--" + p + ".tls.skip-host-verify", t.skipHostVerify,
                     "(insecure) skip verifying the remote server's certificate chain and host name"),
        p + ".tls.skip-host-verify");
  };
  tlsFlags("reporter.grpc", cfg.reporter.grpc.tls);
  opt(app.add_option("--reporter.otlp.endpoint", otlpEndpoint,
                     "OTLP receiver: for grpc host:port or an http(s):// URL (4317); for http/protobuf a base URL to "
                     "which /v1/traces is appended (4318). Fallback: OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT"),
      "reporter.otlp.endpoint");
  opt(app.add_option("--reporter.otlp.protocol", otlpProtocol,
                     "grpc or http/protobuf (default grpc; fallback OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL)")
          ->check(CLI::IsMember({"grpc", "http/protobuf"})),
      "reporter.otlp.protocol");
  opt(app.add_option("--reporter.otlp.headers", otlpHeaders,
                     "k1=v1,k2=v2 sent with every export (fallback OTEL_EXPORTER_OTLP_[TRACES_]HEADERS)"),
      "reporter.otlp.headers");
  opt(app.add_option("--reporter.otlp.compression", otlpCompression,
                     "none or gzip (default none; fallback OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION)")
          ->check(CLI::IsMember({"none", "gzip"})),
      "reporter.otlp.compression");
  opt(app.add_option("--reporter.otlp.timeout", otlpTimeout,
                     "deadline of each export (default 10s; fallback OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT in ms)"),
      "reporter.otlp.timeout");
  tlsFlags("reporter.otlp", cfg.reporter.otlp.tls);
  std::string reporterClient = "auto";
  opt(app.add_option("--reporter.client", reporterClient,
                     "clients of the grpc and otlp reporters: native (on the receive threads: HTTP/2 over nghttp2 "
                     "for gRPC, plaintext without gzip; HTTP/1.1 for OTLP/HTTP, http:// only), library (libgrpc++ / "
                     "cpp-httplib with their own threads), or auto = native where it serves the flags, else library")
          ->capture_default_str()->check(CLI::IsMember({"auto", "native", "library"})),
      "reporter.client");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Unexpected(Error{{}, app.help()});
  } catch (const CLI::CallForVersion&) {
    return Unexpected(Error{{}, std::string(JAGENT_VERSION) + "\n"});
  } catch (const CLI::ParseError& e) {
    return makeError(e.what());
  }

  cfg.reporter.client = reporterClient == "native"    ? config::ReporterClient::kNative
                        : reporterClient == "library" ? config::ReporterClient::kLibrary
                                                      : config::ReporterClient::kAuto;
  if (hostPorts.empty()) hostPorts = collectorHostPortAlias;
  cfg.reporter.hostPorts = splitCommaList(hostPorts);
  if (auto ok = resolveReporter(app, cfg.reporter, reporterType, grpcHostPorts, otlpEndpoint, otlpProtocol, otlpHeaders,
                                otlpCompression, otlpTimeout);
      !ok)
    return Unexpected(ok.error());
  if (adminHttpPortLegacy > 0 && app.count("--admin.http.host-port") == 0)
    cfg.adminHostPort = fmt::format(":{}", adminHttpPortLegacy);

  auto dur = [](const std::string& s, const char* flag) -> Result<milliseconds> {
    auto d = parseDuration(s);
    if (!d) return withContext(d.error(), "{}", flag);
    return d;
  };
  auto rt = dur(reportTimeout, "--reporter.tchannel.report-timeout");
  if (!rt) return Unexpected(rt.error());
  if (rt->count() <= 0) return makeError("--reporter.tchannel.report-timeout must be positive");
  cfg.reporter.reportTimeout = *rt;
  auto ct = dur(connCheckTimeout, "--reporter.tchannel.discovery.conn-check-timeout");
  if (!ct) return Unexpected(ct.error());
  cfg.reporter.connCheckTimeout = *ct;
  auto bd = dur(batchMaxDelay, "--reporter.tchannel.batch-max-delay");
  if (!bd) return Unexpected(bd.error());
  cfg.reporter.batchMaxDelay = *bd;
  auto st = dur(shutdownTimeout, "--shutdown-timeout");
  if (!st) return Unexpected(st.error());
  cfg.shutdownTimeout = *st;

  auto sct = dur(samplingTtl, "--http-server.sampling-cache-ttl");
  if (!sct) return Unexpected(sct.error());
  cfg.http.samplingCacheTtl = *sct;
  auto su = parseSamplingUpstream(samplingUpstream);
  if (!su) return Unexpected(su.error());
  cfg.samplingUpstream = std::move(*su);
  cfg.xdp.interfaces = splitCommaList(xdpInterfaces);
  auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (!pow2(cfg.xdp.ringSize) || !pow2(cfg.xdp.umemFrames))
    return makeError("--xdp.ring-size and --xdp.umem-frames must be powers of two");

  auto tags = parseAgentTags(agentTags, [](const char* n) { return std::getenv(n); });
  if (!tags) return Unexpected(tags.error());
  cfg.agentTags = std::move(*tags);
  return cfg;
}

}  // namespace jagent::config
