// ipam::IpamPlugin: the cnimux-ipam CNI plugin as a cni::Plugin, so the same code serves
// the executable (ipam/main.cc) and in-process callers that prefer the CNI verbs.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "cni/plugin.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"

namespace ipam {

class IpamPlugin : public cni::Plugin {
 public:
  // `open` maps a store config to a store (open_store's contract); the default caches one
  // per store per process.
  using StoreOpener = std::function<std::shared_ptr<Store>(const StoreConfig&, OpenMode)>;
  explicit IpamPlugin(StoreOpener open = open_store) : open_(std::move(open)) {}

  // Allocates (idempotently) and returns {ips, routes, dns}.
  cni::Result add(const cni::Request& req) override;
  // Releases by container ID and ifname; a sticky address stays reserved for its pod.
  // Succeeds when nothing is held, or when the store does not exist yet.
  void del(const cni::Request& req) override;
  // Fails (code 3) when the container holds no address for some range set, or when an
  // address of prevResult inside our ranges is not the container's.
  void check(const cni::Request& req) override;
  // Code 50 when the store cannot be opened or written.
  void status(const cni::Request& req) override;
  // Frees every allocation of the network not in cni.dev/valid-attachments (parsed by
  // cni::valid_attachments).
  void gc(const cni::Request& req) override;

 private:
  StoreOpener open_;
};

// The configuration of one call: parse_ipam_config(conf.raw) plus CNI_ARGS "IP=" requests.
IpamConfig config_for(const cni::Request& req);

// The owner of one call. For a sticky config the pod identity comes from args.cni.podRef
// (Error(kInvalidConfig) unless it is "namespace/name"), else from CNI_ARGS
// K8S_POD_NAMESPACE/K8S_POD_NAME; without one the allocation is bound to the container only
// (logged as a warning). A non-sticky config ignores both.
Owner owner_for(const IpamConfig& cfg, const cni::Invocation& inv);

}  // namespace ipam
