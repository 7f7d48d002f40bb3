// Lists the cluster's pods for `ipam gc --kubeconfig` and judges each journal against them.
#include "cli/live_pods.h"

#include "cli/output.h"
#include "cni/error.h"
#include "plugin/http_kube_client.h"
#include "plugin/kubeconfig.h"

namespace cli {

ApiPods list_api_pods(const std::string& kubeconfig_path, const std::string& node) {
  plugin::KubeConfig config = plugin::load_kubeconfig(kubeconfig_path);  // kInvalidConfig
  ApiPods out;
  out.source = config.server + (node.empty() ? "" : " (node " + node + ")");
  std::vector<nlohmann::json> pods;
  try {
    plugin::HttpKubeClient client(config);
    pods = client.list_pods(node.empty() ? "" : "spec.nodeName=" + node);
  } catch (const cni::Error& e) {
    throw StateError("cannot list pods, so nothing is freed: " + e.msg());
  }
  if (pods.empty()) {
    throw StateError("the API at " + out.source +
                     " lists no pod at all, so nothing is freed: cnimux's own DaemonSet pod runs "
                     "on every node, so check --kubeconfig and --node");
  }
  for (const auto& pod : pods) {
    const auto& meta = pod["metadata"];  // list_pods checked namespace and name
    std::string uid =
        meta.contains("uid") && meta["uid"].is_string() ? meta["uid"].get<std::string>() : "";
    out.uids[{meta["namespace"].get<std::string>(), meta["name"].get<std::string>()}] = uid;
  }
  return out;
}

namespace {

// Why the journal's pod no longer holds addresses, or "" when it still may.
std::string why_gone(const PodView& pod, const std::set<std::string>& listed_before,
                     const ApiPods& api) {
  if (pod.pod_namespace.empty() || pod.pod_name.empty()) return "";  // no pod to ask about
  if (!listed_before.count(pod.container_id)) return "";             // newer than the list
  const std::string ref = pod.pod_namespace + "/" + pod.pod_name;
  auto it = api.uids.find({pod.pod_namespace, pod.pod_name});
  if (it == api.uids.end()) return "pod " + ref + " is gone";
  if (!pod.pod_uid.empty() && !it->second.empty() && pod.pod_uid != it->second) {
    return "pod " + ref + " was replaced (uid " + pod.pod_uid + ", now " + it->second + ")";
  }
  return "";
}

}  // namespace

ApiVerdict judge_journals(const std::vector<PodView>& now,
                          const std::set<std::string>& listed_before, const ApiPods& api) {
  ApiVerdict v;
  for (const auto& pod : now) {
    std::string why = why_gone(pod, listed_before, api);
    if (why.empty()) {
      v.keep.push_back(pod);
    } else {
      v.gone[pod.container_id] = std::move(why);
    }
  }
  return v;
}

}  // namespace cli
