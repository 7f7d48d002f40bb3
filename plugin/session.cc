// Wires the meta plugin's stages for one verb: config, logging, journal, delegates, API.
#include "plugin/session.h"

#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

Session::Session(const cni::Request& req)
    : req_(req), config_(parse_config(req)), journal_(config_->cni_dir) {
  // Delegates' VERSION answers are cached beside the journals, keyed by binary identity.
  auto cache = std::make_shared<cni::VersionCache>(config_->cni_dir + "/.delegate-versions.json");
  resolver_ = std::make_unique<cni::DelegateRegistry>(
      delegate_path(*config_, req.invocation.path), std::move(cache));
  chain_ = std::make_unique<ChainRunner>(*resolver_);
}

Session::~Session() = default;

ChainContext Session::chain_context(const std::string& attachment_ifname) const {
  ChainContext ctx;
  ctx.container_id = req_.invocation.container_id;
  ctx.netns = req_.invocation.netns;
  ctx.ifname = attachment_ifname;
  ctx.cni_args = req_.invocation.args.encode();
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
  const nlohmann::json* rc = req_.conf.runtime_config();
  std::optional<PodInfo> pod = make_pod_source_chain(opts)->find(req_.invocation, rc);
  if (pod && pod->source == "none" && pod->ns.empty() && pod->name.empty()) return std::nullopt;
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
  for (const PlannedAttachment& a : plan.attachments) {
    try {
      chain_->validate(a.conflist, chain_context(a.ifname));
    } catch (const cni::Error& e) {
      throw cni::Error(e.code(), "network \"" + a.network + "\" (" + a.ifname + "): " + e.msg());
    }
  }
  return plan;
}

bool Session::status_required() const { return config_->status_policy == StatusPolicy::kRequired; }

void Session::wait_until_ready() const {
  const std::string& file = config_->readiness_indicator_file;
  if (file.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() + config_->api_timeout;
  struct stat st{};
  while (::stat(file.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw cni::Error(cni::kTryAgainLater,
                       "readinessindicatorfile " + file + " does not exist yet: the cluster network is not ready");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Session::check_ready() const {
  const std::string& file = config_->readiness_indicator_file;
  struct stat st{};
  if (!file.empty() && ::stat(file.c_str(), &st) != 0) {
    throw cni::Error(cni::kNotAvailable, "readinessindicatorfile " + file +
                                             " does not exist yet: the cluster network is not ready");
  }
}

}  // namespace plugin
