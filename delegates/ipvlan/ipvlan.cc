// IpvlanPlugin: config parsing (mode, no MAC, the chained master from prevResult); the child
// link's ADD, DEL and CHECK are delegates/common/child_link.h.
#include "delegates/ipvlan/ipvlan.h"

#include <cerrno>

#include "cni/error.h"
#include "delegates/common/child_link.h"
#include "delegates/common/ipam_step.h"
#include "net/netlink.h"

namespace delegates {
namespace {

using nlohmann::json;

// Refuses a MAC from any of the three places macvlan reads one: ipvlan cannot set it.
void refuse_mac(const cni::Request& req) {
  const auto refuse = [](const std::string& where, const std::string& value) {
    throw cni::Error(cni::kInvalidConfig,
                     where + " " + in_quotes(value) +
                         ": ipvlan links share their master's MAC and cannot set one");
  };
  const json& raw = req.conf.raw;
  if (auto mac = field<std::string>(raw, "mac", "", "a string"); !mac.empty()) refuse("mac", mac);
  if (auto arg = req.invocation.args.get("MAC"); arg && !arg->empty()) refuse("CNI_ARGS MAC", *arg);
  if (const json* rc = req.conf.runtime_config(); rc && rc->is_object()) {
    if (auto mac = field<std::string>(*rc, "mac", "", "a string"); !mac.empty()) {
      refuse("runtimeConfig.mac", mac);
    }
  }
}

// In a chain without master, the master is the single named interface of prevResult.
std::string chained_master(const cni::Request& req) {
  const cni::Result prev = cni::Result::from_json(*req.conf.prev_result(), req.conf.cni_version());
  if (prev.interfaces.size() != 1 || prev.interfaces[0].name.empty()) {
    throw cni::Error(cni::kInvalidConfig,
                     "master: not set, and prevResult has " +
                         std::to_string(prev.interfaces.size()) +
                         " interfaces (a chained ipvlan needs exactly one named interface)");
  }
  return prev.interfaces[0].name;
}

}  // namespace

ChildLinkConf parse_ipvlan_conf(const cni::Request& req) {
  const json& raw = req.conf.raw;
  ChildLinkConf c;
  c.kind = "ipvlan";
  c.master = field<std::string>(raw, "master", "", "a string");
  c.mode = field<std::string>(raw, "mode", "l2", "a string");
  if (c.mode.empty()) c.mode = "l2";
  if (c.mode != "l2" && c.mode != "l3" && c.mode != "l3s") {
    throw cni::Error(cni::kInvalidConfig,
                     "mode " + in_quotes(c.mode) + ": unknown ipvlan mode (l2, l3, l3s)");
  }
  c.mtu = field<int>(raw, "mtu", 0, "an integer");
  c.link_in_container = field<bool>(raw, "linkInContainer", false, "a boolean");
  refuse_mac(req);
  return c;
}

cni::Result IpvlanPlugin::add(const cni::Request& req) {
  ChildLinkConf c = parse_ipvlan_conf(req);
  if (c.master.empty() && req.conf.prev_result()) c.master = chained_master(req);
  try {
    return add_child_link(req, c, &net::create_ipvlan);
  } catch (const net::NetlinkError& e) {
    if (e.sys_errno() != EOPNOTSUPP) throw;
    throw cni::Error(cni::kIoFailure,
                     std::string(e.what()) + " (this kernel lacks the ipvlan module)");
  }
}

void IpvlanPlugin::del(const cni::Request& req) {
  del_child_link(req);
}

void IpvlanPlugin::check(const cni::Request& req) {
  check_child_link(req, parse_ipvlan_conf(req));
}

void IpvlanPlugin::status(const cni::Request& req) {
  IpamStep(req).status(req);
}

void IpvlanPlugin::gc(const cni::Request& req) {
  IpamStep(req).gc(req);
}

}  // namespace delegates
