// cnimux-ipvlan: the reference ipvlan plugin's configuration and behaviour over net/ and the
// IPAM step (delegates/common/child_link.h), as a cni::Plugin for the binary and in-process use.
#pragma once

#include "cni/plugin.h"
#include "delegates/common/child_link.h"

namespace delegates {

// Config keys: mode l2|l3|l3s (default l2), master (default: in a chain, the single interface
// of prevResult; else the default route's interface, in the pod with linkInContainer), mtu in
// [0, master MTU] (0: the master's), linkInContainer, ipam ({} or absent: layer 2 only, link
// up). No MAC: an ipvlan link has its master's MAC, so `mac` (config, CNI_ARGS MAC= or
// runtimeConfig) is Error(7) naming it. docs/delegation.md "In-tree ipvlan".
// The config as ADD and CHECK use it (master still empty when not set). Error(7) naming the
// key and value for a bad mode, a MAC, or a key of the wrong JSON type.
ChildLinkConf parse_ipvlan_conf(const cni::Request& req);

class IpvlanPlugin : public cni::Plugin {
 public:
  // IPAM first, then the link under a temporary name created in the pod, renamed there;
  // every step undone on failure. A kernel without ipvlan fails with code 5 naming the module.
  cni::Result add(const cni::Request& req) override;
  // Releases the addresses first, then deletes the link; succeeds when the netns, the link or
  // the master is gone.
  void del(const cni::Request& req) override;
  // prevResult's interface exists in the pod, is an ipvlan in the configured mode with the
  // result's MAC, and holds the result's addresses and routes.
  void check(const cni::Request& req) override;
  void status(const cni::Request& req) override;
  void gc(const cni::Request& req) override;
};

}  // namespace delegates
