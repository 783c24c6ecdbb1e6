// jaeger-xdp-agent entry point: parse flags, build the agent, wait for SIGINT/SIGTERM, shut down
// in order, exit 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "agent.h"
#include "config/config.h"

int main(int argc, char** argv) {
  // libgrpc's default poller (epoll1) has one epoll set for the process: each shard's report
  // thread polls its own completion queue, and only one thread at a time may poll that set, so
  // they keep waking each other through futexes. `poll` gives each queue its own fds: 7 % less
  // agent CPU per span in grpc mode at 64 KB datagrams (docs/benchmarks-analysis.md). Read once
  // when gRPC initialises, so it is set before anything touches gRPC; an operator's value wins.
  ::setenv("GRPC_POLL_STRATEGY", "poll", 0);
  auto cfg = jagent::config::parse(argc, argv);
  if (!cfg) {
    if (!cfg.error().code) {  // --help / --version
      std::fputs(cfg.error().context.c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "jaeger-xdp-agent: %s\nRun with --help for the list of flags.\n",
                 cfg.error().message().c_str());
    return 2;
  }

  // Logs go to stderr; stdout is for the built-in stdout reporter.
  auto logger = spdlog::stderr_color_mt("agent");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg->logLevel));

  // Block the shutdown signals in every thread (threads inherit the mask) and wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto agent = jagent::Agent::create(*cfg);
  if (!agent) {
    spdlog::critical("cannot start: {}", agent.error().message());
    return 1;
  }
  if (auto ok = (*agent)->start(); !ok) {
    spdlog::critical("cannot start: {}", ok.error().message());
    return 1;
  }
  spdlog::info("http: sampling server :{}, admin server :{}", (*agent)->samplingPort(), (*agent)->adminPort());
  spdlog::info("agent ready: UDP zipkin-compact :{}, jaeger-compact :{}, jaeger-binary :{}; {}", (*agent)->udpPort(0),
               (*agent)->udpPort(1), (*agent)->udpPort(2),
               [&]() -> std::string {
                 const auto& r = cfg->reporter;
                 switch (r.type) {
                   case jagent::config::ReporterType::kTChannel:
                     return "forwarding over tchannel to " + fmt::format("{}", fmt::join(r.hostPorts, ","));
                   case jagent::config::ReporterType::kGrpc:
                     return "reporter grpc (api_v2) to " + fmt::format("{}", fmt::join(r.grpc.hostPorts, ","));
                   case jagent::config::ReporterType::kOtlp:
                     return fmt::format("reporter otlp ({}) to {}", r.otlp.http ? "http/protobuf" : "grpc", r.otlp.endpoint);
                   case jagent::config::ReporterType::kStdout: break;
                 }
                 return "no collector configured, batches are printed to stdout (set --reporter.tchannel.host-port, "
                        "--reporter.grpc.host-port or --reporter.otlp.endpoint to forward)";
               }());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down (draining for up to {} ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               cfg->shutdownTimeout.count());
  (*agent)->stop();
  auto& reg = (*agent)->registry();
  // One machine-readable line with the span accounting, so operators (and tests) can check
  // received = submitted + failed + dropped after the drain.
  spdlog::info(
      "shutdown complete: totals received_spans={} submitted_spans={} failed_spans={} failed_unknown_spans={} "
      "dropped_spans={} retries={} calls={} udp_dropped={} udp_kernel_drops={} decode_rejected={}",
      reg.counterSum("jaeger_agent_received_spans"), reg.counterSum("jaeger_agent_reporter_spans_submitted"),
      reg.counterSum("jaeger_agent_reporter_spans_failures"),
      reg.counterSum("jaeger_agent_reporter_spans_failed", {{"reason", "connection_lost_after_send"}}) +
          reg.counterSum("jaeger_agent_reporter_spans_failed", {{"reason", "timeout_after_send"}}),
      reg.counterSum("jaeger_agent_reporter_spans_dropped"), reg.counterSum("jaeger_agent_reporter_retries"),
      reg.counterSum("jaeger_agent_reporter_calls"), reg.counterSum("jaeger_agent_thrift_udp_server_packets_dropped"),
      reg.counterSum("jaeger_agent_thrift_udp_server_kernel_drops"), reg.counterSum("jaeger_agent_decode_rejected"));
  return 0;
}
