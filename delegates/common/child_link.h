// What macvlan and ipvlan share: a child link of a master, created in the pod under a temporary
// name and renamed there, its config field reading, master lookup and MTU bound, DEL and CHECK.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cni/error.h"
#include "cni/plugin.h"
#include "cni/result.h"
#include "net/netlink.h"

namespace delegates {

// `s` in double quotes, for error messages.
std::string in_quotes(const std::string& s);

// raw[key] as T; `fallback` when absent or null; Error(7) naming the key, the value and
// `want` ("a string") when it has another JSON type.
template <class T>
T field(const nlohmann::json& raw, const char* key, T fallback, const char* want) {
  auto it = raw.find(key);
  if (it == raw.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw cni::Error(cni::kInvalidConfig, std::string(key) + " " + it->dump() + ": not " + want);
  }
}

// The interface of the IPv4 default route in `sk`'s namespace; Error(7) naming master if none.
std::string default_route_interface(net::NetlinkSocket& sk);

// A name unique per (container, ifname), so a DEL can remove a link an ADD left half done.
std::string temporary_name(const cni::Invocation& inv);

// What a child link's ADD and CHECK need.
struct ChildLinkConf {
  std::string kind;    // "macvlan", "ipvlan": the link kind CHECK expects
  std::string master;  // empty: ADD calls default_master
  std::string mode;
  int mtu = 0;      // 0: the master's
  std::string mac;  // empty: the kernel's choice
  bool link_in_container = false;
  // The master when `master` is empty, given a socket in the parent's namespace (the host, or
  // the pod with linkInContainer). Default: default_route_interface.
  std::function<std::string(net::NetlinkSocket& parent)> default_master = default_route_interface;
};

// net::create_macvlan or net::create_ipvlan.
using CreateChild = void (*)(net::NetlinkSocket&, const std::string& name,
                             const std::string& master, const std::string& mode,
                             std::optional<int> netns_fd, std::optional<unsigned> mtu);

// ADD: checks mtu against the master's (Error(7) naming mtu and master; master absent:
// Error(7) "no such link"), runs IPAM, creates the link with `create` directly in the pod under
// temporary_name, sets the MAC, renames it, sets arp_notify/ndisc_notify, brings it up and
// puts the IPAM result on it. Every step undone on failure. The result names the link, its MAC
// and the pod netns.
cni::Result add_child_link(const cni::Request& req, const ChildLinkConf& c, CreateChild create);

// DEL: releases the addresses first (no netns needed), then deletes the link and any
// temporary leftover; succeeds when the netns, the link or the master is gone.
void del_child_link(const cni::Request& req);

// CHECK: prevResult's interface exists in the pod, is a `c.kind` link in `c.mode` with the
// result's MAC, and holds the result's addresses and routes. Error(11) on a mismatch.
void check_child_link(const cni::Request& req, const ChildLinkConf& c);

}  // namespace delegates
