// NDP on one link (IPv6): duplicate address detection (RFC 4862 probes), gateway reachability
// (neighbour solicitation) and unsolicited neighbour advertisements. Raw AF_PACKET sockets, so
// the pod's IPv6 stack is bypassed: the probes work while an address is absent or "tentative",
// and on a link that has no IPv6 address at all. Every call works in the calling thread's
// network namespace (enter the pod's with net::with_netns first). Needs CAP_NET_RAW.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace net {

// DAD for `ip`: sends Neighbor Solicitations from the unspecified address (::) to the
// solicited-node multicast group of `ip` on `link` until `timeout` passes (three spread over
// it), and returns the MAC ("aa:bb:..") of the first other host that claims `ip` (a Neighbor
// Advertisement for `ip`, or a DAD solicitation for `ip` from another prober), or nullopt when
// none did. A probe from :: changes no neighbour's cache. Throws cni::Error(5) naming the link
// when the socket cannot be opened, bound or written; Error(7) when `ip` is not IPv6.
std::optional<std::string> ndp_probe(const std::string& link, const std::string& ip,
                                     std::chrono::milliseconds timeout);

// Solicits `target` from `source` on `link` (with our MAC as source link-layer address),
// repeating until `timeout` passes; returns the MAC that advertised `target`, or nullopt.
std::optional<std::string> ndp_resolve(const std::string& link, const std::string& source,
                                       const std::string& target,
                                       std::chrono::milliseconds timeout);

// Sends an unsolicited Neighbor Advertisement for `ip` from `link`'s MAC to all nodes
// (ff02::1) with the Override flag, so neighbours replace a stale entry (the IPv6 counterpart
// of a gratuitous ARP, RFC 4861 7.2.6).
void ndp_announce(const std::string& link, const std::string& ip);

}  // namespace net
