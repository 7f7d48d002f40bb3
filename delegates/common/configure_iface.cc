// Applying an IPAM result to a link.
#include "delegates/common/configure_iface.h"

namespace delegates {

namespace {

bool is_v6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

}  // namespace

void configure_interface(net::NetlinkSocket& sk, const std::string& ifname,
                         const cni::Result& result) {
  for (const cni::IpConfig& ip : result.ips) net::add_address(sk, ifname, ip.address);
  net::set_up(sk, ifname);
  for (const cni::Route& r : result.routes) {
    net::Route route;
    route.dst = r.dst;
    route.gw = r.gw;
    route.dev = ifname;
    if (route.gw.empty()) {
      for (const cni::IpConfig& ip : result.ips) {
        if (!ip.gateway.empty() && is_v6(ip.gateway) == is_v6(r.dst)) {
          route.gw = ip.gateway;
          break;
        }
      }
    }
    if (r.priority) route.metric = static_cast<uint32_t>(*r.priority);
    net::add_route(sk, route);
  }
}

}  // namespace delegates
