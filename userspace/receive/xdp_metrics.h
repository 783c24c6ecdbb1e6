// XdpMetrics: the XDP datapath's Prometheus series, owned by the datapath and registered once.
//
//   jaeger_agent_xdp_packets_total / _bytes_total{interface,port,result}  port_stats, per
//       attached interface (series come and go with the interfaces: pod veths churn, so they
//       are rendered from a snapshot at scrape time instead of registered forever)
//   jaeger_agent_xdp_frames_total{result}                                 global_stats
//   jaeger_agent_xdp_source_datagrams_total / _bytes_total{source}        source_stats, the top
//   jaeger_agent_xdp_source_fragments_total{source,kind=first|later}      N sources by datagrams
//   jaeger_agent_xdp_source_drops_total{source}                           (source_drops: decode
//       queue full on the AF_XDP path)
//       (N = 10: bounded label cardinality; the full table is `bpftool map dump pinned
//       <pin-path>/source_stats`)
//   jaeger_agent_ip_reassembly_total{family=ipv4|ipv6,result=reqds|oks|fails|timeout}
//       the kernel's IP reassembly counters of the agent's network namespace (/proc/net/snmp,
//       /proc/net/snmp6), read at scrape time: fragments the kernel could not reassemble never
//       reach any agent counter otherwise.
//
// Threading: the update*() calls come from the datapath's stats thread; scrapes read a snapshot
// under a mutex shared with the registry's callbacks (which may outlive this object: shared_ptr).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent_abi.h"
#include "metrics/metrics.h"
#include "receive/xdp_program.h"

namespace jagent::receive {

class XdpMetrics {
 public:
  struct InterfaceRow {
    std::string name;
    uint16_t port = 0;
    agent_port_stats stats{};
  };
  static constexpr size_t kTopSources = 10;

  explicit XdpMetrics(metrics::Registry& registry);

  void updateGlobal(const agent_global_stats& g);
  void updateInterfaces(std::vector<InterfaceRow> rows);
  void updateSources(const std::vector<XdpProgram::Source>& sources,
                     const std::vector<std::pair<agent_source_key, agent_source_drops>>& drops);

  // The address as Prometheus shows it: dotted IPv4 for IPv4-mapped, else IPv6 text.
  [[nodiscard]] static std::string sourceLabel(const uint8_t (&addr)[16]);

 private:
  struct SourceRow {
    std::string source;
    agent_source_stats stats{};
    uint64_t drops = 0;
  };
  struct Shared {
    std::mutex mu;
    std::vector<InterfaceRow> interfaces;
    std::vector<SourceRow> top;
  };

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::array<metrics::Counter*, 4> frames_{};  // by global result
  agent_global_stats lastGlobal_{};
};

// The kernel's IP reassembly counters (Ip: Reasm* of /proc/net/snmp, Ip6Reasm* of snmp6).
struct ReassemblyCounters {
  uint64_t reqds = 0, oks = 0, fails = 0, timeout = 0;
};
[[nodiscard]] bool readReassembly(bool ipv6, ReassemblyCounters& out);

}  // namespace jagent::receive
