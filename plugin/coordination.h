// The coordination stage (docs/coordination.md): after the delegates and the default-route
// choice, before network-status, it makes a pod's attachments work together: source-based
// policy routing per extra link, a veth to the node for underlay pods, address conflict and
// gateway checks (ARP for IPv4, NDP for IPv6), MACs derived from addresses, and gratuitous ARP /
// unsolicited NA. Everything it does is journalled first and undone by rollback, DEL and GC.
// Before the delegates, it hands in-tree delegates the conflict probe (plan_in_tree_probes).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "plugin/coordination_config.h"
#include "plugin/journal.h"

namespace plugin {

// The pod's end of the node veth (underlay mode) and the node end's link-local address, the
// next hop of every route the pod sends to the node.
inline constexpr const char* kPodVethName = "veth0";
inline constexpr const char* kNodeVethAddress = "169.254.1.1";
// Rules of attachment N (its position in the plan) are at priority kRulePriorityBase + N.
inline constexpr uint32_t kRulePriorityBase = 1000;

// Saves the record durably; the stage calls it with rec.coordination set, before it changes
// anything, so whatever it leaves behind is on record.
using SaveRecord = std::function<void(const JournalRecord&)>;

// Before the delegates run (the plan, before it is journalled): for each attachment whose
// network's detectIPConflict acts (the pod's mode is not off), puts the probe key
// (delegates/common/address_probe.h) into each in-tree plugin of its conflist, so that delegate
// probes the addresses before it configures them, and coordinate() does not probe them again.
// The key is removed from every other plugin, so the planned conflist says exactly who probes.
// `in_tree`: the meta config's inTree (reference types run in-tree).
void plan_in_tree_probes(const CoordinationSettings& node, const std::vector<std::string>& in_tree,
                         std::vector<PlannedAttachment>& attachments);

// Runs the stage on an ADD whose attachments are all added, with `node` as the node's default
// settings. Mode off (the default) returns at once and records nothing. Throws cni::Error:
// kAddressConflict naming the address, the link and the holder's MAC; kGatewayUnreachable
// when detectGateway is "fail"; kInvalidConfig when the plan names an interface veth0 in
// underlay mode; netlink and socket failures as kIoFailure. What it did is in rec.coordination
// for the caller's rollback.
// `cluster_mac_requested`: the runtime asked for the cluster network's MAC (runtimeConfig mac or
// CNI_ARGS MAC=), which macPrefix must not override.
void coordinate(const CoordinationSettings& node, JournalRecord& rec, const SaveRecord& save,
                bool cluster_mac_requested = false);

// Undoes rec.coordination, idempotently: the node's veth end (which takes the pod's end and
// the node's host route with it; a pod link of that name is never deleted by name), then the pod's
// rules and table routes in `netns_path` (a namespace that is gone took them with it). Runs in the
// calling thread's namespace, the node. Clears rec.coordination on success; throws cni::Error and
// keeps it otherwise.
void undo_coordination(JournalRecord& rec, const std::string& netns_path);

// The network-status entry of the pod's veth end (underlay mode): the network whose link holds
// the default route, interface veth0, its vethLinkAddress and MAC. Null when there is no veth.
nlohmann::json coordination_status_entry(const JournalRecord& rec);

// For a DEL that found no journal: the record of the node veth this container's ADD would have
// made (its name derives from the container ID), when such a link exists; null otherwise.
nlohmann::json coordination_for_rebuilt_record(const std::string& container_id);

// CHECK: the recorded veth ends, rules and table routes are present. Throws
// cni::Error(kIoFailure) naming the first one missing.
void check_coordination(const JournalRecord& rec);

}  // namespace plugin
