// The k8s.v1.cni.cncf.io/network-status annotation: one entry per attachment interface, in
// the shape Multus writes, built from the plan and each attachment's result.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cni/result.h"
#include "plugin/plan.h"

namespace plugin {

inline constexpr const char* kNetworkStatusAnnotation = "k8s.v1.cni.cncf.io/network-status";

// One entry: name, interface, ips (no prefix length), mac, mtu, default, dns, gateway and
// device-info. Addresses are those on the pod-side interface named by the attachment.
nlohmann::json network_status_entry(const PlannedAttachment& attachment, const cni::Result& result);

}  // namespace plugin
