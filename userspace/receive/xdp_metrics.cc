#include "receive/xdp_metrics.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace jagent::receive {
namespace {

using PortField = agent_counter agent_port_stats::*;
struct PortResult {
  const char* name;  // the BTF field name, used as the metric's `result` label
  PortField field;
};
constexpr PortResult kPortResults[] = {
    {"seen", &agent_port_stats::seen},
    {"redirected", &agent_port_stats::redirected},
    {"pass_fragment", &agent_port_stats::pass_fragment},
    {"pass_too_big", &agent_port_stats::pass_too_big},
    {"pass_no_socket", &agent_port_stats::pass_no_socket},
    {"parse_error", &agent_port_stats::parse_error},
    {"not_ours", &agent_port_stats::not_ours},
    {"pass_unsteered", &agent_port_stats::pass_unsteered},
};

using GlobalField = agent_counter agent_global_stats::*;
struct GlobalResult {
  const char* name;
  GlobalField field;
};
constexpr GlobalResult kGlobalResults[] = {
    {"seen", &agent_global_stats::seen},
    {"parse_error", &agent_global_stats::parse_error},
    {"later_fragment", &agent_global_stats::later_fragment},
    {"other", &agent_global_stats::other},
};

}  // namespace

bool readReassembly(bool ipv6, ReassemblyCounters& out) {
  out = {};
  if (ipv6) {  // "Ip6ReasmOKs  12" lines
    std::ifstream in("/proc/net/snmp6");
    std::string key;
    uint64_t v = 0;
    bool any = false;
    while (in >> key >> v) {
      if (key == "Ip6ReasmReqds") out.reqds = v, any = true;
      else if (key == "Ip6ReasmOKs") out.oks = v;
      else if (key == "Ip6ReasmFails") out.fails = v;
      else if (key == "Ip6ReasmTimeout") out.timeout = v;
    }
    return any;
  }
  // Two "Ip:" lines: the field names, then the values.
  std::ifstream in("/proc/net/snmp");
  std::string line, names;
  while (std::getline(in, line)) {
    if (line.rfind("Ip: ", 0) != 0) continue;
    if (names.empty()) {
      names = line;
      continue;
    }
    std::istringstream n(names), v(line);
    std::string name, value;
    while (n >> name && v >> value) {
      uint64_t x = 0;
      try {
        x = std::stoull(value);
      } catch (...) {
        continue;
      }
      if (name == "ReasmReqds") out.reqds = x;
      else if (name == "ReasmOKs") out.oks = x;
      else if (name == "ReasmFails") out.fails = x;
      else if (name == "ReasmTimeout") out.timeout = x;
    }
    return true;
  }
  return false;
}

std::string XdpMetrics::sourceLabel(const uint8_t (&addr)[16]) {
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(addr, kMapped, 12) == 0) ::inet_ntop(AF_INET, addr + 12, buf, sizeof buf);
  else ::inet_ntop(AF_INET6, addr, buf, sizeof buf);
  return buf;
}

XdpMetrics::XdpMetrics(metrics::Registry& registry) {
  for (size_t r = 0; r < std::size(kGlobalResults); ++r)
    frames_[r] = &registry.counter("jaeger_agent_xdp_frames",
                                   "Frames seen by the XDP program, not attributed to a span port, by outcome",
                                   {{"result", kGlobalResults[r].name}});
  auto shared = shared_;
  auto perInterface = [shared](bool bytes) {
    std::lock_guard lock(shared->mu);
    std::vector<metrics::Sample> out;
    for (const InterfaceRow& row : shared->interfaces)
      for (const PortResult& r : kPortResults) {
        const agent_counter& c = row.stats.*r.field;
        out.push_back({{{"interface", row.name}, {"port", std::to_string(row.port)}, {"result", r.name}},
                       static_cast<double>(bytes ? c.bytes : c.packets)});
      }
    return out;
  };
  registry.dynamicFamily("jaeger_agent_xdp_packets", "Span-port UDP frames seen by the XDP program, by interface and outcome",
                         true, [perInterface] { return perInterface(false); });
  registry.dynamicFamily("jaeger_agent_xdp_bytes",
                         "Bytes of span-port UDP frames seen by the XDP program, by interface and outcome", true,
                         [perInterface] { return perInterface(true); });
  auto perSource = [shared](__u64 agent_source_stats::*field) {
    std::lock_guard lock(shared->mu);
    std::vector<metrics::Sample> out;
    for (const SourceRow& row : shared->top)
      out.push_back({{{"source", row.source}}, static_cast<double>(row.stats.*field)});
    return out;
  };
  registry.dynamicFamily("jaeger_agent_xdp_source_datagrams",
                         "Span datagrams addressed to this agent, for the top 10 source addresses by datagrams", true,
                         [perSource] { return perSource(&agent_source_stats::datagrams); });
  registry.dynamicFamily("jaeger_agent_xdp_source_bytes",
                         "Frame bytes (fragments included) from the top 10 source addresses by datagrams", true,
                         [perSource] { return perSource(&agent_source_stats::bytes); });
  registry.dynamicFamily("jaeger_agent_xdp_source_fragments",
                         "IP fragments from the top 10 source addresses by datagrams: first (a fragmented datagram) "
                         "and later ones",
                         true, [shared] {
                           std::lock_guard lock(shared->mu);
                           std::vector<metrics::Sample> out;
                           for (const SourceRow& row : shared->top) {
                             out.push_back({{{"source", row.source}, {"kind", "first"}},
                                            static_cast<double>(row.stats.first_fragments)});
                             out.push_back({{{"source", row.source}, {"kind", "later"}},
                                            static_cast<double>(row.stats.later_fragments)});
                           }
                           return out;
                         });
  registry.dynamicFamily("jaeger_agent_xdp_source_drops",
                         "Datagrams from the top 10 source addresses that the agent dropped on the AF_XDP path "
                         "(decode queue full)",
                         true, [shared] {
                           std::lock_guard lock(shared->mu);
                           std::vector<metrics::Sample> out;
                           for (const SourceRow& row : shared->top)
                             out.push_back({{{"source", row.source}}, static_cast<double>(row.drops)});
                           return out;
                         });
  registry.dynamicFamily(
      "jaeger_agent_ip_reassembly",
      "The kernel's IP reassembly counters in the agent's network namespace (/proc/net/snmp Ip: Reasm*, "
      "/proc/net/snmp6 Ip6Reasm*): fails and timeout are datagrams lost before any socket",
      true, [] {
        std::vector<metrics::Sample> out;
        for (bool v6 : {false, true}) {
          ReassemblyCounters c;
          if (!readReassembly(v6, c)) continue;
          const std::string family = v6 ? "ipv6" : "ipv4";
          out.push_back({{{"family", family}, {"result", "reqds"}}, static_cast<double>(c.reqds)});
          out.push_back({{{"family", family}, {"result", "oks"}}, static_cast<double>(c.oks)});
          out.push_back({{{"family", family}, {"result", "fails"}}, static_cast<double>(c.fails)});
          out.push_back({{{"family", family}, {"result", "timeout"}}, static_cast<double>(c.timeout)});
        }
        return out;
      });
}

void XdpMetrics::updateGlobal(const agent_global_stats& g) {
  // Counters only grow; add the increase since the last poll.
  for (size_t r = 0; r < std::size(kGlobalResults); ++r) {
    const uint64_t now = (g.*kGlobalResults[r].field).packets, before = (lastGlobal_.*kGlobalResults[r].field).packets;
    if (now > before) frames_[r]->inc(now - before);
  }
  lastGlobal_ = g;
}

void XdpMetrics::updateInterfaces(std::vector<InterfaceRow> rows) {
  std::lock_guard lock(shared_->mu);
  shared_->interfaces = std::move(rows);
}

void XdpMetrics::updateSources(const std::vector<XdpProgram::Source>& sources,
                               const std::vector<std::pair<agent_source_key, agent_source_drops>>& drops) {
  // Per address (summed over its span ports and its port-0 fragment entry), top N by datagrams.
  std::map<std::string, agent_source_stats> byAddr;
  for (const XdpProgram::Source& s : sources) {
    agent_source_stats& t = byAddr[sourceLabel(s.key.addr)];
    t.datagrams += s.stats.datagrams;
    t.bytes += s.stats.bytes;
    t.first_fragments += s.stats.first_fragments;
    t.later_fragments += s.stats.later_fragments;
    t.last_seen_ns = std::max(t.last_seen_ns, s.stats.last_seen_ns);
  }
  std::map<std::string, uint64_t> dropsByAddr;
  for (const auto& [key, d] : drops) dropsByAddr[sourceLabel(key.addr)] += d.queue_full;
  std::vector<SourceRow> rows;
  rows.reserve(byAddr.size());
  for (auto& [addr, st] : byAddr) {
    const auto d = dropsByAddr.find(addr);
    rows.push_back({addr, st, d == dropsByAddr.end() ? 0 : d->second});
  }
  const size_t n = std::min(rows.size(), kTopSources);
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n), rows.end(),
                    [](const SourceRow& a, const SourceRow& b) {
                      if (a.stats.datagrams != b.stats.datagrams) return a.stats.datagrams > b.stats.datagrams;
                      return a.stats.bytes > b.stats.bytes;
                    });
  rows.resize(n);
  std::lock_guard lock(shared_->mu);
  shared_->top = std::move(rows);
}

}  // namespace jagent::receive
