// A session: everything one verb of the meta plugin needs, built once from the stdin meta
// config: settings, the journal, the delegate resolver, the Kubernetes client (if any), and
// the pod and plan lookups. It is the one place that wires the stages together.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/plugin.h"
#include "plugin/chain.h"
#include "plugin/journal.h"
#include "plugin/kube_client.h"
#include "plugin/nad_source.h"
#include "plugin/plan.h"
#include "plugin/pod_info.h"

namespace plugin {

struct MetaConfig;  // plugin/meta_config.h

// How a pod lookup may be satisfied. DEL uses the API only to rebuild a lost journal.
enum class PodLookup { kForAdd, kForRebuild };

class Session {
 public:
  // Parses the meta config (code 7 on a bad key), sets up logging, the journal and the
  // delegate resolver. Creates no network state.
  explicit Session(const cni::Request& req);
  ~Session();

  const cni::Request& request() const { return req_; }
  const cni::Invocation& invocation() const { return req_.invocation; }
  Journal& journal() { return journal_; }
  ChainRunner& chain() { return *chain_; }
  const MetaConfig& config() const { return *config_; }

  // The context every delegate of `attachment_ifname` runs in. The cluster network (on
  // CNI_IFNAME) gets the runtime's CNI_ARGS, plus a runtimeConfig ips/mac its plugins do not
  // declare as IP=/MAC=; every other attachment gets them without IP and MAC.
  ChainContext chain_context(const std::string& attachment_ifname) const;

  // ADD: starts the cluster network's first delegate now (ChainRunner::prestart_first), so
  // its exec and start-up overlap the locks, the pod lookup, the plan and the journal's first
  // record. Which delegate that is comes from the config alone: the clusterNetwork path, or
  // its name in nadDir or confDir, or the legacy inline delegate; never the API, whose
  // answer may be slow. A wrong guess costs one process killed unfed: only a call that
  // would start the same binary with the same environment takes it over. Null when there
  // is no guess or the start failed (the call then starts the delegate as usual); logged,
  // never thrown.
  std::unique_ptr<cni::Prestart> prestart_cluster_delegate();

  // The pod, cheapest source first (CRI annotations, API, podDir). For ADD a pod the API says
  // does not exist is an error; nullopt means no source knows of it.
  std::optional<PodInfo> find_pod(PodLookup lookup);

  // The validated plan for this pod (cluster network only when `pod` is empty). Every
  // attachment's conflist is checked to be runnable (ChainRunner::validate): code 7 naming
  // the network otherwise.
  Plan make_plan(const std::optional<PodInfo>& pod);

  // The Kubernetes client, or nullptr when no kubeconfig and no in-cluster config exist.
  KubeClient* kube();
  bool status_required() const;
  // Waits for readinessindicatorfile when configured; code 11 when it never appears.
  void wait_until_ready() const;
  // STATUS's view of the same: code 50 at once when readinessindicatorfile is configured and
  // missing, so STATUS never says ready while ADD would fail.
  void check_ready() const;

 private:
  const cni::Request& req_;
  std::unique_ptr<MetaConfig> config_;
  Journal journal_;
  std::unique_ptr<cni::DelegateResolver> resolver_;
  std::unique_ptr<ChainRunner> chain_;
  std::unique_ptr<KubeClient> kube_;
  bool kube_tried_ = false;
  ChainContext context_for(const std::string& attachment_ifname,
                           const std::set<std::string>& cluster_declares) const;

  // The clusterNetwork value as prestart_cluster_delegate() resolved it without the API,
  // handed to make_plan's NadSource when that has no API client either.
  std::optional<std::pair<std::string, ResolvedNetwork>> local_cluster_network_;
  // "ips"/"mac" when a plugin of the planned cluster network declares it (set by make_plan);
  // undeclared runtime requests reach it as CNI_ARGS IP=/MAC= instead.
  std::set<std::string> cluster_declares_;
};

}  // namespace plugin
