// Moves the pod's default route from the cluster network to the attachment that claims it.
#include "plugin/default_route.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "net/netlink.h"
#include "net/netns.h"

namespace plugin {
namespace {

using nlohmann::json;

bool is_default(const std::string& dst) {
  return dst == "0.0.0.0/0" || dst == "::/0";
}

std::string default_for(const std::string& gw) {
  return gw.find(':') == std::string::npos ? "0.0.0.0/0" : "::/0";
}

// Drops default routes from a recorded result (1.x JSON) so the runtime is told the truth.
void drop_default_routes(json& result) {
  auto it = result.find("routes");
  if (it == result.end() || !it->is_array()) return;
  json kept = json::array();
  for (const auto& r : *it) {
    if (!is_default(r.value("dst", ""))) kept.push_back(r);
  }
  *it = kept;
}

void add_default_routes(json& result, const std::vector<std::string>& gateways) {
  json& routes = result["routes"];
  if (!routes.is_array()) routes = json::array();
  for (const auto& gw : gateways) routes.push_back({{"dst", default_for(gw)}, {"gw", gw}});
}

}  // namespace

void apply_default_route(JournalRecord& rec) {
  auto owner = std::find_if(rec.attachments.begin(), rec.attachments.end(), [](const auto& a) {
    return a.planned.default_route && !a.planned.cluster_network;
  });
  if (owner == rec.attachments.end() || rec.attachments.empty()) return;
  JournalAttachment& cluster = rec.attachments.front();

  net::Netns ns = net::Netns::open(rec.netns);
  net::NetlinkSocket sk = net::NetlinkSocket::in(ns);
  for (const auto& r : net::list_routes(sk, AF_UNSPEC)) {
    if (is_default(r.dst) && r.dev == cluster.planned.ifname) net::del_route(sk, r);
  }
  for (const auto& gw : owner->planned.gateways) {
    net::Route r;
    r.dst = default_for(gw);
    r.gw = gw;
    r.dev = owner->planned.ifname;
    try {
      net::add_route(sk, r);
    } catch (const net::NetlinkError& e) {
      if (e.sys_errno() != EEXIST) throw;  // the delegate already installed this route
    }
  }
  drop_default_routes(cluster.result);
  drop_default_routes(owner->result);
  add_default_routes(owner->result, owner->planned.gateways);
}

}  // namespace plugin
