// MacvlanPlugin: config parsing (mode, MAC precedence, default-route master); the child link's
// ADD, DEL and CHECK are delegates/common/child_link.h.
#include "delegates/macvlan/macvlan.h"

#include "cni/error.h"
#include "delegates/common/child_link.h"
#include "delegates/common/ipam_step.h"
#include "net/netlink.h"

namespace delegates {
namespace {

using nlohmann::json;

ChildLinkConf parse_conf(const cni::Request& req) {
  const json& raw = req.conf.raw;
  ChildLinkConf c;
  c.kind = "macvlan";
  c.master = field<std::string>(raw, "master", "", "a string");
  c.mode = field<std::string>(raw, "mode", "bridge", "a string");
  if (c.mode.empty()) c.mode = "bridge";
  if (c.mode != "bridge" && c.mode != "private" && c.mode != "vepa" && c.mode != "passthru") {
    throw cni::Error(
        cni::kInvalidConfig,
        "mode " + in_quotes(c.mode) + ": unknown macvlan mode (bridge, private, vepa, passthru)");
  }
  c.mtu = field<int>(raw, "mtu", 0, "an integer");
  c.link_in_container = field<bool>(raw, "linkInContainer", false, "a boolean");
  // MAC precedence, as the reference: runtimeConfig mac > CNI_ARGS MAC= > config mac.
  c.mac = field<std::string>(raw, "mac", "", "a string");
  if (auto arg = req.invocation.args.get("MAC")) c.mac = *arg;
  if (const json* rc = req.conf.runtime_config(); rc && rc->is_object()) {
    c.mac = field<std::string>(*rc, "mac", c.mac, "a string");
  }
  return c;
}

}  // namespace

cni::Result MacvlanPlugin::add(const cni::Request& req) {
  return add_child_link(req, parse_conf(req), &net::create_macvlan);
}

void MacvlanPlugin::del(const cni::Request& req) {
  del_child_link(req);
}

void MacvlanPlugin::check(const cni::Request& req) {
  check_child_link(req, parse_conf(req));
}

void MacvlanPlugin::status(const cni::Request& req) {
  IpamStep(req).status(req);
}

void MacvlanPlugin::gc(const cni::Request& req) {
  IpamStep(req).gc(req);
}

}  // namespace delegates
