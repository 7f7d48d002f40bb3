// probe_addresses: the `cnimuxProbe` key read strictly, then one ARP or NDP probe per address
// in the pod's namespace.
#include "delegates/common/address_probe.h"

#include "cni/error.h"
#include "net/arp.h"
#include "net/ndp.h"
#include "net/netns.h"

namespace delegates {

namespace {

[[noreturn]] void bad(const std::string& key, const nlohmann::json& v, const std::string& why) {
  throw cni::Error(cni::kInvalidConfig,
                   std::string(kProbeKey) + "." + key + " " + v.dump() + ": " + why);
}

}  // namespace

std::optional<std::chrono::milliseconds> probe_timeout(const nlohmann::json& raw) {
  auto it = raw.find(kProbeKey);
  if (it == raw.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) {
    throw cni::Error(cni::kInvalidConfig,
                     std::string(kProbeKey) + " " + it->dump() + ": not an object");
  }
  std::chrono::milliseconds timeout(1000);
  bool on = false;
  for (const auto& [key, v] : it->items()) {
    if (key == "detectIPConflict") {
      if (!v.is_boolean()) bad(key, v, "not a boolean");
      on = v.get<bool>();
    } else if (key == "detectTimeout") {
      if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 30) {
        bad(key, v, "expected seconds, more than 0 and at most 30");
      }
      timeout = std::chrono::milliseconds(static_cast<long long>(v.get<double>() * 1000.0 + 0.5));
    } else {
      bad(key, v, "unknown key");
    }
  }
  if (!on) return std::nullopt;
  return timeout;
}

void probe_addresses(const cni::Request& req, net::NetlinkSocket& pod, const std::string& ifname,
                     const cni::Result& ips) {
  const auto timeout = probe_timeout(req.conf.raw);
  if (!timeout || ips.ips.empty()) return;
  net::set_up(pod, ifname);  // probes need a running link; it has no address yet
  const net::Netns pod_ns = net::Netns::open(req.invocation.netns);
  net::with_netns(pod_ns, [&] {
    for (const cni::IpConfig& ip : ips.ips) {
      const std::string addr = ip.address.substr(0, ip.address.find('/'));
      const bool v6 = addr.find(':') != std::string::npos;
      const auto holder =
          v6 ? net::ndp_probe(ifname, addr, *timeout) : net::arp_probe(ifname, addr, *timeout);
      if (holder) {
        throw cni::Error(cni::kAddressConflict, "address " + addr + " on " + ifname +
                                                    " is already in use by " + *holder + " (" +
                                                    (v6 ? "NDP DAD" : "ARP probe") +
                                                    " before configuring it; detectIPConflict)");
      }
    }
  });
}

}  // namespace delegates
