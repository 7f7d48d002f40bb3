// Child links (macvlan, ipvlan): ADD under a temporary name in the pod, DEL tolerant of
// everything gone, CHECK against prevResult.
#include "delegates/common/child_link.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "cni/scope_guard.h"
#include "delegates/common/address_probe.h"
#include "delegates/common/configure_iface.h"
#include "delegates/common/ipam_step.h"
#include "net/netns.h"
#include "net/sysctl.h"

namespace delegates {

namespace {

// The master's MTU, looked up where the child's parent lives. Error(7) when it is absent.
unsigned master_mtu(net::NetlinkSocket& sk, const std::string& master) {
  try {
    return net::get_link_info(sk, master).mtu;
  } catch (const net::NetlinkError& e) {
    if (e.sys_errno() != ENODEV) throw;
    throw cni::Error(cni::kInvalidConfig, "master " + in_quotes(master) + ": no such link");
  }
}

}  // namespace

std::string in_quotes(const std::string& s) {
  return "\"" + s + "\"";
}

std::string default_route_interface(net::NetlinkSocket& sk) {
  for (const auto& r : net::list_routes(sk, AF_INET)) {
    if (r.dst == "0.0.0.0/0" && !r.dev.empty()) return r.dev;
  }
  throw cni::Error(cni::kInvalidConfig, "master: not set, and no default route names an interface");
}

std::string temporary_name(const cni::Invocation& inv) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char ch : inv.container_id + "/" + inv.ifname)
    h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "cmx%08x", h);
  return buf;
}

cni::Result add_child_link(const cni::Request& req, const ChildLinkConf& c, CreateChild create) {
  const cni::Invocation& inv = req.invocation;
  const IpamStep ipam(req);
  net::Netns pod_ns = net::Netns::open(inv.netns);
  net::NetlinkSocket pod = net::NetlinkSocket::in(pod_ns);
  std::optional<net::NetlinkSocket> host;
  if (!c.link_in_container) host.emplace();
  net::NetlinkSocket& parent = c.link_in_container ? pod : *host;

  const std::string master = c.master.empty() ? c.default_master(parent) : c.master;
  const unsigned max_mtu = master_mtu(parent, master);
  if (c.mtu < 0 || static_cast<unsigned>(c.mtu) > max_mtu) {
    throw cni::Error(cni::kInvalidConfig, "mtu " + std::to_string(c.mtu) + ": must be in [0, " +
                                              std::to_string(max_mtu) + "], the MTU of master " +
                                              in_quotes(master));
  }
  if (net::link_exists(pod, inv.ifname)) {
    throw cni::Error(cni::kInvalidEnvironment,
                     "ifname " + in_quotes(inv.ifname) + ": already exists in " + inv.netns);
  }

  cni::Result addrs = ipam.add(req);
  cni::ScopeGuard release_ipam([&] { ipam.del(req); });
  if (ipam.kind() != IpamStep::Kind::kNone && addrs.ips.empty()) {
    throw cni::Error(cni::kInvalidConfig,
                     "ipam " + in_quotes(ipam.type()) + " returned no IP config");
  }

  // Created directly in the pod under a name no pod uses, renamed there: the pod's name may
  // be taken on the host, and a half-made link never carries the pod's name.
  const std::string tmp = temporary_name(inv);
  net::delete_link(pod, tmp);  // a leftover of a killed ADD
  std::string current = tmp;
  std::optional<int> into_pod;
  if (!c.link_in_container) into_pod = pod_ns.fd();
  create(parent, tmp, master, c.mode, into_pod,
         c.mtu > 0 ? std::optional<unsigned>(c.mtu) : std::nullopt);
  cni::ScopeGuard remove_link([&] { net::delete_link(pod, current); });
  if (!c.mac.empty()) net::set_mac(pod, tmp, c.mac);
  net::rename_link(pod, tmp, inv.ifname);
  current = inv.ifname;
  net::write_sysctl(pod_ns, "net/ipv4/conf/" + inv.ifname + "/arp_notify", "1");
  try {
    net::write_sysctl(pod_ns, "net/ipv6/conf/" + inv.ifname + "/ndisc_notify", "1");
  } catch (const cni::Error&) {
    // IPv6 disabled in the pod: nothing to notify.
  }
  probe_addresses(req, pod, inv.ifname, addrs);
  configure_interface(pod, inv.ifname, addrs);

  cni::Result result = std::move(addrs);
  const net::LinkInfo link = net::get_link_info(pod, inv.ifname);
  result.interfaces = {{.name = inv.ifname, .mac = link.mac, .sandbox = inv.netns}};
  for (auto& ip : result.ips) ip.interface = 0;
  remove_link.commit();
  release_ipam.commit();
  return result;
}

void del_child_link(const cni::Request& req) {
  const cni::Invocation& inv = req.invocation;
  IpamStep(req).del(req);  // first: it needs neither the netns nor the master
  if (inv.netns.empty()) return;
  try {
    net::Netns pod_ns = net::Netns::open(inv.netns);
    net::NetlinkSocket pod = net::NetlinkSocket::in(pod_ns);
    net::delete_link(pod, inv.ifname);
    net::delete_link(pod, temporary_name(inv));
  } catch (const net::NetnsGoneError&) {
    // The pod's namespace is gone, and its links with it.
  }
}

void check_child_link(const cni::Request& req, const ChildLinkConf& c) {
  const cni::Invocation& inv = req.invocation;
  const nlohmann::json* prev = req.conf.prev_result();
  if (!prev) throw cni::Error(cni::kInvalidConfig, "prevResult: required by CHECK");
  const cni::Result r = cni::Result::from_json(*prev, req.conf.cni_version());
  IpamStep(req).check(req);
  int index = -1;
  for (size_t i = 0; i < r.interfaces.size(); ++i) {
    if (r.interfaces[i].name == inv.ifname && r.interfaces[i].sandbox == inv.netns) index = int(i);
  }
  if (index < 0) {
    throw cni::Error(cni::kInvalidConfig, "prevResult: no interface " + in_quotes(inv.ifname) +
                                              " in sandbox " + in_quotes(inv.netns));
  }
  net::Netns pod_ns = net::Netns::open(inv.netns);
  net::NetlinkSocket pod = net::NetlinkSocket::in(pod_ns);
  if (!net::link_exists(pod, inv.ifname)) {
    throw cni::Error(cni::kUnknownContainer,
                     "interface " + in_quotes(inv.ifname) + ": not in " + inv.netns);
  }
  const net::LinkInfo link = net::get_link_info(pod, inv.ifname);
  const auto mismatch = [&](const std::string& what, const std::string& want,
                            const std::string& got) {
    throw cni::Error(cni::kUnknownContainer, "interface " + in_quotes(inv.ifname) + ": " + what +
                                                 " " + in_quotes(got) + ", want " +
                                                 in_quotes(want));
  };
  if (link.kind != c.kind) mismatch("kind", c.kind, link.kind);
  if (const std::string mode = net::link_mode(pod, inv.ifname); mode != c.mode) {
    mismatch("mode", c.mode, mode);
  }
  const std::string& want_mac = r.interfaces[index].mac;
  if (!want_mac.empty() && want_mac != link.mac) mismatch("mac", want_mac, link.mac);
  const std::vector<std::string> have = net::list_addresses(pod, inv.ifname);
  for (const auto& ip : r.ips) {
    if (ip.interface && *ip.interface != index) continue;
    if (std::find(have.begin(), have.end(), ip.address) == have.end()) {
      throw cni::Error(cni::kUnknownContainer, "interface " + in_quotes(inv.ifname) + ": address " +
                                                   in_quotes(ip.address) + " missing");
    }
  }
  const std::vector<net::Route> routes = net::list_routes(pod, AF_UNSPEC);
  for (const auto& want : r.routes) {
    const bool found = std::any_of(routes.begin(), routes.end(), [&](const net::Route& got) {
      return got.dst == want.dst && (want.gw.empty() || got.gw == want.gw);
    });
    if (!found)
      throw cni::Error(cni::kUnknownContainer, "route to " + in_quotes(want.dst) + " missing");
  }
}

}  // namespace delegates
