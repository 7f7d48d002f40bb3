// The planner: orders a pod's attachments (cluster network, default networks, selections),
// resolves each to exact conflist bytes and validates the whole plan before anything runs.
#pragma once

#include <nlohmann/json.hpp>

#include "cni/env.h"
#include "plugin/device_checkpoint.h"
#include "plugin/meta_config.h"
#include "plugin/nad_source.h"
#include "plugin/plan.h"
#include "plugin/pod_info.h"

namespace plugin {

struct PlanInputs {
  const MetaConfig& meta;
  const cni::Invocation& invocation;  // CNI_IFNAME, CNI_ARGS (pod namespace and UID)
  NadSource& nads;                    // one per ADD: it caches NADs for this call
  const PodInfo* pod = nullptr;       // null when no pod source answered
  // The runtime's runtimeConfig from the meta plugin's stdin (null when absent). Only the
  // cluster network gets it, and each plugin only the capabilities it declares.
  nlohmann::json runtime_config;
  // Null: read from meta.device_checkpoint, only when some NAD names a resource.
  const DeviceCheckpoint* devices = nullptr;
};

// Builds and validates the plan:
//  - the cluster network (clusterNetwork, the legacy first delegate, or the pod's
//    v1.multus-cni.io/default-network) on CNI_IFNAME first; then the defaultNetworks
//    (skipped for pods in systemNamespaces) and the other legacy delegates; then the
//    selections. Non-cluster attachments are named net<N> by position unless named.
//  - each conflist gets name/cniVersion in every plugin, runtimeConfig entries only for
//    declared capabilities, cni-args merged into args.cni (the annotation wins), and the
//    pod's next device of the NAD's resource as deviceID and pciBusID.
// Throws cni::Error before anything touches the node:
//  - kInvalidConfig (7): bad annotation, missing NAD, namespace isolation violation,
//    duplicate interface name, two default-route requests, too few devices;
//  - kUnsupportedField (2): a request (ips, mac, portMappings, bandwidth, infiniband-guid)
//    that no plugin of that network declares as a capability;
//  - API and checkpoint failures as their sources throw them.
Plan build_plan(const PlanInputs& in);

}  // namespace plugin
