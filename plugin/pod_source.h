// Pod sources: where the pod's identity and annotations come from, cheapest first: the
// runtime's CRI annotations, the Kubernetes API, a local manifests directory.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cni/env.h"
#include "plugin/kube_client.h"
#include "plugin/pod_info.h"

namespace plugin {

// The runtimeConfig key containerd fills when the plugin declares the capability.
inline constexpr const char* kCriPodAnnotationsKey = "io.kubernetes.cri.pod-annotations";

class PodSource {
 public:
  virtual ~PodSource() = default;
  // The pod of this invocation, or nullopt when this source knows nothing about it (the
  // caller tries the next one). `runtime_config` is the config's runtimeConfig object, or null.
  // Throws cni::Error when the source answers but the answer is unusable (see each source).
  virtual std::optional<PodInfo> find(const cni::Invocation& inv,
                                      const nlohmann::json* runtime_config) = 0;
};

// runtimeConfig["io.kubernetes.cri.pod-annotations"]: no API call. ns/name/uid come from
// CNI_ARGS. nullopt when the key is absent; a present but empty map is an answer (no
// annotations). A non-string annotation value is Error(kInvalidConfig) naming the key.
class CriPodSource : public PodSource {
 public:
  std::optional<PodInfo> find(const cni::Invocation& inv,
                              const nlohmann::json* runtime_config) override;
};

// GET of the pod named by K8S_POD_NAMESPACE/K8S_POD_NAME: exactly one API request, none when
// CNI_ARGS names no pod (nullopt). When K8S_POD_UID is given and differs from metadata.uid:
// Error(kPodNotFound) naming both UIDs. A 404 is nullopt, or Error(kPodNotFound) naming ns/name
// when `pod_must_exist` (the meta plugin sets it on ADD).
class ApiPodSource : public PodSource {
 public:
  ApiPodSource(KubeClient& client, bool pod_must_exist)
      : client_(client), must_exist_(pod_must_exist) {}
  std::optional<PodInfo> find(const cni::Invocation& inv,
                              const nlohmann::json* runtime_config) override;

 private:
  KubeClient& client_;
  bool must_exist_;
};

// Pod manifests (*.yaml, *.yml, *.json; multi-document YAML and v1 List allowed) in `dir`,
// matched by metadata.namespace (default "default") and metadata.name, found by ManifestDir's
// rule: a file named after the pod that cannot be used (too large, an alias bomb, nested too
// deep, not YAML) is Error(kInvalidConfig) naming it; any other such file is logged and
// skipped. The first match wins. A matching manifest whose metadata.uid differs from
// K8S_POD_UID is Error(kPodNotFound) naming both UIDs.
class PodDirSource : public PodSource {
 public:
  explicit PodDirSource(std::string dir) : dir_(std::move(dir)) {}
  std::optional<PodInfo> find(const cni::Invocation& inv,
                              const nlohmann::json* runtime_config) override;

 private:
  std::string dir_;
};

// Tries each source in order; the first answer wins. When none answers it returns
// PodInfo{ns, name, uid from CNI_ARGS, no annotations, source "none"}: never nullopt.
// CNI_ARGS with K8S_POD_NAME but no K8S_POD_NAMESPACE (podman) name a pod in
// `default_namespace`, for every source and for the answer.
class ChainPodSource : public PodSource {
 public:
  explicit ChainPodSource(std::vector<std::unique_ptr<PodSource>> sources,
                          std::string default_namespace = "default")
      : sources_(std::move(sources)), default_namespace_(std::move(default_namespace)) {}
  std::optional<PodInfo> find(const cni::Invocation& inv,
                              const nlohmann::json* runtime_config) override;

 private:
  std::vector<std::unique_ptr<PodSource>> sources_;
  std::string default_namespace_;
};

struct PodSourceOptions {
  KubeClient* kube = nullptr;   // null: no kubeconfig / in-cluster config; the API is skipped
  std::string pod_dir;          // empty: no manifests directory
  bool pod_must_exist = false;  // see ApiPodSource
  // The namespace of a pod named without K8S_POD_NAMESPACE (defaultPodNamespace).
  std::string default_namespace = "default";
};

// CRI -> API (when `kube`) -> podDir (when `pod_dir`) -> none. The chain never calls the API
// when CRI answers, so an ADD with CRI annotations makes no pod GET. `kube` must outlive it.
std::unique_ptr<PodSource> make_pod_source_chain(const PodSourceOptions& options);

// PodInfo from a Pod object (API JSON or a parsed manifest): metadata.namespace/name/uid and
// annotations; non-string annotation values are kept as their JSON text.
PodInfo pod_info_from_object(const nlohmann::json& pod, std::string source);

}  // namespace plugin
