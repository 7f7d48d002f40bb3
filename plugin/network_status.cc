// Builds network-status entries from a planned attachment and its CNI result.
#include "plugin/network_status.h"

namespace plugin {
namespace {

using nlohmann::json;

// The index of the interface the attachment created inside the pod, or -1.
int pod_interface_index(const cni::Result& r, const std::string& ifname) {
  for (size_t i = 0; i < r.interfaces.size(); ++i) {
    if (r.interfaces[i].name == ifname && !r.interfaces[i].sandbox.empty())
      return static_cast<int>(i);
  }
  for (size_t i = 0; i < r.interfaces.size(); ++i) {
    if (r.interfaces[i].name == ifname) return static_cast<int>(i);
  }
  return -1;
}

std::string without_prefix(const std::string& cidr) {
  return cidr.substr(0, cidr.find('/'));
}

json ips_on(const cni::Result& r, int iface) {
  json ips = json::array();
  for (const auto& ip : r.ips) {
    // An address with no interface index belongs to the attachment as a whole.
    if (!ip.interface || iface < 0 || *ip.interface == iface)
      ips.push_back(without_prefix(ip.address));
  }
  return ips;
}

json dns_of(const cni::Dns& d) {
  json j = json::object();
  if (!d.nameservers.empty()) j["nameservers"] = d.nameservers;
  if (!d.domain.empty()) j["domain"] = d.domain;
  if (!d.search.empty()) j["search"] = d.search;
  return j;
}

}  // namespace

json network_status_entry(const PlannedAttachment& a, const cni::Result& r) {
  json e = {{"name", a.network}, {"interface", a.ifname}};
  const int iface = pod_interface_index(r, a.ifname);
  e["ips"] = ips_on(r, iface);
  if (iface >= 0) {
    const cni::Interface& i = r.interfaces[static_cast<size_t>(iface)];
    if (!i.mac.empty()) e["mac"] = i.mac;
    if (i.mtu) e["mtu"] = *i.mtu;
  }
  e["default"] = a.default_route;
  if (!r.dns.empty()) e["dns"] = dns_of(r.dns);
  if (!a.gateways.empty()) e["gateway"] = a.gateways;
  // The planner's device (from the NAD's resourceName), else the one the delegate reports
  // (an SR-IOV result's interface pciID, for a NAD that names its deviceID itself).
  std::string pci = a.device_id;
  if (pci.empty() && iface >= 0) pci = r.interfaces[static_cast<size_t>(iface)].pci_id;
  if (!pci.empty()) {
    e["device-info"] = {{"type", "pci"}, {"version", "1.1.0"}, {"pci", {{"pci-address", pci}}}};
  }
  return e;
}

}  // namespace plugin
