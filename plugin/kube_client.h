// The narrow view of the Kubernetes API that cnimux needs: read a pod, read a NAD, and write
// the pod's network-status annotation. The HTTP implementation is plugin/http_kube_client.h;
// tests substitute an in-memory one.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace plugin {

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  // GET /api/v1/namespaces/{ns}/pods/{name}. nullopt when the API answers 404.
  // Any other failure (unreachable, 401/403, 5xx after retries, timeout, bad JSON) throws
  // cni::Error(kKubeApiFailure) naming the request.
  virtual std::optional<nlohmann::json> get_pod(const std::string& ns, const std::string& name) = 0;

  // GET /apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions/{name}.
  // nullopt on 404; other failures as get_pod.
  virtual std::optional<nlohmann::json> get_nad(const std::string& ns, const std::string& name) = 0;

  // One PATCH of /api/v1/namespaces/{ns}/pods/{name}/status (merge patch) setting
  // metadata.annotations[key] = value. Failures as get_pod.
  virtual void patch_pod_annotation(const std::string& ns, const std::string& name,
                                    const std::string& key, const std::string& value) = 0;
};

}  // namespace plugin
