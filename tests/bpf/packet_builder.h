// PacketBuilder: crafts Ethernet frames for the XDP program tests, layer by layer:
//
//   PacketBuilder().vlan(0x8100, 7).ipv4().udp(40000, 6831).payload(100).build()
//
// Lengths (IPv4 total length, IPv6 payload length, UDP length) and the EtherType chain are
// computed at build(); the override setters make them lie on purpose. Checksums are left zero:
// the XDP program does not look at them.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jagent::testing {

class PacketBuilder {
 public:
  static constexpr uint16_t kEthIp = 0x0800;
  static constexpr uint16_t kEthIpv6 = 0x86DD;
  static constexpr uint16_t kEthArp = 0x0806;
  static constexpr uint16_t kVlan8021Q = 0x8100;
  static constexpr uint16_t kVlan8021AD = 0x88A8;

  PacketBuilder& vlan(uint16_t tpid, uint16_t vid) {
    vlans_.push_back({tpid, vid});
    return *this;
  }
  // IPv4 10.0.0.2 → 10.0.0.1; `optionWords` 32-bit words of NOP options (ihl = 5 + words).
  PacketBuilder& ipv4(int optionWords = 0) {
    l3_ = L3::kV4;
    v4Options_ = optionWords;
    return *this;
  }
  // IPv4 fragment: offset in 8-byte units, more = MF flag.
  PacketBuilder& ipv4Fragment(uint16_t offset8, bool more) {
    v4FragOff_ = static_cast<uint16_t>((more ? 0x2000 : 0) | (offset8 & 0x1fff));
    return *this;
  }
  PacketBuilder& ipv4Ihl(uint8_t ihl) {  // lie about the header length
    v4IhlOverride_ = ihl;
    return *this;
  }
  // Addresses: IPv4 in host order; IPv6 as fd00::<last>.
  PacketBuilder& src4(uint32_t a) {
    src4_ = a;
    return *this;
  }
  PacketBuilder& dst4(uint32_t a) {
    dst4_ = a;
    return *this;
  }
  PacketBuilder& src6(uint8_t last) {
    src6_ = last;
    return *this;
  }
  PacketBuilder& dst6(uint8_t last) {
    dst6_ = last;
    return *this;
  }
  PacketBuilder& ipVersion(uint8_t v) {  // lie about the version nibble
    versionOverride_ = v;
    return *this;
  }
  // IPv6 fd00::2 → fd00::1.
  PacketBuilder& ipv6() {
    l3_ = L3::kV6;
    return *this;
  }
  // IPv6 extension headers, in order: 0 hop-by-hop, 43 routing, 60 destination options (8 bytes
  // each), 51 AH (12 bytes), 44 fragment (offset8, more).
  PacketBuilder& ext(uint8_t type) {
    exts_.push_back({type, 0, false});
    return *this;
  }
  PacketBuilder& fragment6(uint16_t offset8, bool more) {
    exts_.push_back({44, offset8, more});
    return *this;
  }
  PacketBuilder& udp(uint16_t sport, uint16_t dport) {
    l4_ = 17;
    sport_ = sport;
    dport_ = dport;
    return *this;
  }
  PacketBuilder& udpLen(uint16_t len) {  // lie about the UDP length
    udpLenOverride_ = len;
    return *this;
  }
  PacketBuilder& tcp(uint16_t sport, uint16_t dport) {
    l4_ = 6;
    sport_ = sport;
    dport_ = dport;
    return *this;
  }
  PacketBuilder& icmp() {
    l4_ = 1;
    return *this;
  }
  PacketBuilder& arp() {
    l3_ = L3::kArp;
    return *this;
  }
  PacketBuilder& payload(size_t n) {
    payload_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) payload_[i] = static_cast<uint8_t>('a' + i % 26);
    return *this;
  }
  PacketBuilder& payload(const std::vector<uint8_t>& bytes) {
    payload_ = bytes;
    return *this;
  }

  [[nodiscard]] std::vector<uint8_t> build() const {
    std::vector<uint8_t> l4 = buildL4();
    std::vector<uint8_t> out;
    const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01}, src[6] = {0x02, 0, 0, 0, 0, 0x02};
    out.insert(out.end(), dst, dst + 6);
    out.insert(out.end(), src, src + 6);
    const uint16_t l3type = l3_ == L3::kV4 ? kEthIp : l3_ == L3::kV6 ? kEthIpv6 : kEthArp;
    // EtherType chain: eth.type = first TPID (or L3), each tag's encapsulated type = the next.
    std::vector<uint16_t> chain;
    for (const Vlan& v : vlans_) chain.push_back(v.tpid);
    chain.push_back(l3type);
    put16(out, chain[0]);
    for (size_t i = 0; i < vlans_.size(); ++i) {
      put16(out, vlans_[i].vid & 0x0fff);
      put16(out, chain[i + 1]);
    }
    if (l3_ == L3::kV4) appendV4(out, l4);
    else if (l3_ == L3::kV6) appendV6(out, l4);
    else appendArp(out);
    return out;
  }

 private:
  enum class L3 { kV4, kV6, kArp };
  struct Vlan {
    uint16_t tpid;
    uint16_t vid;
  };
  struct Ext {
    uint8_t type;
    uint16_t offset8;
    bool more;
  };

  static void put16(std::vector<uint8_t>& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
  }
  static void put32(std::vector<uint8_t>& b, uint32_t v) {
    put16(b, static_cast<uint16_t>(v >> 16));
    put16(b, static_cast<uint16_t>(v));
  }

  std::vector<uint8_t> buildL4() const {
    std::vector<uint8_t> b;
    if (l4_ == 17) {
      put16(b, sport_);
      put16(b, dport_);
      put16(b, udpLenOverride_ ? *udpLenOverride_ : static_cast<uint16_t>(8 + payload_.size()));
      put16(b, 0);
    } else if (l4_ == 6) {
      put16(b, sport_);
      put16(b, dport_);
      put32(b, 1);
      put32(b, 0);
      put16(b, 0x5002);  // data offset 5, SYN
      put16(b, 65535);
      put32(b, 0);
    } else if (l4_ == 1) {
      put32(b, 0x08000000);  // echo request
      put32(b, 0x00010001);
    }
    b.insert(b.end(), payload_.begin(), payload_.end());
    return b;
  }

  void appendV4(std::vector<uint8_t>& out, const std::vector<uint8_t>& l4) const {
    const uint8_t ihl = static_cast<uint8_t>(5 + v4Options_);
    const uint8_t version = versionOverride_ ? *versionOverride_ : 4;
    out.push_back(static_cast<uint8_t>(version << 4 | (v4IhlOverride_ ? *v4IhlOverride_ : ihl)));
    out.push_back(0);
    put16(out, static_cast<uint16_t>(ihl * 4 + l4.size()));
    put16(out, 0x1234);
    put16(out, v4FragOff_);
    out.push_back(64);
    out.push_back(l4_);
    put16(out, 0);
    put32(out, src4_);
    put32(out, dst4_);
    for (int i = 0; i < v4Options_ * 4; ++i) out.push_back(1);  // NOP
    out.insert(out.end(), l4.begin(), l4.end());
  }

  void appendV6(std::vector<uint8_t>& out, const std::vector<uint8_t>& l4) const {
    std::vector<uint8_t> exts;
    for (size_t i = 0; i < exts_.size(); ++i) {
      const uint8_t next = i + 1 < exts_.size() ? exts_[i + 1].type : l4_;
      const Ext& e = exts_[i];
      exts.push_back(next);
      if (e.type == 44) {
        exts.push_back(0);
        put16(exts, static_cast<uint16_t>(e.offset8 << 3 | (e.more ? 1 : 0)));
        put32(exts, 0xabcd);
      } else if (e.type == 51) {
        exts.push_back(1);  // (1 + 2) * 4 = 12 bytes
        for (int k = 0; k < 10; ++k) exts.push_back(0);
      } else {
        exts.push_back(0);  // (0 + 1) * 8 = 8 bytes
        for (int k = 0; k < 6; ++k) exts.push_back(k == 0 ? 1 : 0);  // PadN
      }
    }
    const uint8_t version = versionOverride_ ? *versionOverride_ : 6;
    put32(out, static_cast<uint32_t>(version) << 28);
    put16(out, static_cast<uint16_t>(exts.size() + l4.size()));
    out.push_back(exts_.empty() ? l4_ : exts_[0].type);
    out.push_back(64);
    const uint8_t src[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, src6_};
    const uint8_t dst[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst6_};
    out.insert(out.end(), src, src + 16);
    out.insert(out.end(), dst, dst + 16);
    out.insert(out.end(), exts.begin(), exts.end());
    out.insert(out.end(), l4.begin(), l4.end());
  }

  static void appendArp(std::vector<uint8_t>& out) {
    const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1};
    out.insert(out.end(), arp, arp + 28);
  }

  std::vector<Vlan> vlans_;
  L3 l3_ = L3::kV4;
  int v4Options_ = 0;
  uint16_t v4FragOff_ = 0;
  uint32_t src4_ = 0x0a000002, dst4_ = 0x0a000001;
  uint8_t src6_ = 2, dst6_ = 1;
  std::optional<uint8_t> v4IhlOverride_;
  std::optional<uint8_t> versionOverride_;
  std::vector<Ext> exts_;
  uint8_t l4_ = 17;
  uint16_t sport_ = 40000;
  uint16_t dport_ = 6831;
  std::optional<uint16_t> udpLenOverride_;
  std::vector<uint8_t> payload_;
};

}  // namespace jagent::testing
