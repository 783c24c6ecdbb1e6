#include "config/config.h"

#include <cstdlib>
#include <sstream>

#include <CLI/CLI.hpp>

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

}  // namespace

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
  opt(app.add_option("--http-server.sampling-cache-size", cfg.http.samplingCacheSize,
                     "how many services' sampling strategies are cached (least recently used evicted; 0 = no cache)")->capture_default_str(),
      "http-server.sampling-cache-size");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Unexpected(Error{{}, app.help()});
  } catch (const CLI::CallForVersion&) {
    return Unexpected(Error{{}, std::string(JAGENT_VERSION) + "\n"});
  } catch (const CLI::ParseError& e) {
    return makeError(e.what());
  }

  if (hostPorts.empty()) hostPorts = collectorHostPortAlias;
  cfg.reporter.hostPorts = splitCommaList(hostPorts);
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
