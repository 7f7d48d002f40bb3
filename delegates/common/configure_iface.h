// Putting an IPAM result on the pod's interface: its addresses, then its routes.
#pragma once

#include <string>

#include "cni/result.h"
#include "net/netlink.h"

namespace delegates {

// Adds every address of `result` to `ifname` (in the socket's netns), sets it up, and adds
// every route of `result` through it (a route without gw takes the gateway of the first
// address of its family that has one).
void configure_interface(net::NetlinkSocket& sk, const std::string& ifname,
                         const cni::Result& result);

}  // namespace delegates
