// `cnimuxctl ipam gc --kubeconfig`: which journals' pods the Kubernetes API still has. A
// journal whose pod is gone (or was replaced by a new pod of the same name) no longer keeps
// its addresses; everything else stays as the journal-only GC decides.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/journals.h"

namespace cli {

// The pods the API lists: (namespace, name) -> uid.
struct ApiPods {
  std::map<std::pair<std::string, std::string>, std::string> uids;
  std::string source;  // "https://... (node n1)", for messages
};

// Lists every pod (only those on `node` when non-empty, by field selector) through
// plugin::HttpKubeClient with the kubeconfig at `kubeconfig_path`. StateError when the API
// cannot be read or answers with something that is not a list of pods, and when the list is
// empty: cnimux's own DaemonSet pod runs on every node, so no pod at all means the wrong
// server, node name or credentials, not a cluster without pods. A bad kubeconfig is
// cni::Error(kInvalidConfig).
ApiPods list_api_pods(const std::string& kubeconfig_path, const std::string& node);

// The verdict on the journals `now` (read under the GC fence): `keep` holds those whose
// attachments stay live, `gone` maps the container ID of every other one to why. A journal
// is kept when it names no pod, when it was not in `listed_before` (the container IDs read
// before the API was asked: a newer journal's pod may postdate the list), or when the API
// lists its pod with the same uid (or either uid is unknown).
struct ApiVerdict {
  std::vector<PodView> keep;
  std::map<std::string, std::string> gone;
};
ApiVerdict judge_journals(const std::vector<PodView>& now,
                          const std::set<std::string>& listed_before, const ApiPods& api);

}  // namespace cli
