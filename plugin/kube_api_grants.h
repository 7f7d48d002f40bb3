// Every Kubernetes API request cnimux's code can send, as RBAC names it. The HTTP client
// (plugin/http_kube_client.h) issues only these; config/rbac.yaml grants exactly them, one
// ClusterRole per caller, and test/unit/config/manifests_test.cc holds the two to each other.
#pragma once

#include <array>
#include <string_view>

namespace plugin {

struct KubeApiGrant {
  std::string_view role;      // the ClusterRole that must grant it (config/rbac.yaml)
  std::string_view verb;      // RBAC verb: get, list, patch...
  std::string_view group;     // API group; "" is the core group
  std::string_view resource;  // resource[/subresource]
};

// "cnimux": the node plugin (the DaemonSet's service account). "cnimuxctl": the operator's
// `ipam gc --kubeconfig`, kept apart so that no node can list every pod of the cluster.
inline constexpr std::array<KubeApiGrant, 4> kKubeApiGrants{{
    {"cnimux", "get", "", "pods"},                                           // get_pod
    {"cnimux", "patch", "", "pods/status"},                                  // patch_pod_annotation
    {"cnimux", "get", "k8s.cni.cncf.io", "network-attachment-definitions"},  // get_nad
    {"cnimuxctl", "list", "", "pods"},                                       // list_pods
}};

}  // namespace plugin
