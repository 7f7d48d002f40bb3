// The coordination stage: decide the mode, check addresses and gateways, journal the plan,
// then install policy routing and the node veth, and announce the addresses.
#include "plugin/coordination.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <set>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/text.h"
#include "delegates/common/address_probe.h"
#include "delegates/registry.h"
#include "net/arp.h"
#include "net/ndp.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace plugin {
namespace {

using nlohmann::json;

// One address an attachment's result gives its own interface.
struct Address {
  std::string cidr;  // "10.1.2.3/24"
  std::string ip;    // "10.1.2.3"
  std::string gateway;
  bool v4 = true;
};

std::vector<Address> addresses_of(const JournalAttachment& a) {
  std::vector<Address> out;
  const json& r = a.result;
  if (!r.is_object() || !r.contains("ips") || !r["ips"].is_array()) return out;
  const json interfaces = r.value("interfaces", json::array());
  for (const json& ip : r["ips"]) {
    if (!ip.is_object() || !ip.contains("address")) continue;
    // An address reported for another interface (a host-side veth end) is not the pod's link.
    if (auto idx = ip.find("interface"); idx != ip.end() && idx->is_number_unsigned()) {
      size_t i = idx->get<size_t>();
      if (i >= interfaces.size() || interfaces[i].value("name", "") != a.planned.ifname) continue;
    }
    Address addr;
    addr.cidr = ip["address"].get<std::string>();
    addr.ip = addr.cidr.substr(0, addr.cidr.find('/'));
    addr.gateway = ip.value("gateway", "");
    addr.v4 = addr.ip.find(':') == std::string::npos;
    out.push_back(addr);
  }
  return out;
}

// The subnet of "address/prefix": host bits cleared ("10.1.2.3/24" -> "10.1.2.0/24").
std::string subnet_of(const std::string& cidr) {
  const auto slash = cidr.find('/');
  const std::string host = cidr.substr(0, slash);
  const int family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  const int bits = family == AF_INET ? 32 : 128;
  const int prefix = slash == std::string::npos ? bits : std::stoi(cidr.substr(slash + 1));
  std::array<unsigned char, 16> b{};
  inet_pton(family, host.c_str(), b.data());
  for (int i = 0; i < bits / 8; ++i) {
    const int keep = std::clamp(prefix - i * 8, 0, 8);
    b[i] &= static_cast<unsigned char>(0xff00 >> keep);
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, b.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(prefix);
}

std::string host_cidr(const Address& a) {
  return a.ip + (a.v4 ? "/32" : "/128");
}

// The node end of the pod's veth: "cmx" + 8 hex digits of the container ID (FNV-1a), so DEL
// finds it from the journal and two pods never share it.
std::string node_veth_name(const std::string& container_id) {
  uint32_t h = 2166136261u;
  for (unsigned char c : container_id) h = (h ^ c) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "cmx%08x", h);
  return buf;
}

void add_route_once(net::NetlinkSocket& sk, const net::Route& r) {
  try {
    net::add_route(sk, r);
  } catch (const net::NetlinkError& e) {
    if (e.sys_errno() != EEXIST) throw;  // two sources named one destination (podCIDR, node)
  }
}

// Settings of each attachment (node default, then its network's keys), and the pod's.
struct Resolved {
  std::vector<CoordinationSettings> per_network;
  CoordinationSettings pod;
  size_t owner = 0;  // the attachment holding the default route by plan
};

// `planned(i)` is the i-th of `n` planned attachments.
template <class Planned>
Resolved resolve(const CoordinationSettings& node, size_t n, Planned&& planned) {
  Resolved r;
  for (size_t i = 0; i < n; ++i) {
    const PlannedAttachment& p = planned(i);
    r.per_network.push_back(
        merge_coordination(node, coordination_of_conflist(p.conflist, p.network)));
    if (p.default_route && !p.cluster_network) r.owner = i;
  }
  if (!r.per_network.empty()) r.pod = r.per_network[r.owner];
  return r;
}

Resolved resolve(const CoordinationSettings& node, const JournalRecord& rec) {
  return resolve(node, rec.attachments.size(),
                 [&](size_t i) -> const PlannedAttachment& { return rec.attachments[i].planned; });
}

// True when a plugin of the planned conflist carries the probe key asking for detection: an
// in-tree delegate probed the addresses before configuring them (plan_in_tree_probes put the
// key only there).
bool probed_by_delegate(const PlannedAttachment& p) {
  const json list = json::parse(p.conflist, nullptr, false);
  if (!list.is_object() || !list.contains("plugins") || !list["plugins"].is_array()) return false;
  for (const json& plugin : list["plugins"]) {
    if (plugin.is_object() && delegates::probe_timeout(plugin)) return true;
  }
  return false;
}

// The pod's IPv4 default-route link, or "" when it has none.
std::string default_route_link(net::NetlinkSocket& pod) {
  for (const auto& r : net::list_routes(pod, AF_INET)) {
    if (r.dst == "0.0.0.0/0" && !r.dev.empty()) return r.dev;
  }
  return "";
}

// Auto mode: underlay when the default route is on a link that is its own L2 presence on the
// physical network (macvlan, ipvlan, vlan, or a device without a kind: host-device, SR-IOV VF).
CoordinationMode decide_auto(net::NetlinkSocket& pod, const std::string& link) {
  if (link.empty()) return CoordinationMode::kOverlay;
  const std::string kind = net::get_link_info(pod, link).kind;
  const bool underlay = kind.empty() || kind == "macvlan" || kind == "ipvlan" || kind == "vlan";
  return underlay ? CoordinationMode::kUnderlay : CoordinationMode::kOverlay;
}

// detectIPConflict and detectGateway for one attachment: ARP for IPv4, NDP for IPv6 (see
// docs/coordination.md). The conflict probe is skipped where the in-tree delegate already
// probed before configuring the address.
void detect(const JournalAttachment& a, const CoordinationSettings& s) {
  const auto timeout = s.detect_timeout_or_default();
  bool probe = s.detect_ip_conflict_or_default();
  if (probe && probed_by_delegate(a.planned)) {
    spdlog::info(
        "coordination: {} of network \"{}\": the in-tree delegate probed its addresses "
        "before configuring them",
        a.planned.ifname, a.planned.network);
    probe = false;
  }
  for (const Address& addr : addresses_of(a)) {
    const std::string& link = a.planned.ifname;
    if (probe) {
      if (auto holder = addr.v4 ? net::arp_probe(link, addr.ip, timeout)
                                : net::ndp_probe(link, addr.ip, timeout)) {
        throw cni::Error(cni::kAddressConflict, "address " + addr.ip + " of network \"" +
                                                    a.planned.network + "\" on " + link +
                                                    " is already in use by " + *holder);
      }
    }
    const GatewayCheck check = s.detect_gateway_or_default();
    if (check == GatewayCheck::kOff || addr.gateway.empty()) continue;
    const bool answered = (addr.v4 ? net::arp_resolve(link, addr.ip, addr.gateway, timeout)
                                   : net::ndp_resolve(link, addr.ip, addr.gateway, timeout))
                              .has_value();
    if (answered) continue;
    const std::string msg = "gateway " + addr.gateway + " of network \"" + a.planned.network +
                            "\" does not answer " + (addr.v4 ? "ARP" : "NDP") + " on " + link +
                            " within " + std::to_string(timeout.count()) + " ms";
    if (check == GatewayCheck::kFail) throw cni::Error(cni::kGatewayUnreachable, msg);
    spdlog::warn("coordination: {} (detectGateway warn)", msg);
  }
}

// What the stage will do, decided before it does any of it.
struct Work {
  CoordinationMode mode = CoordinationMode::kOff;
  std::string underlay_link;                        // underlay mode: the pod's default-route link
  std::string underlay_network;                     // and the network attached on it
  std::vector<std::pair<size_t, uint32_t>> tables;  // attachment index, table
  std::vector<net::Rule> rules;
  std::string node_veth;  // underlay mode only
};

json record_of(const Work& w) {
  json rules = json::array();
  for (const auto& r : w.rules) {
    rules.push_back({{"src", r.src}, {"table", r.table}, {"priority", r.priority}});
  }
  json tables = json::array();
  for (const auto& t : w.tables) tables.push_back(t.second);
  json rec = {{"mode", mode_name(w.mode)}, {"rules", rules}, {"tables", tables}};
  if (!w.node_veth.empty()) {
    rec["nodeVeth"] = w.node_veth;
    rec["podVeth"] = kPodVethName;
  }
  return rec;
}

// Policy routing: a table per attachment other than the default-route link, holding its subnet
// and its gateway, and a rule from each of its addresses to that table.
void plan_policy_routing(const JournalRecord& rec, const std::string& default_link,
                         uint32_t table_base, Work& w) {
  for (size_t i = 0; i < rec.attachments.size(); ++i) {
    const JournalAttachment& a = rec.attachments[i];
    if (a.planned.ifname == default_link) continue;
    std::vector<Address> addrs = addresses_of(a);
    if (addrs.empty()) continue;
    const uint32_t table = table_base + static_cast<uint32_t>(i);
    w.tables.emplace_back(i, table);
    for (const Address& addr : addrs) {
      w.rules.push_back({host_cidr(addr), table, kRulePriorityBase + static_cast<uint32_t>(i)});
    }
  }
}

void apply_policy_routing(net::NetlinkSocket& pod, const JournalRecord& rec, const Work& w) {
  for (const auto& [index, table] : w.tables) {
    const JournalAttachment& a = rec.attachments[index];
    for (const Address& addr : addresses_of(a)) {
      net::Route subnet;
      subnet.dst = subnet_of(addr.cidr);
      subnet.dev = a.planned.ifname;
      subnet.table = table;
      add_route_once(pod, subnet);
      if (addr.gateway.empty()) continue;
      net::Route def;
      def.dst = addr.v4 ? "0.0.0.0/0" : "::/0";
      def.gw = addr.gateway;
      def.dev = a.planned.ifname;
      def.table = table;
      add_route_once(pod, def);
    }
  }
  for (const auto& r : w.rules) {
    try {
      net::add_rule(pod, r);
    } catch (const net::NetlinkError& e) {
      if (e.sys_errno() != EEXIST) throw;
    }
  }
}

// The node's own IPv4 addresses that a pod reaches through the veth: every global address
// except loopback and the veth ends' shared link-local address.
std::vector<std::string> node_addresses(net::NetlinkSocket& node) {
  std::set<std::string> out;
  for (const auto& link : net::list_links(node)) {
    if (link.name == "lo") continue;
    for (const auto& cidr : net::list_addresses(node, link.name)) {
      const std::string ip = cidr.substr(0, cidr.find('/'));
      if (ip.find(':') != std::string::npos || ip.rfind("127.", 0) == 0) continue;
      if (ip == kNodeVethAddress) continue;
      out.insert(ip + "/32");
    }
  }
  return {out.begin(), out.end()};
}

// Underlay mode: the veth pair, the pod's routes to the node, the pod CIDR, the Service CIDR
// and hostRoutes through it, and the node's host route back to the pod's addresses.
void apply_node_veth(net::NetlinkSocket& node, net::NetlinkSocket& pod, const net::Netns& pod_ns,
                     JournalRecord& rec, const Work& w, const CoordinationSettings& s) {
  std::vector<std::string> dests = node_addresses(node);
  // Traffic to the node leaves from the pod's underlay address, the one the node routes back
  // to the veth, also when vethLinkAddress puts another address on the pod's end.
  std::string source;
  for (const auto& a : rec.attachments) {
    if (a.planned.ifname != w.underlay_link) continue;
    for (const Address& addr : addresses_of(a)) {
      if (addr.v4 && source.empty()) source = addr.ip;
    }
  }
  net::create_veth(node, w.node_veth, kPodVethName, pod_ns.fd());
  net::add_address(node, w.node_veth, std::string(kNodeVethAddress) + "/32");
  net::set_up(node, w.node_veth);
  net::set_up(pod, kPodVethName);
  if (s.veth_link_address) net::add_address(pod, kPodVethName, *s.veth_link_address + "/32");
  // For network-status: the pod's end as the pod sees it.
  rec.coordination["podVethMac"] = net::get_link_info(pod, kPodVethName).mac;
  if (s.veth_link_address) rec.coordination["podVethAddress"] = *s.veth_link_address;
  rec.coordination["network"] = w.underlay_network;

  net::Route hop;
  hop.dst = std::string(kNodeVethAddress) + "/32";
  hop.dev = kPodVethName;
  hop.src = source;
  add_route_once(pod, hop);
  for (const auto* list : {&s.pod_cidr, &s.service_cidr, &s.host_routes}) {
    if (*list) dests.insert(dests.end(), (*list)->begin(), (*list)->end());
  }
  for (const std::string& dst : dests) {
    if (dst.find(':') != std::string::npos) continue;  // the veth carries IPv4 (docs)
    net::Route r;
    r.dst = dst;
    r.gw = kNodeVethAddress;
    r.dev = kPodVethName;
    r.onlink = true;
    r.src = source;
    add_route_once(pod, r);
  }
  for (const auto& a : rec.attachments) {
    if (a.planned.ifname != w.underlay_link) continue;
    for (const Address& addr : addresses_of(a)) {
      if (!addr.v4) continue;
      net::Route back;
      back.dst = host_cidr(addr);
      back.dev = w.node_veth;
      add_route_once(node, back);
    }
  }
}

// True when the attachment's config carries an explicit MAC request (a selection's `mac`,
// injected as runtimeConfig.mac or args.cni.mac).
bool mac_requested(const PlannedAttachment& p) {
  const json list = json::parse(p.conflist, nullptr, false);
  if (!list.is_object() || !list.contains("plugins") || !list["plugins"].is_array()) return false;
  for (const json& plugin : list["plugins"]) {
    if (!plugin.is_object()) continue;
    if (plugin.contains("runtimeConfig") && plugin["runtimeConfig"].is_object() &&
        plugin["runtimeConfig"].contains("mac")) {
      return true;
    }
    const json args = plugin.value("args", json::object());
    if (args.is_object() && args.contains("cni") && args["cni"].is_object() &&
        args["cni"].contains("mac")) {
      return true;
    }
  }
  return false;
}

// macPrefix: the link's MAC becomes prefix + its first IPv4 address, so a fixed address keeps
// one MAC across pods; the recorded result reports the new MAC.
void apply_mac_prefix(net::NetlinkSocket& pod, JournalAttachment& a, const std::string& prefix) {
  for (const Address& addr : addresses_of(a)) {
    if (!addr.v4) continue;
    unsigned char b[4];
    inet_pton(AF_INET, addr.ip.c_str(), b);
    char mac[18];
    std::snprintf(mac, sizeof(mac), "%s:%02x:%02x:%02x:%02x", prefix.c_str(), b[0], b[1], b[2],
                  b[3]);
    net::set_mac(pod, a.planned.ifname, mac);
    json& interfaces = a.result["interfaces"];
    if (interfaces.is_array()) {
      for (json& i : interfaces) {
        if (i.value("name", "") == a.planned.ifname && !i.value("sandbox", "").empty()) {
          i["mac"] = mac;
        }
      }
    }
    return;
  }
}

void announce(const JournalRecord& rec, const std::vector<CoordinationSettings>& per_network) {
  for (size_t i = 0; i < rec.attachments.size(); ++i) {
    if (!per_network[i].announce_or_default()) continue;
    for (const Address& addr : addresses_of(rec.attachments[i])) {
      const std::string& link = rec.attachments[i].planned.ifname;
      if (addr.v4) {
        net::arp_announce(link, addr.ip);
      } else {
        net::ndp_announce(link, addr.ip);
      }
    }
  }
}

}  // namespace

namespace {

// A plugin type that runs in-tree: an in-tree type's own name, or a reference type the meta
// config's inTree maps to it.
bool is_in_tree(const std::string& type, const std::vector<std::string>& in_tree) {
  for (const auto& t : delegates::in_tree_types()) {
    if (t.type == type) return true;
  }
  return std::find(in_tree.begin(), in_tree.end(), type) != in_tree.end();
}

// Whether with_probe_key() could change `conflist`: it names the probe key, or, when a probe
// is wanted, an in-tree type. Most conflists do neither and are not parsed at all.
bool may_need_probe_key(const std::string& conflist, bool probe,
                        const std::vector<std::string>& in_tree) {
  if (cni::may_contain_json_string(conflist, delegates::kProbeKey)) return true;
  if (!probe) return false;
  for (const auto& t : delegates::in_tree_types()) {
    if (cni::may_contain_json_string(conflist, t.type)) return true;
  }
  return std::any_of(in_tree.begin(), in_tree.end(), [&](const std::string& type) {
    return cni::may_contain_json_string(conflist, type);
  });
}

// The conflist with the probe key set on its in-tree plugins (`probe`) and removed from every
// other plugin; the bytes are left alone when nothing changes.
std::string with_probe_key(const std::string& conflist, const std::optional<json>& probe,
                           const std::vector<std::string>& in_tree) {
  if (!may_need_probe_key(conflist, probe.has_value(), in_tree)) return conflist;
  json list = json::parse(conflist, nullptr, false);
  if (!list.is_object() || !list.contains("plugins") || !list["plugins"].is_array()) {
    return conflist;
  }
  bool changed = false;
  for (json& plugin : list["plugins"]) {
    if (!plugin.is_object()) continue;
    const bool want = probe && is_in_tree(plugin.value("type", ""), in_tree);
    if (want) {
      if (plugin.value(delegates::kProbeKey, json()) != *probe) {
        plugin[delegates::kProbeKey] = *probe;
        changed = true;
      }
    } else if (plugin.erase(delegates::kProbeKey) > 0) {
      changed = true;
    }
  }
  return changed ? list.dump() : conflist;
}

}  // namespace

void plan_in_tree_probes(const CoordinationSettings& node, const std::vector<std::string>& in_tree,
                         std::vector<PlannedAttachment>& attachments) {
  const Resolved set = resolve(node, attachments.size(), [&](size_t i) -> const PlannedAttachment& {
    return attachments[i];
  });
  const bool acts = !attachments.empty() && set.pod.mode_or_default() != CoordinationMode::kOff;
  for (size_t i = 0; i < attachments.size(); ++i) {
    const CoordinationSettings& s = set.per_network[i];
    std::optional<json> probe;
    if (acts && s.detect_ip_conflict_or_default()) {
      probe = json{{"detectIPConflict", true},
                   {"detectTimeout", s.detect_timeout_or_default().count() / 1000.0}};
    }
    attachments[i].conflist = with_probe_key(attachments[i].conflist, probe, in_tree);
  }
}

void coordinate(const CoordinationSettings& node, JournalRecord& rec, const SaveRecord& save,
                bool cluster_mac_requested) {
  if (rec.attachments.empty()) return;
  Resolved set = resolve(node, rec);
  Work w;
  w.mode = set.pod.mode_or_default();
  if (w.mode == CoordinationMode::kOff) {
    if (std::any_of(set.per_network.begin(), set.per_network.end(),
                    [](const auto& s) { return s.sets_network_keys(); })) {
      spdlog::warn("coordination: mode is off, so no network's detection or announce key acts");
    }
    return;
  }
  net::Netns pod_ns = net::Netns::open(rec.netns);
  net::NetlinkSocket pod = net::NetlinkSocket::in(pod_ns);
  net::NetlinkSocket node_sk;
  const std::string default_link = default_route_link(pod);
  if (w.mode == CoordinationMode::kAuto) w.mode = decide_auto(pod, default_link);
  spdlog::info("coordination: mode {} (default route on \"{}\")", mode_name(w.mode), default_link);

  // The MAC changes first, so probes and announcements already carry it. It needs no undo: the
  // link is the delegate's, and its DEL removes it.
  for (size_t i = 0; i < rec.attachments.size(); ++i) {
    JournalAttachment& a = rec.attachments[i];
    const auto& prefix = set.per_network[i].mac_prefix;
    if (!prefix) continue;
    if (mac_requested(a.planned) || (a.planned.cluster_network && cluster_mac_requested)) {
      spdlog::info("coordination: {} keeps its requested MAC (macPrefix not applied)",
                   a.planned.ifname);
      continue;
    }
    apply_mac_prefix(pod, a, *prefix);
  }
  net::with_netns(pod_ns, [&] {
    for (size_t i = 0; i < rec.attachments.size(); ++i)
      detect(rec.attachments[i], set.per_network[i]);
  });
  const std::string anchor =
      default_link.empty() ? rec.attachments[set.owner].planned.ifname : default_link;
  plan_policy_routing(rec, anchor, set.pod.table_base_or_default(), w);
  if (w.mode == CoordinationMode::kUnderlay) {
    for (const auto& a : rec.attachments) {
      if (a.planned.ifname == kPodVethName) {
        throw cni::Error(cni::kInvalidConfig,
                         "coordination mode underlay needs the pod interface name \"" +
                             std::string(kPodVethName) + "\", which network \"" +
                             a.planned.network + "\" uses");
      }
    }
    w.underlay_link = anchor;
    for (const auto& a : rec.attachments) {
      if (a.planned.ifname == anchor) w.underlay_network = a.planned.network;
    }
    w.node_veth = node_veth_name(rec.container_id);
    if (net::link_exists(node_sk, w.node_veth)) {
      // Never journal a link this container did not create: its undo would delete it.
      throw cni::Error(cni::kIoFailure, "coordination: node link \"" + w.node_veth +
                                            "\" for container \"" + rec.container_id +
                                            "\" already exists");
    }
  }
  rec.coordination = record_of(w);
  save(rec);

  apply_policy_routing(pod, rec, w);
  if (w.mode == CoordinationMode::kUnderlay) {
    apply_node_veth(node_sk, pod, pod_ns, rec, w, set.pod);
  }
  net::with_netns(pod_ns, [&] { announce(rec, set.per_network); });
}

namespace {

std::vector<net::Rule> recorded_rules(const json& c) {
  std::vector<net::Rule> out;
  for (const json& r : c.value("rules", json::array())) {
    out.push_back({r.at("src").get<std::string>(),
                   cni::json_integer<uint32_t>(r.at("table"), "rule table"),
                   cni::json_integer<uint32_t>(r.at("priority"), "rule priority")});
  }
  return out;
}

}  // namespace

void undo_coordination(JournalRecord& rec, const std::string& netns_path) {
  if (rec.coordination.is_null()) return;
  const json& c = rec.coordination;
  try {
    net::NetlinkSocket node;
    const std::string node_veth = c.value("nodeVeth", "");
    if (!node_veth.empty()) net::delete_link(node, node_veth);
    std::optional<net::Netns> ns;
    try {
      if (!netns_path.empty()) ns = net::Netns::open(netns_path);
    } catch (const net::NetnsGoneError&) {
      // The namespace took the pod's rules, tables and veth end with it.
    }
    // The pod's veth end went with the node's; a "veth0" still there is not ours to delete.
    if (ns) {
      net::NetlinkSocket pod = net::NetlinkSocket::in(*ns);
      for (const auto& r : recorded_rules(c)) net::del_rule(pod, r);
      for (const json& t : c.value("tables", json::array())) {
        for (const auto& r : net::list_routes(pod, AF_UNSPEC, t.get<uint32_t>())) {
          net::del_route(pod, r);
        }
      }
    }
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), "coordination: " + e.msg(), e.details());
  } catch (const std::exception& e) {
    throw cni::Error(cni::kIoFailure, std::string("coordination: bad journal entry: ") + e.what());
  }
  rec.coordination = nullptr;
}

nlohmann::json coordination_status_entry(const JournalRecord& rec) {
  const json& c = rec.coordination;
  if (!c.is_object() || !c.contains("podVeth")) return nullptr;
  json ips = json::array();
  if (c.contains("podVethAddress")) ips.push_back(c["podVethAddress"]);
  json e = {{"name", c.value("network", "")},
            {"interface", c["podVeth"]},
            {"ips", ips},
            {"default", false}};
  if (!c.value("podVethMac", "").empty()) e["mac"] = c["podVethMac"];
  return e;
}

nlohmann::json coordination_for_rebuilt_record(const std::string& container_id) {
  net::NetlinkSocket node;
  const std::string name = node_veth_name(container_id);
  if (!net::link_exists(node, name)) return nullptr;
  return {{"mode", "underlay"},
          {"nodeVeth", name},
          {"rules", json::array()},
          {"tables", json::array()}};
}

void check_coordination(const JournalRecord& rec) {
  if (rec.coordination.is_null()) return;
  const json& c = rec.coordination;
  auto missing = [](const std::string& what) {
    throw cni::Error(cni::kIoFailure, "coordination: " + what + " is missing");
  };
  net::NetlinkSocket node;
  const std::string node_veth = c.value("nodeVeth", "");
  if (!node_veth.empty() && !net::link_exists(node, node_veth)) missing("node link " + node_veth);
  net::Netns ns = net::Netns::open(rec.netns);
  net::NetlinkSocket pod = net::NetlinkSocket::in(ns);
  if (c.contains("podVeth") && !net::link_exists(pod, c["podVeth"].get<std::string>())) {
    missing("pod link " + c["podVeth"].get<std::string>());
  }
  const std::vector<net::Rule> present = net::list_rules(pod, AF_UNSPEC);
  for (const auto& r : recorded_rules(c)) {
    if (std::find(present.begin(), present.end(), r) == present.end()) {
      missing("rule from " + r.src + " lookup " + std::to_string(r.table));
    }
  }
  for (const json& t : c.value("tables", json::array())) {
    if (net::list_routes(pod, AF_UNSPEC, t.get<uint32_t>()).empty()) {
      missing("routing table " + std::to_string(t.get<uint32_t>()));
    }
  }
}

}  // namespace plugin
