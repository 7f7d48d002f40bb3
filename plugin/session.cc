// Wires the meta plugin's stages for one verb: config, logging, journal, delegates, API.
#include "plugin/session.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>
#include <thread>

#include "cni/delegate_resolver.h"
#include "cni/error.h"
#include "cni/log.h"
#include "delegates/registry.h"
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

// The address part of "10.1.0.5/24" or "10.1.0.5", lowercased (MACs compare the same way).
std::string bare(std::string v) {
  v = v.substr(0, v.find('/'));
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v;
}

// True when CNI_ARGS `key` (comma-separated, as podman sends IP=) carries every value of
// `request`: the cluster network's delegates get CNI_ARGS, so the request is not lost.
bool carried_by_cni_args(const cni::CniArgs& args, const char* key, const nlohmann::json& request) {
  const auto arg = args.get(key);
  if (!arg) return false;
  std::vector<std::string> have;
  for (size_t start = 0; start <= arg->size();) {
    size_t comma = std::min(arg->find(',', start), arg->size());
    have.push_back(bare(arg->substr(start, comma - start)));
    start = comma + 1;
  }
  const nlohmann::json values = request.is_array() ? request : nlohmann::json::array({request});
  return std::all_of(values.begin(), values.end(), [&](const nlohmann::json& v) {
    return v.is_string() &&
           std::find(have.begin(), have.end(), bare(v.get<std::string>())) != have.end();
  });
}

// The CNI_ARGS the cluster network's delegates get: the runtime's, plus its runtimeConfig
// request as IP=/MAC= when that is a single address (podman's `network reload` repeats one
// --ip in runtimeConfig ips instead of IP=) or a MAC, and CNI_ARGS has none and may carry
// unknown keys (IgnoreUnknown). host-local and cnimux-ipam honour IP=, bridge and macvlan MAC=.
// Only for a capability the cluster network does not declare: one that declares it gets the
// request in runtimeConfig already.
cni::CniArgs cluster_cni_args(const cni::CniArgs& runtime_args, const nlohmann::json& rc,
                              const std::set<std::string>& declared) {
  cni::CniArgs args = runtime_args;
  if (!rc.is_object() || !args.ignore_unknown()) return args;
  if (auto ips = rc.find("ips");
      ips != rc.end() && ips->is_array() && !args.get("IP") && !declared.count("ips")) {
    std::vector<std::string> distinct;
    for (const auto& ip : *ips) {
      if (!ip.is_string()) return args;
      std::string a = ip.get<std::string>().substr(0, ip.get<std::string>().find('/'));
      if (std::find(distinct.begin(), distinct.end(), a) == distinct.end()) distinct.push_back(a);
    }
    if (distinct.size() == 1) args.set("IP", distinct.front());
  }
  if (auto mac = rc.find("mac");
      mac != rc.end() && mac->is_string() && !args.get("MAC") && !declared.count("mac"))
    args.set("MAC", mac->get<std::string>());
  return args;
}

// The runtime's static addresses or MAC (runtimeConfig ips/mac) are for the cluster network.
// When none of its plugins declares the capability they would be dropped and the pod would
// silently get another address: fail instead, with the code a pod's own undeclared request
// gets (2), before anything touches the node. A request the cluster network's CNI_ARGS carry
// (cluster_cni_args) is not lost.
// The request capabilities ("ips", "mac") some plugin of the cluster network declares.
std::set<std::string> declared_requests(const nlohmann::json& conflist) {
  std::set<std::string> out;
  for (const auto& p : conflist.at("plugins")) {
    for (const char* key : {"ips", "mac"})
      if (declares(p, key)) out.insert(key);
  }
  return out;
}

void check_runtime_requests(const nlohmann::json& runtime_config, const cni::CniArgs& args,
                            const std::set<std::string>& declared, const std::string& network) {
  if (!runtime_config.is_object()) return;
  for (const auto& [key, arg] :
       {std::pair<const char*, const char*>{"ips", "IP"}, {"mac", "MAC"}}) {
    auto it = runtime_config.find(key);
    if (it == runtime_config.end() || it->is_null() || it->empty() || declared.count(key)) continue;
    if (carried_by_cni_args(args, arg, *it)) {
      spdlog::debug("runtimeConfig {} = {} reaches the cluster network as CNI_ARGS {}", key,
                    it->dump(), arg);
      continue;
    }
    throw cni::Error(cni::kUnsupportedField,
                     std::string("runtimeConfig \"") + key + "\" = " + it->dump() +
                         " is for the cluster network \"" + network +
                         "\", but none of its plugins declares the \"" + key + "\" capability");
  }
}

}  // namespace

Session::Session(const cni::Request& req)
    : req_(req), config_(parse_config(req)), journal_(config_->cni_dir) {
  // Delegates' VERSION answers are cached beside the journals, keyed by binary identity.
  auto cache = std::make_shared<cni::VersionCache>(config_->cni_dir + "/.delegate-versions.json");
  auto registry = std::make_unique<cni::DelegateRegistry>(
      delegate_path(*config_, req.invocation.path), std::move(cache));
  delegates::register_in_tree(*registry, config_->in_tree);
  resolver_ = std::move(registry);
  chain_ = std::make_unique<ChainRunner>(*resolver_);
}

Session::~Session() = default;

ChainContext Session::chain_context(const std::string& attachment_ifname) const {
  return context_for(attachment_ifname, cluster_declares_);
}

ChainContext Session::context_for(const std::string& attachment_ifname,
                                  const std::set<std::string>& cluster_declares) const {
  ChainContext ctx;
  ctx.container_id = req_.invocation.container_id;
  ctx.netns = req_.invocation.netns;
  ctx.ifname = attachment_ifname;
  // The cluster network is always on CNI_IFNAME (the planner enforces it).
  const bool cluster = attachment_ifname == req_.invocation.ifname;
  ctx.cni_args =
      cluster ? cluster_cni_args(req_.invocation.args, config_->runtime_config, cluster_declares)
                    .encode()
              : forwarded_cni_args(req_.invocation.args, false);
  ctx.path = delegate_path(*config_, req_.invocation.path);
  ctx.timeout = config_->delegate_timeout;
  return ctx;
}

std::unique_ptr<cni::Prestart> Session::prestart_cluster_delegate() {
  if (req_.invocation.verb != cni::Verb::kAdd || !config_->start_delegates_ahead) return nullptr;
  try {
    std::optional<ResolvedNetwork> guess;
    if (const std::string& ref = config_->cluster_network; !ref.empty()) {
      // A name the plan would look up in the API first is not guessed from disk: that would
      // be a second lookup, and perhaps of another network.
      if (ref.find('/') == std::string::npos && kube() != nullptr) return nullptr;
      guess = NadSource(*config_, nullptr).reference(ref);
      local_cluster_network_.emplace(ref, *guess);
    } else if (config_->cluster_delegate.is_object()) {
      guess = NadSource(*config_, nullptr).inline_config(config_->cluster_delegate);
    }
    if (!guess) return nullptr;
    return chain_->prestart_first(
        guess->conflist, context_for(req_.invocation.ifname, declared_requests(guess->conflist)));
  } catch (const std::exception& e) {
    spdlog::debug("the cluster network's delegate is not started ahead: {}", e.what());
    return nullptr;
  }
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
  if (local_cluster_network_) {
    nads.remember_reference(local_cluster_network_->first, local_cluster_network_->second);
  }
  PlanInputs in{*config_, req_.invocation, nads};
  in.pod = pod ? &*pod : nullptr;
  in.runtime_config = config_->runtime_config;
  Plan plan = build_plan(in);
  cluster_declares_ = declared_requests(nlohmann::json::parse(plan.attachments.front().conflist));
  // Only an ADD asks for addresses; a DEL must release whatever was attached.
  if (req_.invocation.verb == cni::Verb::kAdd) {
    check_runtime_requests(
        config_->runtime_config,
        cluster_cni_args(req_.invocation.args, config_->runtime_config, cluster_declares_),
        cluster_declares_, plan.attachments.front().network);
  }
  for (const PlannedAttachment& a : plan.attachments) {
    try {
      chain_->validate(a.conflist, chain_context(a.ifname));
    } catch (const cni::Error& e) {
      throw cni::Error(e.code(), "network \"" + a.network + "\" (" + a.ifname + "): " + e.msg());
    }
  }
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

void Session::check_ready() const {
  const std::string& file = config_->readiness_indicator_file;
  struct stat st {};
  if (!file.empty() && ::stat(file.c_str(), &st) != 0) {
    throw cni::Error(
        cni::kNotAvailable,
        "readinessindicatorfile " + file + " does not exist yet: the cluster network is not ready");
  }
}

}  // namespace plugin
