// NDP solicitations and advertisements built by hand (IPv6 header, ICMPv6 message and its
// checksum) and sent over a packet socket bound to one link (net/packet_socket.h).
#include "net/ndp.h"

#include <arpa/inet.h>
#include <net/ethernet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "cni/error.h"
#include "net/packet_socket.h"

namespace net {
namespace {

using Ip6 = std::array<unsigned char, 16>;

constexpr uint8_t kIcmp6 = 58;  // IPv6 next header: ICMPv6
constexpr uint8_t kNeighborSolicitation = 135;
constexpr uint8_t kNeighborAdvertisement = 136;
constexpr uint8_t kOptSourceLinkAddr = 1;
constexpr uint8_t kOptTargetLinkAddr = 2;
constexpr uint8_t kFlagOverride = 0x20;
constexpr size_t kIp6HeaderLen = 40;
constexpr size_t kNdHeaderLen = 24;   // type, code, checksum, flags/reserved, target
constexpr uint8_t kNdHopLimit = 255;  // receivers drop NDP with any other (RFC 4861 7.1)

Ip6 parse_v6(const std::string& ip, const std::string& what) {
  Ip6 a{};
  if (inet_pton(AF_INET6, ip.c_str(), a.data()) != 1) {
    throw cni::Error(cni::kInvalidConfig, "invalid " + what + " \"" + ip + "\": want an IPv6");
  }
  return a;
}

// ff02::1:ffXX:XXXX, the group every holder of `target` listens on (RFC 4291 2.7.1).
Ip6 solicited_node(const Ip6& target) {
  Ip6 g{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(g.data() + 13, target.data() + 13, 3);
  return g;
}

const Ip6 kAllNodes{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

// 33:33 + the group's low 32 bits (RFC 2464 7).
Mac multicast_mac(const Ip6& group) {
  return {0x33, 0x33, group[12], group[13], group[14], group[15]};
}

// The ICMPv6 checksum over the pseudo-header and the message (RFC 4443 2.3).
uint16_t icmp6_checksum(const Ip6& src, const Ip6& dst, const std::vector<uint8_t>& msg) {
  uint32_t sum = 0;
  auto add = [&sum](const uint8_t* p, size_t n) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  };
  add(src.data(), src.size());
  add(dst.data(), dst.size());
  const auto len = static_cast<uint32_t>(msg.size());
  sum += (len >> 16) + (len & 0xffff) + kIcmp6;
  add(msg.data(), msg.size());
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A neighbour solicitation or advertisement: IPv6 header, the message for `target`, and a
// link-layer address option when `option` is non-zero.
std::vector<uint8_t> build(uint8_t type, uint8_t flags, const Ip6& src, const Ip6& dst,
                           const Ip6& target, uint8_t option, const Mac& mac) {
  std::vector<uint8_t> msg(kNdHeaderLen, 0);
  msg[0] = type;
  msg[4] = flags;
  std::memcpy(msg.data() + 8, target.data(), target.size());
  if (option != 0) {
    msg.push_back(option);
    msg.push_back(1);  // length in units of 8 bytes
    msg.insert(msg.end(), mac.begin(), mac.end());
  }
  const uint16_t sum = icmp6_checksum(src, dst, msg);
  msg[2] = static_cast<uint8_t>(sum >> 8);
  msg[3] = static_cast<uint8_t>(sum & 0xff);

  std::vector<uint8_t> pkt(kIp6HeaderLen + msg.size(), 0);
  pkt[0] = 0x60;  // version 6, traffic class and flow label 0
  pkt[4] = static_cast<uint8_t>(msg.size() >> 8);
  pkt[5] = static_cast<uint8_t>(msg.size() & 0xff);
  pkt[6] = kIcmp6;
  pkt[7] = kNdHopLimit;
  std::memcpy(pkt.data() + 8, src.data(), src.size());
  std::memcpy(pkt.data() + 24, dst.data(), dst.size());
  std::memcpy(pkt.data() + kIp6HeaderLen, msg.data(), msg.size());
  return pkt;
}

// An NDP message received on the link, as far as the probes need it.
struct Received {
  uint8_t type = 0;
  Ip6 src{};
  Ip6 target{};
  Mac holder{};  // the target link-layer option's address, else the frame's source
};

// An IPv6 packet socket on one link, for NDP.
class NdpSocket {
 public:
  explicit NdpSocket(const std::string& link) : socket_(link, ETH_P_IPV6, "ndp") {}

  const Mac& mac() const { return socket_.mac(); }

  // Makes the link accept frames for `group` while the socket lives (a link without IPv6, or
  // without the address, has not joined the groups the answers go to).
  void join(const Ip6& group) { socket_.join(multicast_mac(group)); }

  void send(const std::vector<uint8_t>& pkt, const Mac& to_mac) {
    socket_.send(pkt.data(), pkt.size(), to_mac);
  }

  // Waits until `until` for an NDP message from another host that `accept` takes; returns the
  // holder's MAC.
  std::optional<Mac> wait_for(PacketSocket::Clock::time_point until,
                              const std::function<bool(const Received&)>& accept) {
    std::optional<Mac> holder;
    socket_.receive_until(until, [&](const uint8_t* p, size_t n, const sockaddr_ll& from) {
      if (from.sll_halen != 6 || std::memcmp(from.sll_addr, mac().data(), 6) == 0) return false;
      std::optional<Received> r = parse(p, n, from);
      if (!r || !accept(*r)) return false;
      holder = r->holder;
      return true;
    });
    return holder;
  }

 private:
  // An NS or NA that passes RFC 4861's validity checks that matter here; nullopt otherwise.
  static std::optional<Received> parse(const uint8_t* p, size_t n, const sockaddr_ll& from) {
    if (n < kIp6HeaderLen + kNdHeaderLen || (p[0] >> 4) != 6) return std::nullopt;
    if (p[6] != kIcmp6 || p[7] != kNdHopLimit) return std::nullopt;
    const size_t payload = static_cast<size_t>(p[4] << 8 | p[5]);
    if (payload < kNdHeaderLen || kIp6HeaderLen + payload > n) return std::nullopt;
    const uint8_t* m = p + kIp6HeaderLen;
    Received r;
    r.type = m[0];
    if ((r.type != kNeighborSolicitation && r.type != kNeighborAdvertisement) || m[1] != 0) {
      return std::nullopt;
    }
    std::memcpy(r.src.data(), p + 8, 16);
    std::memcpy(r.target.data(), m + 8, 16);
    std::memcpy(r.holder.data(), from.sll_addr, 6);
    for (size_t off = kNdHeaderLen; off + 8 <= payload && m[off + 1] != 0; off += m[off + 1] * 8u) {
      if (m[off] == kOptTargetLinkAddr) std::memcpy(r.holder.data(), m + off + 2, 6);
    }
    return r;
  }

  PacketSocket socket_;
};

// Sends `send` three times, spread over `timeout`, listening with `accept` in between.
std::optional<std::string> ask(NdpSocket& s, std::chrono::milliseconds timeout,
                               const std::function<void()>& send,
                               const std::function<bool(const Received&)>& accept) {
  return ask_three_times(timeout, send, [&](PacketSocket::Clock::time_point until) {
    return s.wait_for(until, accept);
  });
}

}  // namespace

std::optional<std::string> ndp_probe(const std::string& link, const std::string& ip,
                                     std::chrono::milliseconds timeout) {
  const Ip6 target = parse_v6(ip, "address to probe");
  const Ip6 group = solicited_node(target);
  const Ip6 unspecified{};
  NdpSocket s(link);
  s.join(kAllNodes);  // where a holder's answer to a DAD probe goes (RFC 4862 5.4.3)
  s.join(group);      // where another prober's solicitation goes
  const auto pkt =
      build(kNeighborSolicitation, 0, unspecified, group, target, 0, s.mac());  // DAD: no option
  return ask(
      s, timeout, [&] { s.send(pkt, multicast_mac(group)); },
      [&](const Received& r) {
        if (r.target != target) return false;
        return r.type == kNeighborAdvertisement ||
               (r.type == kNeighborSolicitation && r.src == unspecified);
      });
}

std::optional<std::string> ndp_resolve(const std::string& link, const std::string& source,
                                       const std::string& target,
                                       std::chrono::milliseconds timeout) {
  const Ip6 src = parse_v6(source, "source address");
  const Ip6 dst = parse_v6(target, "address to resolve");
  const Ip6 group = solicited_node(dst);
  NdpSocket s(link);
  const auto pkt = build(kNeighborSolicitation, 0, src, group, dst, kOptSourceLinkAddr, s.mac());
  return ask(
      s, timeout, [&] { s.send(pkt, multicast_mac(group)); },
      [&](const Received& r) { return r.type == kNeighborAdvertisement && r.target == dst; });
}

void ndp_announce(const std::string& link, const std::string& ip) {
  const Ip6 addr = parse_v6(ip, "address to announce");
  NdpSocket s(link);
  s.send(build(kNeighborAdvertisement, kFlagOverride, addr, kAllNodes, addr, kOptTargetLinkAddr,
               s.mac()),
         multicast_mac(kAllNodes));
}

}  // namespace net
