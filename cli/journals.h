// The pods a node attached, as its cnimux journals (plugin/journal.h) record them: what
// `cnimuxctl pods` shows and what `cnimuxctl ipam gc` keeps.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ipam/allocator.h"
#include "plugin/journal.h"

namespace cli {

struct PodInterface {
  std::string ifname;
  std::string network;                 // "namespace/name" of the NAD, or the cluster network's name
  std::string config_name;             // the conflist's "name": what IPAM records as the network
  std::string state;                   // "pending", "started" or "added"
  std::vector<std::string> addresses;  // CIDRs from the attachment's result
  std::string conflist;  // the exact config ADD ran (not shown; pools read their ranges)
};

// One journal. `state` is "attached", "adding" (an ADD runs, or died), "failed" (a DEL is
// owed), "rolled back" (a failed ADD undone, nothing owed), "deleted" (a tombstone) or
// "corrupt" (`error` says why).
struct PodView {
  std::string container_id;
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;  // K8S_POD_UID as the ADD received it; "" when the runtime sent none
  std::string netns;
  std::string state;
  std::vector<PodInterface> interfaces;
  std::vector<std::string> owed;       // "net1 (ns/mv)": attachments a DEL must still undo
  std::vector<std::string> abandoned;  // a tombstone's give-ups, one line per attachment
  int64_t deleted_at = 0;
  std::string error;
};

// Every journal in `cni_dir`, sorted by container ID; a corrupt one is a PodView in state
// "corrupt". A missing directory holds nothing. StateError when it cannot be listed.
std::vector<PodView> read_pods(const std::string& cni_dir);

// The journal of one container; nullopt when it has none. A corrupt one is state "corrupt".
std::optional<PodView> read_pod(const std::string& cni_dir, const std::string& container_id);

nlohmann::json to_json(const PodView& pod);

// What the store must keep: every (config name, container ID, ifname) a journal says was
// started or added and not yet undone. StateError naming a corrupt journal, since its
// attachments are unknown and freeing them could hand a live address out twice.
ipam::LiveAttachments live_attachments(const std::vector<PodView>& pods);

}  // namespace cli
