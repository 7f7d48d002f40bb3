// The three pod sources (CRI annotations, Kubernetes API, manifests directory) and the chain
// that tries them cheapest first.
#include "plugin/pod_source.h"

#include <spdlog/spdlog.h>

#include "cni/error.h"
#include "plugin/manifests.h"

namespace plugin {
namespace {

PodInfo identity_from_args(const cni::Invocation& inv, std::string source) {
  PodInfo info;
  info.ns = inv.pod_namespace();
  info.name = inv.pod_name();
  info.uid = inv.pod_uid();
  info.source = std::move(source);
  return info;
}

void check_uid(const cni::Invocation& inv, const PodInfo& found, const std::string& where) {
  const std::string want = inv.pod_uid();
  if (want.empty() || found.uid.empty() || want == found.uid) return;
  throw cni::Error(cni::kPodNotFound, "pod " + found.ns + "/" + found.name + ": K8S_POD_UID " +
                                          want + " does not match uid " + found.uid + " from " +
                                          where);
}

}  // namespace

PodInfo pod_info_from_object(const nlohmann::json& pod, std::string source) {
  PodInfo info;
  info.source = std::move(source);
  const auto meta = pod.value("metadata", nlohmann::json::object());
  if (!meta.is_object()) return info;
  // A manifest may carry an unquoted uid that YAML reads as a number; keep it as text.
  auto text = [&](const char* key) -> std::string {
    if (!meta.contains(key) || meta[key].is_null()) return "";
    return meta[key].is_string() ? meta[key].get<std::string>() : meta[key].dump();
  };
  info.ns = text("namespace");
  info.name = text("name");
  info.uid = text("uid");
  if (meta.contains("annotations") && meta["annotations"].is_object()) {
    for (const auto& [k, v] : meta["annotations"].items())
      info.annotations[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return info;
}

std::optional<PodInfo> CriPodSource::find(const cni::Invocation& inv,
                                          const nlohmann::json* runtime_config) {
  if (!runtime_config || !runtime_config->is_object() ||
      !runtime_config->contains(kCriPodAnnotationsKey))
    return std::nullopt;
  const auto& map = (*runtime_config)[kCriPodAnnotationsKey];
  if (map.is_null()) return std::nullopt;
  if (!map.is_object())
    throw cni::Error(cni::kInvalidConfig,
                     std::string("runtimeConfig ") + kCriPodAnnotationsKey + " is not a map");
  PodInfo info = identity_from_args(inv, "cri");
  for (const auto& [k, v] : map.items()) {
    if (!v.is_string())
      throw cni::Error(cni::kInvalidConfig, std::string("runtimeConfig ") + kCriPodAnnotationsKey +
                                                "[\"" + k + "\"] is not a string");
    info.annotations[k] = v.get<std::string>();
  }
  return info;
}

std::optional<PodInfo> ApiPodSource::find(const cni::Invocation& inv, const nlohmann::json*) {
  const std::string ns = inv.pod_namespace(), name = inv.pod_name();
  if (ns.empty() || name.empty()) return std::nullopt;
  auto pod = client_.get_pod(ns, name);
  if (!pod) {
    if (must_exist_)
      throw cni::Error(cni::kPodNotFound, "pod " + ns + "/" + name +
                                              " (K8S_POD_NAMESPACE/K8S_POD_NAME) not found "
                                              "in the Kubernetes API");
    return std::nullopt;
  }
  PodInfo info = pod_info_from_object(*pod, "api");
  if (info.ns.empty()) info.ns = ns;
  if (info.name.empty()) info.name = name;
  check_uid(inv, info, "the Kubernetes API");
  return info;
}

std::optional<PodInfo> PodDirSource::find(const cni::Invocation& inv, const nlohmann::json*) {
  const std::string ns = inv.pod_namespace(), name = inv.pod_name();
  if (ns.empty() || name.empty() || dir_.empty()) return std::nullopt;
  ManifestMatches matches = ManifestDir(dir_, "Pod").find(ns, name);
  if (matches.found.empty()) return std::nullopt;
  const auto& [obj, file] = matches.found.front();
  PodInfo info = pod_info_from_object(obj, "podDir");
  info.ns = ns;
  check_uid(inv, info, file);
  if (info.uid.empty()) info.uid = inv.pod_uid();
  return info;
}

std::optional<PodInfo> ChainPodSource::find(const cni::Invocation& inv,
                                            const nlohmann::json* runtime_config) {
  // podman names its container or pod but never a namespace.
  cni::Invocation named = inv;
  if (named.pod_namespace().empty() && !named.pod_name().empty())
    named.args.set("K8S_POD_NAMESPACE", default_namespace_);
  for (const auto& source : sources_) {
    if (auto info = source->find(named, runtime_config)) return info;
  }
  return identity_from_args(named, "none");
}

std::unique_ptr<PodSource> make_pod_source_chain(const PodSourceOptions& options) {
  std::vector<std::unique_ptr<PodSource>> sources;
  sources.push_back(std::make_unique<CriPodSource>());
  if (options.kube)
    sources.push_back(std::make_unique<ApiPodSource>(*options.kube, options.pod_must_exist));
  if (!options.pod_dir.empty()) sources.push_back(std::make_unique<PodDirSource>(options.pod_dir));
  return std::make_unique<ChainPodSource>(std::move(sources), options.default_namespace);
}

}  // namespace plugin
