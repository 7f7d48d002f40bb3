// What the ARP and NDP probes share (net/arp.cc, net/ndp.cc): an AF_PACKET datagram socket
// bound to one link for one ethertype, its receive loop with a deadline, and the three-tries
// question. Works in the calling thread's network namespace. Needs CAP_NET_RAW.
#pragma once

#include <linux/if_packet.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "net/mac.h"

namespace net {

class PacketSocket {
 public:
  using Clock = std::chrono::steady_clock;
  // A received frame's payload and its sender's link-layer address; true takes it.
  using Take = std::function<bool(const uint8_t* payload, size_t size, const sockaddr_ll& from)>;

  // Opens a socket for `ethertype` (ETH_P_ARP, ETH_P_IPV6) bound to `link`, and reads the
  // link's MAC. Errors, here and below: cni::Error(5) "<proto> on link \"<link>\": <what>:
  // <errno text>", `proto` being "arp" or "ndp".
  PacketSocket(const std::string& link, uint16_t ethertype, std::string proto);
  PacketSocket(const PacketSocket&) = delete;
  PacketSocket& operator=(const PacketSocket&) = delete;

  const Mac& mac() const { return mac_; }

  // Makes the link accept frames for the multicast MAC `group` while the socket lives.
  void join(const Mac& group);

  // Sends `size` bytes as one frame's payload to `to`.
  void send(const void* data, size_t size, const Mac& to);

  // Receives frames until `until`, skipping those this host sent, and returns true at the
  // first one `take` takes; false when the time is up first.
  bool receive_until(Clock::time_point until, const Take& take);

 private:
  [[noreturn]] void fail(const std::string& what) const;

  // The descriptor, closed with the socket, and also when the constructor throws after
  // opening it (a link that does not exist).
  struct OwnedFd {
    int fd = -1;
    ~OwnedFd();
  };

  std::string link_;
  std::string proto_;
  uint16_t ethertype_;
  OwnedFd fd_;
  int index_ = 0;
  Mac mac_{};
};

// Asks three times, spread over `timeout`: calls `send`, then `wait` until that try's share
// of the time is up. Returns the first MAC `wait` found, formatted; nullopt when none did.
std::optional<std::string> ask_three_times(
    std::chrono::milliseconds timeout, const std::function<void()>& send,
    const std::function<std::optional<Mac>(PacketSocket::Clock::time_point)>& wait);

}  // namespace net
