// cnimux-macvlan: the reference macvlan plugin's configuration and behaviour over net/ and
// the IPAM step (delegates/common/ipam_step.h), as a cni::Plugin for the binary and for
// in-process use.
#pragma once

#include "cni/plugin.h"

namespace delegates {

// Config keys: master (default: the default route's interface, in the pod with
// linkInContainer), mode bridge|private|vepa|passthru (default bridge), mtu in [0, master
// MTU] (0: the master's), mac (runtimeConfig mac > CNI_ARGS MAC= > mac), linkInContainer,
// ipam ({} or absent: layer 2 only, link up). docs/delegation.md "In-tree delegates".
class MacvlanPlugin : public cni::Plugin {
 public:
  // IPAM first, then the link under a temporary name created in the pod, renamed there;
  // every step undone on failure. The result names the link, its MAC and the pod netns.
  cni::Result add(const cni::Request& req) override;
  // Releases the addresses first (no netns needed), then deletes the link; succeeds when the
  // netns, the link or the master is gone.
  void del(const cni::Request& req) override;
  // prevResult's interface exists in the pod, is a macvlan in the configured mode with the
  // result's MAC, and holds the result's addresses and routes.
  void check(const cni::Request& req) override;
  void status(const cni::Request& req) override;
  void gc(const cni::Request& req) override;
};

}  // namespace delegates
