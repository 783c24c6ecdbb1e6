#include "receive/xdp_program.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <spdlog/spdlog.h>

#include "agent_bpf.skel.h"
#include "common/unique_fd.h"

// The ABI header is the only contract with the BPF side: check that C++ sees the layout the BPF
// compiler saw (both are LP64 little-endian; these catch an edit that breaks the 8-byte rule).
static_assert(sizeof(agent_counter) == 16, "ABI: agent_counter");
static_assert(sizeof(agent_port_stats) == 8 + 8 * sizeof(agent_counter), "ABI: agent_port_stats");
static_assert(sizeof(agent_iface) == 8, "ABI: agent_iface");
static_assert(sizeof(agent_addr) == 16 && sizeof(agent_local_addr) == 8, "ABI: local_addrs");
static_assert(sizeof(agent_source_key) == 24 && sizeof(agent_source_stats) == 5 * 8, "ABI: source_stats");
static_assert(sizeof(agent_source_drops) == 8, "ABI: source_drops");
static_assert(offsetof(agent_port_stats, seen) == 8, "ABI: agent_port_stats.seen");
static_assert(sizeof(agent_global_stats) == 4 * sizeof(agent_counter), "ABI: agent_global_stats");
static_assert(sizeof(agent_decode_rejects) == AGENT_DECODE_REJECT_REASONS * sizeof(__u64), "ABI: decode rejects");
static_assert(sizeof(agent_user_port_stats) == 7 * 8 + sizeof(agent_decode_rejects), "ABI: user port stats");
static_assert(sizeof(agent_user_stats) % 8 == 0, "ABI: user_stats must stay a multiple of 8 bytes");
static_assert(offsetof(agent_user_stats, xsk_rx_dropped) == AGENT_MAX_SPAN_PORTS * sizeof(agent_user_port_stats),
              "ABI: user_stats.ports");
static_assert(sizeof(agent_bpf::agent_bpf__rodata::span_ports) == AGENT_MAX_SPAN_PORTS * sizeof(__u16),
              "ABI: span_ports rodata");

namespace jagent::receive {
namespace {

// libbpf and libxdp print their own (often unhelpful) diagnostics while we try things, such as
// a native attach before the skb fallback. Route them to debug; we log our own one-liners.
int libbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, args);
  std::string_view line(buf);
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  spdlog::debug("libbpf: {}", line);
  return 0;
}

int libxdpPrint(enum libxdp_print_level level, const char* fmt, va_list args) {
  if (level == LIBXDP_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, args);
  std::string_view line(buf);
  while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  spdlog::debug("libxdp: {}", line);
  return 0;
}

void installLogHooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    libbpf_set_print(libbpfPrint);
    libxdp_set_print(libxdpPrint);
  });
}

xdp_attach_mode toLibxdp(XdpMode m) {
  return m == XdpMode::kSkb ? XDP_MODE_SKB : XDP_MODE_NATIVE;
}

void add(agent_counter& to, const agent_counter& from) {
  to.packets += from.packets;
  to.bytes += from.bytes;
}

std::string parentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool onBpffs(const std::string& dir) {
  struct statfs st{};
  return ::statfs(dir.c_str(), &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

// Detaches copies of our program left attached by an agent that did not exit cleanly (libxdp
// pins dispatcher links in bpffs, so they outlive the process). Programs of others stay.
void removeStale(const std::string& ifname, int ifindex) {
  for (int round = 0; round < 4; ++round) {
    xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
    if (libxdp_get_error(mp) || !mp) return;
    bool removed = false;
    const xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
    if (xdp_multiprog__is_legacy(mp)) {
      xdp_program* main = xdp_multiprog__main_prog(mp);
      if (main && std::strcmp(xdp_program__name(main), AGENT_PROG_NAME) == 0) {
        spdlog::warn("XDP on {}: replacing a stale {} program (id {}) left by an agent that did not exit cleanly",
                     ifname, AGENT_PROG_NAME, xdp_program__id(main));
        removed = xdp_multiprog__detach(mp) == 0;
      }
    } else {
      for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp); p; p = xdp_multiprog__next_prog(p, mp)) {
        if (std::strcmp(xdp_program__name(p), AGENT_PROG_NAME) != 0) continue;
        spdlog::warn("XDP on {}: replacing a stale {} program (id {}) left by an agent that did not exit cleanly",
                     ifname, AGENT_PROG_NAME, xdp_program__id(p));
        removed = xdp_program__detach(p, ifindex, mode, 0) == 0;
        break;
      }
    }
    xdp_multiprog__close(mp);
    if (!removed) return;
  }
}

// Our program is also pinned (next to the maps) so that a later agent can find it without
// CAP_SYS_ADMIN: libxdp looks attached programs up by id (BPF_PROG_GET_FD_BY_ID), which the
// kernel allows only with CAP_SYS_ADMIN, while opening a pin needs just access to bpffs.
constexpr const char* kProgPin = "agent_xdp_prog";

// Detaches `progFd` from `ifindex` if it is the program attached there alone (not through a
// dispatcher), atomically (XDP_FLAGS_REPLACE): needs CAP_NET_ADMIN only.
bool detachLegacy(int ifindex, int progFd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(progFd, &info, &len) != 0) return false;
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (bpf_xdp_query(ifindex, 0, &q) != 0) return false;
  __u32 flags;
  if (q.attach_mode == XDP_ATTACHED_DRV && q.drv_prog_id == info.id) flags = XDP_FLAGS_DRV_MODE;
  else if (q.attach_mode == XDP_ATTACHED_SKB && q.skb_prog_id == info.id) flags = XDP_FLAGS_SKB_MODE;
  else return false;
  LIBBPF_OPTS(bpf_xdp_attach_opts, a, .old_prog_fd = progFd);
  return bpf_xdp_attach(ifindex, -1, flags | XDP_FLAGS_REPLACE, &a) == 0;
}

// A program pinned by an agent that did not exit cleanly (crash, SIGKILL): detach it from every
// interface where it is still attached, then drop the pin.
void removeStaleFromPin(const std::string& pinPath, const std::vector<std::pair<std::string, int>>& ifaces) {
  if (pinPath.empty()) return;
  const std::string path = pinPath + "/" + kProgPin;
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) return;
  for (const auto& [name, ifindex] : ifaces)
    if (detachLegacy(ifindex, fd.get()))
      spdlog::warn("XDP on {}: replacing a stale {} program left by an agent that did not exit cleanly (found by its pin)", name,
                   AGENT_PROG_NAME);
  ::unlink(path.c_str());
}

}  // namespace

Result<XdpMode> parseXdpMode(std::string_view s) {
  if (s == "auto") return XdpMode::kAuto;
  if (s == "native" || s == "drv") return XdpMode::kNative;
  if (s == "skb" || s == "generic") return XdpMode::kSkb;
  return makeError(fmt::format("--xdp.mode: '{}' is not one of auto, native, skb", s));
}

const char* xdpModeName(XdpMode m) noexcept {
  switch (m) {
    case XdpMode::kNative:
      return "native";
    case XdpMode::kSkb:
      return "skb";
    case XdpMode::kAuto:
      break;
  }
  return "auto";
}

// One interface's attachment; the program itself is shared by all of them.
struct XdpProgram::Attachment {
  xdp_program* prog;
  std::string ifname;
  int ifindex;
  xdp_attach_mode mode;
  bool linkGone = false;  // the interface was deleted: the kernel dropped the program with it

  ~Attachment() {
    if (linkGone) return;
    const int rc = xdp_program__detach(prog, ifindex, mode, 0);
    // libxdp finds the attached program by id, which needs CAP_SYS_ADMIN; with only
    // CAP_NET_ADMIN (the DaemonSet's set) detach our own fd directly instead.
    if (rc < 0 && !detachLegacy(ifindex, xdp_program__fd(prog)))
      spdlog::warn("XDP on {}: detach failed: {}", ifname, std::strerror(-rc));
  }
};

void XdpProgram::XdpProgramClose::operator()(xdp_program* p) const noexcept { xdp_program__close(p); }

XdpProgram::XdpProgram() = default;

XdpProgram::~XdpProgram() {
  attachments_.clear();  // detach before the program and its maps go away
  unpinMaps();
  if (userStats_) ::munmap(userStats_, userStatsLen_);
  xdpProg_.reset();  // before the skeleton: libxdp borrowed its bpf_object
}

int XdpProgram::progFd() const noexcept { return bpf_program__fd(skel_->progs.agent_xdp); }
int XdpProgram::xsksMapFd() const noexcept { return bpf_map__fd(skel_->maps.xsks_map); }

Result<std::unique_ptr<XdpProgram>> XdpProgram::open(const XdpProgramOptions& opts) {
  installLogHooks();
  if (opts.spanPorts.empty() || opts.spanPorts.size() > AGENT_MAX_SPAN_PORTS)
    return makeError(fmt::format("XDP: {} span ports, supported 1..{}", opts.spanPorts.size(), AGENT_MAX_SPAN_PORTS));
  const size_t listed = opts.interfaces.size() + opts.countOnly.size();
  const size_t slots = std::max<size_t>(listed, opts.maxInterfaces);
  if (slots == 0 || slots > AGENT_MAX_IFACES)
    return makeError(fmt::format("XDP: {} interface slots, supported 1..{}", slots, AGENT_MAX_IFACES));
  // Aligned UMEM chunks must be a power of two between 2 KiB and the page size (kernel rule).
  if (opts.frameSize != 2048 && opts.frameSize != 4096)
    return makeError(fmt::format("--xdp.frame-size {}: must be 2048 or 4096", opts.frameSize));

  std::unique_ptr<XdpProgram> p(new XdpProgram());
  p->ports_ = opts.spanPorts;
  p->pinPath_ = opts.pinPath;
  p->maxFrameLen_ = opts.frameSize - XDP_PACKET_HEADROOM;
  p->maxIfaces_ = static_cast<uint32_t>(slots);
  p->slotUsed_.assign(slots, false);
  p->mode_ = opts.mode;
  p->countOnlyMode_ = opts.countOnlyMode;
  auto add = [&](const std::string& name, bool steer) -> Result<void> {
    const unsigned idx = ::if_nametoindex(name.c_str());
    if (idx == 0) return sysError(errno ? errno : ENODEV, fmt::format("interface '{}'", name));
    for (const Interface& i : p->ifaces_)
      if (i.ifindex == idx) return {};
    const size_t slot = p->ifaces_.size();
    p->slotUsed_[slot] = true;
    p->ifaces_.push_back(Interface{name, idx, XdpMode::kAuto, false, steer, slot});
    return {};
  };
  for (const std::string& name : opts.interfaces)
    if (auto ok = add(name, true); !ok) return Unexpected(ok.error());
  for (const std::string& name : opts.countOnly)
    if (auto ok = add(name, false); !ok) return Unexpected(ok.error());
  if (!p->pinPath_.empty() && !onBpffs(p->pinPath_) && !onBpffs(parentDir(p->pinPath_)))
    return Unexpected(Error{{}, fmt::format("no bpffs at {} (mount -t bpf bpf {}, or point --xdp.pin-path into a bpffs)",
                                            parentDir(p->pinPath_), parentDir(p->pinPath_))});

  agent_bpf* s = agent_bpf::open();
  if (!s) return errnoError("open the embedded BPF object");
  p->skel_ = Skeleton<agent_bpf>(s);
  for (size_t i = 0; i < p->ports_.size(); ++i) s->rodata->span_ports[i] = htons(p->ports_[i]);
  s->rodata->nr_span_ports = static_cast<__u32>(p->ports_.size());
  s->rodata->max_frame_len = p->maxFrameLen_;
  // Size the maps for what is configured, so that a bpftool dump shows no unused slots.
  int rc = bpf_map__set_max_entries(s->maps.port_stats, static_cast<__u32>(slots * p->ports_.size()));
  if (rc == 0) rc = bpf_map__set_max_entries(s->maps.xsks_map, static_cast<__u32>(slots * AGENT_MAX_RX_QUEUES));
  if (rc == 0) rc = bpf_map__set_max_entries(s->maps.ifaces, static_cast<__u32>(slots));
  if (rc < 0) return sysError(rc, "size BPF maps");
  return p;
}

Result<std::unique_ptr<XdpProgram>> XdpProgram::load(const XdpProgramOptions& opts) {
  auto p = open(opts);
  if (!p) return p;
  if (const int rc = agent_bpf::load((*p)->skel_.get()); rc < 0)
    return sysError(rc, "load the XDP program (verifier output: --log-level=trace)");
  if (auto ok = (*p)->afterLoad(); !ok) return Unexpected(ok.error());
  if (auto ok = (*p)->pinMaps(); !ok) return Unexpected(ok.error());
  return p;
}

Result<std::unique_ptr<XdpProgram>> XdpProgram::attach(const XdpProgramOptions& opts) {
  auto p = open(opts);
  if (!p) return p;
  XdpProgram& self = **p;

  if (self.ifaces_.empty()) {
    // Nothing to attach to yet (patterns only, no matching interface): load the program now so
    // that its maps exist and are pinned; interfaces that appear later get it attached alone
    // (libxdp cannot turn an already loaded program into a dispatcher extension).
    if (auto ok = self.ensureLoaded(); !ok) return Unexpected(ok.error());
  } else {
  // Hand the skeleton's (not yet loaded) object to libxdp: it loads the program itself, as an
  // extension of its dispatcher, so that other XDP programs can share the interface.
  xdp_program_opts xo{};
  xo.sz = sizeof xo;
  xo.obj = self.skel_->obj;
  xdp_program* xp = xdp_program__create(&xo);
  if (const long err = libxdp_get_error(xp); err || !xp) return sysError(err ? static_cast<int>(err) : EINVAL, "libxdp: program from skeleton");
  self.xdpProg_.reset(xp);

  std::vector<std::pair<std::string, int>> ifaces;
  for (const Interface& iface : self.ifaces_) ifaces.emplace_back(iface.name, static_cast<int>(iface.ifindex));
  removeStaleFromPin(self.pinPath_, ifaces);
  std::vector<Interface> attached;
  for (Interface& iface : self.ifaces_) {
    removeStale(iface.name, static_cast<int>(iface.ifindex));
    if (auto ok = self.attachTo(iface, iface.steer ? opts.mode : opts.countOnlyMode); !ok) {
      if (iface.steer) return Unexpected(ok.error());
      // A pod interface we cannot attach to (another program holds it, say) is not counted;
      // it must not take the datapath down with it.
      spdlog::warn("XDP on {}: not counting this interface: {}", iface.name, ok.error().message());
      self.slotUsed_[iface.slot] = false;
      continue;
    }
    attached.push_back(iface);
  }
  self.ifaces_ = std::move(attached);
  if (self.ifaces_.empty())
    return makeError("XDP: could not attach to any interface at start (see the warnings above)");
  }
  if (auto ok = self.afterLoad(); !ok) return Unexpected(ok.error());
  if (auto ok = self.pinMaps(); !ok) return Unexpected(ok.error());
  if (!self.pinPath_.empty()) {
    const std::string path = self.pinPath_ + "/" + kProgPin;
    ::unlink(path.c_str());
    if (bpf_obj_pin(xdp_program__fd(self.xdpProg_.get()), path.c_str()) != 0)
      return errnoError(fmt::format("pin {}", path));
    self.pinned_.push_back(path);
  }
  return p;
}

Result<void> XdpProgram::attachTo(Interface& iface, XdpMode mode) {
  const int ifindex = static_cast<int>(iface.ifindex);
  XdpMode used = mode == XdpMode::kAuto ? XdpMode::kNative : mode;
  int rc = xdp_program__attach(xdpProg_.get(), ifindex, toLibxdp(used), 0);
  if (rc < 0 && mode == XdpMode::kAuto && rc != -EPERM && rc != -EACCES) {
    const int nativeErr = rc;
    used = XdpMode::kSkb;
    rc = xdp_program__attach(xdpProg_.get(), ifindex, XDP_MODE_SKB, 0);
    if (rc == 0)
      spdlog::info("XDP on {}: native (driver) mode failed ({}), using generic skb mode", iface.name,
                   std::strerror(-nativeErr));
  }
  if (rc < 0) {
    std::string hint;
    // The verifier refuses our packet-pointer arithmetic without CAP_PERFMON, which libbpf also
    // reports as EPERM/EACCES, so name all three.
    if (rc == -EPERM || rc == -EACCES) hint = " (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root)";
    else if (rc == -EOPNOTSUPP) hint = fmt::format(" (the {} driver has no XDP support in this mode)", iface.name);
    else if (rc == -EBUSY || rc == -EEXIST) hint = " (another XDP program that does not use libxdp's dispatcher is attached)";
    return sysError(rc, fmt::format("attach XDP to {} in {} mode{}", iface.name, xdpModeName(used), hint));
  }
  attachments_.push_back(
      std::unique_ptr<Attachment>(new Attachment{xdpProg_.get(), iface.name, ifindex, toLibxdp(used)}));
  iface.mode = used;
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (!libxdp_get_error(mp) && mp) {
    iface.dispatcher = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  return {};
}

Result<void> XdpProgram::ensureLoaded() {
  if (bpf_program__fd(skel_->progs.agent_xdp) >= 0) return {};
  if (const int rc = agent_bpf::load(skel_.get()); rc < 0)
    return sysError(rc, "load the XDP program (verifier output: --log-level=trace)");
  // libxdp takes the fd it is given; hand it a duplicate so that the skeleton keeps its own.
  const int dup = ::fcntl(bpf_program__fd(skel_->progs.agent_xdp), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errnoError("dup the program fd");
  xdp_program* xp = xdp_program__from_fd(dup);
  if (const long err = libxdp_get_error(xp); err || !xp) {
    ::close(dup);
    return sysError(err ? static_cast<int>(err) : EINVAL, "libxdp: program from fd");
  }
  xdpProg_.reset(xp);
  return {};
}

// Labels the interface's port_stats entries (every CPU: fresh zeros, its ifindex and ports) and
// puts it into the ifaces map, which is what makes the program count on it.
Result<void> XdpProgram::registerInterface(const Interface& iface) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sysError(ncpu, "libbpf_num_possible_cpus");
  const int statsFd = bpf_map__fd(skel_->maps.port_stats);
  std::vector<agent_port_stats> values(static_cast<size_t>(ncpu));
  for (size_t j = 0; j < ports_.size(); ++j) {
    for (agent_port_stats& v : values) {
      v = agent_port_stats{};
      v.ifindex = iface.ifindex;
      v.port = ports_[j];
    }
    const __u32 key = static_cast<__u32>(iface.slot * ports_.size() + j);
    if (bpf_map_update_elem(statsFd, &key, values.data(), BPF_ANY) != 0) return errnoError("initialise port_stats");
  }
  const agent_iface value{static_cast<__u32>(iface.slot), iface.steer ? AGENT_IFACE_STEER : 0u};
  const __u32 key = iface.ifindex;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.ifaces), &key, &value, BPF_ANY) != 0)
    return errnoError(fmt::format("add {} to the ifaces map", iface.name));
  return {};
}

Result<XdpProgram::Interface> XdpProgram::addInterface(const std::string& name, uint32_t ifindex, bool steer) {
  if (!xdpProg_) return makeError("XDP: the program was loaded for tests, not for attaching");
  for (const Interface& i : ifaces_)
    if (i.ifindex == ifindex) return i;
  const auto free = std::find(slotUsed_.begin(), slotUsed_.end(), false);
  if (free == slotUsed_.end())
    return makeError(fmt::format("XDP on {}: all {} interface slots in use", name, maxIfaces_));
  Interface iface{name, ifindex, XdpMode::kAuto, false, steer, static_cast<size_t>(free - slotUsed_.begin())};
  if (auto ok = registerInterface(iface); !ok) return Unexpected(ok.error());
  removeStale(name, static_cast<int>(ifindex));
  if (auto ok = attachTo(iface, steer ? mode_ : countOnlyMode_); !ok) {
    const __u32 key = ifindex;
    bpf_map_delete_elem(bpf_map__fd(skel_->maps.ifaces), &key);
    return Unexpected(ok.error());
  }
  *free = true;
  ifaces_.push_back(iface);
  return iface;
}

void XdpProgram::removeInterface(uint32_t ifindex, bool linkGone) noexcept {
  const auto it = std::find_if(ifaces_.begin(), ifaces_.end(), [&](const Interface& i) { return i.ifindex == ifindex; });
  if (it == ifaces_.end()) return;
  const __u32 key = ifindex;
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.ifaces), &key);
  for (auto a = attachments_.begin(); a != attachments_.end(); ++a) {
    if ((*a)->ifindex != static_cast<int>(ifindex)) continue;
    (*a)->linkGone = linkGone;
    attachments_.erase(a);  // detaches
    break;
  }
  slotUsed_[it->slot] = false;
  ifaces_.erase(it);
}

Result<void> XdpProgram::setLocalAddress(const agent_addr& addr, uint32_t portMask, uint32_t ifindex) {
  const agent_local_addr value{portMask, ifindex};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.local_addrs), &addr, &value, BPF_ANY) != 0)
    return errnoError("update local_addrs");
  return {};
}

void XdpProgram::removeLocalAddress(const agent_addr& addr) noexcept {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.local_addrs), &addr);
}

Result<std::vector<std::pair<agent_addr, agent_local_addr>>> XdpProgram::localAddresses() const {
  std::vector<std::pair<agent_addr, agent_local_addr>> out;
  const int fd = bpf_map__fd(skel_->maps.local_addrs);
  agent_addr key{}, next{};
  const agent_addr* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    agent_local_addr v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.emplace_back(next, v);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return errnoError("read local_addrs");
  return out;
}

Result<std::vector<XdpProgram::Source>> XdpProgram::sources() const {
  // Key by key (an LRU hash of at most AGENT_MAX_SOURCES entries; read at scrape time only).
  std::vector<Source> out;
  const int fd = bpf_map__fd(skel_->maps.source_stats);
  agent_source_key key{}, next{};
  const agent_source_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    Source s{next, {}};
    if (bpf_map_lookup_elem(fd, &next, &s.stats) == 0) out.push_back(s);
    key = next;
    prev = &key;
    if (out.size() > AGENT_MAX_SOURCES) break;  // entries evicted and re-added while we walk
  }
  if (errno != ENOENT && out.size() <= AGENT_MAX_SOURCES) return errnoError("read source_stats");
  return out;
}

void XdpProgram::addSourceDrops(const agent_source_key& key, uint64_t n) noexcept {
  const int fd = bpf_map__fd(skel_->maps.source_drops);
  agent_source_drops v{};
  bpf_map_lookup_elem(fd, &key, &v);  // absent (or evicted): start from 0
  v.queue_full += n;
  bpf_map_update_elem(fd, &key, &v, BPF_ANY);
}

Result<std::vector<std::pair<agent_source_key, agent_source_drops>>> XdpProgram::sourceDrops() const {
  std::vector<std::pair<agent_source_key, agent_source_drops>> out;
  const int fd = bpf_map__fd(skel_->maps.source_drops);
  agent_source_key key{}, next{};
  const agent_source_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0 && out.size() <= AGENT_MAX_SOURCES) {
    agent_source_drops v{};
    if (bpf_map_lookup_elem(fd, &next, &v) == 0) out.emplace_back(next, v);
    key = next;
    prev = &key;
  }
  return out;
}

Result<void> XdpProgram::afterLoad() {
  for (const Interface& iface : ifaces_)
    if (auto ok = registerInterface(iface); !ok) return Unexpected(ok.error());

  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  userStatsLen_ = (sizeof(agent_user_stats) + page - 1) / page * page;
  void* mem = ::mmap(nullptr, userStatsLen_, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(skel_->maps.user_stats), 0);
  if (mem == MAP_FAILED) return errnoError("mmap the user_stats map (BPF_F_MMAPABLE needs Linux >= 5.5)");
  userStats_ = static_cast<agent_user_stats*>(mem);
  for (size_t j = 0; j < ports_.size(); ++j) userStats_->ports[j].port = ports_[j];
  return {};
}

Result<void> XdpProgram::pinMaps() {
  if (pinPath_.empty()) return {};
  if (::mkdir(pinPath_.c_str(), 0700) == 0) createdPinDir_ = true;
  else if (errno != EEXIST) return errnoError(fmt::format("mkdir {}", pinPath_));
  const std::pair<const char*, bpf_map*> maps[] = {
      {AGENT_MAP_PORT_STATS, skel_->maps.port_stats},
      {AGENT_MAP_GLOBAL_STATS, skel_->maps.global_stats},
      {AGENT_MAP_USER_STATS, skel_->maps.user_stats},
      {AGENT_MAP_XSKS, skel_->maps.xsks_map},
      {AGENT_MAP_IFACES, skel_->maps.ifaces},
      {AGENT_MAP_LOCAL_ADDRS, skel_->maps.local_addrs},
      {AGENT_MAP_SOURCES, skel_->maps.source_stats},
      {AGENT_MAP_SOURCE_DROPS, skel_->maps.source_drops},
  };
  for (const auto& [name, map] : maps) {
    const std::string path = pinPath_ + "/" + name;
    // A pin left by an agent that crashed: ours replaces it.
    if (::unlink(path.c_str()) == 0) spdlog::info("XDP: replaced stale pin {}", path);
    if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) != 0) return errnoError(fmt::format("pin {}", path));
    pinned_.push_back(path);
  }
  return {};
}

void XdpProgram::unpinMaps() noexcept {
  for (const std::string& path : pinned_) ::unlink(path.c_str());
  if (!pinned_.empty() || createdPinDir_) ::rmdir(pinPath_.c_str());  // fails harmlessly if not empty
  pinned_.clear();
}

Result<agent_port_stats> XdpProgram::portStats(size_t ifaceSlot, size_t portSlot) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sysError(ncpu, "libbpf_num_possible_cpus");
  if (ifaceSlot >= maxIfaces_ || portSlot >= ports_.size()) return makeError("port_stats: slot out of range");
  std::vector<agent_port_stats> values(static_cast<size_t>(ncpu));
  const __u32 key = static_cast<__u32>(ifaceSlot * ports_.size() + portSlot);
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.port_stats), &key, values.data()) != 0)
    return errnoError("read port_stats");
  agent_port_stats sum{};
  sum.ifindex = values[0].ifindex;
  sum.port = values[0].port;
  for (const agent_port_stats& v : values) {
    add(sum.seen, v.seen);
    add(sum.redirected, v.redirected);
    add(sum.pass_fragment, v.pass_fragment);
    add(sum.pass_too_big, v.pass_too_big);
    add(sum.pass_no_socket, v.pass_no_socket);
    add(sum.parse_error, v.parse_error);
    add(sum.not_ours, v.not_ours);
    add(sum.pass_unsteered, v.pass_unsteered);
  }
  return sum;
}

Result<agent_global_stats> XdpProgram::globalStats() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return sysError(ncpu, "libbpf_num_possible_cpus");
  std::vector<agent_global_stats> values(static_cast<size_t>(ncpu));
  const __u32 key = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.global_stats), &key, values.data()) != 0)
    return errnoError("read global_stats");
  agent_global_stats sum{};
  for (const agent_global_stats& v : values) {
    add(sum.seen, v.seen);
    add(sum.parse_error, v.parse_error);
    add(sum.later_fragment, v.later_fragment);
    add(sum.other, v.other);
  }
  return sum;
}

Result<std::string> defaultRouteInterface() {
  // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
  std::ifstream v4("/proc/net/route");
  std::string line, best;
  long bestMetric = -1;
  std::getline(v4, line);  // header
  while (std::getline(v4, line)) {
    std::istringstream in(line);
    std::string iface, dest, gw, mask;
    unsigned flags = 0;
    long refcnt = 0, use = 0, metric = 0;
    if (!(in >> iface >> dest >> gw >> std::hex >> flags >> std::dec >> refcnt >> use >> metric >> mask)) continue;
    if (dest != "00000000" || mask != "00000000" || !(flags & 0x1)) continue;  // RTF_UP default route
    if (bestMetric < 0 || metric < bestMetric) {
      best = iface;
      bestMetric = metric;
    }
  }
  if (!best.empty()) return best;
  // /proc/net/ipv6_route: dest plen src splen nexthop metric refcnt use flags iface
  std::ifstream v6("/proc/net/ipv6_route");
  while (std::getline(v6, line)) {
    std::istringstream in(line);
    std::string dest, plen, src, splen, nexthop, metric, refcnt, use, flags, iface;
    if (!(in >> dest >> plen >> src >> splen >> nexthop >> metric >> refcnt >> use >> flags >> iface)) continue;
    if (dest == std::string(32, '0') && plen == "00" && iface != "lo") return iface;
  }
  return makeError("--xdp.interfaces=auto: no default route (IPv4 or IPv6) to take the interface from");
}

Result<uint32_t> rxQueueCount(const std::string& ifname) {
  // sysfs lists exactly the real rx queues (ethtool's rx + combined counts both for veth).
  const std::string dir = "/sys/class/net/" + ifname + "/queues";
  if (DIR* d = ::opendir(dir.c_str())) {
    uint32_t n = 0;
    while (const dirent* e = ::readdir(d))
      if (std::strncmp(e->d_name, "rx-", 3) == 0) ++n;
    ::closedir(d);
    if (n > 0) return n;
  }
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errnoError("socket for SIOCETHTOOL");
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (::ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0) return 1;  // no channel info: a single-queue device
  return std::max<uint32_t>(1, std::max(ch.rx_count, ch.combined_count));
}

}  // namespace jagent::receive
