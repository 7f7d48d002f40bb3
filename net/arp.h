// ARP on one link (IPv4): RFC 5227 address probes, gateway reachability and gratuitous
// announcements. Raw AF_PACKET sockets; every call works in the calling thread's network
// namespace (enter the pod's with net::with_netns first). Needs CAP_NET_RAW.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace net {

// Sends RFC 5227 probes ("who has `ip`? tell 0.0.0.0") on `link` until `timeout` passes
// (three probes spread over it) and returns the MAC ("aa:bb:..") of the first other host that
// claims `ip` (an ARP reply or request whose sender address is `ip`), or nullopt when none
// did. A probe carries no sender address, so it changes no neighbour's cache; it can be sent
// while `ip` is already configured on `link`. Throws cni::Error(5) naming the link when the
// socket cannot be opened, bound or written.
std::optional<std::string> arp_probe(const std::string& link, const std::string& ip,
                                     std::chrono::milliseconds timeout);

// Asks for `target` from `source` on `link` ("who has `target`? tell `source`"), repeating
// the request until `timeout` passes; returns the MAC that answered, or nullopt.
std::optional<std::string> arp_resolve(const std::string& link, const std::string& source,
                                       const std::string& target,
                                       std::chrono::milliseconds timeout);

// Broadcasts a gratuitous ARP for `ip` from `link`'s MAC (an ARP request with sender and
// target `ip`, RFC 5227's announcement), so switches and neighbours replace a stale entry.
void arp_announce(const std::string& link, const std::string& ip);

}  // namespace net
