// Wires the meta plugin's stages for one verb: config, logging, journal, delegates, API.
#include "plugin/session.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "cni/delegate_resolver.h"
#include "cni/error.h"
#include "cni/log.h"
#include "plugin/http_kube_client.h"
#include "plugin/kubeconfig.h"
#include "plugin/meta_config.h"
#include "plugin/nad_source.h"
#include "plugin/planner.h"
#include "plugin/pod_source.h"

namespace plugin {
namespace {

std::unique_ptr<MetaConfig> parse_config(const cni::Request& req) {
  auto meta = std::make_unique<MetaConfig>(parse_meta_config(req.conf.raw));
  cni::LogOptions log;
  log.program = "cnimux";
  log.container_id = req.invocation.container_id;
  log.verb = std::string(cni::verb_name(req.invocation.verb));
  log.file = meta->log_file;
  log.level = meta->log_level;
  log.also_stderr = meta->log_to_stderr;
  cni::init_logging(log);
  return meta;
}

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::optional<std::string>(v) : std::nullopt;
}

// What each pod source said, for the warning above.
std::string sources_tried(const PodSourceOptions& opts) {
  std::string cri = std::string("CRI annotations (runtimeConfig has no \"") +
                    kCriPodAnnotationsKey + "\"; declare that capability under containerd)";
  std::string api = opts.kube ? "Kubernetes API (no such pod)"
                              : "Kubernetes API (not configured: no kubeconfig, not in a cluster)";
  std::string dir = opts.pod_dir.empty() ? "podDir (not configured)"
                                         : "podDir " + opts.pod_dir + " (no manifest of this pod)";
  return cri + ", " + api + ", " + dir;
}

bool declares(const nlohmann::json& plugin, const std::string& capability) {
  auto caps = plugin.find("capabilities");
  return caps != plugin.end() && caps->is_object() && caps->value(capability, false) == true;
}

// The runtime's static address or MAC (podman --ip with two or more addresses, a runtime's
// runtimeConfig) is for the cluster network. When no plugin of it declares the capability the
// request would be dropped and the pod would silently get another address: fail instead, with
// the code a pod's own undeclared request gets (2), before anything touches the node.
void check_runtime_requests(const nlohmann::json& runtime_config,
                            const PlannedAttachment& cluster) {
  if (!runtime_config.is_object()) return;
  const nlohmann::json conflist = nlohmann::json::parse(cluster.conflist);
  for (const char* key : {"ips", "mac"}) {
    auto it = runtime_config.find(key);
    if (it == runtime_config.end() || it->is_null() || it->empty()) continue;
    const auto& plugins = conflist["plugins"];
    if (std::any_of(plugins.begin(), plugins.end(),
                    [&](const nlohmann::json& p) { return declares(p, key); }))
      continue;
    throw cni::Error(cni::kUnsupportedField,
                     std::string("runtimeConfig \"") + key + "\" = " + it->dump() +
                         " is for the cluster network \"" + cluster.network +
                         "\", but none of its plugins declares the \"" + key + "\" capability");
  }
}

}  // namespace

Session::Session(const cni::Request& req)
    : req_(req), config_(parse_config(req)), journal_(config_->cni_dir) {
  // Delegates' VERSION answers are cached beside the journals, keyed by binary identity.
  auto cache = std::make_shared<cni::VersionCache>(config_->cni_dir + "/.delegate-versions.json");
  resolver_ = std::make_unique<cni::DelegateRegistry>(delegate_path(*config_, req.invocation.path),
                                                      std::move(cache));
  chain_ = std::make_unique<ChainRunner>(*resolver_);
}

Session::~Session() = default;

ChainContext Session::chain_context(const std::string& attachment_ifname) const {
  ChainContext ctx;
  ctx.container_id = req_.invocation.container_id;
  ctx.netns = req_.invocation.netns;
  ctx.ifname = attachment_ifname;
  // The cluster network is always on CNI_IFNAME (the planner enforces it).
  ctx.cni_args =
      forwarded_cni_args(req_.invocation.args, attachment_ifname == req_.invocation.ifname);
  ctx.path = delegate_path(*config_, req_.invocation.path);
  ctx.timeout = config_->delegate_timeout;
  return ctx;
}

KubeClient* Session::kube() {
  if (!kube_tried_) {
    kube_tried_ = true;
    if (auto cfg = resolve_kube_config(config_->kubeconfig, process_env)) {
      HttpKubeOptions opts;
      opts.api_timeout = config_->api_timeout;
      kube_ = std::make_unique<HttpKubeClient>(std::move(*cfg), opts);
    }
  }
  return kube_.get();
}

std::optional<PodInfo> Session::find_pod(PodLookup lookup) {
  PodSourceOptions opts;
  opts.kube = kube();
  opts.pod_dir = config_->pod_dir;
  opts.pod_must_exist = lookup == PodLookup::kForAdd;
  opts.default_namespace = config_->default_pod_namespace;
  const nlohmann::json* rc = req_.conf.runtime_config();
  std::optional<PodInfo> pod = make_pod_source_chain(opts)->find(req_.invocation, rc);
  if (pod && pod->source == "none" && pod->ns.empty() && pod->name.empty()) return std::nullopt;
  // A named pod that no source knows loses its secondary networks: say so, loudly enough
  // for the default log level (podman, or containerd without the capability).
  if (pod && pod->source == "none" && lookup == PodLookup::kForAdd) {
    spdlog::warn(
        "no pod source knows this pod, attaching the cluster network only: pod {}/{}; tried: {}",
        pod->ns, pod->name, sources_tried(opts));
  }
  return pod;
}

Plan Session::make_plan(const std::optional<PodInfo>& pod) {
  // NADs are read through the API only when a pod needs them; a plan without a pod needs
  // only the cluster and default networks, which may also be NADs.
  NadSource nads(*config_, kube());
  PlanInputs in{*config_, req_.invocation, nads};
  in.pod = pod ? &*pod : nullptr;
  in.runtime_config = config_->runtime_config;
  Plan plan = build_plan(in);
  // Only an ADD asks for addresses; a DEL must release whatever was attached.
  if (req_.invocation.verb == cni::Verb::kAdd)
    check_runtime_requests(config_->runtime_config, plan.attachments.front());
  return plan;
}

bool Session::status_required() const {
  return config_->status_policy == StatusPolicy::kRequired;
}

void Session::wait_until_ready() const {
  const std::string& file = config_->readiness_indicator_file;
  if (file.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() + config_->api_timeout;
  struct stat st {};
  while (::stat(file.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw cni::Error(cni::kTryAgainLater,
                       "readinessindicatorfile " + file +
                           " does not exist yet: the cluster network is not ready");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace plugin
