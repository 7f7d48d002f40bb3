// Link moves between namespaces with temporary names, and their exact undo.
#include "net/link_move.h"

#include <strings.h>

namespace net {

void move_link_renamed(NetlinkSocket& from, const std::string& name, const Netns& to,
                       const std::string& new_name, int ifindex, const std::string& alias) {
  const std::string temp = "cnmx" + std::to_string(ifindex);
  set_alias(from, name, alias);
  set_down(from, name);
  rename_link(from, name, temp);
  try {
    move_to_netns(from, temp, to.fd());
  } catch (...) {
    rename_link(from, temp, name);
    throw;
  }
  NetlinkSocket there = NetlinkSocket::in(to);
  try {
    rename_link(there, temp, new_name);
  } catch (...) {
    move_to_netns(there, temp, Netns::current().fd());
    rename_link(from, temp, name);
    throw;
  }
}

namespace {

void restore(NetlinkSocket& sk, const LinkOrigin& o) {
  LinkInfo now = get_link_info(sk, o.name);
  if (o.mtu && now.mtu != o.mtu) set_mtu(sk, o.name, o.mtu);
  if (!o.mac.empty() && strcasecmp(now.mac.c_str(), o.mac.c_str()) != 0) set_mac(sk, o.name, o.mac);
  if (o.up) set_up(sk, o.name);
}

}  // namespace

bool move_link_back(const Netns& pod, const std::string& ifname, const Netns& host,
                    const LinkOrigin& origin) {
  NetlinkSocket pod_sk = NetlinkSocket::in(pod);
  if (!link_exists(pod_sk, ifname)) return false;
  LinkInfo info = get_link_info(pod_sk, ifname);
  move_link_renamed(pod_sk, ifname, host, origin.name, info.index, origin.name);
  NetlinkSocket host_sk = NetlinkSocket::in(host);
  restore(host_sk, origin);
  return true;
}

bool recover_returned_link(const LinkOrigin& origin) {
  NetlinkSocket host;
  if (link_exists(host, origin.name)) return false;
  for (const LinkInfo& l : list_links(host)) {
    if (l.alias != origin.name) continue;
    set_down(host, l.name);
    rename_link(host, l.name, origin.name);
    restore(host, origin);
    return true;
  }
  return false;
}

}  // namespace net
