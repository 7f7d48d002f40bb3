// The packet socket the ARP and NDP probes share (net/packet_socket.h).
#include "net/packet_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cni/error.h"

namespace net {

PacketSocket::PacketSocket(const std::string& link, uint16_t ethertype, std::string proto)
    : link_(link), proto_(std::move(proto)), ethertype_(ethertype) {
  fd_.fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ethertype_));
  if (fd_.fd < 0) fail("socket");
  index_ = static_cast<int>(if_nametoindex(link.c_str()));
  if (index_ == 0) fail("no such link");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, link.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd_.fd, SIOCGIFHWADDR, &ifr) != 0) fail("read MAC");
  std::memcpy(mac_.data(), ifr.ifr_hwaddr.sa_data, mac_.size());
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ethertype_);
  sll.sll_ifindex = index_;
  if (::bind(fd_.fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) fail("bind");
}

PacketSocket::OwnedFd::~OwnedFd() {
  if (fd >= 0) ::close(fd);
}

void PacketSocket::fail(const std::string& what) const {
  const int err = errno;  // before the strings below allocate
  throw cni::Error(cni::kIoFailure,
                   proto_ + " on link \"" + link_ + "\": " + what + ": " + std::strerror(err));
}

void PacketSocket::join(const Mac& group) {
  packet_mreq mr{};
  mr.mr_ifindex = index_;
  mr.mr_type = PACKET_MR_MULTICAST;
  mr.mr_alen = 6;
  std::memcpy(mr.mr_address, group.data(), group.size());
  if (::setsockopt(fd_.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
    fail("join multicast group");
  }
}

void PacketSocket::send(const void* data, size_t size, const Mac& to) {
  sockaddr_ll dest{};
  dest.sll_family = AF_PACKET;
  dest.sll_protocol = htons(ethertype_);
  dest.sll_ifindex = index_;
  dest.sll_halen = 6;
  std::memcpy(dest.sll_addr, to.data(), to.size());
  if (::sendto(fd_.fd, data, size, 0, reinterpret_cast<sockaddr*>(&dest), sizeof(dest)) < 0) {
    fail("send");
  }
}

bool PacketSocket::receive_until(Clock::time_point until, const Take& take) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_.fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) fail("poll");
    if (rc == 0) return false;
    std::array<uint8_t, 2048> buf{};
    sockaddr_ll from{};
    socklen_t len = sizeof(from);
    ssize_t n =
        ::recvfrom(fd_.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("receive");
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    if (take(buf.data(), static_cast<size_t>(n), from)) return true;
  }
}

std::optional<std::string> ask_three_times(
    std::chrono::milliseconds timeout, const std::function<void()>& send,
    const std::function<std::optional<Mac>(PacketSocket::Clock::time_point)>& wait) {
  const auto start = PacketSocket::Clock::now();
  constexpr int kTries = 3;
  for (int i = 1; i <= kTries; ++i) {
    send();
    if (auto mac = wait(start + timeout * i / kTries)) return format_mac(mac->data());
  }
  return std::nullopt;
}

}  // namespace net
