// The plan: every attachment of one pod, in order, resolved to exact config bytes and
// validated before anything touches the node. Built by plugin/planner.h; executed by the
// meta plugin; written into the journal verbatim.
#pragma once

#include <string>
#include <vector>

namespace plugin {

struct PlannedAttachment {
  // "namespace/name" of the NAD, or the config name for the cluster network.
  std::string network;
  std::string ifname;
  // A conflist ({"cniVersion","name","plugins":[...]}) with name, cniVersion, runtimeConfig
  // (only capabilities the plugin declares), args.cni and deviceID already injected. Kept as
  // bytes so DEL replays exactly what ADD ran.
  std::string conflist;
  bool cluster_network = false;  // the attachment on CNI_IFNAME
  // This attachment owns the pod's default route (at most one in a plan).
  bool default_route = false;
  // Gateways from a `default-route` request, reported in network-status.
  std::vector<std::string> gateways;
  // Device-plugin device assigned to this attachment, when the NAD names a resource.
  std::string device_id;
};

struct Plan {
  std::vector<PlannedAttachment> attachments;
};

}  // namespace plugin
