// ARP probes, requests and announcements over an AF_PACKET datagram socket bound to one link.
#include "net/arp.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cni/error.h"

namespace net {
namespace {

using Clock = std::chrono::steady_clock;
using Mac = std::array<unsigned char, 6>;

// The ARP payload for Ethernet/IPv4 (RFC 826), 28 bytes.
struct __attribute__((packed)) ArpPacket {
  uint16_t htype;
  uint16_t ptype;
  uint8_t hlen;
  uint8_t plen;
  uint16_t op;
  Mac sha;
  uint32_t spa;
  Mac tha;
  uint32_t tpa;
};
static_assert(sizeof(ArpPacket) == 28);

[[noreturn]] void fail(const std::string& link, const std::string& what) {
  throw cni::Error(cni::kIoFailure,
                   "arp on link \"" + link + "\": " + what + ": " + std::strerror(errno));
}

uint32_t parse_v4(const std::string& ip, const std::string& what) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) {
    throw cni::Error(cni::kInvalidConfig, "invalid " + what + " \"" + ip + "\": want an IPv4");
  }
  return a.s_addr;
}

std::string format_mac(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

// A packet socket bound to one link, with that link's index and MAC.
class ArpSocket {
 public:
  explicit ArpSocket(const std::string& link) : link_(link) {
    fd_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd_ < 0) fail(link, "socket");
    index_ = static_cast<int>(if_nametoindex(link.c_str()));
    if (index_ == 0) fail(link, "no such link");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, link.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd_, SIOCGIFHWADDR, &ifr) != 0) fail(link, "read MAC");
    std::memcpy(mac_.data(), ifr.ifr_hwaddr.sa_data, mac_.size());
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = index_;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) fail(link, "bind");
  }
  ~ArpSocket() { ::close(fd_); }
  ArpSocket(const ArpSocket&) = delete;
  ArpSocket& operator=(const ArpSocket&) = delete;

  const Mac& mac() const { return mac_; }

  // Broadcasts an ARP request with the given sender and target protocol addresses.
  void send_request(uint32_t spa, uint32_t tpa) {
    ArpPacket p{};
    p.htype = htons(ARPHRD_ETHER);
    p.ptype = htons(ETH_P_IP);
    p.hlen = 6;
    p.plen = 4;
    p.op = htons(ARPOP_REQUEST);
    p.sha = mac_;
    p.spa = spa;
    p.tpa = tpa;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = index_;
    to.sll_halen = 6;
    std::memset(to.sll_addr, 0xff, 6);
    if (::sendto(fd_, &p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
      fail(link_, "send");
    }
  }

  // Waits until `until` for an incoming ARP packet (request or reply) from another host whose
  // sender address is `spa`; returns its sender MAC.
  std::optional<Mac> wait_for_sender(uint32_t spa, Clock::time_point until) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd pfd{fd_, POLLIN, 0};
      int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) fail(link_, "poll");
      if (rc == 0) return std::nullopt;
      ArpPacket p{};
      sockaddr_ll from{};
      socklen_t len = sizeof(from);
      ssize_t n = ::recvfrom(fd_, &p, sizeof(p), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(link_, "receive");
      if (n < static_cast<ssize_t>(sizeof(p)) || from.sll_pkttype == PACKET_OUTGOING) continue;
      if (p.ptype != htons(ETH_P_IP) || p.hlen != 6 || p.plen != 4) continue;
      if (p.spa == spa && p.sha != mac_) return p.sha;
    }
  }

 private:
  std::string link_;
  int fd_ = -1;
  int index_ = 0;
  Mac mac_{};
};

// Sends `send` three times, spread over `timeout`, listening for `spa` in between.
template <class Send>
std::optional<std::string> ask(ArpSocket& s, uint32_t spa, std::chrono::milliseconds timeout,
                               Send&& send) {
  const auto start = Clock::now();
  constexpr int kTries = 3;
  for (int i = 1; i <= kTries; ++i) {
    send();
    if (auto mac = s.wait_for_sender(spa, start + timeout * i / kTries)) return format_mac(*mac);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> arp_probe(const std::string& link, const std::string& ip,
                                     std::chrono::milliseconds timeout) {
  const uint32_t target = parse_v4(ip, "address to probe");
  ArpSocket s(link);
  return ask(s, target, timeout, [&] { s.send_request(0, target); });
}

std::optional<std::string> arp_resolve(const std::string& link, const std::string& source,
                                       const std::string& target,
                                       std::chrono::milliseconds timeout) {
  const uint32_t src = parse_v4(source, "source address");
  const uint32_t dst = parse_v4(target, "address to resolve");
  ArpSocket s(link);
  return ask(s, dst, timeout, [&] { s.send_request(src, dst); });
}

void arp_announce(const std::string& link, const std::string& ip) {
  const uint32_t addr = parse_v4(ip, "address to announce");
  ArpSocket s(link);
  s.send_request(addr, addr);
}

}  // namespace net
