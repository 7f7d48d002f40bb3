// NDP solicitations and advertisements built by hand (IPv6 header, ICMPv6 message and its
// checksum) and sent over an AF_PACKET datagram socket bound to one link.
#include "net/ndp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cni/error.h"

namespace net {
namespace {

using Clock = std::chrono::steady_clock;
using Mac = std::array<unsigned char, 6>;
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

[[noreturn]] void fail(const std::string& link, const std::string& what) {
  throw cni::Error(cni::kIoFailure,
                   "ndp on link \"" + link + "\": " + what + ": " + std::strerror(errno));
}

Ip6 parse_v6(const std::string& ip, const std::string& what) {
  Ip6 a{};
  if (inet_pton(AF_INET6, ip.c_str(), a.data()) != 1) {
    throw cni::Error(cni::kInvalidConfig, "invalid " + what + " \"" + ip + "\": want an IPv6");
  }
  return a;
}

std::string format_mac(const unsigned char* m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
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

// A packet socket for IPv6 bound to one link, with that link's index and MAC.
class NdpSocket {
 public:
  explicit NdpSocket(const std::string& link) : link_(link) {
    fd_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IPV6));
    if (fd_ < 0) fail(link, "socket");
    index_ = static_cast<int>(if_nametoindex(link.c_str()));
    if (index_ == 0) fail(link, "no such link");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, link.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd_, SIOCGIFHWADDR, &ifr) != 0) fail(link, "read MAC");
    std::memcpy(mac_.data(), ifr.ifr_hwaddr.sa_data, mac_.size());
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IPV6);
    sll.sll_ifindex = index_;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) fail(link, "bind");
  }
  ~NdpSocket() { ::close(fd_); }
  NdpSocket(const NdpSocket&) = delete;
  NdpSocket& operator=(const NdpSocket&) = delete;

  const Mac& mac() const { return mac_; }

  // Makes the link accept frames for `group` while the socket lives (a link without IPv6, or
  // without the address, has not joined the groups the answers go to).
  void join(const Ip6& group) {
    packet_mreq mr{};
    mr.mr_ifindex = index_;
    mr.mr_type = PACKET_MR_MULTICAST;
    mr.mr_alen = 6;
    const Mac m = multicast_mac(group);
    std::memcpy(mr.mr_address, m.data(), m.size());
    if (::setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
      fail(link_, "join multicast group");
    }
  }

  void send(const std::vector<uint8_t>& pkt, const Mac& to_mac) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_IPV6);
    to.sll_ifindex = index_;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, to_mac.data(), to_mac.size());
    if (::sendto(fd_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) <
        0) {
      fail(link_, "send");
    }
  }

  // Waits until `until` for an NDP message from another host that `accept` takes; returns the
  // holder's MAC.
  template <class Accept>
  std::optional<Mac> wait_for(Clock::time_point until, Accept&& accept) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd pfd{fd_, POLLIN, 0};
      int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) fail(link_, "poll");
      if (rc == 0) return std::nullopt;
      std::array<uint8_t, 2048> buf{};
      sockaddr_ll from{};
      socklen_t len = sizeof(from);
      ssize_t n =
          ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(link_, "receive");
      if (from.sll_pkttype == PACKET_OUTGOING || from.sll_halen != 6) continue;
      if (std::memcmp(from.sll_addr, mac_.data(), 6) == 0) continue;
      if (auto r = parse(buf.data(), static_cast<size_t>(n), from); r && accept(*r)) {
        return r->holder;
      }
    }
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

  std::string link_;
  int fd_ = -1;
  int index_ = 0;
  Mac mac_{};
};

// Sends `send` three times, spread over `timeout`, listening with `accept` in between.
template <class Send, class Accept>
std::optional<std::string> ask(NdpSocket& s, std::chrono::milliseconds timeout, Send&& send,
                               Accept&& accept) {
  const auto start = Clock::now();
  constexpr int kTries = 3;
  for (int i = 1; i <= kTries; ++i) {
    send();
    if (auto mac = s.wait_for(start + timeout * i / kTries, accept)) return format_mac(mac->data());
  }
  return std::nullopt;
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
