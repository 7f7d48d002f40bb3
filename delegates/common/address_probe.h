// Duplicate address detection inside an in-tree delegate, before the address is configured:
// cnimux's coordination stage injects the `cnimuxProbe` key into the delegate's plugin config
// when the network's detectIPConflict acts (docs/coordination.md "In-tree delegates").
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cni/plugin.h"
#include "cni/result.h"
#include "net/netlink.h"

namespace delegates {

// The key, a top-level object of the plugin config: {"detectIPConflict": true,
// "detectTimeout": <seconds>}.
inline constexpr const char* kProbeKey = "cnimuxProbe";

// How long each address is probed, when `raw[kProbeKey]` asks for probing; nullopt when the
// key is absent, null, or says detectIPConflict false. Error(7) naming the key and the value
// for a wrong type or a timeout outside (0, 30] seconds.
std::optional<std::chrono::milliseconds> probe_timeout(const nlohmann::json& raw);

// ADD, between creating the pod's link and putting `ips` on it: when the config asks, brings
// `ifname` up (still without the addresses) and probes each address of `ips` on it from inside
// the pod: ARP (RFC 5227) for IPv4, NDP DAD for IPv6. A holder is Error(130) naming the
// address, the interface and the holder's MAC; the caller's guards then delete the link and
// release the allocation, so the address never went live.
void probe_addresses(const cni::Request& req, net::NetlinkSocket& pod, const std::string& ifname,
                     const cni::Result& ips);

}  // namespace delegates
