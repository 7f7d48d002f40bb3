// ARP probes, requests and announcements over a packet socket bound to one link
// (net/packet_socket.h).
#include "net/arp.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>

#include <cstring>

#include "cni/error.h"
#include "net/packet_socket.h"

namespace net {
namespace {

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

uint32_t parse_v4(const std::string& ip, const std::string& what) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) {
    throw cni::Error(cni::kInvalidConfig, "invalid " + what + " \"" + ip + "\": want an IPv4");
  }
  return a.s_addr;
}

const Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// An ARP socket on one link.
class ArpSocket {
 public:
  explicit ArpSocket(const std::string& link) : socket_(link, ETH_P_ARP, "arp") {}

  // Broadcasts an ARP request with the given sender and target protocol addresses.
  void send_request(uint32_t spa, uint32_t tpa) {
    ArpPacket p{};
    p.htype = htons(ARPHRD_ETHER);
    p.ptype = htons(ETH_P_IP);
    p.hlen = 6;
    p.plen = 4;
    p.op = htons(ARPOP_REQUEST);
    p.sha = socket_.mac();
    p.spa = spa;
    p.tpa = tpa;
    socket_.send(&p, sizeof(p), kBroadcast);
  }

  // Waits until `until` for an incoming ARP packet (request or reply) from another host whose
  // sender address is `spa`; returns its sender MAC.
  std::optional<Mac> wait_for_sender(uint32_t spa, PacketSocket::Clock::time_point until) {
    std::optional<Mac> sender;
    socket_.receive_until(until, [&](const uint8_t* payload, size_t size, const sockaddr_ll&) {
      ArpPacket p{};
      if (size < sizeof(p)) return false;
      std::memcpy(&p, payload, sizeof(p));
      if (p.ptype != htons(ETH_P_IP) || p.hlen != 6 || p.plen != 4) return false;
      if (p.spa != spa || p.sha == socket_.mac()) return false;
      sender = p.sha;
      return true;
    });
    return sender;
  }

 private:
  PacketSocket socket_;
};

// Sends `send` three times, spread over `timeout`, listening for `spa` in between.
std::optional<std::string> ask(ArpSocket& s, uint32_t spa, std::chrono::milliseconds timeout,
                               const std::function<void()>& send) {
  return ask_three_times(timeout, send, [&](PacketSocket::Clock::time_point until) {
    return s.wait_for_sender(spa, until);
  });
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
