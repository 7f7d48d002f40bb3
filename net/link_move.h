// Moving an existing link between network namespaces under a new name, and putting it back
// with its original name, MTU, MAC and up state: what host-device and SR-IOV share.
#pragma once

#include <string>

#include "net/netlink.h"
#include "net/netns.h"

namespace net {

// What a moved link looked like in the host, so it can be put back exactly.
struct LinkOrigin {
  std::string name;
  std::string mac;   // "" leaves the MAC alone
  unsigned mtu = 0;  // 0 leaves the MTU alone
  bool up = false;
};

// Moves `name` (in `from`'s netns, ifindex `ifindex`) into `to` as `new_name`: down, renamed
// to a temporary name ("cnmx" + ifindex) so it cannot clash on either side, moved, renamed.
// The link's alias is set to `alias` first (the host name: the reference host-device's
// marker, which is how a link the kernel returns to the host is recognised). Left down.
void move_link_renamed(NetlinkSocket& from, const std::string& name, const Netns& to,
                       const std::string& new_name, int ifindex, const std::string& alias);

// Moves `ifname` of `pod` back into `host` as origin.name and restores origin's MTU, MAC and
// up state. Returns false (and changes nothing) when the pod has no such link.
bool move_link_back(const Netns& pod, const std::string& ifname, const Netns& host,
                    const LinkOrigin& origin);

// After the pod's netns was destroyed the kernel returns a physical link to the host under
// its pod name (or "devN"), alias kept: finds it in the calling thread's netns by alias,
// renames it back and restores it. False when no such link exists (a veth, say, is destroyed
// with the netns) or it is already home.
bool recover_returned_link(const LinkOrigin& origin);

}  // namespace net
