// Runs one attachment's conflist through its delegates the way libcni runs a list: ADD in
// order with prevResult, DEL in reverse attempting every plugin, CHECK in order, and GC and
// STATUS to the plugins that speak 1.1.0. Each plugin gets a cniVersion it supports.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/env.h"
#include "cni/result.h"

namespace plugin {

// CNI_ARGS keys a runtime sets for the pod's primary interface (podman's --ip, --mac-address
// and `network reload`). They belong to the cluster network only: a secondary network's
// addresses and MAC come from its selection element (ips, mac).
inline const std::vector<std::string> kPrimaryOnlyCniArgs{"IP", "MAC"};

// The CNI_ARGS one attachment's delegates get: the runtime's, unchanged, for the cluster
// network; without kPrimaryOnlyCniArgs for every other attachment.
std::string forwarded_cni_args(const cni::CniArgs& runtime_args, bool cluster_network);

// Where and as whom the chain runs.
struct ChainContext {
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string cni_args;           // encoded CNI_ARGS for every delegate (forwarded_cni_args)
  std::vector<std::string> path;  // searched for delegates; also their CNI_PATH
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // ADD: given to the first plugin of the list as its DelegateRequest::before_input.
  std::function<void()> before_first_input;
  // ADD: given to the first plugin of the list as its DelegateRequest::after_input.
  std::function<void()> after_first_input;
};

// Each plugin of a list is asked VERSION first, to hand it a cniVersion it speaks. A plugin
// whose VERSION answer is empty or not JSON (many small shell plugins; libcni never asks
// during ADD) is handed the list's cniVersion, with a warning.
class ChainRunner {
 public:
  explicit ChainRunner(cni::DelegateResolver& resolver) : resolver_(resolver) {}

  // ADD every plugin in order. Returns the last plugin's result. Throws the first failure
  // (the delegate's own code and message); the caller owns the rollback.
  cni::Result add(const std::string& conflist, const ChainContext& ctx);

  // Starts the first plugin of `conflist` (a parsed list, as NadSource resolves one) for ADD
  // ahead of add() (cni::Delegate::prestart): add() of a list whose first plugin runs the
  // same binary in the same context takes it over. Null when there is nothing to start
  // ahead; throws what starting it throws.
  std::unique_ptr<cni::Prestart> prestart_first(const nlohmann::json& conflist,
                                                const ChainContext& ctx);
  // The same for a planned conflist, as add() gets it.
  std::unique_ptr<cni::Prestart> prestart_first(const std::string& conflist,
                                                const ChainContext& ctx);

  // Throws Error(7) unless the conflist could run as it stands: it parses, its name is a valid
  // network name, and every plugin type and IPAM type names a delegate that exists now.
  // Planning calls it, so nothing that could never run is journalled.
  void validate(const std::string& conflist, const ChainContext& ctx);

  // DEL every plugin in reverse order, each given `prev_result` (null when the ADD never
  // finished). Attempts all of them; throws one error joining every failure.
  //
  // A stored attachment that can no longer run must not wedge the container: when the
  // conflist cannot be parsed, nothing can be done; when a plugin's binary is gone, its IPAM
  // plugin (if that still exists) is asked to DEL directly, so the address is released.
  // Likewise when the interface's own plugin (the list's first), of a type whose whole
  // footprint is the link and its addresses (macvlan, ipvlan, vlan, host-device, sriov,
  // dummy), fails its DEL while the interface does not exist in the pod (netns gone, or no
  // such link): its IPAM plugin is asked directly, and when that succeeds nothing of the
  // attachment is left.
  // None of these is a failure: each is returned as a line naming what was given up, for the
  // caller to log and record.
  std::vector<std::string> del(const std::string& conflist, const ChainContext& ctx,
                               const nlohmann::json& prev_result);

  // CHECK every plugin in order against `prev_result`. Skipped for configs below 0.4.0 and
  // for lists with disableCheck.
  void check(const std::string& conflist, const ChainContext& ctx,
             const nlohmann::json& prev_result);

  // GC every plugin that speaks 1.1.0 with `valid` (a cni.dev/valid-attachments list). A
  // plugin that does not, but whose `ipam` plugin does, has its IPAM plugin collected
  // directly, so addresses never outlive their attachments. Errors are joined.
  void gc(const std::string& conflist, const ChainContext& ctx, const nlohmann::json& valid);

  // STATUS to every plugin that speaks 1.1.0; the first failure is thrown as is.
  void status(const std::string& conflist, const ChainContext& ctx);

 private:
  // DELs `plugin`'s IPAM plugin directly (its main plugin cannot run, or has nothing left to
  // undo). True when the addresses are released (or it has no IPAM); `how` gets the clause
  // that says how it went, for the abandoned line.
  bool release_ipam_only(const nlohmann::json& plugin, const ChainContext& ctx,
                         const nlohmann::json& prev_result, const std::string& version,
                         std::string& how);

  // The conflist parsed once per runner: planning validates each attachment's list and ADD
  // runs the same bytes moments later.
  struct ParsedList;
  static ParsedList parse_list(const std::string& conflist);  // throws Error(kInvalidConfig)
  const ParsedList& parsed(const std::string& conflist);

  std::unique_ptr<cni::Prestart> prestart_plugin(const nlohmann::json& plugin,
                                                 const ChainContext& ctx);

  cni::DelegateResolver& resolver_;
  std::map<std::string, std::shared_ptr<const ParsedList>> parsed_;
};

}  // namespace plugin
